/**
 * The reliability scenarios, each one real Spark run (or a few) against a real llama-server,
 * written once and used by the CI tests (test/reliability/*.test.ts, small inputs) and by the soak
 * command (bench/soak.ts, large inputs). A scenario runs the CLI, measures, and returns what it saw;
 * the callers assert (tests) or print (soak).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, type CliResult } from '../helpers/cli.ts';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy.ts';
import { startCountingProxy } from '../helpers/counting-proxy.ts';
import { FAULT_KILL_ENV, FAULT_KILL_MARKER } from '../../src/worker/fault.ts';
import { groupRunning, readGroups } from '../../src/launch/procs.ts';
import { pidDir } from '../../src/job/run-setup.ts';
import { killGroup } from '../../src/launch/cleanup.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  idOfBody,
  ledgerLineCount,
  ledgerResults,
  pidAlive,
  readOutput,
  row,
  runDirs,
  tally,
  workerPids,
  writeQuestions,
  type ScenarioRow,
  type Tally,
} from './lib.ts';

export interface Ctx {
  /** Scratch folder for inputs, outputs and run roots. */
  work: string;
  /** The shared engine's server root (`http://127.0.0.1:PORT`). */
  engineRoot: string;
  /** Rows per scenario. */
  rows: number;
  /** Per CLI run, in ms. */
  timeoutMs?: number;
}

function job(name: string, endpoint: string, input: string, output: string, extra = ''): string {
  return `
name: ${name}
input: { format: json, path: "${input}", key: id }
prompt: { system: "Answer in one word.", user: "{{ question }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 4 }
engine: { endpoint: "${endpoint}", kind: llama-server, concurrency: 2, request_timeout: 120s, startup_timeout: 60s, outage_timeout: 60s, retries: 4 }
output: { format: json, path: "${output}" }
spark: { master: "local[2,3]", partitions: 3 }
limits: { max_failed_fraction: 0, min_rows_for_budget: 1 }
${extra}`;
}

/** Merges YAML mapping lines: later top-level keys replace earlier ones (the job() defaults). */
function yaml(base: string, override: string): string {
  const keys = new Set(
    override
      .split('\n')
      .map((l) => /^([a-z_]+):/.exec(l)?.[1])
      .filter((k): k is string => k !== undefined),
  );
  return `${base
    .split('\n')
    .filter((l) => {
      const k = /^([a-z_]+):/.exec(l)?.[1];
      return k === undefined || !keys.has(k);
    })
    .join('\n')}\n${override}\n`;
}

const ENGINE_FAULTS: readonly Fault[] = ['5xx', '429', 'slow', 'timeout', 'reset', 'truncate'];

export interface MixedFaultsResult {
  cli: CliResult;
  summary: Record<string, unknown>;
  tally: Tally;
  /** Rows per injected fault kind, and how they came out. */
  perFault: Array<{ fault: Fault; ids: number[]; injected: number; tally: Tally }>;
  ledgerLines: number;
  killMarker: boolean;
  forwarded: number;
  reInferred: number;
  rows: ScenarioRow[];
}

/**
 * Every engine fault on the first attempt of some rows (one kind per row, by id), and one worker
 * that SIGKILLs itself after 5 rows (Spark retries its task). Every row must come out once, ok.
 */
