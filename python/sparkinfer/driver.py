"""The generic PySpark driver: `spark-submit ... python/sparkinfer/driver.py --job <run dir>/job.json`.

Phases (docs/architecture.md, "Data flow"): prepare (checks, keys, packed input materialized once) → engine
readiness → infer + write (the single action over the TRANSFORM's lineage) → report from what was
written. Files in the run directory: prepared/, plan.json, driver_summary.json or driver_error.json,
failed_rows/, logs/driver.log. Nothing is printed on stdout.
"""

import argparse
import errno
import json
import os
import sys
import time
import traceback

# When this driver started (epoch seconds): the first of driver_summary.json's `timings`.
_STARTED_AT = time.time()

if __package__ in (None, ''):  # run as a script by spark-submit: make `sparkinfer` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sparkinfer import engine as _engine  # noqa: E402
from sparkinfer import estimate as _estimate  # noqa: E402  (sparkinfer estimate: count every prompt, infer a sample)
from sparkinfer import incremental as _incremental  # noqa: E402  (output.mode incremental: only changed rows, one MERGE)
from sparkinfer import prefix_plan as _prefix_plan  # noqa: E402  (shared prompt prefixes placed together)
from sparkinfer import resume as _resume  # noqa: E402  (earlier runs: a changed job refused, finished rows kept)
from sparkinfer import sidecar_watch as _sidecar_watch  # noqa: E402  (Kubernetes: engine sidecars that never start)
from sparkinfer import storage as _storage  # noqa: E402  (object stores checked before the job leans on them)
from sparkinfer import watch as _watch  # noqa: E402
from sparkinfer.errors import InputError, RuntimeFailure, SparkinferError, SpecError  # noqa: E402
from sparkinfer.job import check_run, health_url, load_job  # noqa: E402
from sparkinfer.log import close_log, log, log_detail, open_log  # noqa: E402
from sparkinfer.output import read_written, summarize, write_output  # noqa: E402
from sparkinfer.prepare import (  # noqa: E402
    auto_partitions,
    build_session,
    carried_schema,
    check_columns,
    check_keys,
    check_output_absent,
    materialize,
    pack,
    read_input,
    resume_partitions,
    write_json_atomic,
)
from sparkinfer.sparkerr import disk_problem, is_data_problem, short_message  # noqa: E402
from sparkinfer.transform import JOB_FILE, WORKER_FILE, infer_lines, parse_results, worker_command  # noqa: E402

_IMPORTED_AT = time.time()


def _run_dir(job):
    d = job['run'].get('dir')
    if not isinstance(d, str) or not d:
        raise SpecError('expected `run.dir` in job.json (the CLI writes it)')
    return d


def _keep_job_file(job_source, run_dir):
    """`<run dir>/job.json`, which resume.py reads of every earlier run. The CLI writes it there and
    passes that path; on Kubernetes the driver reads job.json from a ConfigMap, so it copies it."""
    path = os.path.join(run_dir, 'job.json')
    if os.path.exists(path):
        return
    if isinstance(job_source, dict):
        write_json_atomic(path, job_source)
        return
    with open(job_source, encoding='utf-8') as f:
        write_json_atomic(path, json.load(f))


