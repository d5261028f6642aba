/**
 * What the machine spends: CPU seconds per process class (engine, JVM, Python, Node workers, the
 * harness, and everything outside this benchmark), peak RSS of one process, and machine facts.
 * Linux /proc only. A process is classed by its nearest tagged ancestor (the engine, a simulator),
 * else by its command name when it descends from this benchmark, else as `outside`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { cpus, totalmem, hostname, release } from 'node:os';
import { archiveToUse } from '../../src/spark/jvm-archive.ts';
import { sparkSubmitBin } from '../../src/spark/submit.ts';

const TICKS = 100; // USER_HZ: /proc/<pid>/stat times are in 1/100 s on Linux x86-64

interface ProcStat {
  ppid: number;
  comm: string;
  /** utime + stime, in ticks. */
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may hold spaces; the fields after the last ')' are fixed.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // After comm: state(0) ppid(1) … utime(11) stime(12)
  return { ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) };
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Total busy and idle CPU ticks of the machine (/proc/stat). */
function machineTicks(): { busy: number; idle: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, idle };
}

function classOf(comm: string): string {
  if (comm === 'java') return 'jvm';
  if (comm.startsWith('python')) return 'python';
  // Node 24 names its main thread, and so the process's comm, `MainThread`.
  if (comm === 'node' || comm.startsWith('node') || comm === 'MainThread') return 'node';
  if (comm.startsWith('llama-server')) return 'engine';
  return 'other';
}

export type CpuSeconds = Record<string, number>;

/**
 * Samples every process every `intervalMs` and sums, per class, the CPU each used while the meter
 * ran. A process that exits between samples loses at most one interval of its last CPU.
 */
export class CpuMeter {
  readonly #tags = new Map<number, string>();
  readonly #base = new Map<number, number>();
  readonly #last = new Map<number, { ticks: number; cls: string }>();
  readonly #root = process.pid;
  #timer: NodeJS.Timeout | undefined;
  #m0 = machineTicks();
  #m1 = this.#m0;
  #t0 = performance.now();
  #t1 = this.#t0;

  readonly intervalMs: number;

  /** @param intervalMs sampling period, in ms. Default 500. */
  constructor(intervalMs = 500) {
    this.intervalMs = intervalMs;
  }

  /** Classes `pid` and its descendants as `label` (the engine, a simulator). */
  tag(pid: number | undefined, label: string): void {
    if (pid !== undefined) this.#tags.set(pid, label);
  }