export async function mixedFaults(ctx: Ctx): Promise<MixedFaultsResult> {
  const t0 = Date.now();
  const input = join(ctx.work, 'faults.jsonl');
  const ids = writeQuestions(input, ctx.rows);
  // Row i gets ENGINE_FAULTS[i % 12] on its first attempt (none for i % 12 >= 6): 3 rows per kind in 36.
  const faultOf = (id: number): Fault | undefined => ENGINE_FAULTS[id % (2 * ENGINE_FAULTS.length)];
  const proxy = await startFaultProxy(ctx.engineRoot, {
    plan: (r) => (r.seen === 0 ? faultOf(idOfBody(r.body)) : undefined),
    slowMs: 3000,
    retryAfterS: 1,
  });
  try {
    const out = join(ctx.work, 'out-faults');
    const path = join(ctx.work, 'faults.yaml');
    // request_timeout is what the `timeout` fault waits for: short, yet long enough for a loaded engine
    // (a healthy row fails only if 5 attempts in a row take longer). Two tasks: one wave, plus the retry.
    writeFileSync(
      path,
      yaml(
        job('faults', proxy.endpoint, input, out),
        `engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 2, request_timeout: 15s, startup_timeout: 60s, retries: 4 }
spark: { master: "local[2,3]", partitions: 2 }`,
      ),
    );
    const cli = await runCli(['run', path, '--json'], { env: { [FAULT_KILL_ENV]: '5' }, timeoutMs: ctx.timeoutMs ?? 600_000 });
    const summary = summaryOf(cli);
    const rowsOut = readOutput(out);
    const all = tally(rowsOut, ids);
    const runDir = runDirs(`${out}.sparkinfer`)[0] ?? '';
    const injected = proxy.injected();
    const perFault = ENGINE_FAULTS.map((fault) => {
      const fids = ids.filter((i) => faultOf(i) === fault);
      return {
        fault,
        ids: fids,
        injected: injected[fault],
        tally: tally(
          rowsOut.filter((r) => fids.includes(Number(r.id))),
          fids,
        ),
      };
    });
    const ledgerLines = ledgerResults(runDir).length;
    const forwarded = proxy.forwarded();
    const reInferred = proxy.reInferred();
    const secs = (Date.now() - t0) / 1000;
    const rows = perFault.map((p) =>
      row(
        `engine fault: ${p.fault} on 1st attempt`,
        p.ids.length,
        p.tally,
        null,
        `${p.injected} injected, ${p.tally.ok}/${p.ids.length} ok`,
        secs,
      ),
    );
    rows.push(
      row(
        'worker SIGKILL after 5 rows (task retried)',
        ctx.rows,
        all,
        reInferred,
        `exit ${cli.code}; ledger ${ledgerLines} lines for ${ctx.rows} rows; all ${all.ok} ok; re-inferred includes truncated answers and timeouts`,
        secs,
      ),
    );
    return {
      cli,
      summary,
      tally: all,
      perFault,
      ledgerLines,
      killMarker: existsSync(join(runDir, FAULT_KILL_MARKER)),
      forwarded,
      reInferred,
      rows,
    };
  } finally {
    await proxy.close();
  }
}

const HOSTILE: readonly Fault[] = ['huge', 'endless', 'garbage', 'html', 'not-http'];
/** The code a row gets when every attempt draws the hostile answer. */
export const HOSTILE_CODE: Readonly<Record<string, string>> = {
  huge: 'E_RESPONSE_TOO_LARGE',
  endless: 'E_TIMEOUT',
  garbage: 'E_BAD_RESPONSE',
  html: 'E_BAD_RESPONSE',
  'not-http': 'E_BAD_RESPONSE',
};

export interface HostileResult {
  cli: CliResult;
  summary: Record<string, unknown>;
  tally: Tally;
  /** Per hostile kind: the rows that drew it on every attempt, and those that drew it once. */
  perFault: Array<{ fault: Fault; always: number[]; once: number[] }>;
  /** The largest peak RSS of any worker, from its stats file (`max_rss_kb`). */
  workerPeakRssKb: number;
  rows: ScenarioRow[];
}

/**
 * Hostile engine answers (the fault proxy's `huge`, `endless`, `garbage`, `html`, `not-http`): row
 * i draws HOSTILE[i % 10] on every attempt when i % 10 < 5 (it must end as a per-row error with
 * its code), and HOSTILE[i % 10 - 5] on its first attempt only otherwise (it must end ok).
 */
