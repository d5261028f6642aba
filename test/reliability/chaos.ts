/**
 * The chaos soak: one job of many rows through everything that can go wrong at once, then a rerun.
 * Used by `npm run soak` (bench/chaos.ts, 100,000 rows) and by test/reliability/chaos.test.ts (a
 * short version in `npm test`).
 *
 * Stand-ins, named: the engine is the SIMULATED engine (src/sim, a process of its own) so that
 * 100,000 rows fit in minutes on 2 cores; faults come from the fault proxy in front of it. Spark,
 * the CLI, the driver and the workers are the real ones.
 *
 * The chaos run (A): on first attempts, random 5xx, 429 with retry-after, connection resets,
 * timeouts and truncated bodies (seeded); as the ledger passes given fractions of the rows, three
 * workers are SIGKILLed (Spark retries their tasks), the engine is restarted on its port, and
 * finally the CLI's whole process group is SIGKILLed. The rerun (B) is the same command. Measured:
 * every key exactly once in the output, rows from the ledger and inferred, requests sent against
 * rows, the peak RSS of the CLI, the driver (Python and JVM) and a worker, the wall time against
 * a fault-free run of the same rows (F), and the processes left behind (0 expected).
 * With `noKillsPhase`, a faults-only run (N) comes between F and A: the same rows and the same
 * seeded faults on first attempts, but no worker kills, no engine restart and no kill of the run,
 * so the slowdown is reported twice: N / F (the faults alone) and (A + B) / F (everything).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, type CliResult } from '../helpers/cli.ts';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy.ts';
import { newTag, TAG_ENV, taggedProcesses } from '../helpers/procs.ts';
import { waitFor } from '../helpers/wait.ts';
import { startSimProcess } from '../../bench/lib/engines.ts';
import { seededRandom } from '../../src/sim/clock.ts';
import { ledgerLineCount, pidAlive, readOutput, runDirs, tally, workerPids, writeQuestions } from './lib.ts';

export interface ChaosOptions {
  rows: number;
  /** Scratch folder (input, outputs, run roots). */
  work: string;
  /** Spark partitions (tasks). Default: rows / 2,500, at least 4. */
  partitions?: number;
  /** Share of first attempts that get a fault, split evenly over the five kinds. Default 0.02. */
  faultRate?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Also run the faults-only phase N (no kills, no restart) and report its slowdown. Default false. */
  noKillsPhase?: boolean;
}

/** The faults-only phase N: the same rows and faults as the chaos run, nothing killed. */
export interface NoKillsReport {
  wall_s: number;
  /** N / F. */
  wall_vs_fault_free: number;
  exit_code: number;
  exactly_once: boolean;
  lost: number;
  duplicates: number;
  rows_failed: number;
  requests_sent: number;
  faults_injected: Record<string, number>;
}

export interface ChaosReport {
  rows: number;
  partitions: number;
  fault_rate: number;
  /** Every input key exactly once in the output, every row ok. */
  exactly_once: boolean;
  duplicates: number;
  lost: number;
  rows_failed: number;
  rows_from_ledger: number;
  rows_inferred: number;
  /** POSTs the engine side received (chaos run and rerun), against rows. */
  requests_sent: number;
  requests_per_row: number;
  faults_injected: Record<string, number>;
  workers_killed: number;
  engine_restarts: number;
  run_killed_at_ledger_lines: number;
  /** Peak resident memory (VmHWM) by process role, in MiB, over the chaos run and the rerun. */
  peak_rss_mb: { cli: number; driver_python: number; driver_jvm: number; worker: number };
  wall_s: { fault_free: number; chaos_run: number; rerun: number; chaos_total: number };
  /** (chaos run + rerun) / fault-free: the slowdown with the kills and the engine restart. */
  wall_vs_fault_free: number;
  /** With `noKillsPhase`: the faults-only run, its slowdown against the fault-free run. */
  no_kills?: NoKillsReport;
  /** Processes of either run alive 10 s after it ended. */
  processes_left: number;
  exit_codes: { fault_free: number; chaos_run: number; rerun: number };
}

const KINDS: readonly Fault[] = ['5xx', '429', 'reset', 'timeout', 'truncate'];
const FAULT_SEED = 20261205;

