import { startEngine } from '/work/main/src/launch/engine.ts';
import { runLoad } from '/work/main/bench/lib/loadgen.ts';
const parallel = Number(process.argv[2] ?? 16);
const e = await startEngine({ kind: 'llama-server', model: 'smollm2-135m-instruct', alias: 'm', args: [], parallel, ctxPerSlot: 512, maxRestarts: 0, logFile: '/tmp/probe-engine.log', logger: { info() {}, warn: console.error } });
await e.waitHealthy(60000);
const origin = e.endpoint.replace(/\/v1$/, '');
const bodies = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `Question ${i}: tell me about the number ${i * 7}.` }], max_tokens: 64, temperature: 0, ignore_eos: true }));
await runLoad({ origin, path: '/v1/chat/completions', bodies: bodies(parallel), concurrency: parallel });
for (const c of [1, 4, parallel, parallel * 2]) {
  const r = await runLoad({ origin, path: '/v1/chat/completions', bodies: bodies(c === 1 ? 8 : Math.max(48, c * 3)), concurrency: c });
  console.log(c, r.tokS.toFixed(1), r.wallS.toFixed(1), r.completionTokens, r.failed);
}
await e.stop();