def _prepare(spark, job, run_dir, plan_prefix=True):
    """Everything before inference. Schema checks come first: an input error never waits for data or an engine.

    Returns (rows to infer, carried schema, input rows, partitions, the Resume, whether the prefix
    plan placed them, the whole prepared input). `plan_prefix=False` (an estimate) skips the prefix plan.
    """
    # --- resume hook (resume.py): a retried driver's earlier attempt becomes an earlier run; a changed
    # job is refused before any data is read ---
    _resume.set_aside_earlier_attempt(job, log)
    earlier = _resume.check_earlier_runs(job, log)
    _TIMINGS['earlier_runs'] = time.time()
    _storage.preflight(spark, job)  # a wrong endpoint, key or bucket fails in seconds
    _resume.clean_uncommitted_output(spark, job, log)
    # --- end resume hook ---
    check_output_absent(spark, job)
    df = read_input(spark, job)
    _TIMINGS['read'] = time.time()
    check_columns(df.schema, job)
    cschema = carried_schema(df.schema, job)
    try:
        prepared = materialize(spark, pack(df, job), run_dir)
        _TIMINGS['materialized'] = time.time()
        check_keys(prepared, job)
        rows = prepared.count()  # parquet footers: cheap, and not the inferring lineage
        _TIMINGS['counted'] = time.time()
        whole = prepared
        if _incremental.is_incremental(job):  # incremental.py: only new, changed and failed rows go on
            prepared = _incremental.plan(spark, job, whole)
            job['run']['rows_unchanged'], rows = rows, prepared.count()
            job['run']['rows_unchanged'] -= rows
    except SparkinferError:
        raise
    except Exception as e:
        cls = InputError if is_data_problem(e) else RuntimeFailure
        raise cls(f'preparing the input failed: {short_message(e)}') from e
    # --- resume hook (resume.py): finished rows of earlier runs are not inferred again ---
    try:
        resumed = _resume.prepare_resume(spark, job, prepared, rows, earlier, run_dir, log)
    except Exception as e:
        raise RuntimeFailure(f'reading the ledgers of earlier runs failed: {short_message(e)}') from e
    # --- end resume hook ---
    parts = job['spark']['partitions']
    slots = spark.sparkContext.defaultParallelism
    if parts == 'auto':
        partitions = auto_partitions(resumed.rows_to_infer, slots)
    else:
        partitions = resume_partitions(parts, resumed.rows_to_infer, rows, slots)
    # rows_total: what the workers will process (the progress bar); a resume adds the whole input's count.
    plan = {'rows_total': resumed.rows_to_infer, 'partitions': partitions}
    if resumed.rows_from_ledger:
        plan.update({'rows_in': rows, 'rows_from_ledger': resumed.rows_from_ledger})
    # --- prefix plan (prefix_plan.py): rows sharing a prompt prefix meet one engine ---
    todo, prefix = resumed.todo, None
    if resumed.rows_to_infer > 0 and plan_prefix:
        planned, prefix = _prefix_plan.plan(resumed.todo, job, partitions)
        if prefix is not None:
            plan['prefix_plan'] = prefix
            log(f'prefix plan: {"applied" if prefix["applied"] else "skipped"} ({json.dumps(prefix)})')
        if planned is not None:
            todo = planned
    # --- end prefix plan ---
    write_json_atomic(os.path.join(run_dir, 'plan.json'), plan)
    return todo, cschema, rows, partitions, resumed, bool(prefix and prefix['applied']), whole


def _jvm_pid(sc):
    """The driver JVM's process id, asked over Py4J (Java 9+ ProcessHandle); else this process's
    parent, which it is when spark-submit's PythonRunner starts the driver directly."""
    try:
        return int(sc._jvm.java.lang.ProcessHandle.current().pid())
    except Exception:  # Spark Connect has no _jvm
        return os.getppid()


def _note_jvm_archive(sc):
    """Whether the driver JVM mapped its class-data archive (src/spark/jvm-archive.ts).

    The JVM refuses an archive made by another Java or Spark install with one warning and runs
    without it; this says so where a slow start would be looked into.
    """
    path = os.environ.get('SPARKINFER_JVM_ARCHIVE_FILE')
    if not path:
        return
    try:
        with open(f'/proc/{_jvm_pid(sc)}/maps', encoding='utf-8', errors='replace') as f:
            mapped = any(line.rstrip('\n').endswith(path) for line in f)
    except OSError:  # no /proc (not Linux): nothing to say
        return
    if mapped:
        log_detail(f'JVM class-data archive mapped: {path}')
    else:
        log(
            f'the JVM did not use its class-data archive {path} (made by another Java or Spark install?); '
            '`sparkinfer jvm-archive --force` rebuilds it'
        )