  start(): this {
    this.#base.clear();
    this.#last.clear();
    for (const pid of allPids()) {
      const s = readStat(pid);
      if (s !== undefined) this.#base.set(pid, s.ticks);
    }
    this.#m0 = machineTicks();
    this.#t0 = performance.now();
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), this.intervalMs);
    this.#timer.unref();
    return this;
  }

  #sample(): void {
    const stats = new Map<number, ProcStat>();
    for (const pid of allPids()) {
      const s = readStat(pid);
      if (s !== undefined) stats.set(pid, s);
    }
    const cache = new Map<number, { cls: string; jvm: boolean }>();
    const classify = (pid: number, depth = 0): { cls: string; jvm: boolean } => {
      const hit = cache.get(pid);
      if (hit !== undefined) return hit;
      const tag = this.#tags.get(pid);
      const s = stats.get(pid);
      let r: { cls: string; jvm: boolean };
      if (tag !== undefined) r = { cls: tag, jvm: false };
      else if (pid === this.#root) r = { cls: 'harness', jvm: false };
      else if (s === undefined || s.ppid <= 1 || depth > 64) r = { cls: 'outside', jvm: false };
      else {
        const parent = classify(s.ppid, depth + 1);
        const own = classOf(s.comm);
        const jvm = parent.jvm || own === 'jvm';
        // Below this benchmark a process is classed by what it is (Node under a JVM is a Spark
        // task's worker), unless a tagged ancestor says otherwise.
        if (parent.cls === 'outside') r = { cls: 'outside', jvm: false };
        else if (this.#isTagged(parent.cls)) r = { cls: parent.cls, jvm };
        else r = { cls: own === 'node' && parent.jvm ? 'worker' : own, jvm };
      }
      cache.set(pid, r);
      return r;
    };
    for (const [pid, s] of stats) this.#last.set(pid, { ticks: s.ticks, cls: classify(pid).cls });
    this.#m1 = machineTicks();
    this.#t1 = performance.now();
  }

  #isTagged(cls: string): boolean {
    for (const v of this.#tags.values()) if (v === cls) return true;
    return false;
  }

  /** Stops sampling; CPU seconds per class, plus `machine_busy` and `wall`. */
  stop(): CpuSeconds {
    this.#sample();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const out: CpuSeconds = {};
    for (const [pid, { ticks, cls }] of this.#last) {
      const d = ticks - (this.#base.get(pid) ?? 0);
      if (d > 0) out[cls] = (out[cls] ?? 0) + d / TICKS;
    }
    for (const k of Object.keys(out)) out[k] = Math.round((out[k] as number) * 100) / 100;
    out.machine_busy = Math.round(((this.#m1.busy - this.#m0.busy) / TICKS) * 100) / 100;
    out.wall = Math.round((this.#t1 - this.#t0) / 10) / 100;
    return out;
  }
}

/** Runs `fn` under a fresh meter (tags applied by `fn` through the meter it receives). */
export async function measureCpu<T>(
  fn: (meter: CpuMeter) => Promise<T>,
  tags: Array<[number | undefined, string]> = [],
): Promise<{ value: T; cpu: CpuSeconds }> {
  const meter = new CpuMeter();
  for (const [pid, label] of tags) meter.tag(pid, label);
  meter.start();
  try {
    const value = await fn(meter);
    return { value, cpu: meter.stop() };
  } catch (err) {
    meter.stop();
    throw err;
  }
}

/** CPU seconds of several measured arms, per class (a class missing from an arm counts 0 there). */
export function sumCpu(parts: readonly CpuSeconds[]): CpuSeconds {
  const out: CpuSeconds = {};
  for (const p of parts) for (const [k, v] of Object.entries(p)) out[k] = Math.round(((out[k] ?? 0) + v) * 100) / 100;
  return out;
}

/** Polls a process's peak RSS (VmHWM, which the kernel keeps) until stopped; returns MiB. */
export function rssWatcher(pid: number, intervalMs = 200): { stop(): number; peakMb(): number } {
  let peakKb = 0;
  const poll = (): void => {
    try {
      const t = readFileSync(`/proc/${pid}/status`, 'latin1');
      for (const key of ['VmHWM', 'VmRSS']) {
        const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(t);
        if (m !== null) peakKb = Math.max(peakKb, Number(m[1]));
      }
    } catch {
      /* exited */
    }
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  return {
    peakMb: () => Math.round((peakKb / 1024) * 10) / 10,
    stop: () => {
      poll();
      clearInterval(timer);
      return Math.round((peakKb / 1024) * 10) / 10;
    },
  };
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).trim();
  } catch (err) {
    const e = err as { stderr?: string };
    return typeof e.stderr === 'string' && e.stderr.trim() !== '' ? e.stderr.trim() : undefined;
  }
}

/** Facts that decide how to read the numbers. */
export function machineInfo(root: string, llamaServer: string | undefined): Record<string, unknown> {
  const cpu = cpus();
  const buildInfo =
    llamaServer !== undefined && existsSync(`${llamaServer}/../BUILD_INFO`)
      ? readFileSync(`${llamaServer}/../BUILD_INFO`, 'utf8').trim()
      : undefined;
  return {
    hostname: hostname(),
    kernel: release(),
    cpu_model: cpu[0]?.model ?? 'unknown',
    cpus: cpu.length,
    mem_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadavg_at_start: readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).map(Number),
    node: process.version,
    java: tryRun('java', ['-version'])?.split('\n')[0],
    git_commit: tryRun('git', ['-C', root, 'rev-parse', '--short', 'HEAD']),
    git_dirty: (tryRun('git', ['-C', root, 'status', '--porcelain']) ?? '') !== '',
    llama_server: llamaServer,
    llama_server_build: buildInfo,
    // The driver JVM's class-data archive that sparkinfer runs map (null: none, slower Spark start).
    jvm_archive: archiveToUse(sparkSubmitBin(root))?.use ?? null,
  };
}

/** One process's user + system CPU seconds so far (/proc/<pid>/stat), or NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}
