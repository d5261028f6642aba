/**
 * A deliberately slow reader of the worker's stdout (scenario d/e), standing in for Spark's
 * reader having a bad moment: it parses every line (as Spark parses rows) and stalls
 * `--stall-ms` (default 50) after every `--stall-every` bytes (default 1 MiB), long enough for the
 * 64 KiB pipe to fill, so the worker runs through stdout backpressure again and again.
 * At exit it prints one JSON line on stdout: lines, completion tokens, errors, stalls and the time
 * of the first and last line (ms since it started).
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { 'stall-ms': { type: 'string', default: '50' }, 'stall-every': { type: 'string', default: String(1 << 20) } },
});
const stallMs = Number(values['stall-ms']);
const stallEvery = Number(values['stall-every']);
const t0 = performance.now();
let lines = 0;
let tokens = 0;
let errors = 0;
let stalls = 0;
let first = -1;
let last = -1;
let rest = '';
let sinceStall = 0;

const stdin = process.stdin;
stdin.on('data', (chunk: Buffer) => {
  const text = rest + chunk.toString('utf8');
  let start = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
    const r = JSON.parse(text.slice(start, nl)) as { completion_tokens?: number | null; error_code?: string | null };
    lines++;
    tokens += r.completion_tokens ?? 0;
    if (r.error_code !== null && r.error_code !== undefined) errors++;
    start = nl + 1;
  }
  rest = text.slice(start);
  const now = performance.now() - t0;
  if (first < 0 && lines > 0) first = now;
  last = now;
  sinceStall += chunk.length;
  if (sinceStall >= stallEvery) {
    sinceStall = 0;
    stalls++;
    stdin.pause();
    setTimeout(() => stdin.resume(), stallMs);
  }
});
stdin.on('end', () => {
  process.stdout.write(`${JSON.stringify({ lines, completion_tokens: tokens, errors, stalls, first_ms: first, last_ms: last })}\n`);
});
