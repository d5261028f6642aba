"""Column names, JSON options and the result schema shared by the driver and `infer()`."""

from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkinfer.contract import CONTRACT
from sparkinfer.formats import is_batch_input  # openai-batch inputs add a `response` column
from sparkinfer.jsonschema_spark import json_type  # the `json` column's struct

KEY_FIELD = '_k'  # the key as a string on the wire (src/worker/protocol.ts)
CARRY_FIELD = '_c'  # the carried columns as one opaque JSON string
DERIVED_KEY = '_key'  # the output key column when the job has no input.key

# JSON options for everything the driver packs and unpacks. Nulls are kept (templates see the
# column, rendered empty). Timestamps keep microseconds: the default format keeps milliseconds,
# which would change carried values and merge rows in the derived key.
JSON_OPTIONS = {
    'ignoreNullFields': 'false',
    'timestampFormat': "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    'timestampNTZFormat': "yyyy-MM-dd'T'HH:mm:ss.SSSSSS",
}


def quote(name):
    """A column name as a Spark SQL identifier: backticks, with backticks doubled."""
    return '`' + name.replace('`', '``') + '`'


def col(name):
    """A top-level column by exact name (dots and backticks in names are not paths)."""
    return F.col(quote(name))


def sql_string(text):
    """A Spark SQL string literal (the default parser processes backslash escapes)."""
    return "'" + text.replace('\\', '\\\\').replace("'", "\\'") + "'"


def result_fields(job):
    """Result columns after the key and included ones, in output order (docs/architecture.md, "Output columns").

    `embedding` exists only for `task: embed`, so that text jobs can be written as CSV.
    """
    fields = [
        T.StructField('text', T.StringType()),
        T.StructField('reasoning', T.StringType()),
        T.StructField('json', json_type(job)),
    ]
    if job['task'] == 'embed':
        fields.append(T.StructField('embedding', T.ArrayType(T.FloatType())))
    fields += [
        T.StructField('finish_reason', T.StringType()),
        T.StructField('prompt_tokens', T.IntegerType()),
        T.StructField('completion_tokens', T.IntegerType()),
        T.StructField('latency_ms', T.DoubleType()),
        T.StructField('attempts', T.IntegerType()),
        T.StructField('error_code', T.StringType()),
        T.StructField('error_message', T.StringType()),
        T.StructField('model', T.StringType()),
    ]
    if is_batch_input(job):  # the engine's raw reply: OpenAI Batch output `response.body`
        fields.append(T.StructField('response', T.StringType()))
    return fields


# Every name the output may use besides key and included columns (schema.ts RESULT_COLUMNS, via contract.py).
RESERVED_OUTPUT = tuple(CONTRACT['result_columns'])


def line_schema(job):
    """Schema of one worker stdout line (ResultLine in src/worker/protocol.ts)."""
    fields = [T.StructField('k', T.StringType()), T.StructField('c', T.StringType())]
    # The worker writes `json` as a JSON string; parse_results types it (jsonschema_spark.typed_json).
    fields += [T.StructField('json', T.StringType()) if f.name == 'json' else f for f in result_fields(job)]
    if job['task'] != 'embed':
        fields.append(T.StructField('embedding', T.ArrayType(T.FloatType())))
    fields.append(T.StructField('request', T.StringType()))
    return T.StructType(fields)


def key_name(job):
    return job['input'].get('key') or DERIVED_KEY


def carried_names(job):
    """The key column, then included columns, without repeats: what `_c` packs."""
    names = [key_name(job)]
    for c in job['output']['include']:
        if c not in names:
            names.append(c)
    return names


def output_names(job):
    """All output columns in order."""
    names = carried_names(job) + [f.name for f in result_fields(job)] + ['run_id']
    if job['output']['include_request']:
        names.append('request')
    return names
