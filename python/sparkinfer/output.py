"""Write phase (the one action that runs inference) and the report computed from what was written."""

import os

from pyspark.sql import functions as F

from sparkinfer import (
    formats,  # openai-batch output lines
    tables,  # delta and iceberg outputs
)
from sparkinfer.columns import col, key_name

# CSV that other tools read back: quotes doubled inside quoted fields (RFC 4180), not backslashed.
CSV_OPTIONS = {'header': 'true', 'escape': '"'}


def describe(job):
    out = job['output']
    return out['table'] if out['format'] == 'table' else out['path']


def write_output(out_df, job, partitions):
    """Writes the inferring DataFrame. This is the single action over its lineage."""
    out = job['output']
    files = out['files']
    if files != 'auto' and files < partitions:
        # coalesce is narrow: no shuffle after the TRANSFORM, but also fewer concurrent workers.
        out_df = out_df.coalesce(files)
    if out['format'] == formats.FORMAT:
        formats.write_batch_output(out_df, job)
        return
    if tables.table_format(job):
        tables.write_table(out_df, job)
        return
    writer = out_df.write.mode('errorifexists' if out['mode'] == 'error' else out['mode'])
    if out['partition_by']:
        writer = writer.partitionBy(*out['partition_by'])
    if out['format'] == 'table':
        writer.saveAsTable(out['table'])
        return
    if out['format'] == 'csv':
        writer = writer.options(**CSV_OPTIONS)
    if out['format'] == 'json':
        # Every output column appears on every line, null included (error_code: null means ok).
        writer = writer.option('ignoreNullFields', 'false')
    writer.format(out['format']).save(out['path'])


def read_written(spark, job, schema):
    """What this run wrote (append mode keeps earlier runs' rows: filter on run_id)."""
    out = job['output']
    if out['format'] == formats.FORMAT:
        return formats.read_batch_output(spark, job)
    if tables.table_format(job):
        df = tables.read_table(spark, job)
    elif out['format'] == 'table':
        spark.catalog.refreshTable(out['table'])
        df = spark.table(out['table'])
    else:
        reader = spark.read
        if out['format'] in ('csv', 'json'):
            reader = reader.schema(schema)  # no inference pass, exact types
        if out['format'] == 'csv':
            reader = reader.options(**CSV_OPTIONS, multiLine='true')
        df = reader.format(out['format']).load(out['path'])
    return df.where(F.col('run_id') == F.lit(job['run']['id']))


def summarize(spark, job, written, rows_in, run_dir):
    """Counts and token sums from the written rows; failed rows to `<run_dir>/failed_rows` (JSON lines)."""
    key = key_name(job)
    by_code = (
        written.groupBy('error_code')
        .agg(
            F.count(F.lit(1)).alias('rows'),
            F.sum('prompt_tokens').alias('prompt_tokens'),
            F.sum('completion_tokens').alias('completion_tokens'),
        )
        .collect()
    )
    distinct_keys = written.select(col(key)).distinct().count()
    rows_out = sum(r['rows'] for r in by_code)
    rows_failed = sum(r['rows'] for r in by_code if r['error_code'] is not None)
    errors_by_code = {r['error_code']: r['rows'] for r in by_code if r['error_code'] is not None}
    failed_path = None
    if rows_failed:
        failed_path = os.path.join(run_dir, 'failed_rows')
        (
            written.where(F.col('error_code').isNotNull())
            .select(col(key).alias('key'), 'error_code', 'error_message')
            .coalesce(1)
            .write.mode('overwrite')
            .json(failed_path)
        )
    return {
        'rows_in': rows_in,
        'rows_out': rows_out,
        'distinct_keys_out': distinct_keys,
        'rows_ok': rows_out - rows_failed,
        'rows_failed': rows_failed,
        'rows_from_ledger': 0,
        'rows_inferred': rows_out,
        'prompt_tokens': int(sum(r['prompt_tokens'] or 0 for r in by_code)),
        'completion_tokens': int(sum(r['completion_tokens'] or 0 for r in by_code)),
        'errors_by_code': dict(sorted(errors_by_code.items())),
        'failed_rows_path': failed_path,
        'output': describe(job),
    }
