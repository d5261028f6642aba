/** Prints a few answers from a JSON-lines output directory (used by `npm run quickstart`). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir = 'examples/quickstart/out', countText = '5'] = process.argv.slice(2);
const rows: Array<Record<string, unknown>> = [];
for (const f of readdirSync(dir)
  .filter((n) => n.startsWith('part-'))
  .sort()) {
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n'))
    if (line !== '') rows.push(JSON.parse(line) as Record<string, unknown>);
}
rows.sort((a, b) => Number(a.id) - Number(b.id));
const ok = rows.filter((r) => r.error_code === null || r.error_code === undefined);
process.stdout.write(`${rows.length} rows in ${dir} (${ok.length} answered). A few answers:\n\n`);
for (const r of ok.slice(0, Number(countText))) {
  process.stdout.write(`Q: ${String(r.question)}\nA: ${String(r.text).trim()}\n\n`);
}
