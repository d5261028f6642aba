/**
 * Runs the SIMULATED engine (or the `instant` fake) as its own process, for benchmarks:
 *
 *   node bench/sim/main.ts [--mode sim|instant] [--slots 64] [--kv-tokens N] [--max-waiting 1024]
 *     [--base-step-ms 20] [--per-seq-step-ms 0.25] [--prefill-ms-per-token 0.02]
 *     [--time-scale 1] [--model sim] [--seed 1] [--port 0] [--profile slot-limited|kv-limited]
 *
 * It prints one JSON line `{"url": "http://127.0.0.1:PORT", "mode": ...}` on stdout once listening,
 * and stops on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
import { PROFILES, type SimProfileName } from './profiles.ts';
import { startSimServer } from '../../src/sim/server.ts';
import type { SimEngineOptions } from '../../src/sim/engine-sim.ts';

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseSimArgs> | undefined;
try {
  parsed = parseSimArgs();
} catch (err) {
  fail((err as Error).message);
}

function parseSimArgs() {
  return parseArgs({
    options: {
      mode: { type: 'string', default: 'sim' },
      profile: { type: 'string' },
      slots: { type: 'string' },
      'kv-tokens': { type: 'string' },
      'max-waiting': { type: 'string' },
      'base-step-ms': { type: 'string' },
      'per-seq-step-ms': { type: 'string' },
      'prefill-ms-per-token': { type: 'string' },
      'time-scale': { type: 'string', default: '1' },
      model: { type: 'string', default: 'sim' },
      seed: { type: 'string', default: '1' },
      port: { type: 'string', default: '0' },
    },
    strict: true,
  });
}
const { values } = parsed;

function num(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = text === 'Infinity' ? Number.POSITIVE_INFINITY : Number(text);
  if (text.trim() === '' || Number.isNaN(v)) fail(`Expected --${name} to be a number, got \`${text}\``);
  return v;
}

const profileName = values.profile as SimProfileName | undefined;
if (profileName !== undefined && !(profileName in PROFILES)) {
  fail(`Expected --profile to be one of ${Object.keys(PROFILES).join(', ')}, got \`${profileName}\``);
}
const engine: Omit<SimEngineOptions, 'clock'> = { ...(profileName !== undefined ? PROFILES[profileName].engine : {}) };
const set = <K extends keyof typeof engine>(key: K, v: (typeof engine)[K] | undefined): void => {
  if (v !== undefined) engine[key] = v;
};
set('slots', num('slots', values.slots));
set('kvCapacityTokens', num('kv-tokens', values['kv-tokens']));
set('maxWaiting', num('max-waiting', values['max-waiting']));
set('baseStepMs', num('base-step-ms', values['base-step-ms']));
set('perSeqStepMs', num('per-seq-step-ms', values['per-seq-step-ms']));
set('prefillMsPerToken', num('prefill-ms-per-token', values['prefill-ms-per-token']));

const server = await startSimServer({
  mode: values.mode as 'sim' | 'instant',
  engine,
  timeScale: num('time-scale', values['time-scale']) ?? 1,
  model: values.model ?? 'sim',
  seed: num('seed', values.seed) ?? 1,
  port: num('port', values.port) ?? 0,
}).catch((err: unknown) => fail((err as Error).message));
process.stdout.write(`${JSON.stringify({ url: server.url, mode: values.mode, engine: values.mode === 'sim' ? engine : undefined })}\n`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
