/**
 * The spend budgets' rule (src/rundir/budget.ts spendReached), and that the Python watcher's twin
 * (python/sparkinfer/watch.py spend_reached) decides the same on the same numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { spendReached } from '../../src/rundir/budget.ts';
import { LimitsSpec } from '../../src/jobfile/schema.ts';
import { ROOT } from '../helpers/cli.ts';
import { venvDir } from '../../src/install/layout.ts';

const limits = LimitsSpec.parse({ max_completion_tokens: 100, max_prompt_tokens: 1000, max_wall: '30s' });

const cases: Array<[number, number, number, string | undefined]> = [
  [0, 0, 0, undefined],
  [999, 99, 29_999, undefined],
  [999, 100, 0, 'max_completion_tokens'],
  [1000, 5, 0, 'max_prompt_tokens'],
  [10, 5, 30_000, 'max_wall'],
  [2000, 200, 60_000, 'max_completion_tokens'],
];

test('spendReached: the first budget reached (at or over), none when all are under', () => {
  for (const [p, c, w, want] of cases) {
    assert.equal(spendReached(limits, { promptTokens: p, completionTokens: c, wallMs: w })?.key, want, `${p}/${c}/${w}`);
  }
  assert.equal(
    spendReached(LimitsSpec.parse({}), { promptTokens: 1e12, completionTokens: 1e12, wallMs: 1e12 }),
    undefined,
    'no budget set: never',
  );
  assert.deepEqual(spendReached(limits, { promptTokens: 0, completionTokens: 120 }), {
    key: 'max_completion_tokens',
    limit: 100,
    used: 120,
  });
});

test("the driver's watcher applies the same rule", () => {
  const py = join(venvDir(), 'bin', 'python');
  const script = `import json,sys\nfrom sparkinfer.watch import spend_reached\nl=json.loads(sys.argv[1])\nprint(json.dumps([ (spend_reached(l,p,c,w) or [None])[0] for p,c,w in json.loads(sys.argv[2])]))`;
  const got = JSON.parse(
    execFileSync(py, ['-c', script, JSON.stringify(limits), JSON.stringify(cases.map(([p, c, w]) => [p, c, w]))], {
      env: { ...process.env, PYTHONPATH: join(ROOT, 'python') },
      encoding: 'utf8',
    }),
  ) as Array<string | null>;
  assert.deepEqual(
    got,
    cases.map((x) => x[3] ?? null),
  );
});
