"""`sparkinfer estimate`'s Spark passes (docs/architecture.md, "Estimating a job"); `run.estimate` in job.json.

After prepare (the same input reading, keys and resume as a run) and the engine wait:
  - count: every prepared row through the worker in count mode (transform.COUNT_MODE): the job's
    own request builder renders each body, the engine's tokenizer counts it; nothing is generated
    and nothing reaches the ledger. One action: an aggregate of the count lines.
  - sample: up to `run.estimate.sample` rows not finished yet, ordered by sha256("<seed>:<key>")
    (the same rows for the same seed and input), materialized, then inferred through the normal
    path (worker, ledger). One action: a collect of their token columns. They stay in this run's
    ledger, which is not marked consumed, so the next `sparkinfer run` takes them from there.
  - the token sums of rows finished in earlier runs (the materialized from_ledger rows).
  - a rehearsal of what the next run does beyond these steps, timed: its resume step over the
    ledgers (earlier runs' and this sample's), and a read-back like its summary's, in a scratch
    folder removed after.
With them, what the projection needs to split the sample pass into what repeats per row and what it
pays once: each sample task's rows and seconds (the workers' stats files), the task slots the pass
had and the next run will have. The measurements go to `<run dir>/driver_estimate.json`; the CLI
projects them (src/job/projection.ts).
"""

import os
import shutil
import time

from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkinfer import resume as _resume
from sparkinfer import watch as _watch
from sparkinfer.columns import KEY_FIELD
from sparkinfer.errors import RuntimeFailure
from sparkinfer.prepare import auto_partitions, resume_partitions, write_json_atomic
from sparkinfer.sparkerr import short_message
from sparkinfer.transform import COUNT_MODE, infer_lines, parse_results, worker_command

ESTIMATE_FILE = 'driver_estimate.json'
SAMPLE_DIR = 'sample'
REHEARSAL_DIR = 'resume-rehearsal'
_COUNT_SCHEMA = T.StructType(
    [
        T.StructField('k', T.StringType()),
        T.StructField('prompt_tokens', T.LongType()),
        T.StructField('error_code', T.StringType()),
        T.StructField('error_message', T.StringType()),
    ]
)
_PICK = '_sparkinfer_pick'


def _now_ms():
    return int(time.time() * 1000)


def _partitions(spark, job, rows):
    """`spark.partitions` for `rows` rows (auto: prepare.auto_partitions), never more than the rows."""
    parts = job['spark']['partitions']
    return auto_partitions(rows, spark.sparkContext.defaultParallelism) if parts == 'auto' else max(1, min(parts, rows))


def count_prompt_tokens(spark, prepared, job, rows):
    """Every row's prompt tokens, counted by the engine; returns (counted rows, tokens, errors by code, an error message)."""
    raw = infer_lines(spark, prepared, job, _partitions(spark, job, rows), worker_command(mode=COUNT_MODE))
    r = raw.select(F.from_json(F.col('line'), _COUNT_SCHEMA, {'mode': 'FAILFAST'}).alias('r')).select('r.*')
    groups = (
        r.groupBy('error_code')
        .agg(
            F.count(F.lit(1)).alias('rows'),
            F.sum('prompt_tokens').alias('tokens'),
            F.first('error_message', ignorenulls=True).alias('message'),
        )
        .collect()
    )
    seen = sum(g['rows'] for g in groups)
    if seen != rows:
        raise RuntimeFailure(f'the token count saw {seen} rows of {rows}; every row must be counted once')
    ok = next((g for g in groups if g['error_code'] is None), None)
    errors = {g['error_code']: g['rows'] for g in groups if g['error_code'] is not None}
    message = next((g['message'] for g in groups if g['error_code'] is not None and g['message']), None)
    return (ok['rows'] if ok else 0), int((ok['tokens'] or 0) if ok else 0), dict(sorted(errors.items())), message


