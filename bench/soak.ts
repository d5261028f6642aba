/**
 * The reliability soak: the scenarios of test/reliability at a larger scale, against real Spark and
 * a real llama-server. Prints the scenario table (scenario × rows in, rows out, duplicates, lost,
 * re-inferred) as JSON on stdout, the aligned table on stderr, and writes
 * bench/results/soak-<timestamp>.json with the command that made it.
 *
 *   node bench/soak.ts [--rows 600] [--only faults,gone,budget,kill,restart] [--rounds 1]
 *
 * Exit code 1 when any round lost or duplicated a row or ended differently than it should.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDemoEngine } from '../test/helpers/engine.ts';
import { tempDir } from '../test/helpers/tmp.ts';
import { formatTable, type ScenarioRow } from '../test/reliability/lib.ts';
import { budgetThenRetryErrors, engineGone, engineRestart, killAndResume, mixedFaults, type Ctx } from '../test/reliability/scenarios.ts';

const ALL = ['faults', 'gone', 'budget', 'kill', 'restart'] as const;
type Name = (typeof ALL)[number];

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '600' },
    only: { type: 'string', default: ALL.join(',') },
    rounds: { type: 'string', default: '1' },
  },
});
const rows = Number(values.rows);
const rounds = Number(values.rounds);
const only = values.only
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
if (!Number.isInteger(rows) || rows < 12)
  throw new TypeError(`Expected \`--rows\` to be a whole number from 12 and up, got \`${values.rows}\``);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new TypeError(`Expected \`--rounds\` to be a whole number from 1 and up, got \`${values.rounds}\``);
for (const o of only)
  if (!(ALL as readonly string[]).includes(o)) throw new TypeError(`Expected \`--only\` names from ${ALL.join(', ')}, got \`${o}\``);

interface Result extends ScenarioRow {
  round: number;
  ok: boolean;
  problems: string[];
}

const results: Result[] = [];
const add = (round: number, r: ScenarioRow, problems: string[]): void => {
  results.push({ ...r, round, ok: problems.length === 0, problems });
  process.stderr.write(`soak: round ${round}: ${r.scenario}: ${problems.length === 0 ? 'ok' : problems.join('; ')}\n`);
};
const lossless = (r: ScenarioRow): string[] => [
  ...(r.duplicates !== 0 ? [`${r.duplicates} duplicated`] : []),
  ...(r.lost !== 0 ? [`${r.lost} lost`] : []),
];

const started = Date.now();
const engine = await startDemoEngine({ parallel: 4 });
const engineRoot = engine.endpoint.replace(/\/v1$/, '');
try {
  for (let round = 1; round <= rounds; round++) {
    const ctx = (): Ctx => ({ work: tempDir(`soak-${round}`), engineRoot, rows, timeoutMs: 3_600_000 });
    const run: Record<Name, () => Promise<void>> = {
      faults: async () => {
        const r = await mixedFaults(ctx());
        for (const x of r.rows)
          add(round, x, [
            ...lossless(x),
            ...(r.cli.code !== 0 ? [`exit ${r.cli.code}`] : []),
            ...(r.tally.ok !== rows ? [`${rows - r.tally.ok} rows not ok`] : []),
          ]);
      },
      gone: async () => {
        const r = await engineGone(ctx());
        add(
          round,
          r.row,
          r.cli.code !== 1 || !/outage/.test(String(r.summary.message)) ? [`exit ${r.cli.code}: ${String(r.summary.message)}`] : [],
        );
      },
      budget: async () => {
        const r = await budgetThenRetryErrors(ctx());
        const [first, retry] = r.rows;
        if (first !== undefined)
          add(round, first, r.first.code !== 1 || r.committed ? [`exit ${r.first.code}, committed ${r.committed}`] : []);
        if (retry !== undefined)
          add(round, retry, [
            ...lossless(retry),
            ...(r.retry.code !== 0 ? [`exit ${r.retry.code}`] : []),
            ...(r.retryPosts !== rows - r.ledgerOkKeys.size
              ? [`${r.retryPosts} requests for ${rows - r.ledgerOkKeys.size} unfinished rows`]
              : []),
          ]);
      },
      kill: async () => {
        const r = await killAndResume(ctx());
        const [main, ...rest] = r.rows;
        const reInferred = r.postsA + r.postsC - rows;
        if (main !== undefined)
          add(round, main, [
            ...lossless(main),
            ...(r.rerun.code !== 0 ? [`rerun exit ${r.rerun.code}`] : []),
            ...(reInferred > r.windowTimesTasks ? [`re-inferred ${reInferred} > ${r.windowTimesTasks}`] : []),
          ]);
        for (const x of rest) add(round, x, []);
      },
      restart: async () => {
        const r = await engineRestart(ctx());
        add(round, r.row, [
          ...lossless(r.row),
          ...(r.cli.code !== 0 ? [`exit ${r.cli.code}`] : []),
          ...(r.tally.ok !== rows ? [`${rows - r.tally.ok} rows not ok`] : []),
        ]);
      },
    };
    for (const name of only as Name[]) await run[name]();
  }
} finally {
  await engine.stop();
}

const report = {
  command: `node bench/soak.ts ${process.argv.slice(2).join(' ')}`.trim(),
  rows,
  rounds,
  wall_s: Math.round((Date.now() - started) / 100) / 10,
  ok: results.every((r) => r.ok),
  table: results,
};
process.stderr.write(`\n${formatTable(results)}\n`);
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exitCode = report.ok ? 0 : 1;
