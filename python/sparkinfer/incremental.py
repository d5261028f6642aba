"""`output.mode: incremental` for delta and iceberg outputs (docs/storage.md "Incremental tables").

The table holds one row per input key with its answer and lineage: `fingerprint` (what decided the
answer), `model`, `run_id` and `inferred_at`. A run:

1. plan: the input's rows get their fingerprint; a left-anti join against the table's
   (key, fingerprint) of rows without an error leaves the rows to infer: new keys, changed rows,
   and rows that failed last time. A distributed join: nothing is collected to the driver.
2. infer: those rows only, through the usual pipeline, written (the one action over the inferring
   lineage) to `<run dir>/incremental`, a Parquet folder: the table is not touched yet.
3. commit: one MERGE INTO the table (Delta and Iceberg both run it as one atomic commit): changed
   and new rows upserted, keys gone from the input deleted (`output.on_missing: delete`, the
   default) or kept (`keep`). A run that dies before the commit leaves the table at its previous
   version; its ledger makes the rerun resume.

The fingerprint is computed here, in Spark, not by the worker that renders the request: the
rendered request is a pure function of the job's request settings (prompt templates, chat
template, model, sampling, response schema, task, engine kind) and the row's values of the
columns the templates read (`run.columns`). Hashing those inputs of the render gives the same
equality as hashing its output, and lets the plan run before any worker starts, as one join,
without rendering every unchanged row. A column a template reads but whose change leaves the text
the same still counts as a change (the row is inferred again: safe, never stale).
"""

import hashlib
import json
import os

from pyspark.sql import functions as F

from sparkinfer import tables
from sparkinfer.columns import KEY_FIELD, col, key_name
from sparkinfer.errors import SpecError

MODE = 'incremental'
FP = 'fingerprint'
AT = 'inferred_at'
LINEAGE = (FP, AT)
_FP = '_sparkinfer_fp'
_INFERRED = '_sparkinfer_inferred'
FINGERPRINT_VERSION = 1


def is_incremental(job):
    return job['output'].get('mode') == MODE


def check_job(job):
    """What the CLI's schema checks too: incremental is for delta and iceberg, its lineage names are free."""
    out = job['output']
    if not is_incremental(job):
        return
    if not tables.table_format(job):
        raise SpecError(f'output.mode incremental needs output.format delta or iceberg, got {out["format"]}')
    for c in out.get('include') or []:
        if c in LINEAGE:
            raise SpecError(f'output.include: `{c}` collides with a lineage column of output.mode incremental; rename it in the input')


def request_identity(job):
    """Hex sha256 of the job's settings that decide every request (the per-row part is the row's values)."""
    run = job['run']
    launch = job['engine'].get('launch') or {}
    content = {
        'v': FINGERPRINT_VERSION,
        'task': job.get('task'),
        'prompt': job.get('prompt'),
        'chat_template': run.get('chat_template'),
        'model': job.get('model'),
        'sampling': job.get('sampling'),
        'response': job.get('response'),
        'engine': {'kind': run.get('engine_kind'), 'model': launch.get('model')},
    }
    text = json.dumps(content, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def with_fingerprint(prepared, job):
    """The packed input with `_sparkinfer_fp`: sha256 of the request identity and the referenced columns' values as JSON."""
    refs = list(dict.fromkeys(job['run']['columns']))
    values = F.to_json(F.struct(*[col(c) for c in refs])) if refs else F.lit('')
    return prepared.withColumn(_FP, F.sha2(F.concat_ws('\n', F.lit(request_identity(job)), values), 256))


def plan(spark, job, prepared):
    """The rows to infer (the packed columns only) out of the prepared input: a left-anti join, lazy."""
    fp = with_fingerprint(prepared, job)
    if not tables.table_exists(spark, job):
        return fp.drop(_FP)
    done = (
        tables.read_table(spark, job)
        .where(F.col('error_code').isNull())
        .select(col(key_name(job)).cast('string').alias(KEY_FIELD), F.col(FP).alias(_FP))
    )
    return fp.join(done, [KEY_FIELD, _FP], 'left_anti').drop(_FP)


def staging_path(run_dir):
    return os.path.join(run_dir, 'incremental')


def staged_job(job, run_dir):
    """The job as the write phase sees it: a Parquet folder in the run directory, replaced on a rerun."""
    out = dict(job['output'], format='parquet', path=staging_path(run_dir), mode='overwrite', partition_by=[])
    return dict(job, output=out)


def _source(spark, job, prepared, run_dir):
    """Every input key with its fingerprint, and this run's answer where it inferred one (`_sparkinfer_inferred`)."""
    key = key_name(job)
    staged = spark.read.parquet(staging_path(run_dir))
    staged = staged.withColumn(KEY_FIELD, col(key).cast('string')).withColumn(_INFERRED, F.lit(True))
    keys = with_fingerprint(prepared, job).select(KEY_FIELD, _FP)
    src = keys.join(staged, KEY_FIELD, 'left')
    cols = [c for c in staged.columns if c not in (KEY_FIELD, _INFERRED)]
    return src.select(
        *[col(c) for c in cols],
        F.col(_FP).alias(FP),
        F.current_timestamp().alias(AT),
        F.coalesce(F.col(_INFERRED), F.lit(False)).alias(_INFERRED),
        F.col(KEY_FIELD),
    ), cols + list(LINEAGE)


def _q(name):
    return '`' + name.replace('`', '``') + '`'


def commit(spark, job, prepared, run_dir, log):
    """One atomic commit of this run into the table: create it, or MERGE INTO it."""
    src, cols = _source(spark, job, prepared, run_dir)
    out = job['output']
    if not tables.table_exists(spark, job):
        first = src.where(F.col(_INFERRED)).select(*[col(c) for c in cols])
        tables.write_table(first, dict(job, output=dict(out, mode='error')))
        log(f'created the {out["format"]} table {out["path"]}')
        return
    view = f'sparkinfer_src_{job["run"]["id"].replace("-", "_")}'
    src.createOrReplaceTempView(view)
    name = tables.table_name(spark, job)
    sets = ', '.join(f't.{_q(c)} = s.{_q(c)}' for c in cols)
    delete = '\nWHEN NOT MATCHED BY SOURCE THEN DELETE' if out.get('on_missing', 'delete') == 'delete' else ''
    sql = (
        f'MERGE INTO {name} t USING {view} s ON CAST(t.{_q(key_name(job))} AS STRING) = s.{KEY_FIELD}\n'
        f'WHEN MATCHED AND s.{_INFERRED} THEN UPDATE SET {sets}\n'
        f'WHEN NOT MATCHED AND s.{_INFERRED} THEN INSERT ({", ".join(_q(c) for c in cols)}) '
        f'VALUES ({", ".join("s." + _q(c) for c in cols)}){delete}'
    )
    spark.sql(sql)
    spark.catalog.dropTempView(view)
    log(f'merged this run into the {out["format"]} table {out["path"]} (on_missing: {out.get("on_missing", "delete")})')
