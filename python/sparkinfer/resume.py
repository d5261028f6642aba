"""Resume (docs/architecture.md, "Reliability model", 4): earlier runs' ledgers → rows not to infer again.

Every run directory under `run.root` holds `job.json` (with `run.fingerprint`) and `ledger/*.jsonl`
(one file per task attempt; one result line per finished row, the worker's stdout line shape).
A run whose output was committed is marked with a `CONSUMED` file and is never read again.

At prepare, unless `run.fresh`:
  - an unconsumed earlier run with ledger lines and a different fingerprint is an input error
    (exit 2): its results belong to another job;
  - the ledgers of the others are read (torn last lines and partial lines skipped), deduplicated by
    key (an ok result wins over an error; with `run.retry_errors` errors are dropped), restricted
    to the keys of the prepared input, and materialized once in `<run>/from_ledger`;
  - only the remaining keys are inferred; the output is the union of both, in the one write.
With `run.fresh`, earlier unconsumed runs are marked consumed (ignored) instead.

A driver started again on its own run directory (Kubernetes: the operator retries the application
with the same job.json, so the same run id) first sets its earlier attempt aside as a sibling run
`<run id>.attempt-<n>` (set_aside_earlier_attempt): from there on it is an earlier run like any other.

Ledger rows carry the carried columns of the CURRENT prepared input (the ledger's copy may predate
an `output.include` change) and the `run_id` of the run that writes the output, like every row.
The ledger files keep the original results untouched.
"""

import json
import os
import shutil
import time
from dataclasses import dataclass, field

from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkinfer.columns import CARRY_FIELD, JSON_OPTIONS, KEY_FIELD, line_schema
from sparkinfer.errors import InputError

CONSUMED = 'CONSUMED'
FROM_LEDGER = 'from_ledger'
_CORRUPT = '_sparkinfer_corrupt'
# What the fingerprint covers (src/jobfile/fingerprint.ts), for saying what changed.
_FINGERPRINTED = ('task', 'input', 'prompt', 'model', 'sampling', 'response')


@dataclass
class EarlierRun:
    id: str
    dir: str
    fingerprint: str
    job: dict
    ledger_files: list


@dataclass
class Resume:
    """What prepare hands to inference: the rows to infer and the finished rows to write as they are."""

    todo: object  # the prepared DataFrame minus finished keys
    rows_in: int
    rows_from_ledger: int = 0
    ledger_lines: object = None  # DataFrame(line) of finished rows, or None
    ledger_failed: int = 0
    ledger_errors_by_code: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)

    @property
    def rows_to_infer(self):
        return self.rows_in - self.rows_from_ledger


def _read_json(path):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _ledger_files(run_dir):
    d = os.path.join(run_dir, 'ledger')
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return []
    files = []
    for n in names:
        p = os.path.join(d, n)
        if n.endswith('.jsonl') and os.path.isfile(p) and os.path.getsize(p) > 0:
            files.append(p)
    return files


# What a driver attempt leaves in its run directory that the next attempt must not take as its own:
# the workers' ledgers and stats files (the watchers sum them), and a failed attempt's reports.
_ATTEMPT_ITEMS = ('ledger', 'stats', 'failed_rows', 'driver_error.json')


def _has_entries(d):
    try:
        return any(not n.startswith('.') for n in os.listdir(d))
    except OSError:
        return False


def set_aside_earlier_attempt(job, log):
    """Moves what an earlier driver attempt of THIS run left (ledger, stats, its reports) to a new
    sibling run directory `<run.root>/<run id>.attempt-<n>`, with a copy of job.json.

    Runs before check_earlier_runs. Without it a retried driver skips its own run directory (its
    ledger is not an earlier run's) and sums the dead attempt's stats with its own. Returns the new
    directory, or None when the run directory holds no earlier attempt (every local run)."""
    run = job['run']
    run_dir, root = run['dir'], run.get('root')
    if not root or not (_ledger_files(run_dir) or _has_entries(os.path.join(run_dir, 'stats'))):
        return None
    n = 1
    while os.path.exists(os.path.join(root, f'{run["id"]}.attempt-{n}')):
        n += 1
    dest = os.path.join(root, f'{run["id"]}.attempt-{n}')
    os.makedirs(dest)
    # job.json first: a directory with a ledger but no job.json is never resumed (earlier_runs).
    job_file = os.path.join(run_dir, 'job.json')
    if os.path.isfile(job_file):  # the driver keeps one in every run directory (driver.py _keep_job_file)
        shutil.copyfile(job_file, os.path.join(dest, 'job.json'))
    for name in _ATTEMPT_ITEMS:
        src = os.path.join(run_dir, name)
        if os.path.exists(src):
            os.replace(src, os.path.join(dest, name))
    log(f'this run was started before (a retried driver): its earlier attempt is now the earlier run {os.path.basename(dest)}')
    return dest


