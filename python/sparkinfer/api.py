"""`infer(df, job)`: sparkinfer inside a PySpark program.

    from sparkinfer import infer
    out = infer(spark.table('questions'), 'job.yaml')      # lazy: nothing has run yet
    out.write.mode('overwrite').parquet('/data/answers')  # the one action that runs inference

Calling two actions on the returned DataFrame (say `count()` and then `write`) runs inference
twice, paying for every row twice. Write it once, then read what was written. Spark may also
re-run inference for a partition when an executor is lost; the output is still written once per
row, as Spark commits one attempt per task.
"""

import atexit
import hashlib
import json
import os
import shutil
import tempfile

from sparkinfer.job import fill_run, load_job
from sparkinfer.prepare import auto_partitions, carried_schema, check_columns, check_keys, pack
from sparkinfer.transform import infer_lines, parse_results, worker_command
from sparkinfer.validate import bundled, resolve_job


def _default_worker():
    env = os.environ.get('SPARKINFER_WORKER')
    if env:
        return env
    return bundled('sparkinfer-worker.mjs')


_TEMPORARY_RUN_DIRS = set()


@atexit.register
def _remove_temporary_run_dirs():
    for path in list(_TEMPORARY_RUN_DIRS):
        shutil.rmtree(path, ignore_errors=True)
        _TEMPORARY_RUN_DIRS.discard(path)


def _temporary_run_dir():
    """A run folder of this call's own, removed when the Python process exits (also after Ctrl-C,
    which Python turns into an exception). Not sooner: the returned DataFrame is lazy, and each
    action on it runs workers that write their ledgers, logs and stats into the folder, and ships
    the worker and job from its files/ folder."""
    path = tempfile.mkdtemp(prefix='sparkinfer-')
    _TEMPORARY_RUN_DIRS.add(path)
    return path


def _drop_temporary_run_dir(path):
    """Removes a folder of `_temporary_run_dir` now: the call that made it failed."""
    if path in _TEMPORARY_RUN_DIRS:
        shutil.rmtree(path, ignore_errors=True)
        _TEMPORARY_RUN_DIRS.discard(path)


def _ship(sc, src_bytes, stem, ext, folder):
    """Adds a file to SparkFiles under a name derived from its content: a safe, constant-per-content
    name for the USING string, and no clash with an earlier call that shipped different content."""
    digest = hashlib.sha256(src_bytes).hexdigest()[:16]
    name = f'{stem}-{digest}{ext}'
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        with open(path, 'wb') as f:
            f.write(src_bytes)
    sc.addFile(path)
    return name


def infer(df, job, *, worker_path=None, run_dir=None, partitions=None):
    """Runs a sparkinfer job's inference on `df` and returns the results as a new DataFrame, lazily.

    Args:
        df: the input DataFrame. It takes the place of the job's `input`, and `output` is not read
            either (except `input.key`, `output.include` and `output.include_request`): write the
            result yourself. So both sections may be left out, or hold only those fields (a job
            for `sparkinfer run` needs them whole).
        job: a job file path, YAML or JSON, as for `sparkinfer run`; or a dict of the same fields.
            It is validated by the bundled CLI under Node >= 24, with the rules and messages of
            `sparkinfer validate` (a bad file raises SpecError, e.g. `job.yaml:17:14
            engine.concurrency: expected ...`). Relative paths in a dict (a chat template file) must
            be absolute. A job that already has a `run` block (written by `sparkinfer validate
            --json`) is used as it is, its run id too. No engine is started: `engine.endpoint` must point at a
            running OpenAI-compatible server that the executors can reach.
        worker_path: the bundled worker; default $SPARKINFER_WORKER, else the one in this package
            (the wheel carries it; in a checkout, dist/sparkinfer-worker.mjs).
        run_dir: where workers write logs and ledgers; default a new temporary folder, removed when
            the Python process exits, or at once when this call raises (pass one to keep them).
        partitions: inference tasks; default the job's `spark.partitions`, where `auto` counts the
            input rows once (an action on `df`, not on the inference).

    Returns:
        A DataFrame with the key column (`input.key`, else a derived `_key`), the `output.include`d
        columns and the result columns `text`, `reasoning`, `json`, `embedding`, `finish_reason`,
        `prompt_tokens`, `completion_tokens`, `latency_ms`, `attempts`, `error_code`,
        `error_message`, `model`, `run_id` (README, "Running a job"). A row that fails gets an
        `error_code`. Each action on it runs inference again: write it once.

    Raises:
        SpecError: the job is not valid (its message says where and what was expected).
        InputError: `df` lacks a column the prompt reads, or `input.key` is not unique (checked
            now, as an action on `df`).
        RuntimeFailure: no Node >= 24 ($SPARKINFER_NODE, then `node` on PATH).

    Node and executors: the job and the worker reach the executors through Spark (`addFile`), so
    executors need nothing but Node >= 24: they run `$SPARKINFER_NODE`, else `node` on their
    PATH. On a cluster set `spark.executorEnv.SPARKINFER_NODE` when the session is created.
    The engine is not waited for here: the workers wait for it.
    """
    job = load_job(resolve_job(job), dataframe=True)
    temporary = None
    if run_dir is None and not (job.get('run') or {}).get('dir'):
        run_dir = temporary = _temporary_run_dir()
    try:
        return _infer(df, job, worker_path=worker_path, run_dir=run_dir, partitions=partitions)
    except BaseException:
        _drop_temporary_run_dir(temporary)
        raise


def _infer(df, job, *, worker_path, run_dir, partitions):
    fill_run(job, run_dir=os.path.abspath(run_dir) if run_dir else None)
    check_columns(df.schema, job)
    spark = df.sparkSession
    sc = spark.sparkContext
    packed = pack(df, job)
    check_keys(packed, job)
    n = partitions or job['spark']['partitions']
    if n == 'auto':
        n = auto_partitions(df.count(), sc.defaultParallelism)

    ship_dir = os.path.join(job['run']['dir'], 'files')
    os.makedirs(ship_dir, exist_ok=True)
    worker = worker_path or _default_worker()
    try:
        with open(worker, 'rb') as f:
            worker_bytes = f.read()
    except OSError as e:
        raise FileNotFoundError(
            f'sparkinfer worker not found at {worker} ({e.strerror}); pass worker_path= '
            'or reinstall sparkinfer (in a checkout: `npm run build`)'
        ) from None
    worker_name = _ship(sc, worker_bytes, 'sparkinfer-worker', '.mjs', ship_dir)
    job_name = _ship(sc, json.dumps(job, ensure_ascii=False).encode('utf-8'), 'sparkinfer-job', '.json', ship_dir)
    raw = infer_lines(spark, packed, job, n, worker_command(worker_name, job_name))
    return parse_results(raw, job, carried_schema(df.schema, job))


__all__ = ['infer']