export async function hostileAnswers(ctx: Ctx): Promise<HostileResult> {
  const t0 = Date.now();
  const input = join(ctx.work, 'hostile.jsonl');
  const ids = writeQuestions(input, ctx.rows);
  const plan = (id: number, seen: number): Fault | undefined => {
    const k = id % 10;
    if (k < 5) return HOSTILE[k];
    return seen === 0 ? HOSTILE[k - 5] : undefined;
  };
  const proxy = await startFaultProxy(ctx.engineRoot, { plan: (r) => plan(idOfBody(r.body), r.seen) });
  try {
    const out = join(ctx.work, 'out-hostile');
    const path = join(ctx.work, 'hostile.yaml');
    // request_timeout is what `endless` waits for: long enough for a healthy row on a loaded machine.
    writeFileSync(
      path,
      yaml(
        job('hostile', proxy.endpoint, input, out),
        `engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 2, request_timeout: 15s, startup_timeout: 60s, retries: 1 }
spark: { master: "local[2,2]", partitions: 2 }
limits: { max_failed_fraction: 0.9, min_rows_for_budget: ${ctx.rows} }`,
      ),
    );
    const cli = await runCli(['run', path, '--json'], { timeoutMs: ctx.timeoutMs ?? 600_000 });
    const summary = summaryOf(cli);
    const rowsOut = readOutput(out);
    const all = tally(rowsOut, ids);
    const runDir = runDirs(`${out}.sparkinfer`)[0] ?? '';
    const statsDir = join(runDir, 'stats');
    const workerPeakRssKb = Math.max(
      0,
      ...readdirSync(statsDir)
        .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
        .map((n) => Number((JSON.parse(readFileSync(join(statsDir, n), 'utf8')) as { max_rss_kb?: number }).max_rss_kb ?? 0)),
    );
    const perFault = HOSTILE.map((fault, k) => ({
      fault,
      always: ids.filter((i) => i % 10 === k),
      once: ids.filter((i) => i % 10 === k + 5),
    }));
    const secs = (Date.now() - t0) / 1000;
    const rows = perFault.map((p) => {
      const codes = p.always.map((i) => String(all.byKey.get(String(i))?.error_code ?? 'ok'));
      const onceOk = p.once.filter((i) => all.byKey.get(String(i))?.error_code === null).length;
      return row(
        `hostile answer: ${p.fault}`,
        p.always.length + p.once.length,
        tally(
          rowsOut.filter((r) => [...p.always, ...p.once].includes(Number(r.id))),
          [...p.always, ...p.once],
        ),
        null,
        `every attempt: ${[...new Set(codes)].join(',')}; first attempt only: ${onceOk}/${p.once.length} ok`,
        secs,
      );
    });
    rows.push(
      row(
        'hostile answers: the whole run',
        ctx.rows,
        all,
        null,
        `exit ${cli.code}; worker peak RSS ${Math.round(workerPeakRssKb / 1024)} MiB`,
        secs,
      ),
    );
    return { cli, summary, tally: all, perFault, workerPeakRssKb, rows };
  } finally {
    await proxy.close();
  }
}

export interface EngineGoneResult {
  cli: CliResult;
  summary: Record<string, unknown>;
  ledgerOk: number;
  workerAttempts: number;
  partitions: number;
  row: ScenarioRow;
}

