/**
 * The pieces of "lose nothing" that need no Spark: the ledger's torn-line tolerance, the worker's
 * fault hook, the run lock (with a killed run's leftover processes), the CLI's and the driver's resume
 * checks (same fixtures, same answers), and the failure budget rule in both languages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LedgerWriteError, LedgerWriter } from '../../src/worker/ledger.ts';
import { parseLedgerText } from '../../src/rundir/ledger.ts';
import { ResultWriter } from '../../src/worker/output.ts';
import { armFaultKill, FAULT_KILL_ENV, FAULT_KILL_MARKER } from '../../src/worker/fault.ts';
import { acquireLock, pidDir } from '../../src/job/run-setup.ts';
import { groupRunning, recordGroup } from '../../src/launch/procs.ts';
import { checkEarlierRuns, describeChange } from '../../src/job/resume.ts';
import { CONSUMED } from '../../src/rundir/ledger.ts';
import { budgetExceeded, budgetMessage } from '../../src/rundir/budget.ts';
import { InputError } from '../../src/errors.ts';
import { ROOT } from '../helpers/cli.ts';
import { killGroup } from '../../src/launch/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = (): string => tempDir('rel-unit');

test('ledger: every append is in the file before the call returns; a torn last line is skipped, a torn middle line is an error', () => {
  const dir = tmp();
  const w = new LedgerWriter(join(dir, 'ledger', 'w.jsonl'), { fsyncIntervalMs: 60_000 });
  w.append(JSON.stringify({ k: '1', error_code: null }));
  w.append(JSON.stringify({ k: '2', error_code: 'E_TIMEOUT' }));
  // Read before close: what a SIGKILL would leave.
  const text = readFileSync(join(dir, 'ledger', 'w.jsonl'), 'utf8');
  assert.equal(text.split('\n').length, 3);
  w.close();
  assert.deepEqual(
    parseLedgerText(`${text}{"k":"3","te`).map((r) => r.k),
    ['1', '2'],
  );
  assert.throws(() => parseLedgerText('{"k":"1"}\n{"k":\n{"k":"3"}\n'), /line 2 is corrupt/);
});

test('ledger: a failed write (here /dev/full: ENOSPC) is a LedgerWriteError naming the file and the cause, and ResultWriter then reports nothing more', () => {
  const full = new LedgerWriter('/dev/full', { fsyncIntervalMs: 60_000 });
  assert.throws(
    () => full.append('{"k":"1"}'),
    (e: unknown) =>
      e instanceof LedgerWriteError &&
      e.errno === 'ENOSPC' &&
      e.message === 'cannot append to the ledger /dev/full: no space left on device (ENOSPC)',
  );
  const out: string[] = [];
  const fatal: unknown[] = [];
  const sink = {
    write: (t: string) => {
      out.push(t);
      return true;
    },
    writableNeedDrain: false,
    once: () => sink,
  } as unknown as ConstructorParameters<typeof ResultWriter>[1];
  const w = new ResultWriter(new LedgerWriter('/dev/full'), sink, { batched: false, onFatal: (e) => fatal.push(e) });
  w.emit('{"k":"1"}');
  w.emit('{"k":"2"}');
  assert.deepEqual(out, [], 'a line that is not in the ledger never reaches stdout');
  assert.equal(fatal.length, 1);
  assert.ok(fatal[0] instanceof LedgerWriteError);
});

test('fault hook: off unless set, validated, fires once per run after N rows', () => {
  const dir = tmp();
  assert.equal(armFaultKill(dir, 'w0', {}), undefined);
  assert.throws(() => armFaultKill(dir, 'w0', { [FAULT_KILL_ENV]: '0' }), /SPARKINFER_FAULT_KILL_AFTER_ROWS.*got `0`/);
  let killed = 0;
  const a = armFaultKill(dir, 'w1', { [FAULT_KILL_ENV]: '3' }, () => {
    killed++;
  });
  const b = armFaultKill(dir, 'w2', { [FAULT_KILL_ENV]: '3' }, () => {
    killed++;
  });
  a?.(1);
  a?.(2);
  assert.equal(killed, 0);
  a?.(3);
  assert.equal(killed, 1);
  assert.equal((JSON.parse(readFileSync(join(dir, FAULT_KILL_MARKER), 'utf8')) as { worker: string }).worker, 'w1');
  b?.(3);
  b?.(4);
  a?.(4);
  assert.equal(killed, 1, 'a retried attempt (or another task) does not fire again');
});

test("run lock: refused while the holder lives; a dead holder's leftover groups are stopped (and said), then the lock is taken over", async (t) => {
  const root = tmp();
  const release = acquireLock(root, 'r1');
  assert.throws(
    () => acquireLock(root, 'r2'),
    (e: unknown) => e instanceof InputError && /another run \(r1, pid \d+\) is using this output/.test(e.message),
  );
  release();
  // A holder that died (pid gone) while a group it recorded (here: a sleeping process group) lives on.
  const orphan = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  t.after(() => {
    if (orphan.pid !== undefined) killGroup(orphan.pid, 'SIGKILL');
  });
  const dead = spawnSync('true').pid ?? 0;
  writeFileSync(join(root, 'LOCK'), JSON.stringify({ pid: dead, run_id: 'killed' }));
  recordGroup(pidDir(join(root, 'killed')), orphan.pid ?? 0, 'engine', 'sleep');
  const said: string[] = [];
  const r3 = acquireLock(root, 'r3', { log: (l) => said.push(l) });
  assert.deepEqual(said, [`sparkinfer: stopped engine sleep (process group ${orphan.pid}), left running by the killed run killed`]);
  assert.equal(groupRunning(orphan.pid ?? 0), false, 'stopped (at most a zombie is left, for its parent to reap)');
  assert.equal(JSON.parse(readFileSync(join(root, 'LOCK'), 'utf8')).run_id, 'r3');
  r3();
  assert.equal(existsSync(join(root, 'LOCK')), false);
});

/** Earlier runs: a (same job, ledger), b (other prompt, ledger), c (other prompt, no ledger), d (consumed). */
function fixture(): { root: string; job: Record<string, unknown> } {
  const root = tmp();
  const base = {
    task: 'generate',
    input: { format: 'json', path: '/data/q.jsonl', options: {}, key: 'id' },
    prompt: { api: 'chat', user: '{{ q }}' },
    model: 'm',
    sampling: { max_tokens: 4 },
    response: { format: 'text' },
  };
  const mk = (id: string, fp: string, prompt: unknown, ledger: boolean, consumed = false): void => {
    mkdirSync(join(root, id, 'ledger'), { recursive: true });
    writeFileSync(join(root, id, 'job.json'), JSON.stringify({ ...base, prompt, run: { id, fingerprint: fp } }));
    if (ledger) writeFileSync(join(root, id, 'ledger', 'w.jsonl'), '{"k":"1"}\n');
    if (consumed) writeFileSync(join(root, id, CONSUMED), '{}');
  };
  mk('a', 'fp1', base.prompt, true);
  mk('b', 'fp2', { api: 'chat', user: '{{ q }}!' }, true);
  mk('c', 'fp3', { api: 'chat', user: 'x' }, false);
  mk('d', 'fp4', { api: 'chat', user: 'y' }, true, true);
  writeFileSync(join(root, 'LOCK'), '{}');
  return { root, job: base };
}

