"""Prepare phase: session, input, checks, keys, carried columns, the materialized prepared input."""

import difflib
import json
import math
import os

from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkinfer import formats  # openai-batch input, read as text
from sparkinfer.columns import (
    CARRY_FIELD,
    DERIVED_KEY,
    JSON_OPTIONS,
    KEY_FIELD,
    RESERVED_OUTPUT,
    carried_names,
    col,
    key_name,
    output_names,
    result_fields,
)
from sparkinfer.errors import InputError, SpecError
from sparkinfer.sparkerr import short_message


def conf_value(v):
    return ('true' if v else 'false') if isinstance(v, bool) else str(v)


def build_session(job):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(f'sparkinfer:{job["name"]}:{job["run"]["id"]}')
    for k, v in job['spark']['conf'].items():
        builder = builder.config(k, conf_value(v))
    if job['spark']['hive']:
        builder = builder.enableHiveSupport()
    return builder.getOrCreate()


def reader_options(inp):
    opts = {k: conf_value(v) for k, v in inp['options'].items()}
    # A malformed record is an input error, not a row of nulls: fail unless the job says otherwise.
    if inp['format'] in ('json', 'csv') and not any(k.lower() == 'mode' for k in opts):
        opts['mode'] = 'FAILFAST'
    return opts


def read_input(spark, job):
    """The input DataFrame (lazy except for schema inference), with `run.limit` applied."""
    inp = job['input']
    fmt = inp['format']
    try:
        if fmt == 'table':
            df = spark.table(inp['table'])
        elif fmt == 'sql':
            df = spark.sql(inp['query'])
        elif fmt == formats.FORMAT:
            return formats.read_batch_input(spark, inp['path'], job['run'].get('limit'))
        else:
            reader = spark.read.options(**reader_options(inp))
            df = reader.text(inp['path']) if fmt == 'text' else reader.format(fmt).load(inp['path'])
    except Exception as e:  # AnalysisException, ParseException, malformed records during inference
        where = inp.get('path') or inp.get('table') or 'the input query'
        raise InputError(f'cannot read input {where} ({fmt}): {short_message(e)}') from e
    limit = job['run'].get('limit')
    if limit is not None:
        df = df.limit(limit)  # after the read, before keys: the same rows on every run
    return df


def _missing(name, available, why):
    close = difflib.get_close_matches(name, available, n=1) or [a for a in available if a.lower() == name.lower()]
    hint = f' (did you mean "{close[0]}"?)' if close else ''
    shown = ', '.join(available[:30]) + (', …' if len(available) > 30 else '')
    return InputError(f'input has no column "{name}" (referenced by {why}); available columns: {shown}{hint}')


def check_columns(schema, job):
    """Every check that needs only the input schema. Runs before any data is read or any engine waited for."""
    available = [f.name for f in schema.fields]
    names = set(available)
    for c in job['run']['columns']:
        if c not in names:
            raise _missing(c, available, 'the prompt')
        if c in (KEY_FIELD, CARRY_FIELD):
            raise InputError(
                f'input column "{c}" is referenced by the prompt but "{c}" is reserved for the worker protocol; rename it in the input'
            )
    key = job['input'].get('key')
    if key is not None:
        if key not in names:
            raise _missing(key, available, 'input.key')
        ktype = schema[key].dataType
        if isinstance(ktype, (T.MapType, T.ArrayType, T.StructType, T.BinaryType)):
            raise InputError(f'input.key "{key}" has type {ktype.simpleString()}; a key must be a plain value (string, number, date)')
    elif DERIVED_KEY in names:
        raise InputError(
            f'input has a column "{DERIVED_KEY}", the name of the derived key; set `input.key: {DERIVED_KEY}` or rename the column'
        )
    for c in job['output']['include']:
        if c not in names:
            raise _missing(c, available, 'output.include')
    for c in carried_names(job):
        if c in RESERVED_OUTPUT:
            what = 'input.key' if c == key else 'output.include'
            raise InputError(f'{what} "{c}" collides with a result column; rename it in the input')
    outs = output_names(job)
    for c in job['output']['partition_by']:
        if c not in outs:
            raise SpecError(f'output.partition_by "{c}" is not an output column; output columns: {", ".join(outs)}')
    if job['output']['format'] == 'csv':
        types = {f.name: f.dataType for f in schema.fields}
        types.update({f.name: f.dataType for f in result_fields(job)})
        for c in outs:
            t = types.get(c)
            if isinstance(t, (T.StructType, T.ArrayType, T.MapType)):
                raise InputError(
                    f'output.format csv cannot hold column "{c}" ({t.simpleString()}); use parquet, orc or json, or leave the column out'
                )


