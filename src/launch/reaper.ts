/**
 * The reaper: a small process that outlives the CLI just long enough to stop what the CLI started.
 *
 * A SIGKILLed CLI runs no handler, so no code of ours can stop its engines then. The kernel still
 * does one thing for every dead process: it closes its file descriptors. The reaper holds the read
 * end of a pipe whose only write end is the CLI's (libuv opens it close-on-exec, so no child
 * inherits it). The CLI writes a line per process group it starts and stops; when the pipe reads
 * end-of-file, the CLI is gone, however it died, and the reaper stops every group still listed
 * (SIGTERM, then SIGKILL 2 s later) that is still the one recorded (procs.ts has the rule). After a
 * clean exit the list is empty and the reaper just exits.
 *
 * It runs in a session of its own (`detached`), so a kill of the CLI's process group or a Ctrl-C in
 * its terminal does not reach it, and it is a shell script, so it costs ~3 MB and no Node start-up.
 * It reads nothing but the CLI's lines, and checks that each field is a number before using it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Protocol, one line each: `+ PGID START` (track) and `- PGID` (forget). (`\${` is bash's `${`.) */
const SCRIPT = `
set -u
declare -A start=()
start_of() {   # /proc/PID/stat field 22; comm (field 2) may hold spaces, so cut after its last ')'
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=\${s##*) }
  set -- $s
  printf '%s' "\${20}"
}
ours() {       # the leader still has its start time, or it is gone and its group is not
  local now
  if now=$(start_of "$1"); then [ "$now" = "$2" ]; else kill -0 -- "-$1" 2>/dev/null; fi
}
while read -r op pg st; do
  [[ $pg =~ ^[0-9]+$ ]] && [ "$pg" -gt 1 ] || continue
  case $op in
    +) [[ $st =~ ^[0-9]+$ ]] && start[$pg]=$st ;;
    -) unset "start[$pg]" ;;
  esac
done
victims=()
for pg in "\${!start[@]}"; do ours "$pg" "\${start[$pg]}" && victims+=("$pg"); done
[ \${#victims[@]} -eq 0 ] && exit 0
for pg in "\${victims[@]}"; do kill -TERM -- "-$pg" 2>/dev/null; done
for _ in $(seq 20); do
  alive=0
  for pg in "\${victims[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && exit 0
  sleep 0.1
done
for pg in "\${victims[@]}"; do kill -KILL -- "-$pg" 2>/dev/null; done
exit 0
`;

let reaper: ChildProcess | undefined;

function ensureReaper(): ChildProcess | undefined {
  if (reaper !== undefined) return reaper;
  if (process.env.SPARKINFER_FAULT_NO_REAPER === '1') return undefined; // fault hook: see cleanup.ts
  const child = spawn('bash', ['-c', SCRIPT, 'sparkinfer-reaper'], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.on('error', () => undefined); // no bash: the other layers (cleanup.ts) still stand
  child.stdin?.on('error', () => undefined); // the reaper died: nothing to tell any more
  child.unref();
  // The pipe must not keep the CLI's event loop alive.
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  reaper = child;
  return child;
}

/** Tells the reaper about a group the CLI leads from now on (`start`: procs.ts `startTime`). */
export function reaperTrack(pgid: number, start: string): void {
  ensureReaper()?.stdin?.write(`+ ${pgid} ${start}\n`);
}

/** Tells the reaper the CLI stopped this group itself. */
export function reaperForget(pgid: number): void {
  reaper?.stdin?.write(`- ${pgid}\n`);
}

/** The reaper's pid, for tests and logs; undefined before the first group is tracked. */
export function reaperPid(): number | undefined {
  return reaper?.pid;
}
