/** One real llama-server with the demo model, shared by the tests of a file. */
import { join } from 'node:path';
import { startEngine, type LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from './tmp.ts';

export async function startDemoEngine(
  opts: { parallel?: number; embeddings?: boolean; alias?: string; args?: string[] } = {},
): Promise<LocalEngine> {
  const dir = tempDir('engine');
  const engine = await startEngine({
    kind: 'llama-server',
    model: 'smollm2-135m-instruct',
    alias: opts.alias ?? 'smollm2-135m-instruct',
    args: opts.args ?? [],
    parallel: opts.parallel ?? 4,
    ctxPerSlot: 1024,
    maxRestarts: 2,
    logFile: join(dir, 'engine.log'),
    ...(opts.embeddings === true ? { embeddings: true } : {}),
    logger: { info: () => {}, warn: (m) => process.stderr.write(`engine: ${m}\n`) },
  });
  await engine.waitHealthy(120_000);
  return engine;
}