def _wait_for_engine(spark, job):
    run = job['run']
    if not _engine.driver_can_reach(spark.sparkContext.master, run['endpoint']):
        log(f'engine {run["endpoint"]} is local to each executor; the workers wait for it')
        return
    _engine.wait_for_engine(
        health_url(run['endpoint']),
        job['engine']['startup_timeout'],
        log=log,
        accept_any_status=run.get('engine_kind') == 'openai',
        api_key=_engine.api_key_for(job),
    )


def _log_plan(df):
    """The physical plan, for the log file (planning runs no job)."""
    try:
        log_detail('inference plan:\n' + df._jdf.queryExecution().executedPlan().toString())
    except Exception as e:  # Spark Connect has no _jdf: the plan is a nicety
        log_detail(f'inference plan unavailable: {e}')


def _budget_exceeded(job, s):
    return _watch.budget_exceeded(job['limits'], s['rows_in'], s['rows_failed'])


def _budget_cancelled(spark, job, run_dir, rows, resumed, tripped, run_id):
    """The failure-budget watcher cancelled the inference; report where the failed rows are, then fail."""
    finished, failed, codes = tripped
    spark.sparkContext.setJobGroup(f'{run_id}:report', 'sparkinfer: failed rows', False)
    try:
        path = _resume.failed_rows_from_ledger(spark, job, run_dir, resumed)
    except Exception as e:  # the message matters more than the file
        log(f'could not collect the failed rows from the ledger: {short_message(e)}')
        path = os.path.join(run_dir, 'ledger')
    write_json_atomic(
        os.path.join(run_dir, 'driver_summary.json'),
        {
            'status': 'failed',
            'run_id': run_id,
            'rows_in': rows,
            'rows_ok': finished - failed,
            'rows_failed': failed,
            'rows_from_ledger': resumed.rows_from_ledger,
            'rows_inferred': finished - resumed.rows_from_ledger,
            'errors_by_code': dict(sorted(codes.items())),
            'failed_rows_path': path,
            'output': None,
        },
    )
    raise RuntimeFailure(_watch.budget_message(job['limits'], finished, failed, codes, path, True, resumed.ledger_failed))


def _spend_stopped(job, run_dir, rows, resumed, spent, run_id):
    """A spend budget (limits.max_*) stopped the inference; say which and how much is done."""
    reached, p = spent
    done, failed, codes = _watch.read_stats(run_dir)
    done_total = resumed.rows_from_ledger + done
    write_json_atomic(
        os.path.join(run_dir, 'driver_summary.json'),
        {
            'status': 'failed',
            'run_id': run_id,
            'rows_in': rows,
            'rows_ok': done_total - resumed.ledger_failed - failed,
            'rows_failed': resumed.ledger_failed + failed,
            'rows_from_ledger': resumed.rows_from_ledger,
            'rows_inferred': done,
            'errors_by_code': dict(sorted(codes.items())),
            'prompt_tokens': p['prompt_tokens'],
            'completion_tokens': p['completion_tokens'],
            'stopped_by': f'limits.{reached[0]}',
            'output': None,
        },
    )
    raise RuntimeFailure(_watch.spend_message(reached, done_total, rows, p['prompt_tokens'], p['completion_tokens']))


