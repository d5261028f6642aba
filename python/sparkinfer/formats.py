"""OpenAI Batch files (`input.format` / `output.format: openai-batch`), docs/batch-kinds.md.

Input: JSON lines `{"custom_id", "method", "url", "body"}`, read as TEXT: Spark's JSON reader
would infer one schema over all bodies and rewrite them (added nulls, reordered keys, changed
numbers). Each row keeps its raw line in `_line` (the worker sends the body from it as it is);
`custom_id`, `method` and `url` are parsed for the key and for `include`. `custom_id` is the key:
unique and non-null, like any `input.key`. Blank lines are skipped; a line that is not JSON is an
input error (exit 2).

Output: one line per input line, like OpenAI's batch output:
  {"id": "batch_req_…", "custom_id": …, "response": {"status_code": 200, "request_id": …, "body": <the engine's reply>}, "error": null}
  {"id": "batch_req_…", "custom_id": …, "response": null, "error": {"code": "E_…", "message": …}}
`body` is the engine's raw JSON reply (the worker's `response` field), spliced in as JSON, not
re-encoded. `request_id` is the reply's own `id` when it has one.
"""

import json

from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkinfer.error_codes import E_RUNTIME
from sparkinfer.errors import SpecError

FORMAT = 'openai-batch'
LINE = '_line'  # the raw line, the worker's only input column (src/worker/openai-batch.ts)
KEY = 'custom_id'
# The error of a row with neither a reply body nor an error code.
_NO_RESPONSE = json.dumps({'code': E_RUNTIME, 'message': 'no response'}, separators=(',', ':'))
_HEAD = T.StructType([T.StructField(KEY, T.StringType()), T.StructField('method', T.StringType()), T.StructField('url', T.StringType())])


def is_batch_input(job):
    return (job.get('input') or {}).get('format') == FORMAT


def check_job(job):
    """What an openai-batch output can't do (the CLI checks the same in the job schema)."""
    out = job['output']
    if out.get('format') != FORMAT:
        return
    if not is_batch_input(job):
        raise SpecError('output.format: openai-batch needs input.format: openai-batch (each line answers a custom_id)')
    if out.get('mode') == 'append':
        raise SpecError('openai-batch output is one set of lines per run; use output.mode error or overwrite')
    if out.get('partition_by') or out.get('include') or out.get('include_request'):
        raise SpecError('openai-batch output lines have a fixed shape; remove include, include_request and partition_by')


def read_batch_input(spark, path, limit=None):
    """`(custom_id, method, url, _line)`, one row per non-blank line."""
    raw = spark.read.text(path)
    raw = raw.where(F.trim(F.col('value')) != '')
    if limit is not None:
        raw = raw.limit(limit)
    head = F.from_json(F.col('value'), _HEAD, {'mode': 'FAILFAST'})
    return raw.select(head.alias('h'), F.col('value').alias(LINE)).select('h.*', LINE)


def _json_string(c):
    """A string column as a JSON string literal (`null` for null): to_json of a one-element array, unwrapped."""
    return F.regexp_replace(F.regexp_replace(F.to_json(F.array(c)), r'^\[', ''), r'\]$', '')


def batch_lines(out_df, job):
    """The output DataFrame → one column `value` holding each OpenAI Batch output line."""
    key = F.col(KEY)
    body = F.col('response')
    rid = F.get_json_object(body, '$.id')
    line_id = F.concat(F.lit('batch_req_'), F.substring(F.sha2(F.concat_ws('/', F.col('run_id'), key), 256), 1, 32))
    ok = F.concat(F.lit('{"status_code":200,"request_id":'), _json_string(F.coalesce(rid, line_id)), F.lit(',"body":'), body, F.lit('}'))
    err = F.to_json(F.struct(F.col('error_code').alias('code'), F.col('error_message').alias('message')))
    failed = F.col('error_code').isNotNull() | body.isNull()
    value = F.concat(
        F.lit('{"id":'),
        _json_string(line_id),
        F.lit(',"custom_id":'),
        _json_string(key),
        F.lit(',"response":'),
        F.when(failed, F.lit('null')).otherwise(ok),
        F.lit(',"error":'),
        F.when(failed, F.coalesce(F.when(F.col('error_code').isNotNull(), err), F.lit(_NO_RESPONSE))).otherwise(F.lit('null')),
        F.lit('}'),
    )
    return out_df.select(value.alias('value'))


def write_batch_output(out_df, job):
    out = job['output']
    mode = 'errorifexists' if out['mode'] == 'error' else out['mode']
    batch_lines(out_df, job).write.mode(mode).text(out['path'])


def read_batch_output(spark, job):
    """What `summarize` needs, from the written lines: key, error code and message, token counts, run_id."""
    schema = T.StructType(
        [
            T.StructField(KEY, T.StringType()),
            T.StructField(
                'response',
                T.StructType(
                    [
                        T.StructField(
                            'body',
                            T.StructType(
                                [
                                    T.StructField(
                                        'usage',
                                        T.StructType(
                                            [T.StructField('prompt_tokens', T.LongType()), T.StructField('completion_tokens', T.LongType())]
                                        ),
                                    )
                                ]
                            ),
                        )
                    ]
                ),
            ),
            T.StructField('error', T.StructType([T.StructField('code', T.StringType()), T.StructField('message', T.StringType())])),
        ]
    )
    r = spark.read.text(job['output']['path']).select(F.from_json('value', schema).alias('r'))
    usage = F.col('r.response.body.usage')
    return r.select(
        F.col(f'r.{KEY}').alias(KEY),
        F.col('r.error.code').alias('error_code'),
        F.col('r.error.message').alias('error_message'),
        usage.getField('prompt_tokens').alias('prompt_tokens'),
        usage.getField('completion_tokens').alias('completion_tokens'),
        F.lit(job['run']['id']).alias('run_id'),
    )
