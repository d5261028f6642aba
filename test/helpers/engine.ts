/** One real llama-server with the demo model, shared by the tests of a file. */
import { after, before } from 'node:test';
import { join } from 'node:path';
import { startEngine, type LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from './tmp.ts';
import { startCountingProxy, type CountingProxy } from './counting-proxy.ts';

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

/**
 * The demo engine behind a counting proxy (test/helpers/counting-proxy.ts), started before the
 * calling file's tests and stopped after them; `proxy()` is valid inside a test.
 */
export function countedDemoEngine(parallel = 4): { proxy: () => CountingProxy } {
  let engine: LocalEngine | undefined;
  let proxy: CountingProxy | undefined;
  before(async () => {
    engine = await startDemoEngine({ parallel });
    proxy = await startCountingProxy(engine.endpoint.replace(/\/v1$/, ''));
  });
  after(async () => {
    await proxy?.close();
    await engine?.stop();
  });
  return {
    proxy: () => {
      if (proxy === undefined) throw new Error('countedDemoEngine: the engine starts in before()');
      return proxy;
    },
  };
}