def this_run_as_earlier(job):
    """This run as the next run of the same job will see it, an earlier run with its ledger
    (`sparkinfer estimate` rehearses the next run's resume step with it)."""
    run = job['run']
    return EarlierRun(id=run['id'], dir=run['dir'], fingerprint=run.get('fingerprint'), job=job, ledger_files=_ledger_files(run['dir']))


def _is_this_run(run, name, d):
    """By id, and by path: this run's directory holds its own job.json (driver.py keeps one there)."""
    return name == run['id'] or os.path.realpath(d) == os.path.realpath(run.get('dir') or '')


def earlier_runs(job):
    """Unconsumed run directories under `run.root` other than this run, with ledger lines, oldest first."""
    run = job['run']
    root = run.get('root')
    if not root or not os.path.isdir(root):
        return []
    out = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if _is_this_run(run, name, d) or not os.path.isdir(d) or os.path.exists(os.path.join(d, CONSUMED)):
            continue
        files = _ledger_files(d)
        prior = _read_json(os.path.join(d, 'job.json'))
        if not files or not isinstance(prior, dict):
            continue  # nothing finished there (it failed before inference): nothing to resume
        fp = (prior.get('run') or {}).get('fingerprint') or ''
        out.append(EarlierRun(name, d, fp, prior, files))
    return out


def any_earlier_run_dir(job):
    root = job['run'].get('root')
    if not root or not os.path.isdir(root):
        return False
    run = job['run']
    return any(
        not _is_this_run(run, n, os.path.join(root, n)) and os.path.isfile(os.path.join(root, n, 'job.json')) for n in os.listdir(root)
    )


def _canonical(v):
    return json.dumps(v, sort_keys=True, separators=(',', ':'), ensure_ascii=False)


def describe_change(old, new):
    """Which fingerprinted sections differ, e.g. 'prompt, sampling'; the input data when none does."""
    changed = [s for s in _FINGERPRINTED if _canonical(old.get(s)) != _canonical(new.get(s))]
    return ', '.join(changed) if changed else 'the input data (file sizes or modification times)'