def check_output_absent(spark, job):
    """`mode: error` refuses an existing output, before any inference is paid for."""
    out = job['output']
    if out['mode'] != 'error':
        return
    if out['format'] == 'table':
        if spark.catalog.tableExists(out['table']):
            raise InputError(f'output table {out["table"]} exists; set output.mode to overwrite or append, or drop it')
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(out['path'])
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(path):
        raise InputError(f'output {out["path"]} exists; set output.mode to overwrite or append, or remove it')


def _unused_name(base, taken):
    name = base
    while name in taken:
        name += '_'
    return name


def with_key(df, job):
    """Adds the derived `_key` when the job has no `input.key`.

    `_key = sha256(canonical row) # n`: canonical row = to_json of all columns sorted by name, nulls
    kept; n numbers identical rows 1, 2, … Identical rows are interchangeable, so the key is stable
    across runs. Spark's 32-bit hash() would collide; sha2 doesn't.
    """
    if job['input'].get('key') is not None:
        return df
    h = _unused_name('_sparkinfer_row_sha256', set(df.columns))
    canon = F.to_json(F.struct(*[col(c) for c in sorted(df.columns)]), JSON_OPTIONS)
    n = F.row_number().over(Window.partitionBy(col(h)).orderBy(col(h)))
    return df.withColumn(h, F.sha2(canon, 256)).withColumn(DERIVED_KEY, F.concat(col(h), F.lit('#'), n.cast('string'))).drop(h)


def pack(df, job):
    """`(_k string, <referenced columns>, _c string)`: what the worker needs, nothing more."""
    df = with_key(df, job)
    carried = F.to_json(F.struct(*[col(c) for c in carried_names(job)]), JSON_OPTIONS)
    refs = list(dict.fromkeys(job['run']['columns']))
    return df.select(col(key_name(job)).cast('string').alias(KEY_FIELD), *[col(c) for c in refs], carried.alias(CARRY_FIELD))


def carried_schema(schema, job):
    """The key and included columns with their input types (the derived key is a string)."""
    types = {f.name: f for f in schema.fields}
    fields = []
    for c in carried_names(job):
        f = types.get(c)
        fields.append(T.StructField(c, f.dataType if f is not None else T.StringType(), True))
    return T.StructType(fields)


def materialize(spark, packed, run_dir):
    """Writes the packed input once and reads it back, so inference never re-runs the ETL (or the key window)."""
    path = os.path.join(run_dir, 'prepared')
    packed.write.mode('overwrite').parquet(path)
    return spark.read.parquet(path)


def check_keys(prepared, job):
    """A user key must be unique and non-null. Runs on the materialized input, never on the inferring lineage."""
    key = job['input'].get('key')
    if key is None:
        return
    k = F.col(KEY_FIELD)
    bad = (
        prepared.groupBy(k)
        .count()
        .where(k.isNull() | (F.col('count') > 1))
        .orderBy(k.isNotNull(), F.col('count').desc(), k)
        .limit(6)
        .collect()
    )
    if bad and bad[0][KEY_FIELD] is None:
        raise InputError(f'input.key "{key}" is null in {bad[0]["count"]} rows; every row needs a key')
    if bad:
        shown = ', '.join(f'{json.dumps(r[KEY_FIELD], ensure_ascii=False)} ({r["count"]} rows)' for r in bad[:5])
        raise InputError(f'input.key "{key}" is not unique: {shown}{" …" if len(bad) > 5 else ""}; a key must identify one row')


def auto_partitions(rows, default_parallelism):
    """`spark.partitions: auto`.

    At least 2 tasks per task slot, so a slot that finishes early picks up more work and the job's
    tail is short; at most ~2000 rows per task, so a retried task re-infers little; never more
    tasks than rows (and at least 1).
    """
    n = max(2 * default_parallelism, math.ceil(rows / 2000))
    return max(1, min(n, rows))


def resume_partitions(parts, rows_to_infer, rows_in, default_parallelism):
    """A number `spark.partitions` on a resume: the rows left, split into tasks of the size the job chose.

    The number is set for the whole input. A resume with 30 % of the rows left and the same number
    of tasks would pay each task's start-up (a worker, its engine share, its tail) on a third of the
    rows: the chaos soak's rerun ran 40 tasks of 750 rows. So it keeps the rows per task, with at
    least two tasks per task slot (as `auto`), never more tasks than the job's number or the rows.
    """
    if rows_to_infer >= rows_in or rows_in <= 0:
        return parts
    n = max(min(parts, 2 * default_parallelism), math.ceil(parts * rows_to_infer / rows_in))
    return max(1, min(n, parts, rows_to_infer))


def write_json_atomic(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(obj, f, ensure_ascii=False, indent=2)
            f.write('\n')
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)  # a full disk: leave no partial file behind
        except OSError:
            pass
        raise OSError(e.errno, e.strerror, path) from e  # a failed write() names no file