def pick_sample(spark, todo, n, seed, run_dir):
    """Up to `n` rows of `todo`, the first by sha256("<seed>:<key>"): random-looking, reproducible. Materialized once."""
    pick = F.sha2(F.concat(F.lit(f'{seed}:'), F.col(KEY_FIELD)), 256)
    chosen = todo.withColumn(_PICK, pick).orderBy(F.col(_PICK)).limit(n).drop(_PICK)
    path = os.path.join(run_dir, SAMPLE_DIR)
    chosen.write.mode('overwrite').parquet(path)
    sample = spark.read.parquet(path)
    return sample, sample.count()


def run_sample(spark, sample, k, job, cschema, run_dir, log):
    """Infers the sampled rows through the normal path (their results go to this run's ledger).

    Returns (rows of prompt_tokens, completion_tokens, finish_reason, error_code; wall seconds).
    The spend and failure budgets watch it as they watch a run.
    """
    dp = spark.sparkContext.defaultParallelism
    partitions = _partitions(spark, job, k)
    if k < 2 * dp:
        log(
            f'the sample ({k} rows) is smaller than two rows per task slot ({dp} slots): its throughput under-uses them; --sample {2 * dp} or more'
        )
    write_json_atomic(os.path.join(run_dir, 'plan.json'), {'rows_total': k, 'partitions': partitions})
    raw = infer_lines(spark, sample, job, partitions, worker_command())
    out = parse_results(raw, job, cschema).select('prompt_tokens', 'completion_tokens', 'finish_reason', 'error_code')
    budget = _watch.BudgetWatcher(spark.sparkContext, job, run_dir, log=log)
    budget.start()
    started_ms = _now_ms()
    t = time.monotonic()
    try:
        got = out.collect()  # the one action over the sample's inference
    except Exception:
        if budget.spent:
            reached, p = budget.spent
            done, _, _ = _watch.read_stats(run_dir)
            raise RuntimeFailure(_watch.spend_message(reached, done, k, p['prompt_tokens'], p['completion_tokens'])) from None
        if budget.tripped:
            finished, failed, codes = budget.tripped
            raise RuntimeFailure(_watch.budget_message(job['limits'], finished, failed, codes, None, True)) from None
        raise
    finally:
        budget.stop()
    seconds = time.monotonic() - t
    slots = min(dp, partitions)
    return [r.asDict() for r in got], seconds, {'tasks': sample_tasks(run_dir, started_ms), 'slots': slots}


def sample_tasks(run_dir, since_ms):
    """Each sample task's rows and seconds, from the stats files of the workers that finished after
    `since_ms` (the sample pass's start: the count pass's workers are left out)."""
    tasks = []
    for s in _watch.worker_stats(run_dir):
        rows = int(s.get('rows_done') or 0)
        if s.get('done') and rows > 0 and int(s.get('started_at') or 0) >= since_ms:
            tasks.append({'rows': rows, 's': round((s['updated_at'] - s['started_at']) / 1000, 3)})
    return tasks


def rehearse_next_run(spark, job, prepared, rows, resumed, run_dir):
    """Times what the next `sparkinfer run` does beyond this estimate's own steps: its resume step
    (the ledgers of the earlier runs and of this sample, joined with the prepared rows and written)
    and a read-back like its summary's (rows by error code, distinct keys). In a scratch folder,
    removed after. Returns (resume seconds, read-back seconds); (0, 0) when no ledger has a row."""
    runs = list(resumed.runs) + [_resume.this_run_as_earlier(job)]
    if not any(r.ledger_files for r in runs):
        return 0.0, 0.0
    scratch = os.path.join(run_dir, REHEARSAL_DIR)
    try:
        t = time.monotonic()
        _resume.prepare_resume(spark, job, prepared, rows, runs, scratch, lambda _line: None)
        resume_s = time.monotonic() - t
        t = time.monotonic()
        done = spark.read.parquet(os.path.join(scratch, _resume.FROM_LEDGER))
        done.groupBy('error_code').count().collect()
        done.select('k').distinct().count()
        return resume_s, time.monotonic() - t
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def next_run_slots(spark, job, rows_left, rows):
    """The task slots the next run's inference keeps busy: its partitions (as the driver picks
    them: the next run resumes past the sample), at most the executors' cores."""
    dp = spark.sparkContext.defaultParallelism
    parts = job['spark']['partitions']
    n = auto_partitions(rows_left, dp) if parts == 'auto' else resume_partitions(parts, rows_left, rows, dp)
    return max(1, min(dp, n))


