"""Column names, JSON options and the result schema shared by the driver and `infer()`; the result
columns and their Spark types are the plan's (`run.result_columns`), parsed here, never derived."""

from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkinfer.contract import CONTRACT

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


def result_columns(job):
    """`run.result_columns`: the result columns after the key and included ones, in output order, each
    `{name, ddl}` with its Spark type as DDL. The plan resolves them (src/plan/output-columns.ts);
    `job.check_run` refuses a job without them."""
    return job['run']['result_columns']


def result_fields(job):
    """The result columns as StructFields, their types parsed from the plan's DDL (needs an active
    Spark session: the parser is Spark's own). Every field is nullable."""
    return [T.StructField(c['name'], T.DataType.fromDDL(c['ddl'])) for c in result_columns(job)]


def typed_json(column, job):
    """The worker's `json` string → the typed column: from_json into the plan's struct for
    `response.format: json` (PERMISSIVE: a value Spark can't parse becomes null; the worker validated
    it first and the raw `text` is always kept), else the column as it is (always null)."""
    t = next(f.dataType for f in result_fields(job) if f.name == 'json')
    return F.from_json(column, t) if isinstance(t, T.StructType) else column


# Every name the output may use besides key and included columns (schema.ts RESULT_COLUMNS, via contract.py).
RESERVED_OUTPUT = tuple(CONTRACT['result_columns'])


def stage_names(job):
    """The stages of a staged job (docs/stages.md), in order; none for a one-stage job."""
    return [s['name'] for s in job.get('stages') or []]


def _json_as_string(f):
    """A result field as the worker writes it: `json` (at the top, or in a stage's struct) is a JSON string."""
    if f.name == 'json':
        return T.StructField('json', T.StringType())
    if isinstance(f.dataType, T.StructType) and 'json' in f.dataType.fieldNames():
        return T.StructField(f.name, T.StructType([_json_as_string(g) for g in f.dataType.fields]))
    return f


def typed_stage(column, field):
    """A stage's struct as the worker wrote it → the plan's type: its `json` parsed like typed_json; a gated (null) stage stays null."""
    t = field.dataType['json'].dataType
    if not isinstance(t, T.StructType):
        return column
    return F.when(column.isNull(), F.lit(None).cast(field.dataType)).otherwise(
        column.withField('json', F.from_json(column.getField('json'), t))
    )


def line_schema(job):
    """Schema of one worker stdout line (ResultLine in src/worker/protocol.ts; a staged job's line in src/worker/stages.ts)."""
    fields = [T.StructField('k', T.StringType()), T.StructField('c', T.StringType())]
    # The worker writes `json` as a JSON string; parse_results types it (typed_json, typed_stage).
    result = result_fields(job)
    stages = set(stage_names(job))
    fields += [_json_as_string(f) if f.name == 'json' or f.name in stages else f for f in result]
    if 'embedding' not in (f.name for f in result):  # the worker's line has it for every task
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
    names = carried_names(job) + [c['name'] for c in result_columns(job)] + ['run_id']
    if job['output']['include_request']:
        names.append('request')
    return names