def run_job(job_source, *, spark=None):
    """Runs one resolved job end to end and returns the summary dict (also written to
    `<run.dir>/driver_summary.json`). Raises SparkinferError subclasses for input, spec and runtime
    failures, after logging them (stderr, and the trace to logs/driver.log). Uses `spark` when given
    (the caller ships job.json and the worker), else builds the session.
    """
    try:
        return _run(job_source, spark)
    except SparkinferError as e:
        err = e
    except OSError as e:  # a file of the run (a full disk, say): name it and the cause
        err = RuntimeFailure(_os_error_message(e))
        err.__cause__ = e
    except Exception as e:  # anything unforeseen is a runtime failure with a short message
        err = RuntimeFailure(short_message(e))
        err.__cause__ = e
    log(err.message)
    exc = err.__cause__ or err
    log_detail(''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    close_log()
    raise err


# Epoch seconds at each step of a run, for the start-up breakdown (bench i): `cli_start` and
# `submit` come from the CLI (src/spark/submit.ts passes them in the environment).
_TIMINGS = {}


def _timings():
    """The run's steps in epoch seconds: CLI start, spark-submit, driver start, session, prepare, infer, write."""
    out = {}
    for name, var in (('cli_start', 'SPARKINFER_T_CLI_START'), ('submit', 'SPARKINFER_T_SUBMIT')):
        try:
            out[name] = float(os.environ[var]) / 1000
        except (KeyError, ValueError):
            pass
    out['driver_start'] = _STARTED_AT
    out['imported'] = _IMPORTED_AT
    out.update(_TIMINGS)
    return {k: round(v, 3) for k, v in out.items()}


def _os_error_message(e):
    """`/runs/…/plan.json: no space left on device (ENOSPC)`, in the CLI's words (src/errors.ts errnoText)."""
    code = errno.errorcode.get(e.errno, 'EIO') if e.errno else 'EIO'
    what = (e.strerror or str(e)).lower()
    return f'{e.filename}: {what} ({code})' if e.filename else f'a write of the run failed: {what} ({code})'


def _run(job_source, spark):
    t0 = time.monotonic()
    job = load_job(job_source)
    check_run(job)
    _incremental.check_job(job)
    run_dir = _run_dir(job)
    open_log(os.path.join(run_dir, 'logs', 'driver.log'))
    _keep_job_file(job_source, run_dir)
    spark = spark or build_session(job)
    _TIMINGS['session_ready'] = time.time()
    sc = spark.sparkContext
    _note_jvm_archive(sc)
    _watch.start_orphan_watch(log)  # a killed CLI takes this run down with it
    # Kubernetes: engines that never get healthy end the run. Watched from the start: with no executor
    # up, even the prepare phase's first Spark job waits for ever.
    sidecars = _sidecar_watch.start(sc, job, log=log)
    try:
        return _run_phases(spark, job, run_dir, t0)
    except Exception as e:
        if sidecars is not None and sidecars.failure:
            raise RuntimeFailure(sidecars.failure) from e
        raise
    finally:
        if sidecars is not None:
            sidecars.stop()


def _run_phases(spark, job, run_dir, t0):
    """Prepare, infer, write and summarize (the run directory, log and session are set up by _run)."""
    sc = spark.sparkContext
    run_id = job['run']['id']
    sc.setJobGroup(f'{run_id}:prepare', f'sparkinfer {job["name"]}: prepare', False)
    estimating = job['run'].get('estimate') is not None
    prepared, cschema, rows, partitions, resumed, planned, whole = _prepare(spark, job, run_dir, plan_prefix=not estimating)
    prepare_s = time.monotonic() - t0
    _TIMINGS['prepared'] = time.time()
    log(f'prepared {rows} rows in {partitions} partitions ({prepare_s:.1f}s)')

    if resumed.rows_to_infer > 0 or estimating:  # a resume that finds every row finished needs no engine
        _wait_for_engine(spark, job)
    if estimating:
        if _incremental.is_incremental(job):  # only the rows a run would infer are counted and sampled
            log(f'incremental: {job["run"]["rows_unchanged"]} rows unchanged in the table, {rows} to infer')
            whole = _incremental.plan(spark, job, whole)
        return _estimate_run(spark, job, run_dir, whole, rows, resumed, cschema, run_id)
    t1 = time.monotonic()
    _TIMINGS['infer_start'] = time.time()
    sc.setJobGroup(run_id, f'sparkinfer {job["name"]}: inference', True)
    raw = _resume.with_ledger_lines(infer_lines(spark, prepared, job, partitions, worker_command(), planned), resumed)
    out_df = parse_results(raw, job, cschema)
    schema = out_df.schema  # analysis only, no action
    _log_plan(out_df)
    # --- failure budget hook (watch.py): cancels the job group once the budget is spent ---
    budget = _watch.BudgetWatcher(sc, job, run_dir, resumed.rows_from_ledger, resumed.ledger_failed, resumed.ledger_errors_by_code, log=log)
    budget.start()
    wjob = _incremental.staged_job(job, run_dir) if _incremental.is_incremental(job) else job  # the table waits for the commit
    try:
        write_output(out_df, wjob, partitions)
    except Exception as e:
        if budget.spent:
            _spend_stopped(job, run_dir, rows, resumed, budget.spent, run_id)
        if budget.tripped:
            _budget_cancelled(spark, job, run_dir, rows, resumed, budget.tripped, run_id)
        disk = disk_problem(e)
        if disk:
            where = job['output'].get('path') or job['output'].get('table')
            raise RuntimeFailure(f'writing the output {where} failed: {disk}') from e
        raise RuntimeFailure(f'inference failed: {short_message(e)}') from e
    finally:
        budget.stop()
    # --- end failure budget hook ---
    infer_s = time.monotonic() - t1
    _TIMINGS['written'] = time.time()

    sc.setJobGroup(f'{run_id}:report', f'sparkinfer {job["name"]}: report', False)
    summary = {'status': 'succeeded', 'run_id': run_id}
    summary.update(summarize(spark, job, read_written(spark, wjob, schema), rows, run_dir))
    summary.update({'prepare_s': round(prepare_s, 3), 'infer_s': round(infer_s, 3), 'partitions': partitions})
    # rows_in = rows_from_ledger + rows_inferred (the union was written once).
    summary['rows_from_ledger'] = resumed.rows_from_ledger
    summary['rows_inferred'] = summary['rows_out'] - resumed.rows_from_ledger
    problem = None
    if summary['rows_out'] != rows or summary['distinct_keys_out'] != rows:
        problem = (
            f'the output has {summary["rows_out"]} rows with {summary["distinct_keys_out"]} distinct keys '
            f'for {rows} input rows; every row must come out exactly once'
        )
    elif _budget_exceeded(job, summary):
        problem = _watch.budget_message(
            job['limits'],
            rows,
            summary['rows_failed'],
            summary['errors_by_code'],
            summary['failed_rows_path'],
            False,
            resumed.ledger_failed,
        )
    if problem:
        summary['status'] = 'failed'
    _TIMINGS['summarized'] = time.time()
    summary['timings'] = _timings()
    _write_run_file(run_dir, 'driver_summary.json', summary)
    if problem:
        raise RuntimeFailure(problem)
    if wjob is not job:  # --- incremental commit: one MERGE INTO the table ---
        _incremental_commit(spark, job, whole, run_dir, summary)
    _resume.mark_all_consumed(job, resumed)  # after the commit, these ledgers are done with
    log(
        f'wrote {rows} rows to {summary["output"]}: {summary["rows_ok"]} ok, {summary["rows_failed"]} failed'
        + (f' ({resumed.rows_from_ledger} from earlier runs)' if resumed.rows_from_ledger else '')
    )
    close_log()
    return summary


def _incremental_commit(spark, job, whole, run_dir, summary):
    """The run's one commit into its delta or iceberg table; driver_summary.json says what it changed."""
    summary['output'] = job['output']['path']
    summary['rows_unchanged'] = job['run'].get('rows_unchanged', 0)
    try:
        _incremental.commit(spark, job, whole, run_dir, log)
    except Exception as e:
        summary['status'] = 'failed'
        _write_run_file(run_dir, 'driver_summary.json', summary)
        raise RuntimeFailure(f'committing to the table {job["output"]["path"]} failed: {short_message(e)}') from e
    _write_run_file(run_dir, 'driver_summary.json', summary)


# The CLI writes this much in every run directory (src/job/run-setup.ts RESERVE_FILE): removed here, it
# makes room for driver_summary.json or driver_error.json on a full disk, so the user reads the
# outcome, not an exit code.
RESERVE_FILE = '.reserve'


def _estimate_run(spark, job, run_dir, whole, rows, resumed, cschema, run_id):
    """`sparkinfer estimate` (estimate.py): measurements to driver_estimate.json; driver_summary.json
    describes the sample that was inferred. Nothing is written to the output and no run is marked
    consumed: the sample's results wait in this run's ledger for the next `sparkinfer run`."""
    m = _estimate.run_estimate(spark, job, run_dir, whole, rows, resumed, cschema, log)
    sample = m['sample']
    codes = {}
    for r in sample:
        if r['error_code'] is not None:
            codes[r['error_code']] = codes.get(r['error_code'], 0) + 1
    summary = {
        'status': 'succeeded',
        'run_id': run_id,
        'rows_in': len(sample),
        'rows_ok': len(sample) - sum(codes.values()),
        'rows_failed': sum(codes.values()),
        'rows_from_ledger': 0,
        'rows_inferred': len(sample),
        'prompt_tokens': sum(r['prompt_tokens'] or 0 for r in sample),
        'completion_tokens': sum(r['completion_tokens'] or 0 for r in sample),
        'errors_by_code': dict(sorted(codes.items())),
        'failed_rows_path': None,
        'output': None,
    }
    _write_run_file(run_dir, 'driver_summary.json', summary)
    close_log()
    return summary


def _write_run_file(run_dir, name, obj):
    """Writes `<run_dir>/name`; on a full disk, once more after removing the reserve."""
    path = os.path.join(run_dir, name)
    try:
        write_json_atomic(path, obj)
    except OSError:
        try:
            os.remove(os.path.join(run_dir, RESERVE_FILE))
        except OSError:
            pass
        write_json_atomic(path, obj)


def _write_error(run_dir, err):
    if not run_dir:
        return
    try:
        _write_run_file(run_dir, 'driver_error.json', {'exit_code': err.exit_code, 'code': err.code, 'message': err.message})
    except OSError as e:
        log(f'cannot write driver_error.json in {run_dir}: {e.strerror}')


def _session_shipping(job, job_path, worker_path):
    """`--worker`: the session, with job.json and the worker added to SparkFiles by the driver itself.
    On Kubernetes spark-submit runs inside the operator, far from these files (the job file is a
    ConfigMap mounted in the driver pod, the worker is in the image), so `--files` cannot carry them.
    The USING command finds them by name in SparkFiles' root, hence the fixed names."""
    for path, name in ((job_path, JOB_FILE), (worker_path, WORKER_FILE)):
        if os.path.basename(path) != name:
            raise SpecError(f'the driver ships {path} to the executors as {name}; it must be named {name}')
        if not os.path.isfile(path):
            raise SpecError(f'{path} does not exist (--job/--worker of the driver)')
    spark = build_session(job)
    spark.sparkContext.addFile(job_path)
    spark.sparkContext.addFile(worker_path)
    return spark


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sparkinfer-driver', description='sparkinfer PySpark driver')
    parser.add_argument('--job', required=True, help='path to the resolved job.json')
    parser.add_argument(
        '--worker',
        help='the bundled worker (sparkinfer-worker.mjs): ship it and the job file to the '
        'executors from here, instead of spark-submit --files (Kubernetes)',
    )
    args = parser.parse_args(argv)
    try:
        job = load_job(args.job)
    except SparkinferError as e:  # no run directory known: stderr only
        log(e.message)
        return e.exit_code
    run_dir = job['run'].get('dir') if isinstance(job.get('run'), dict) else None
    try:
        spark = _session_shipping(job, args.job, args.worker) if args.worker else None
    except SparkinferError as e:
        log(e.message)
        _write_error(run_dir, e)
        return e.exit_code
    try:
        run_job(job, spark=spark)
        return 0
    except SparkinferError as e:  # run_job has logged it
        _write_error(run_dir, e)
        return e.exit_code


if __name__ == '__main__':
    code = main()
    try:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()
    finally:
        sys.exit(code)