def ledger_totals(resumed):
    """Prompt and completion tokens of the rows finished in earlier runs."""
    if resumed.ledger_lines is None:
        return 0, 0
    schema = 'prompt_tokens long, completion_tokens long'
    r = (
        resumed.ledger_lines.select(F.from_json(F.col('line'), schema).alias('r'))
        .agg(F.sum('r.prompt_tokens').alias('p'), F.sum('r.completion_tokens').alias('c'))
        .first()
    )
    return int(r['p'] or 0), int(r['c'] or 0)


def run_estimate(spark, job, run_dir, prepared, rows, resumed, cschema, log):
    """The estimate's passes; writes and returns the measurements (ESTIMATE_FILE)."""
    est = job['run']['estimate']
    sc = spark.sparkContext
    run_id = job['run']['id']
    count_started_at = _now_ms()
    sc.setJobGroup(f'{run_id}:count', f'sparkinfer {job["name"]}: count prompt tokens', True)
    t = time.monotonic()
    counted, tokens, errors, message = count_prompt_tokens(spark, prepared, job, rows)
    count_s = time.monotonic() - t
    log(f'counted the prompt tokens of {counted} of {rows} rows: {tokens} ({count_s:.1f}s)')
    if rows > 0 and counted == 0:
        raise RuntimeFailure(f'the engine counted no prompt: {", ".join(f"{c} ×{n}" for c, n in errors.items())}: {message}')
    sc.setJobGroup(f'{run_id}:sample', f'sparkinfer {job["name"]}: sample', True)
    sample_rows, sample_s, shape = [], 0.0, {}
    if resumed.rows_to_infer > 0:
        sample, k = pick_sample(spark, resumed.todo, est['sample'], est['seed'], run_dir)
        log(f'inferring a sample of {k} rows (seed {est["seed"]}); they go to the ledger')
        sample_rows, sample_s, shape = run_sample(spark, sample, k, job, cschema, run_dir, log)
    ledger_p, ledger_c = ledger_totals(resumed)
    sample_ended_at = _now_ms()
    sc.setJobGroup(f'{run_id}:rehearsal', f"sparkinfer {job['name']}: the next run's resume, rehearsed", True)
    try:
        resume_s, readback_s = rehearse_next_run(spark, job, prepared, rows, resumed, run_dir)
        log(f"rehearsed the next run's resume step ({resume_s:.1f}s) and its read-back ({readback_s:.1f}s)")
    except Exception as e:  # a measurement only: the projection goes on without it
        resume_s = readback_s = 0.0
        log(f"could not rehearse the next run's resume step ({short_message(e)}); its time is not in the start-up")
    rows_left = max(0, resumed.rows_to_infer - len(sample_rows))
    m = {
        'rows': rows,
        'rows_counted': counted,
        'prompt_tokens': tokens,
        'count_errors_by_code': errors,
        'rows_from_ledger': resumed.rows_from_ledger,
        'ledger_prompt_tokens': ledger_p,
        'ledger_completion_tokens': ledger_c,
        'sample': sample_rows,
        'sample_s': round(sample_s, 3),
        'count_s': round(count_s, 3),
        'count_started_at': count_started_at,
        'sample_ended_at': sample_ended_at,
        **shape,
        'run_slots': next_run_slots(spark, job, rows_left, rows),
        'resume_s': round(resume_s, 3),
        'readback_s': round(readback_s, 3),
        'wrapup_started_at': _now_ms(),
    }
    write_json_atomic(os.path.join(run_dir, ESTIMATE_FILE), m)
    return m