def mark_consumed(run_dir, by, reason):
    """Writes `<run_dir>/CONSUMED` (atomically); a consumed run's ledger is never read again."""
    path = os.path.join(run_dir, CONSUMED)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump({'by': by, 'reason': reason, 'at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, f)
        f.write('\n')
    os.replace(tmp, path)


def check_earlier_runs(job, log):
    """Runs before any data is read. Returns the runs to resume from; raises InputError on a changed job.

    With `run.fresh`, earlier unconsumed runs are marked consumed and nothing is resumed.
    """
    run = job['run']
    runs = earlier_runs(job)
    if run.get('fresh'):
        for r in runs:
            mark_consumed(r.dir, run['id'], 'fresh')
        if runs:
            log(f'--fresh: ignoring the results of {len(runs)} earlier run(s) ({", ".join(r.id for r in runs)})')
        return []
    for r in runs:
        if r.fingerprint != run.get('fingerprint'):
            raise InputError(
                f'the job changed since run {r.id} (changed: {describe_change(r.job, job)}); '
                'rerun with --fresh to start over, or restore the job to resume it'
            )
    return runs


def clean_uncommitted_output(spark, job, log):
    """Removes what a killed run left in the output without committing it.

    Spark writes into `<output>/_temporary` and moves files out only on commit; the S3A magic
    committer (s3a:// outputs, docs/storage.md) writes `<output>/__magic_job-…/` records of uploads
    it completes only on commit. A later commit into the same folder would take a leftover
    `_temporary` along (appended twice), and `mode: error` would refuse the folder the killed run
    created. The uploads a killed magic commit left pending are invisible; the next S3A job commit
    under this output aborts them (fs.s3a.committer.abort.pending.uploads). Only done when this
    output has earlier runs: the run lock makes this run the only sparkinfer writer of the output.
    """
    out = job['output']
    # Delta and Iceberg commit through their own logs: a killed run leaves the table as it was.
    if out['format'] in ('table', 'delta', 'iceberg') or not any_earlier_run_dir(job):
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(out['path'])
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return
    for st in fs.listStatus(path):
        name = st.getPath().getName()
        if name == '_temporary' or name.startswith('__magic'):
            fs.delete(st.getPath(), True)
            log(f'removed {out["path"]}/{name}, left by a run that did not commit')
    if out['mode'] == 'error' and fs.exists(path) and not fs.exists(jvm.org.apache.hadoop.fs.Path(path, '_SUCCESS')):
        names = [s.getPath().getName() for s in fs.listStatus(path)]
        if all(n.startswith(('_', '.')) for n in names):
            fs.delete(path, True)
            log(f'removed {out["path"]}: a run that did not commit left it empty')


def _file_uri(p):
    return 'file://' + os.path.abspath(p)


def read_ledger(spark, job, files):
    """Complete result lines of the given ledger files; torn or partial lines are dropped."""
    schema = T.StructType(list(line_schema(job).fields) + [T.StructField(_CORRUPT, T.StringType())])
    raw = spark.read.text([_file_uri(f) for f in files])
    parsed = raw.select(
        F.from_json(F.col('value'), schema, {'mode': 'PERMISSIVE', 'columnNameOfCorruptRecord': _CORRUPT}).alias('r')
    ).select('r.*')
    # A complete line parses without a corrupt record and always has its key and attempts.
    return parsed.where(F.col(_CORRUPT).isNull() & F.col('k').isNotNull() & F.col('attempts').isNotNull()).drop(_CORRUPT)


def best_per_key(results, retry_errors):
    """One result per key: an ok one when there is one (task retries leave several per key)."""
    if retry_errors:
        results = results.where(F.col('error_code').isNull())
    names = results.columns
    tie = F.sha2(F.to_json(F.struct(*[F.col(n) for n in names]), JSON_OPTIONS), 256)
    w = Window.partitionBy('k').orderBy(F.col('error_code').isNotNull(), tie)
    return results.withColumn('_n', F.row_number().over(w)).where(F.col('_n') == 1).drop('_n')


def prepare_resume(spark, job, prepared, rows, runs, run_dir, log):
    """Reads the ledgers of `runs`, materializes the finished rows, returns the Resume plan."""
    if not runs:
        return Resume(todo=prepared, rows_in=rows)
    files = [f for r in runs for f in r.ledger_files]
    best = best_per_key(read_ledger(spark, job, files), job['run'].get('retry_errors'))
    pk = prepared.select(F.col(KEY_FIELD).alias('_pk'), F.col(CARRY_FIELD).alias('_pc'))
    kept = best.join(pk, F.col('k') == F.col('_pk'), 'inner')
    fields = [f.name for f in line_schema(job).fields]
    line = F.to_json(F.struct(*[(F.col('_pc') if n == 'c' else F.col(n)).alias(n) for n in fields]), JSON_OPTIONS)
    path = os.path.join(run_dir, FROM_LEDGER)
    kept.select('k', 'error_code', line.alias('line')).write.mode('overwrite').parquet(path)
    done = spark.read.parquet(path)
    by_code = done.groupBy('error_code').count().collect()
    n = sum(r['count'] for r in by_code)
    errors = {r['error_code']: r['count'] for r in by_code if r['error_code'] is not None}
    todo = prepared.join(done.select(F.col('k').alias('_lk')), F.col(KEY_FIELD) == F.col('_lk'), 'left_anti')
    log(
        f'resuming from {len(runs)} earlier run(s) ({", ".join(r.id for r in runs)}): {n} of {rows} rows are '
        f'finished{f" ({sum(errors.values())} with errors)" if errors else ""}, {rows - n} to infer'
    )
    return Resume(
        todo=todo,
        rows_in=rows,
        rows_from_ledger=n,
        ledger_lines=done.select('line'),
        ledger_failed=sum(errors.values()),
        ledger_errors_by_code=errors,
        runs=runs,
    )


def with_ledger_lines(raw, resume):
    """The worker's lines plus the finished rows' lines: one DataFrame, parsed and written once."""
    if resume is None or resume.ledger_lines is None:
        return raw
    return raw.unionByName(resume.ledger_lines)


def mark_all_consumed(job, resume):
    """After a successful commit: the resumed runs and this run are done with."""
    run = job['run']
    for r in resume.runs if resume else []:
        mark_consumed(r.dir, run['id'], 'resumed')
    mark_consumed(run['dir'], run['id'], 'completed')


def failed_rows_from_ledger(spark, job, run_dir, resume):
    """On a cancelled run (no output): this run's failed rows, plus those taken from earlier ledgers,
    to `<run_dir>/failed_rows` (JSON lines: key, error_code, error_message). Returns the path or None."""
    files = _ledger_files(run_dir)
    parts = []
    if files:
        best = best_per_key(read_ledger(spark, job, files), False)
        parts.append(best.where(F.col('error_code').isNotNull()).select(F.col('k').alias('key'), 'error_code', 'error_message'))
    if resume is not None and resume.ledger_lines is not None and resume.ledger_failed:
        r = resume.ledger_lines.select(F.from_json('line', line_schema(job)).alias('r')).select('r.*')
        parts.append(r.where(F.col('error_code').isNotNull()).select(F.col('k').alias('key'), 'error_code', 'error_message'))
    if not parts:
        return None
    df = parts[0]
    for p in parts[1:]:
        df = df.unionByName(p)
    path = os.path.join(run_dir, 'failed_rows')
    df.coalesce(1).write.mode('overwrite').json(path)
    return path
