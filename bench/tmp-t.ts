import { startLlama } from './lib/engines.ts';
import { runLoad } from './lib/loadgen.ts';
const threads = Number(process.argv[2]); const parallel = Number(process.argv[3] ?? 16);
const e = await startLlama({ parallel, ctxPerSlot: 1024, threads, logFile: `/tmp/tmp-t-${threads}.log` });
const bodies = Array.from({ length: parallel * 2 }, (_, i) => JSON.stringify({ model: 'smollm2-135m-instruct', messages: [{ role: 'user', content: `Question ${i}: tell me about the number ${i * 7}.` }], max_tokens: 32, temperature: 0, ignore_eos: true }));
const r = await runLoad({ origin: e.origin, path: '/v1/chat/completions', bodies, concurrency: parallel });
console.log(`threads ${threads} parallel ${parallel}: ${r.tokS.toFixed(1)} tok/s wall ${r.wallS.toFixed(1)}`);
await e.stop();