/** The engine answers some rows, then is gone for good: the task is retried, then the job fails (exit 1). */
export async function engineGone(ctx: Ctx): Promise<EngineGoneResult> {
  const t0 = Date.now();
  const input = join(ctx.work, 'gone.jsonl');
  writeQuestions(input, ctx.rows);
  const proxy = await startFaultProxy(ctx.engineRoot);
  try {
    const out = join(ctx.work, 'out-gone');
    const path = join(ctx.work, 'gone.yaml');
    const partitions = 2;
    writeFileSync(
      path,
      yaml(
        job('gone', proxy.endpoint, input, out),
        `engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 2, request_timeout: 120s, startup_timeout: 60s, outage_timeout: 3s, retries: 2 }
spark: { master: "local[2,2]", partitions: ${partitions} }`,
      ),
    );
    const third = Math.max(1, Math.floor(ctx.rows / 3));
    let refused = false;
    const watcher = waitFor('a third of the rows answered', () => proxy.forwarded() >= third, ctx.timeoutMs ?? 600_000, 20).then(
      async () => {
        refused = true;
        await proxy.refuse();
      },
      () => {},
    );
    const cli = await runCli(['run', path, '--json'], { timeoutMs: ctx.timeoutMs ?? 600_000 });
    await watcher;
    const runDir = runDirs(`${out}.sparkinfer`)[0] ?? '';
    const ok = new Set(
      ledgerResults(runDir)
        .filter((r) => r.error_code === null)
        .map((r) => r.k),
    );
    const workerAttempts = readdirSync(join(runDir, 'logs')).filter((n) => n.startsWith('worker-')).length;
    const summary = summaryOf(cli);
    const note = `refused=${refused}; exit ${cli.code}: ${String(summary.message ?? '').slice(0, 90)}; ${ok.size} rows kept in the ledger; ${workerAttempts} worker attempts for ${partitions} tasks`;
    return {
      cli,
      summary,
      ledgerOk: ok.size,
      workerAttempts,
      partitions,
      row: row('engine gone for good (outage_timeout 3s)', ctx.rows, undefined, null, note, (Date.now() - t0) / 1000),
    };
  } finally {
    await proxy.close();
  }
}

export interface BudgetResult {
  first: CliResult;
  firstSummary: Record<string, unknown>;
  firstPosts: number;
  failedRowsPath: string | null;
  failedRows: Array<Record<string, unknown>>;
  ledgerOkKeys: Set<string>;
  committed: boolean;
  workersStopped: boolean;
  workersGoneMs: number;
  retry: CliResult;
  retrySummary: Record<string, unknown>;
  retryPosts: number;
  tally: Tally;
  rows: ScenarioRow[];
}

/**
 * Three rows in four are rejected (HTTP 400, slowly): the driver's watcher cancels the job once the
 * budget is spent. Then `--retry-errors` against a healthy engine re-infers exactly the rows that
 * failed or never ran, and keeps the ok ones.
 */