/** Peak RSS (VmHWM, KiB) of each role among the processes carrying `tag`, sampled until stopped. */
function watchMemory(tag: string): { stop: () => void; peaks: Record<'cli' | 'driver_python' | 'driver_jvm' | 'worker', number> } {
  const peaks = { cli: 0, driver_python: 0, driver_jvm: 0, worker: 0 };
  const roleOf = (pid: number): keyof typeof peaks | undefined => {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return undefined;
    }
    const argv0 = cmd.split('\0')[0] ?? '';
    if (argv0.endsWith('java')) return 'driver_jvm'; // its command line names driver.py and the worker too
    if (cmd.includes('driver.py')) return 'driver_python';
    if (cmd.includes('sparkinfer-worker')) return 'worker';
    if (cmd.includes('cli/main.ts') || cmd.includes('sparkinfer.mjs')) return 'cli';
    return undefined;
  };
  const timer = setInterval(() => {
    for (const p of taggedProcesses(tag)) {
      const role = roleOf(p.pid);
      if (role === undefined) continue;
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m !== null) peaks[role] = Math.max(peaks[role], Number(m[1]));
      } catch {
        // gone meanwhile
      }
    }
  }, 500);
  return { stop: () => clearInterval(timer), peaks };
}

/** Faults injected between two readings of the proxy's counts (kinds with none left out). */
function faultsSince(before: Record<string, number>, now: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(now)
      .map(([k, n]) => [k, n - (before[k] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
}

function noKillsReport(
  n: CliResult,
  faultFreeMs: number,
  t: ReturnType<typeof tally>,
  rows: number,
  before: { posts: number; injected: Record<string, number> },
  proxy: { posts(): number; injected(): Record<string, number> },
): NoKillsReport {
  return {
    wall_s: Math.round(n.ms / 100) / 10,
    wall_vs_fault_free: Math.round((n.ms / faultFreeMs) * 1000) / 1000,
    exit_code: n.code,
    exactly_once: n.code === 0 && t.lost === 0 && t.duplicates === 0 && t.foreign === 0 && t.ok === rows,
    lost: t.lost,
    duplicates: t.duplicates,
    rows_failed: rows - t.ok,
    requests_sent: proxy.posts() - before.posts,
    faults_injected: faultsSince(before.injected, proxy.injected()),
  };
}

export async function chaosSoak(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const rows = o.rows;
  const partitions = o.partitions ?? Math.max(4, Math.round(rows / 2500));
  const faultRate = o.faultRate ?? 0.02;
  mkdirSync(o.work, { recursive: true });
  const input = join(o.work, 'chaos.jsonl');
  const ids = writeQuestions(input, rows);
  // The simulator on a fixed port, so that a restart comes back where the proxy forwards.
  const sim = await startSimProcess({
    mode: 'sim',
    args: ['--slots', '64', '--base-step-ms', '4', '--per-seq-step-ms', '0.02', '--time-scale', '1'],
  });
  let engine = sim;
  const port = new URL(sim.origin).port;
  let random = seededRandom(FAULT_SEED); // the same faults on every soak (reset per phase: N and A draw alike)
  let chaos = false;
  const attempted = new Set<string>(); // bodies sent in the chaos run: only first attempts get faults
  const proxy = await startFaultProxy(sim.origin, {
    plan: (r) => {
      if (!chaos || attempted.has(r.body)) return undefined;
      attempted.add(r.body);
      return random() < faultRate ? KINDS[Math.floor(random() * KINDS.length)] : undefined;
    },
    slowMs: 100,
    retryAfterS: 1,
  });
  const job = (name: string, out: string): string => {
    const path = join(o.work, `${name}.yaml`);
    writeFileSync(
      path,
      `
name: ${name}
input: { format: json, path: "${input}", key: id }
prompt: { user: "{{ question }}" }
model: sim
sampling: { max_tokens: 8 }
engine: { endpoint: "${proxy.endpoint}", kind: vllm, concurrency: auto, request_timeout: 3s, retries: 8, outage_timeout: 60s }
output: { format: json, path: "${out}" }
spark: { master: "local[2,8]", partitions: ${partitions} }
limits: { max_failed_fraction: 0.01 }
`,
    );
    return path;
  };
  const tag = newTag();
  const env = { [TAG_ENV]: tag };
  const memory = watchMemory(tag);
  try {
    // F: the same rows without faults, for the wall-time reference.
    log(`chaos: fault-free run of ${rows} rows in ${partitions} tasks`);
    const fPath = job('faultfree', join(o.work, 'out-faultfree'));
    const f = await runCli(['run', fPath, '--json'], { env, timeoutMs: 3_600_000 });

    // N (optional): the same faults, nothing killed.
    let noKills: NoKillsReport | undefined;
    if (o.noKillsPhase === true) {
      chaos = true;
      log(`chaos: faults-only run of ${rows} rows (no kills, no engine restart)`);
      const before = { posts: proxy.posts(), injected: proxy.injected() };
      const n = await runCli(['run', job('faults', join(o.work, 'out-faults')), '--json'], { env, timeoutMs: 3_600_000 });
      noKills = noKillsReport(n, f.ms, tally(readOutput(join(o.work, 'out-faults')), ids), rows, before, proxy);
      chaos = false;
      attempted.clear();
      random = seededRandom(FAULT_SEED);
      log(`chaos: faults-only run took ${noKills.wall_s} s, ${noKills.wall_vs_fault_free}× the fault-free run`);
    }
    const posts0 = proxy.posts();
    const injected0 = proxy.injected();

    // A: the chaos run.
    chaos = true;
    const out = join(o.work, 'out-chaos');
    const root = `${out}.sparkinfer`;
    const path = job('chaos', out);
    let pid = 0;
    const t0 = Date.now();
    const a = runCli(['run', path, '--json'], {
      env,
      onStart: (p) => {
        pid = p;
      },
      timeoutMs: 3_600_000,
    });
    let aDone: CliResult | undefined;
    void a.then((r) => {
      aDone = r;
    });
    const reach = async (share: number): Promise<boolean> => {
      await waitFor(
        `${Math.round(share * 100)}% of the rows in the ledger`,
        () => aDone !== undefined || ledgerLineCount(root) >= share * rows,
        3_600_000,
        200,
      );
      return aDone === undefined;
    };
    let killedWorkers = 0;
    const killed = new Set<number>();
    for (const share of [0.15, 0.3, 0.45]) {
      if (!(await reach(share))) break;
      const victim = workerPids(runDirs(root)[0] ?? '').find((p) => !killed.has(p) && pidAlive(p));
      if (victim === undefined) continue;
      killed.add(victim);
      process.kill(victim, 'SIGKILL');
      killedWorkers++;
      log(`chaos: SIGKILLed worker ${victim} at ${ledgerLineCount(root)} ledger lines`);
    }
    let restarts = 0;
    if (await reach(0.55)) {
      await engine.stop();
      engine = await startSimProcess({
        mode: 'sim',
        args: ['--slots', '64', '--base-step-ms', '4', '--per-seq-step-ms', '0.02', '--time-scale', '1', '--port', port],
      });
      restarts++;
      log(`chaos: restarted the engine at ${ledgerLineCount(root)} ledger lines`);
    }
    let killedAt = 0;
    if (await reach(0.7)) {
      killedAt = ledgerLineCount(root);
      process.kill(-pid, 'SIGKILL');
      log(`chaos: SIGKILLed the run's process group at ${killedAt} ledger lines`);
    }
    const ar = await a;
    const aWall = (Date.now() - t0) / 1000;
    await waitFor("the killed run's processes to go", () => taggedProcesses(tag).length === 0, 30_000, 100).catch(() => {});
    const leftA = taggedProcesses(tag).length;

    // B: the rerun.
    const t1 = Date.now();
    const b = await runCli(['run', path, '--json'], { env, timeoutMs: 3_600_000 });
    const bWall = (Date.now() - t1) / 1000;
    // "Left behind" means: still there 10 s after the run ended.
    await waitFor("the rerun's processes to go", () => taggedProcesses(tag).length === 0, 10_000, 100).catch(() => {});
    const left = leftA + taggedProcesses(tag).length;
    const bs = b.code === 0 || b.code === 1 ? summaryOf(b) : {};
    const t = tally(readOutput(out), ids);
    const fWall = f.ms / 1000;
    const mb = (kb: number): number => Math.round(kb / 102.4) / 10;
    const posts = proxy.posts() - posts0;
    return {
      rows,
      partitions,
      fault_rate: faultRate,
      exactly_once: t.lost === 0 && t.duplicates === 0 && t.foreign === 0 && t.ok === rows,
      duplicates: t.duplicates,
      lost: t.lost,
      rows_failed: rows - t.ok,
      rows_from_ledger: Number(bs.rows_from_ledger ?? 0),
      rows_inferred: Number(bs.rows_inferred ?? 0),
      requests_sent: posts,
      requests_per_row: Math.round((posts / rows) * 1000) / 1000,
      faults_injected: faultsSince(injected0, proxy.injected()),
      workers_killed: killedWorkers,
      engine_restarts: restarts,
      run_killed_at_ledger_lines: killedAt,
      peak_rss_mb: {
        cli: mb(memory.peaks.cli),
        driver_python: mb(memory.peaks.driver_python),
        driver_jvm: mb(memory.peaks.driver_jvm),
        worker: mb(memory.peaks.worker),
      },
      wall_s: { fault_free: fWall, chaos_run: aWall, rerun: bWall, chaos_total: Math.round((aWall + bWall) * 10) / 10 },
      wall_vs_fault_free: Math.round(((aWall + bWall) / fWall) * 1000) / 1000,
      ...(noKills !== undefined ? { no_kills: noKills } : {}),
      processes_left: left,
      exit_codes: { fault_free: f.code, chaos_run: ar.code, rerun: b.code },
    };
  } finally {
    memory.stop();
    await proxy.close();
    await engine.stop();
  }
}

export interface ResumeMemoryReport {
  rows: number;
  ledger_rows: number;
  rows_from_ledger: number;
  rows_inferred: number;
  exactly_once: boolean;
  /** Peak RSS (MiB) of the run that wrote the ledger (nothing to resume) and of the rerun that read it. */
  first_run_peak_rss_mb: { driver_python: number; driver_jvm: number };
  resume_peak_rss_mb: { driver_python: number; driver_jvm: number };
  wall_s: { first_run: number; resume: number };
}

/**
 * Does a resume over a big ledger keep the driver's memory flat? A run over `rows` rows (the
 * instant fake engine: the ledger is what is measured) is SIGKILLed once 90 % of them are in its
 * ledger; the rerun takes them from there. The drivers' peak RSS of both runs are compared: a
 * resume that collected keys to the driver would grow with the ledger.
 */
export async function resumeMemory(o: { rows: number; work: string; log?: (line: string) => void }): Promise<ResumeMemoryReport> {
  const log = o.log ?? (() => {});
  mkdirSync(o.work, { recursive: true });
  const input = join(o.work, 'big.jsonl');
  const ids = writeQuestions(input, o.rows);
  const fake = await startSimProcess({ mode: 'instant' });
  const out = join(o.work, 'out-big');
  const root = `${out}.sparkinfer`;
  const path = join(o.work, 'big.yaml');
  writeFileSync(
    path,
    `
name: big
input: { format: json, path: "${input}", key: id }
prompt: { user: "{{ question }}" }
model: sim
sampling: { max_tokens: 8 }
engine: { endpoint: "${fake.endpoint}", kind: openai, concurrency: 64 }
output: { format: json, path: "${out}" }
spark: { master: "local[2,4]", partitions: ${Math.max(4, Math.round(o.rows / 25_000))} }
`,
  );
  const tagA = newTag();
  const tagB = newTag();
  const memA = watchMemory(tagA);
  const memB = watchMemory(tagB);
  try {
    let pid = 0;
    const t0 = Date.now();
    const a = runCli(['run', path, '--json'], {
      env: { [TAG_ENV]: tagA },
      onStart: (p) => {
        pid = p;
      },
      timeoutMs: 3_600_000,
    });
    let aDone = false;
    void a.then(() => {
      aDone = true;
    });
    await waitFor('90% of the rows in the ledger', () => aDone || ledgerLineCount(root) >= 0.9 * o.rows, 3_600_000, 500);
    const ledgerRows = ledgerLineCount(root);
    process.kill(-pid, 'SIGKILL');
    await a;
    const aWall = (Date.now() - t0) / 1000;
    log(`resume-memory: killed the first run at ${ledgerRows} ledger lines after ${aWall.toFixed(0)} s`);
    await waitFor("the killed run's processes to go", () => taggedProcesses(tagA).length === 0, 30_000, 100).catch(() => {});
    const t1 = Date.now();
    const b = await runCli(['run', path, '--json'], { env: { [TAG_ENV]: tagB }, timeoutMs: 3_600_000 });
    const bWall = (Date.now() - t1) / 1000;
    const s = summaryOf(b);
    const t = tally(readOutput(out), ids);
    const mb = (kb: number): number => Math.round(kb / 102.4) / 10;
    return {
      rows: o.rows,
      ledger_rows: ledgerRows,
      rows_from_ledger: Number(s.rows_from_ledger ?? 0),
      rows_inferred: Number(s.rows_inferred ?? 0),
      exactly_once: b.code === 0 && t.lost === 0 && t.duplicates === 0 && t.ok === o.rows,
      first_run_peak_rss_mb: { driver_python: mb(memA.peaks.driver_python), driver_jvm: mb(memA.peaks.driver_jvm) },
      resume_peak_rss_mb: { driver_python: mb(memB.peaks.driver_python), driver_jvm: mb(memB.peaks.driver_jvm) },
      wall_s: { first_run: aWall, resume: bWall },
    };
  } finally {
    memA.stop();
    memB.stop();
    await fake.stop();
  }
}
