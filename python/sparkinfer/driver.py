"""The generic PySpark driver: `spark-submit ... python/sparkinfer/driver.py --job <run dir>/job.json`.

Phases (DESIGN.md "Data flow"): prepare (checks, keys, packed input materialized once) → engine
readiness → infer + write (the single action over the TRANSFORM's lineage) → report from what was
written. Files in the run directory: prepared/, plan.json, driver_summary.json or driver_error.json,
failed_rows/, logs/driver.log. Nothing is printed on stdout.
"""
import argparse
import os
import sys
import time
import traceback

if __package__ in (None, ''):  # run as a script by spark-submit: make `sparkinfer` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sparkinfer import engine as _engine  # noqa: E402
from sparkinfer.errors import InputError, RuntimeFailure, SparkinferError, SpecError  # noqa: E402
from sparkinfer.job import check_implemented, check_run, health_url, load_job  # noqa: E402
from sparkinfer.log import close_log, log, log_detail, open_log  # noqa: E402
from sparkinfer.output import read_written, summarize, write_output  # noqa: E402
from sparkinfer.prepare import (auto_partitions, build_session, carried_schema, check_columns,  # noqa: E402
                                check_keys, check_output_absent, materialize, pack, read_input,
                                write_json_atomic)
from sparkinfer.sparkerr import is_data_problem, short_message  # noqa: E402
from sparkinfer.transform import infer_lines, parse_results, worker_command  # noqa: E402


def _run_dir(job):
    d = job['run'].get('dir')
    if not isinstance(d, str) or not d:
        raise SpecError('expected `run.dir` in job.json (the CLI writes it)')
    return d


def _prepare(spark, job, run_dir):
    """Everything before inference. Schema checks come first: an input error never waits for data or an engine."""
    check_output_absent(spark, job)
    df = read_input(spark, job)
    check_columns(df.schema, job)
    cschema = carried_schema(df.schema, job)
    try:
        prepared = materialize(spark, pack(df, job), run_dir)
        check_keys(prepared, job)
        rows = prepared.count()  # parquet footers: cheap, and not the inferring lineage
    except SparkinferError:
        raise
    except Exception as e:
        cls = InputError if is_data_problem(e) else RuntimeFailure
        raise cls(f'preparing the input failed: {short_message(e)}') from e
    parts = job['spark']['partitions']
    partitions = auto_partitions(rows, spark.sparkContext.defaultParallelism) if parts == 'auto' else parts
    write_json_atomic(os.path.join(run_dir, 'plan.json'), {'rows_total': rows, 'partitions': partitions})
    return prepared, cschema, rows, partitions


def _wait_for_engine(spark, job):
    run = job['run']
    if not _engine.driver_can_reach(spark.sparkContext.master, run['endpoint']):
        log(f'engine {run["endpoint"]} is local to each executor; the workers wait for it')
        return
    _engine.wait_for_engine(health_url(run['endpoint']), job['engine']['startup_timeout'], log=log,
                            accept_any_status=run.get('engine_kind') == 'openai',
                            api_key=_engine.api_key_for(job))


def _log_plan(df):
    """The physical plan, for the log file (planning runs no job)."""
    try:
        log_detail('inference plan:\n' + df._jdf.queryExecution().executedPlan().toString())
    except Exception as e:  # Spark Connect has no _jdf: the plan is a nicety
        log_detail(f'inference plan unavailable: {e}')


def _budget_exceeded(job, s):
    lim = job['limits']
    return (s['rows_in'] > 0 and s['rows_in'] >= lim['min_rows_for_budget']
            and s['rows_failed'] / s['rows_in'] > lim['max_failed_fraction'])


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
    except Exception as e:  # anything unforeseen is a runtime failure with a short message
        err = RuntimeFailure(short_message(e))
        err.__cause__ = e
    log(err.message)
    exc = err.__cause__ or err
    log_detail(''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    close_log()
    raise err


def _run(job_source, spark):
    t0 = time.monotonic()
    job = load_job(job_source)
    check_run(job)
    check_implemented(job)
    run_dir = _run_dir(job)
    open_log(os.path.join(run_dir, 'logs', 'driver.log'))
    run_id = job['run']['id']
    spark = spark or build_session(job)
    sc = spark.sparkContext
    sc.setJobGroup(f'{run_id}:prepare', f'sparkinfer {job["name"]}: prepare', False)
    prepared, cschema, rows, partitions = _prepare(spark, job, run_dir)
    prepare_s = time.monotonic() - t0
    log(f'prepared {rows} rows in {partitions} partitions ({prepare_s:.1f}s)')

    _wait_for_engine(spark, job)
    t1 = time.monotonic()
    sc.setJobGroup(run_id, f'sparkinfer {job["name"]}: inference', True)
    out_df = parse_results(infer_lines(spark, prepared, job, partitions, worker_command()), job, cschema)
    schema = out_df.schema  # analysis only, no action
    _log_plan(out_df)
    try:
        write_output(out_df, job, partitions)
    except Exception as e:
        raise RuntimeFailure(f'inference failed: {short_message(e)}') from e
    infer_s = time.monotonic() - t1

    sc.setJobGroup(f'{run_id}:report', f'sparkinfer {job["name"]}: report', False)
    summary = {'status': 'succeeded', 'run_id': run_id}
    summary.update(summarize(spark, job, read_written(spark, job, schema), rows, run_dir))
    summary.update({'prepare_s': round(prepare_s, 3), 'infer_s': round(infer_s, 3),
                    'partitions': partitions})
    problem = None
    if summary['rows_out'] != rows or summary['distinct_keys_out'] != rows:
        problem = (f'the output has {summary["rows_out"]} rows with {summary["distinct_keys_out"]} distinct keys '
                   f'for {rows} input rows; every row must come out exactly once')
    elif _budget_exceeded(job, summary):
        problem = (f'{summary["rows_failed"]} of {rows} rows failed, more than limits.max_failed_fraction '
                   f'({job["limits"]["max_failed_fraction"]:g}); see {summary["failed_rows_path"]}')
    if problem:
        summary['status'] = 'failed'
    write_json_atomic(os.path.join(run_dir, 'driver_summary.json'), summary)
    if problem:
        raise RuntimeFailure(problem)
    log(f'wrote {rows} rows to {summary["output"]}: {summary["rows_ok"]} ok, {summary["rows_failed"]} failed')
    close_log()
    return summary


def _write_error(run_dir, err):
    if not run_dir:
        return
    try:
        write_json_atomic(os.path.join(run_dir, 'driver_error.json'),
                          {'exit_code': err.exit_code, 'code': err.code, 'message': err.message})
    except OSError as e:
        log(f'cannot write driver_error.json in {run_dir}: {e.strerror}')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sparkinfer-driver', description='sparkinfer PySpark driver')
    parser.add_argument('--job', required=True, help='path to the resolved job.json')
    args = parser.parse_args(argv)
    try:
        job = load_job(args.job)
    except SparkinferError as e:  # no run directory known: stderr only
        log(e.message)
        return e.exit_code
    run_dir = job['run'].get('dir') if isinstance(job.get('run'), dict) else None
    try:
        run_job(job)
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
