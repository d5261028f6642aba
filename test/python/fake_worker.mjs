// FAKE worker in JavaScript for the driver tests (not the real worker): it proves the constant
// USING command finds $SPARKINFER_NODE, the shipped worker and the shipped job in SparkFiles' root.
// Usage (as the driver starts it): node <this file, shipped> <job file, shipped>.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line === '') continue;
  const row = JSON.parse(line);
  const { _k: k, _c: c, ...cols } = row;
  const text = JSON.stringify(cols);
  process.stdout.write(JSON.stringify({
    k, c, text, reasoning: null, json: null, embedding: null, finish_reason: 'stop',
    prompt_tokens: text.length, completion_tokens: 1, latency_ms: 0.25, attempts: 1,
    error_code: null, error_message: null, model: `${job.model}@${process.version}`, request: null,
  }) + '\n');
}
