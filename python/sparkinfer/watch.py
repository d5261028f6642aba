"""Watchers the driver runs beside the inference (docs/architecture.md, "Reliability model").

- BudgetWatcher: the job-wide failure budget. It sums the workers' stats files
  (`<run>/stats/*.json`: rows_done, rows_failed, errors_by_code) and the rows taken from earlier
  ledgers; once at least `limits.min_rows_for_budget` rows have finished and more than
  `limits.max_failed_fraction` of them failed, it cancels the inference job group. Workers never
  exit non-zero for row failures (Spark would re-infer whole partitions), so this is where a job
  full of failing rows stops. The same rule is applied to the written output at the end.
- start_orphan_watch: when the CLI that started this driver dies (SIGKILL, OOM), the driver takes
  its whole process group (the spark-submit JVM and the workers) down with it, so a killed run
  stops writing ledgers and a rerun never races an orphan.
"""

import json
import os
import re
import signal
import socket
import sys
import threading
import time

CLI_PID_ENV = 'SPARKINFER_CLI_PID'


def budget_exceeded(limits, finished, failed):
    """The one budget rule (src/rundir/budget.ts has the same): past min_rows_for_budget, failed/finished > max."""
    return finished > 0 and finished >= limits['min_rows_for_budget'] and failed / finished > limits['max_failed_fraction']


def spend_reached(limits, prompt_tokens, completion_tokens, wall_ms):
    """The spend budgets of one run (src/rundir/budget.ts spendReached has the same): the first one
    reached as (key, limit, used), or None."""
    for key, used in (('max_completion_tokens', completion_tokens), ('max_prompt_tokens', prompt_tokens), ('max_wall', wall_ms)):
        limit = limits.get(key)
        if limit is not None and used is not None and used >= limit:
            return key, limit, used
    return None


def spend_message(reached, rows_done, rows_total, prompt_tokens, completion_tokens):
    """Which budget, how much is done, and that the same command continues."""
    key, limit, used = reached
    if key == 'max_wall':
        what = f'limits.max_wall ({limit / 1000:g}s) reached after {used / 1000:.1f}s'
    else:
        what = f'limits.{key} ({limit}) reached: {used} spent'
    total = f' of {rows_total}' if rows_total is not None else ''
    return (
        f'{what}; {rows_done}{total} rows are done and kept in the ledger '
        f'({prompt_tokens} prompt and {completion_tokens} completion tokens in this run); no output was written; '
        f'run the same command again to continue (a higher --set limits.{key}=… is not a changed job)'
    )


