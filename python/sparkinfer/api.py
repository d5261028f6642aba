"""`infer(df, job)`: sparkinfer inside a PySpark program.

    from sparkinfer import infer
    out = infer(spark.table('questions'), 'job.json')   # lazy: nothing has run yet
    out.write.mode('overwrite').parquet('/data/answers')  # the one action that runs inference

Calling two actions on the returned DataFrame (say `count()` and then `write`) runs inference
twice, paying for every row twice. Write it once, then read what was written. Spark may also
re-run inference for a partition when an executor is lost; the output is still written once per
row, as Spark commits one attempt per task.
"""
import hashlib
import json
import os
import tempfile

from sparkinfer.job import check_implemented, fill_run, load_job
from sparkinfer.prepare import (auto_partitions, carried_schema, check_columns, check_keys, pack)
from sparkinfer.transform import infer_lines, parse_results, worker_command

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _default_worker():
    env = os.environ.get('SPARKINFER_WORKER')
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.dirname(_PACKAGE_DIR)), 'dist', 'sparkinfer-worker.mjs')


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
    """Returns `df` with inference results, lazily (DESIGN.md "Output columns").

    `job`: a resolved job (dict or path to a `job.json` written by the CLI). Without `run.columns`
    every column of `df` is sent to the worker. `worker_path`: the bundled worker
    (default: $SPARKINFER_WORKER, else dist/sparkinfer-worker.mjs beside this package's repo).
    `run_dir`: where workers write logs and ledgers (default: a new temporary folder).
    `partitions`: inference tasks; default `spark.partitions` of the job, where `auto` counts the
    input rows once (an action on `df`, not on the inference).

    Checks that need data (a user key must be unique and non-null) run now, as actions on `df`.
    Executors start the worker with `$SPARKINFER_NODE` (Node 24), else `node` on their PATH.
    The engine is not waited for here: the workers wait for it.
    """
    job = load_job(job)
    if run_dir is None and not (job.get('run') or {}).get('dir'):
        run_dir = tempfile.mkdtemp(prefix='sparkinfer-')
    fill_run(job, columns=df.columns, run_dir=os.path.abspath(run_dir) if run_dir else None)
    check_implemented(job)
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
        raise FileNotFoundError(f'sparkinfer worker not found at {worker} ({e.strerror}); build it with `npm run build` '
                                'or pass worker_path=') from None
    worker_name = _ship(sc, worker_bytes, 'sparkinfer-worker', '.mjs', ship_dir)
    job_name = _ship(sc, json.dumps(job, ensure_ascii=False).encode('utf-8'), 'sparkinfer-job', '.json', ship_dir)
    raw = infer_lines(spark, packed, job, n, worker_command(worker_name, job_name))
    return parse_results(raw, job, carried_schema(df.schema, job))


__all__ = ['infer']