test('CLI resume check: a changed job is refused naming what changed; --fresh marks earlier runs consumed', () => {
  const f = fixture();
  assert.throws(
    () => checkEarlierRuns({ root: f.root, runId: 'now', fingerprint: 'fp1', job: f.job, fresh: false }),
    (e: unknown) =>
      e instanceof InputError &&
      e.message === 'the job changed since run b (changed: prompt); rerun with --fresh to start over, or restore the job to resume it',
  );
  assert.equal(describeChange(f.job, f.job), 'the input data (file sizes or modification times)');
  assert.deepEqual(checkEarlierRuns({ root: f.root, runId: 'now', fingerprint: 'fp1', job: f.job, fresh: true }), []);
  assert.ok(existsSync(join(f.root, 'a', CONSUMED)) && existsSync(join(f.root, 'b', CONSUMED)));
  assert.equal(existsSync(join(f.root, 'c', CONSUMED)), false, 'a run without ledger lines is left alone');
  assert.deepEqual(
    checkEarlierRuns({ root: f.root, runId: 'now', fingerprint: 'fp9', job: f.job, fresh: false }),
    [],
    'consumed runs are never read again',
  );
});

const PY = `
import json, sys
sys.path.insert(0, 'python')
from sparkinfer import resume, watch
from sparkinfer.errors import InputError
root, mode = sys.argv[1], sys.argv[2]
job = json.load(open(root + '/a/job.json'))
job['run'] = {'id': 'now', 'root': root, 'fingerprint': 'fp1', 'fresh': mode == 'fresh', 'dir': root + '/now'}
out = {}
try:
    out['runs'] = [r.id for r in resume.check_earlier_runs(job, lambda m: None)]
except InputError as e:
    out['error'] = e.message
out['budget'] = [watch.budget_exceeded({'min_rows_for_budget': m, 'max_failed_fraction': f}, n, k)
                 for (m, f, n, k) in json.loads(sys.argv[3])]
print(json.dumps(out))
`;

const BUDGET_CASES: Array<[number, number, number, number]> = [
  [100, 0.01, 99, 99],
  [100, 0.01, 100, 1],
  [100, 0.01, 100, 2],
  [0, 0, 1, 1],
  [0, 0, 0, 0],
  [10, 0.2, 10, 3],
];

function py(root: string, mode: string): { runs?: string[]; error?: string; budget: boolean[] } {
  const r = spawnSync(join(ROOT, '.venv', 'bin', 'python'), ['-c', PY, root, mode, JSON.stringify(BUDGET_CASES)], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { runs?: string[]; error?: string; budget: boolean[] };
}

test('driver resume check and budget rule agree with the CLI on the same fixtures', () => {
  const f = fixture();
  const strict = py(f.root, 'resume');
  assert.equal(
    strict.error,
    'the job changed since run b (changed: prompt); rerun with --fresh to start over, or restore the job to resume it',
  );
  const ts = BUDGET_CASES.map(([m, fr, n, k]) => budgetExceeded({ min_rows_for_budget: m, max_failed_fraction: fr }, n, k));
  assert.deepEqual(strict.budget, ts);
  assert.deepEqual(ts, [false, false, true, true, false, true]);
  const fresh = py(f.root, 'fresh');
  assert.deepEqual(fresh.runs, []);
  assert.ok(existsSync(join(f.root, 'b', CONSUMED)));
  // Once b is consumed, only a (same fingerprint) is resumable.
  assert.ok(existsSync(join(f.root, 'a', CONSUMED)), 'fresh ignores a too');
  const g = fixture();
  writeFileSync(join(g.root, 'b', CONSUMED), '{}');
  assert.deepEqual(py(g.root, 'resume').runs, ['a']);
  assert.match(
    budgetMessage({ min_rows_for_budget: 10, max_failed_fraction: 0.2 }, 40, 30, { E_HTTP_4XX: 28, E_TIMEOUT: 2 }, '/r/failed_rows'),
    /^30 of 40 rows failed, more than limits.max_failed_fraction \(0.2\); top errors: E_HTTP_4XX ×28, E_TIMEOUT ×2; failed rows: \/r\/failed_rows$/,
  );
});
