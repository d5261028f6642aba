/** Runs the real CLI (bin/sparkinfer), or any command, in its own process group and collects what it printed. */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'bin', 'sparkinfer');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `bin/sparkinfer args` from the checkout (see runCommand). */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return runCommand(CLI, args, opts);
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  cwd?: string;
  onStart?: (pid: number) => void;
}

/** Process groups started by runCommand and still running: killed if this process exits first. */
const running = new Set<number>();
let exitHook = false;
function killRunningAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

/**
 * Runs a command (argv, no shell) in its own process group, killed as a group after `timeoutMs`
 * (default 15 min), or when this process exits first (a bench that turns SIGINT/SIGTERM into an
 * exit, as bench/chaos.ts does, so leaves no run behind).
 */
export function runCommand(command: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((res, rej) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    if (child.pid !== undefined) {
      killRunningAtExit();
      running.add(child.pid);
      opts.onStart?.(child.pid);
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        /* gone */
      }
    }, opts.timeoutMs ?? 900_000);
    child.on('error', rej);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (child.pid !== undefined) running.delete(child.pid);
      res({ code: code ?? (sig !== null ? 137 : 1), stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** The last stdout line parsed as the summary JSON. */
export function summaryOf(r: CliResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`no summary JSON on stdout (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-3000)}`);
  }
}

/** Reads all JSON-lines part files of a Spark output directory. */
export function readJsonOutput(dir: string): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.startsWith('part-'))
    .sort()) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n'))
      if (line !== '') rows.push(JSON.parse(line) as Record<string, unknown>);
  }
  return rows;
}