export async function budgetThenRetryErrors(ctx: Ctx): Promise<BudgetResult> {
  const t0 = Date.now();
  const input = join(ctx.work, 'budget.jsonl');
  const ids = writeQuestions(input, ctx.rows);
  // Rejections come as slowly as answers, so the run lasts long enough to be cancelled mid-way.
  const proxy = await startFaultProxy(ctx.engineRoot, { plan: (r) => (idOfBody(r.body) % 4 !== 0 ? '400' : undefined), faultDelayMs: 300 });
  try {
    const out = join(ctx.work, 'out-budget');
    const path = join(ctx.work, 'budget.yaml');
    writeFileSync(
      path,
      yaml(
        job('budget', proxy.endpoint, input, out),
        `engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 1, request_timeout: 120s, startup_timeout: 60s, retries: 2 }
spark: { master: "local[2,2]", partitions: 2 }
limits: { max_failed_fraction: 0.2, min_rows_for_budget: 10 }`,
      ),
    );
    const first = await runCli(['run', path, '--json'], { timeoutMs: ctx.timeoutMs ?? 600_000 });
    const firstPosts = proxy.posts();
    const firstSummary = summaryOf(first);
    const firstRun = runDirs(`${out}.sparkinfer`)[0] ?? '';
    // The cancelled workers stop by themselves (<run>/CANCEL); the ledger is final once they are gone.
    const pids = workerPids(firstRun);
    const tGone = Date.now();
    let workersStopped = true;
    await waitFor('the cancelled workers to exit', () => pids.every((p) => !pidAlive(p)), 15_000, 100).catch(() => {
      workersStopped = false;
    });
    const workersGoneMs = Date.now() - tGone;
    const failedRowsPath = (firstSummary.failed_rows_path as string | null) ?? null;
    const failedRows =
      failedRowsPath !== null && existsSync(failedRowsPath)
        ? readdirSync(failedRowsPath)
            .filter((n) => n.startsWith('part-'))
            .flatMap((n) =>
              readFileSync(join(failedRowsPath, n), 'utf8')
                .split('\n')
                .filter((l) => l !== '')
                .map((l) => JSON.parse(l) as Record<string, unknown>),
            )
        : [];
    const ledgerOkKeys = new Set(
      ledgerResults(firstRun)
        .filter((r) => r.error_code === null)
        .map((r) => String(r.k)),
    );
    const committed = existsSync(join(out, '_SUCCESS'));
    // The engine is fixed: forward everything. Requests of the cancelled run still at the engine
    // would be counted as the rerun's: wait for them.
    proxy.setPlan(undefined);
    await waitFor("the cancelled run's requests at the engine to finish", () => proxy.pending() === 0, 120_000, 50);
    const before = proxy.forwarded();
    // Concurrency is not part of the fingerprint: the rerun may go faster.
    const retry = await runCli(['run', path, '--json', '--retry-errors', '--set', 'engine.concurrency=4'], {
      timeoutMs: ctx.timeoutMs ?? 600_000,
    });
    const retryPosts = proxy.forwarded() - before;
    const retrySummary = summaryOf(retry);
    const t = tally(readOutput(out), ids);
    const secs = (Date.now() - t0) / 1000;
    const rows = [
      row(
        'failure budget spent (75% HTTP 400)',
        ctx.rows,
        undefined,
        null,
        `exit ${first.code}, cancelled after ${firstPosts} of ${ctx.rows} requests; committed=${committed}`,
        secs,
      ),
      row(
        '--retry-errors rerun',
        ctx.rows,
        t,
        retryPosts - (ctx.rows - ledgerOkKeys.size),
        `exit ${retry.code}; from ledger ${String(retrySummary.rows_from_ledger)}, inferred ${String(retrySummary.rows_inferred)}`,
        secs,
      ),
    ];
    return {
      first,
      firstSummary,
      firstPosts,
      failedRowsPath,
      failedRows,
      ledgerOkKeys,
      committed,
      workersStopped,
      workersGoneMs,
      retry,
      retrySummary,
      retryPosts,
      tally: t,
      rows,
    };
  } finally {
    await proxy.close();
  }
}

export interface KillResumeResult {
  killedAtLedgerLines: number;
  sparkGroupGone: boolean;
  concurrent: CliResult;
  changed: CliResult;
  postsA: number;
  ledgerOkKeys: Set<string>;
  tornKey: string;
  rerun: CliResult;
  rerunSummary: Record<string, unknown>;
  postsC: number;
  tally: Tally;
  consumed: string[];
  windowTimesTasks: number;
  rows: ScenarioRow[];
}

/**
 * SIGKILL of the whole CLI process group at ~50% (the driver then takes Spark down), a second run
 * refused by the lock meanwhile, a changed job refused, ledger damage (a torn line, an error line
 * for a finished key, a key not in the input), and the rerun that resumes.
 */
