"""Infer phase: the lines the worker reads, the SQL TRANSFORM, and the typed output columns."""

import os
import re
import secrets

from pyspark.sql import functions as F

from sparkinfer.columns import (
    CARRY_FIELD,
    JSON_OPTIONS,
    KEY_FIELD,
    carried_names,
    col,
    key_name,
    line_schema,
    result_fields,
    sql_string,
    stage_names,
    typed_json,
    typed_stage,
)

WORKER_FILE = 'sparkinfer-worker.mjs'
# V8 flags for the worker; keep in sync with WORKER_NODE_FLAGS in src/worker/protocol.ts.
# A 16 MiB semi-space caps the young generation, which otherwise grows to 128 MiB under the
# worker's allocation rate and dominates its RSS (bench scenario e); no CPU cost was measurable.
WORKER_NODE_FLAGS = '--max-semi-space-size=16'
JOB_FILE = 'job.json'
# The worker's count mode (src/worker/count.ts COUNT_MODE): bodies counted by the engine's tokenizer, nothing generated.
COUNT_MODE = 'count'
_SAFE_FILE = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]*')


def worker_command(worker_file=WORKER_FILE, job_file=JOB_FILE, mode=None):
    """The TRANSFORM's USING string. Constant: nothing from the job or the data reaches the shell.

    The process starts in SparkFiles' root directory, where `--files` / `addFile` put the worker
    and the job, and inherits the environment (`SPARKINFER_NODE`: Node 24, else `node` on PATH).
    `mode=COUNT_MODE` runs the worker in count mode (`sparkinfer estimate`).
    SPARKINFER_WORKER_CMD replaces the command for tests of the driver with a fake worker.
    """
    override = os.environ.get('SPARKINFER_WORKER_CMD')
    if override:
        return override
    for f in (worker_file, job_file):
        if not _SAFE_FILE.fullmatch(f):
            raise ValueError(f'unsafe file name for the worker command: {f!r}')
    if mode not in (None, COUNT_MODE):
        raise ValueError(f'unknown worker mode: {mode!r}')
    return f'"${{SPARKINFER_NODE:-node}}" {WORKER_NODE_FLAGS} {worker_file} {job_file}' + (f' {mode}' if mode else '')


def transform_sql(view, command):
    """Explicit ROW FORMAT DELIMITED on both sides: with Hive support Spark would otherwise pick
    LazySimpleSerDe. Lines are JSON, so they hold no raw tab, CR or LF."""
    fmt = "ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'"
    return f'SELECT TRANSFORM(line) {fmt} USING {sql_string(command)} AS (line STRING) {fmt} FROM {view}'


def infer_lines(spark, packed, job, partitions, command, planned=False):
    """Repartitions the packed rows, runs the worker on every partition, returns its raw lines.

    `planned`: `packed` is already placed by the prefix plan (prefix_plan.py), whose partitioning
    and order within each partition are kept."""
    fields = [KEY_FIELD] + list(dict.fromkeys(job['run']['columns'])) + [CARRY_FIELD]
    line = F.to_json(F.struct(*[col(c) for c in fields]), JSON_OPTIONS)
    # to_json leaves U+2028/U+2029 raw (valid JSON), but Node's readline and other line readers
    # split on them. Inside a JSON string the escape means the same character, so escape them.
    for ch in ('\u2028', '\u2029'):
        line = F.replace(line, F.lit(ch), F.lit(f'\\u{ord(ch):04x}'))
    lines = (packed if planned else packed.repartition(partitions)).select(line.alias('line'))
    view = f'sparkinfer_lines_{secrets.token_hex(8)}'
    lines.createOrReplaceTempView(view)
    try:
        return spark.sql(transform_sql(view, command))  # analyzed now: the view can go
    finally:
        spark.catalog.dropTempView(view)


def _fail(message):
    return F.raise_error(F.lit(f'sparkinfer: {message}'))


def parse_results(raw, job, carried_schema):
    """Worker lines → output columns (docs/architecture.md, "Output columns"). No shuffle, no action.

    An unparseable line fails the task (FAILFAST); so does a line without a key, or one whose
    carried columns belong to another key (the worker must echo `c` unchanged).
    """
    r = raw.select(F.from_json(col('line'), line_schema(job), {'mode': 'FAILFAST'}).alias('r'))
    parsed = r.select('r.*')
    carried = F.from_json(F.col('c'), carried_schema, {'mode': 'FAILFAST', **JSON_OPTIONS})
    unpacked = parsed.select('*', carried.alias('_carried'))
    key = key_name(job)
    k = F.col('k')
    restored = F.col('_carried').getField(key)
    checked_key = (
        F.when(k.isNull(), _fail('the worker wrote a result line without a key'))
        .when(restored.isNull(), _fail('the worker wrote a result line without carried columns'))
        .when(~restored.cast('string').eqNullSafe(k), _fail('the worker echoed carried columns of another row'))
        .otherwise(restored)
    )
    cols = [checked_key.alias(key)]
    cols += [F.col('_carried').getField(c).alias(c) for c in carried_names(job)[1:]]
    stages = set(stage_names(job))

    def typed(f):
        if f.name in stages:
            return typed_stage(col(f.name), f).alias(f.name)
        return typed_json(F.col('json'), job).alias('json') if f.name == 'json' else F.col(f.name)

    cols += [typed(f) for f in result_fields(job)]
    cols.append(F.lit(job['run']['id']).alias('run_id'))
    if job['output']['include_request']:
        cols.append(F.col('request'))
    return unpacked.select(*cols)