def top_codes(errors_by_code, n=3):
    items = sorted(errors_by_code.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ', '.join(f'{c} ×{k}' for c, k in items[:n])
    return shown + (', …' if len(items) > n else '')


def budget_message(limits, finished, failed, errors_by_code, failed_rows_path, cancelled, ledger_failed=0):
    """Says how many rows failed, why (the top codes) and where they are."""
    counted = f'of the first {finished} rows' if cancelled else f'of {finished} rows'
    what = 'cancelled the inference' if cancelled else 'the output is written'
    where = f'; failed rows: {failed_rows_path}' if failed_rows_path else ''
    hint = f'; {ledger_failed} of them failed in earlier runs: --retry-errors infers them again' if ledger_failed else ''
    return (
        f'{failed} {counted} failed, more than limits.max_failed_fraction ({limits["max_failed_fraction"]:g}); '
        f'top errors: {top_codes(errors_by_code)}; {what}{where}{hint}'
    )


def write_cancel(run_dir, reason):
    path = os.path.join(run_dir, 'CANCEL')
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump({'reason': reason, 'at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, f)
    os.replace(tmp, path)


def _this_host():
    return re.sub(r'[^A-Za-z0-9_.-]', '_', socket.gethostname())


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def worker_stats(run_dir):
    """The workers' stats files of a run directory, parsed, in name order. One being replaced
    while we read it is skipped: the next poll sees it."""
    d = os.path.join(run_dir, 'stats')
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith('.json') and not n.startswith('.'))
    except OSError:
        return
    for n in names:
        try:
            with open(os.path.join(d, n), encoding='utf-8') as f:
                s = json.load(f)
        except (OSError, ValueError):
            continue
        yield s


def read_stats(run_dir):
    """Sums the workers' stats files. A local attempt that died unfinished (a killed worker) is left
    out: Spark runs its task again, and those rows will be counted by the new attempt."""
    done = failed = 0
    codes = {}
    host = _this_host()
    for s in worker_stats(run_dir):
        if (
            not s.get('done')
            and str(s.get('worker', '')).startswith(host + '-')
            and isinstance(s.get('pid'), int)
            and not _pid_alive(s['pid'])
        ):
            continue
        done += int(s.get('rows_done') or 0)
        failed += int(s.get('rows_failed') or 0)
        for c, k in (s.get('errors_by_code') or {}).items():
            codes[c] = codes.get(c, 0) + int(k)
    return done, failed, codes


PROGRESS_PREFIX = 'sparkinfer-progress '  # src/k8s/logs.ts parses these lines from the driver's log
PROGRESS_EVERY_S = 10.0


def progress_of(run_dir, elapsed_s):
    """Rows, tokens and in-flight requests summed over the workers' stats files, plus the plan's total."""
    p = {
        'rows_done': 0,
        'rows_failed': 0,
        'prompt_tokens': 0,
        'completion_tokens': 0,
        'inflight': 0,
        'workers': 0,
        'elapsed_s': round(elapsed_s, 1),
    }
    try:
        with open(os.path.join(run_dir, 'plan.json'), encoding='utf-8') as f:
            total = json.load(f).get('rows_total')
        if isinstance(total, int):
            p['rows_total'] = total
    except (OSError, ValueError):
        pass
    for s in worker_stats(run_dir):
        p['workers'] += 1
        for k in ('rows_done', 'rows_failed', 'prompt_tokens', 'completion_tokens'):
            p[k] += int(s.get(k) or 0)
        if not s.get('done'):
            p['inflight'] += int(s.get('inflight') or 0)
    return p


def task_counts(sc):
    """Tasks of the running Spark jobs, summed over their stages: {tasks_done, tasks_active,
    tasks_total}, or None when Spark cannot tell. Locally the CLI reads the same from Spark's REST
    API (src/spark/progress.ts sparkTasks); on Kubernetes only these progress lines reach it."""
    try:
        tracker = sc.statusTracker()
        done = active = total = 0
        for job_id in tracker.getActiveJobsIds():
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job is not None else []:
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    done += stage.numCompletedTasks
                    active += stage.numActiveTasks
                    total += stage.numTasks
        return {'tasks_done': done, 'tasks_active': active, 'tasks_total': total}
    except Exception:  # the JVM is going away: a progress line without tasks
        return None


def emit_progress(run_dir, elapsed_s, sc=None):
    """One `sparkinfer-progress {json}` line on stderr: the driver's log is what `sparkinfer logs` follows."""
    p = progress_of(run_dir, elapsed_s)
    if sc is not None:
        p.update(task_counts(sc) or {})
    try:
        print(PROGRESS_PREFIX + json.dumps(p), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class BudgetWatcher(threading.Thread):
    """Polls the stats every `interval_s` seconds while the inference job group runs."""

    def __init__(self, sc, job, run_dir, base_finished=0, base_failed=0, base_codes=None, interval_s=0.5, log=None):
        super().__init__(name='sparkinfer-budget', daemon=True)
        self._sc = sc
        self._group = job['run']['id']
        self._limits = job['limits']
        self._run_dir = run_dir
        self._base = (base_finished, base_failed, dict(base_codes or {}))
        self._interval = interval_s
        self._log = log or (lambda m: None)
        self._stop = threading.Event()
        self.tripped = None  # (finished, failed, errors_by_code) once the budget was exceeded
        self.spent = None  # (reached, progress) once a spend budget (limits.max_*) was reached
        self._started_ms = job['run'].get('started_at')
        self._drain_s = (job.get('engine') or {}).get('request_timeout', 600000) / 1000 + 5
        self._spend = any(job['limits'].get(k) is not None for k in ('max_completion_tokens', 'max_prompt_tokens', 'max_wall'))

    def counts(self):
        done, failed, codes = read_stats(self._run_dir)
        b_done, b_failed, b_codes = self._base
        merged = dict(b_codes)
        for c, k in codes.items():
            merged[c] = merged.get(c, 0) + k
        return done + b_done, failed + b_failed, merged

    def run(self):
        started = time.monotonic()
        last_progress = started
        while not self._stop.wait(self._interval):
            now = time.monotonic()
            if now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                emit_progress(self._run_dir, now - started, self._sc)
            if self._spend and self._check_spend(now - started):
                return
            finished, failed, codes = self.counts()
            if budget_exceeded(self._limits, finished, failed):
                self.tripped = (finished, failed, codes)
                reason = f'failure budget exceeded: {failed} of the first {finished} rows failed ({top_codes(codes)})'
                self._log(f'{reason}; cancelling the inference')
                # Workers blocked in a TRANSFORM don't see Spark's interrupt: they watch this file
                # (src/worker/cancel.ts) and stop within a second.
                write_cancel(self._run_dir, reason)
                self._sc.cancelJobGroup(self._group)
                return

    def _check_spend(self, elapsed_s):
        p = progress_of(self._run_dir, elapsed_s)
        wall_ms = time.time() * 1000 - self._started_ms if self._started_ms else elapsed_s * 1000
        reached = spend_reached(self._limits, p['prompt_tokens'], p['completion_tokens'], wall_ms)
        if reached is None:
            return False
        self.spent = (reached, p)
        reason = f'limits.{reached[0]} ({reached[1]}) reached'
        self._log(f'{reason}; stopping the inference (requests in flight finish into the ledger)')
        write_cancel(self._run_dir, reason)
        # The workers see CANCEL, let their requests in flight finish and exit; give them that time
        # before Spark's interrupt, bounded by the request timeout.
        deadline = time.monotonic() + self._drain_s
        while time.monotonic() < deadline and progress_of(self._run_dir, 0)['inflight'] > 0:
            time.sleep(0.2)
        self._sc.cancelJobGroup(self._group)
        return True

    def stop(self):
        self._stop.set()


def start_orphan_watch(log, interval_s=0.5):
    """If the CLI's pid is in the environment, exit the whole process group when that pid is gone."""
    raw = os.environ.get(CLI_PID_ENV, '')
    if not raw.isdigit():
        return None

    def watch(pid=int(raw)):
        while _pid_alive(pid):
            time.sleep(interval_s)
        log(f'the sparkinfer CLI (pid {pid}) is gone; stopping this run (the ledger keeps what finished)')
        os.killpg(os.getpgrp(), signal.SIGKILL)

    t = threading.Thread(target=watch, name='sparkinfer-orphan-watch', daemon=True)
    t.start()
    return t