export async function killAndResume(ctx: Ctx): Promise<KillResumeResult> {
  const t0 = Date.now();
  const input = join(ctx.work, 'kill.jsonl');
  const ids = writeQuestions(input, ctx.rows);
  const proxy = await startCountingProxy(ctx.engineRoot);
  try {
    const out = join(ctx.work, 'out-kill');
    const root = `${out}.sparkinfer`;
    const path = join(ctx.work, 'kill.yaml');
    const window = 2; // engine.concurrency of job()
    const tasks = 2;
    // ignore_eos: each answer takes 8 tokens, so the run lasts long enough to be killed mid-way.
    writeFileSync(
      path,
      yaml(
        job('kill', proxy.endpoint, input, out),
        `sampling: { temperature: 0, max_tokens: 8, ignore_eos: true }
spark: { master: "local[${tasks},2]", partitions: ${tasks} }`,
      ),
    );
    let pid = 0;
    const a = runCli(['run', path, '--json'], {
      onStart: (p) => {
        pid = p;
      },
      timeoutMs: ctx.timeoutMs ?? 600_000,
    });
    await waitFor('the first ledger lines', () => ledgerLineCount(root) >= 2, ctx.timeoutMs ?? 600_000, 20);
    const concurrent = await runCli(['run', path, '--json'], { timeoutMs: 60_000 });
    await waitFor('half the rows in the ledger', () => ledgerLineCount(root) >= ctx.rows / 2, ctx.timeoutMs ?? 600_000, 10);
    const killedAtLedgerLines = ledgerLineCount(root);
    const sparkPgids = readGroups(pidDir(runDirs(root)[0] ?? ''))
      .filter((g) => g.role === 'spark')
      .map((g) => g.pgid);
    killGroup(pid, 'SIGKILL');
    await a;
    // The reaper, the parent-death signal and the driver's own watch take Spark's group down.
    let sparkGroupGone = sparkPgids.length === 1;
    try {
      await waitFor("the killed run's Spark processes to exit", () => sparkPgids.every((g) => !groupRunning(g)), 30_000, 100);
    } catch {
      sparkGroupGone = false;
      for (const g of sparkPgids) killGroup(g, 'SIGKILL');
    }
    const postsA = proxy.posts();
    const runA = runDirs(root)[0] ?? '';
    const okA = ledgerResults(runA).filter((r) => r.error_code === null);
    const ledgerOkKeys = new Set(okA.map((r) => String(r.k)));
    // Damage the ledger the way crashes and retries do.
    const files = readdirSync(join(runA, 'ledger'))
      .filter((n) => n.endsWith('.jsonl'))
      .sort();
    const unfinished = ids.map(String).find((k) => !ledgerOkKeys.has(k)) ?? '0';
    const sample = okA[0] ?? {};
    const torn = JSON.stringify({ ...sample, k: unfinished, c: JSON.stringify({ id: Number(unfinished) }), text: 'torn' }).slice(0, 60);
    const lastFile = join(runA, 'ledger', files[files.length - 1] ?? 'x.jsonl');
    const text = readFileSync(lastFile, 'utf8');
    appendFileSync(lastFile, (text.endsWith('\n') || text === '' ? '' : '\n') + torn);
    const finishedKey = String(sample.k ?? '0');
    appendFileSync(
      join(runA, 'ledger', 'zz-damage.jsonl'),
      `${[
        JSON.stringify({ ...sample, text: null, error_code: 'E_HTTP_5XX', error_message: 'an earlier attempt failed' }),
        JSON.stringify({ ...sample, k: '100000', c: JSON.stringify({ id: 100000 }) }),
      ].join('\n')}\n`,
    );
    void finishedKey;
    const changed = await runCli(['run', path, '--json', '--set', 'prompt.system=Answer in two words.'], { timeoutMs: 60_000 });
    const before = proxy.posts();
    const rerun = await runCli(['run', path, '--json'], { timeoutMs: ctx.timeoutMs ?? 600_000 });
    const postsC = proxy.posts() - before;
    const rerunSummary = summaryOf(rerun);
    const t = tally(readOutput(out), ids);
    const consumed = runDirs(root).filter((d) => existsSync(join(d, 'CONSUMED')));
    const secs = (Date.now() - t0) / 1000;
    const reInferred = postsA + postsC - ctx.rows;
    const rows = [
      row(
        'run SIGKILLed at ~50%, then rerun',
        ctx.rows,
        t,
        reInferred,
        `killed at ${killedAtLedgerLines} ledger lines; rerun: ${String(rerunSummary.rows_from_ledger)} from ledger + ${String(rerunSummary.rows_inferred)} inferred; bound ${window}×${tasks}`,
        secs,
      ),
      row('second run while one runs', ctx.rows, undefined, null, `exit ${concurrent.code} (run lock)`, concurrent.ms / 1000),
      row(
        'changed prompt after the kill',
        ctx.rows,
        undefined,
        null,
        `exit ${changed.code} in ${(changed.ms / 1000).toFixed(1)}s (fingerprint)`,
        changed.ms / 1000,
      ),
    ];
    return {
      killedAtLedgerLines,
      sparkGroupGone,
      concurrent,
      changed,
      postsA,
      ledgerOkKeys,
      tornKey: unfinished,
      rerun,
      rerunSummary,
      postsC,
      tally: t,
      consumed,
      windowTimesTasks: window * tasks,
      rows,
    };
  } finally {
    await proxy.close();
  }
}

/** The pid of the process whose argv holds `--port <port>` and `llama-server`, from /proc. */
export function llamaServerPid(port: number): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = argv.indexOf('--port');
    if (i !== -1 && argv[i + 1] === String(port) && argv.some((a) => a.includes('llama-server'))) return Number(d);
  }
  return undefined;
}

export interface EngineRestartResult {
  cli: CliResult;
  summary: Record<string, unknown>;
  killedAtLedgerLines: number;
  starts: number;
  tally: Tally;
  row: ScenarioRow;
}

/** The job's own launched engine is SIGKILLed mid-run; the launcher restarts it and the workers ride it out. */
export async function engineRestart(ctx: Ctx): Promise<EngineRestartResult> {
  const t0 = Date.now();
  const input = join(ctx.work, 'restart.jsonl');
  const ids = writeQuestions(input, ctx.rows);
  const out = join(ctx.work, 'out-restart');
  const root = `${out}.sparkinfer`;
  const path = join(ctx.work, 'restart.yaml');
  writeFileSync(
    path,
    yaml(
      job('restart', 'http://127.0.0.1:1/v1', input, out),
      `engine:
  launch: { kind: llama-server, model: smollm2-135m-instruct, parallel: 4, ctx_per_slot: 1024, max_restarts: 2 }
  concurrency: 2
  request_timeout: 120s
  startup_timeout: 120s
  outage_timeout: 120s
  retries: 4
sampling: { temperature: 0, max_tokens: 8, ignore_eos: true }
spark: { master: "local[2,2]", partitions: 2 }`,
    ),
  );
  const run = runCli(['run', path, '--json'], { timeoutMs: ctx.timeoutMs ?? 600_000 });
  const quarter = Math.max(2, Math.floor(ctx.rows / 4));
  let killedAtLedgerLines = -1;
  const killer = waitFor('a quarter of the rows in the ledger', () => ledgerLineCount(root) >= quarter, ctx.timeoutMs ?? 600_000, 20).then(
    () => {
      const runDir = runDirs(root)[0] ?? '';
      const log = readFileSync(join(runDir, 'logs', 'engine.log'), 'utf8');
      const port = Number(/--port (\d+)/.exec(log)?.[1] ?? 0);
      const pid = llamaServerPid(port);
      if (pid === undefined) throw new Error(`no llama-server on port ${port}`);
      killedAtLedgerLines = ledgerLineCount(root);
      killGroup(pid, 'SIGKILL'); // the launcher starts engines in their own process group
    },
  );
  const cli = await run;
  await killer.catch((e: unknown) => {
    throw e;
  });
  const runDir = runDirs(root)[0] ?? '';
  const starts = (readFileSync(join(runDir, 'logs', 'engine.log'), 'utf8').match(/=== sparkinfer: .* start \d+ of llama-server/g) ?? [])
    .length;
  const summary = summaryOf(cli);
  const t = tally(readOutput(out), ids);
  const r = row(
    'launched engine SIGKILLed mid-run (restarted)',
    ctx.rows,
    t,
    null,
    `exit ${cli.code}; killed at ${killedAtLedgerLines} ledger lines; ${starts} engine starts; ${t.ok} ok`,
    (Date.now() - t0) / 1000,
  );
  return { cli, summary, killedAtLedgerLines, starts, tally: t, row: r };
}
