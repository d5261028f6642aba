"""The json column's Spark type as the plan writes it (src/plan/output-columns.ts, the DDL in
`run.result_columns`, parsed by pyspark in columns.py) and OpenAI Batch files (formats.py)."""

import json
import os
import shutil
import tempfile
import unittest

import helpers  # noqa: F401  (puts python/ on sys.path)
from helpers import REPO, minimal_job, resolved, result_columns, spark_session
from pyspark.sql import functions as F
from pyspark.sql import types as T
from sparkinfer import formats
from sparkinfer.columns import line_schema, result_fields, typed_json, typed_stage
from sparkinfer.errors import SpecError
from sparkinfer.job import load_job

FIXTURES = json.load(open(os.path.join(REPO, 'test', 'fixtures', 'json-schemas.json'), encoding='utf-8'))


def batch_job(**over):
    job = {
        'name': 'b',
        'model': 'm',
        'input': {'format': 'openai-batch', 'path': '/in.jsonl'},
        'engine': {'endpoint': 'http://127.0.0.1:1/v1'},
        'output': {'format': 'openai-batch', 'path': '/out'},
    }
    job.update(over)
    return job


def json_job(schema):
    """A job file with `response.format: json` and this schema."""
    return minimal_job(response={'format': 'json', 'schema': schema})


def plan_json_type(schema):
    """The `json` column's type: the DDL the plan writes (the bundled CLI), parsed by pyspark."""
    return {f.name: f.dataType for f in result_fields(load_job(resolved(json_job(schema))))}['json']


class SchemaTypeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spark = spark_session()  # pyspark parses DDL in the JVM

    def test_same_types_as_the_cli(self):
        # test/unit/response-schema.test.ts checks the TypeScript walk against the same file; here, that
        # the DDL it writes into the plan parses in pyspark to the same Spark type.
        for case in FIXTURES['supported']:
            with self.subTest(case['name']):
                self.assertEqual(plan_json_type(case['schema']).simpleString(), case['spark'])

    def test_schemas_without_a_spark_type_are_refused(self):
        for name in (
            'top-level array',
            'top-level no properties',
            'recursive ref',
            'oneOf of different types',
            'type list',
            'untyped field',
            'null-only field',
            'enum of mixed types',
            'remote ref',
        ):
            case = next(c for c in FIXTURES['unsupported'] if c['name'] == name)
            with self.subTest(name), self.assertRaises(SpecError):
                resolved(json_job(case['schema']))  # the CLI refuses it: no job.json, no DDL

    def test_result_and_line_schemas(self):
        job = load_job(resolved(json_job(FIXTURES['supported'][0]['schema'])))
        types = {f.name: f.dataType for f in result_fields(job)}
        self.assertEqual(types['json'].simpleString(), FIXTURES['supported'][0]['spark'])
        self.assertIsInstance(line_schema(job)['json'].dataType, T.StringType, 'the worker sends json as a string')
        self.assertNotIn('response', types)


def staged_job():
    """A two-stage job (docs/stages.md): `check` answers in JSON, `draft` in text, gated on it."""
    job = minimal_job(
        stages=[
            {
                'name': 'check',
                'prompt': {'user': '{{ q }}'},
                'response': {'format': 'json', 'schema': {'type': 'object', 'properties': {'answer': {'type': 'string'}}}},
            },
            {'name': 'draft', 'when': "check.json.answer == 'yes'", 'prompt': {'user': '{{ check.text }}'}},
        ]
    )
    del job['prompt']
    return job


class StagedJobTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spark = spark_session()

    def test_one_struct_per_stage_and_the_row_outcome(self):
        job = load_job(resolved(staged_job()))
        names = [f.name for f in result_fields(job)]
        self.assertEqual(names, ['check', 'draft', 'error_code', 'error_message', 'prompt_tokens', 'completion_tokens', 'attempts'])
        self.assertEqual(job['run']['columns'], ['q'])
        line = line_schema(job)
        self.assertIsInstance(line['check'].dataType['json'].dataType, T.StringType, 'the worker sends a stage json as a string')
        self.assertIsInstance(line['draft'].dataType['text'].dataType, T.StringType)

    def test_a_stage_json_is_typed_and_a_gated_stage_stays_null(self):
        job = load_job(resolved(staged_job()))
        fields = {f.name: f for f in result_fields(job)}
        lines = [
            json.dumps({'k': '1', 'check': {'text': '{"answer":"yes"}', 'json': '{"answer":"yes"}', 'attempts': 1}, 'draft': None}),
            json.dumps({'k': '2', 'check': None, 'draft': None}),
        ]
        raw = self.spark.createDataFrame([(x,) for x in lines], 'line string')
        parsed = raw.select(F.from_json('line', line_schema(job)).alias('r')).select('r.*')
        out = parsed.select('k', typed_stage(F.col('check'), fields['check']).alias('check')).orderBy('k').collect()
        self.assertEqual(out[0]['check']['json']['answer'], 'yes')
        self.assertEqual(out[0]['check']['attempts'], 1)
        self.assertIsNone(out[1]['check'])


class BatchJobTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spark = spark_session()  # pyspark parses DDL in the JVM

    def test_key_and_columns(self):
        job = load_job(resolved(batch_job()))  # the CLI sets the key and the columns
        self.assertEqual(job['input']['key'], 'custom_id')
        self.assertEqual(job['run']['columns'], ['_line'])
        self.assertIn('response', [f.name for f in line_schema(job).fields])

    def test_refusals(self):
        with self.assertRaisesRegex(SpecError, 'key of an `openai-batch` input is `custom_id`'):
            resolved(batch_job(input={'format': 'openai-batch', 'path': '/in', 'key': 'id'}))  # the CLI's rule
        # The driver's own checks, on a resolved job changed afterwards (the CLI refuses these too).
        job = resolved(batch_job())
        with self.assertRaisesRegex(SpecError, 'needs input.format: openai-batch'):
            load_job({**job, 'input': {**job['input'], 'format': 'json'}})
        with self.assertRaisesRegex(SpecError, 'use output.mode error or overwrite'):
            load_job({**job, 'output': {**job['output'], 'mode': 'append'}})


class BatchSparkTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spark = spark_session()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sparkinfer-fmt-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, text):
        p = os.path.join(self.tmp, 'in.jsonl')
        with open(p, 'w', encoding='utf-8') as f:
            f.write(text)
        return p

    def test_lines_are_read_as_text_and_kept_raw(self):
        lines = [
            '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"seed": 12345678901234567890, "t": 0.70}}',
            '',
            '{"custom_id": 7, "url": "/v1/embeddings", "body": {"input": ["x"]}}',
        ]
        df = formats.read_batch_input(self.spark, self.write('\n'.join(lines) + '\n'))
        rows = sorted(df.collect(), key=lambda r: r['_line'])
        self.assertEqual(df.columns, ['custom_id', 'method', 'url', '_line'])
        self.assertEqual([r['custom_id'] for r in rows], ['a', '7'])
        self.assertEqual(rows[0]['_line'], lines[0], 'the body is not rewritten')
        self.assertEqual(rows[1]['method'], None)

    def test_a_line_that_is_not_json_fails_the_read(self):
        df = formats.read_batch_input(self.spark, self.write('{"custom_id": "a", "url": "/v1/completions", "body": {}}\nnot json\n'))
        with self.assertRaises(Exception) as cm:
            df.collect()
        self.assertIn('MALFORMED', str(cm.exception).upper())

    def test_output_lines(self):
        body = '{"id":"chatcmpl-1","choices":[{"message":{"content":"hi \\"x\\""}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}'
        schema = 'custom_id string, response string, error_code string, error_message string, run_id string'
        df = self.spark.createDataFrame(
            [('a', body, None, None, 'r1'), ('b"ü', None, 'E_UNSUPPORTED_URL', 'url "/x" is not supported', 'r1')], schema
        )
        out = {json.loads(r['value'])['custom_id']: json.loads(r['value']) for r in formats.batch_lines(df, {}).collect()}
        self.assertEqual(out['a']['response']['status_code'], 200)
        self.assertEqual(out['a']['response']['request_id'], 'chatcmpl-1')
        self.assertEqual(out['a']['response']['body'], json.loads(body))
        self.assertIsNone(out['a']['error'])
        self.assertTrue(out['a']['id'].startswith('batch_req_'))
        self.assertIsNone(out['b"ü']['response'])
        self.assertEqual(out['b"ü']['error'], {'code': 'E_UNSUPPORTED_URL', 'message': 'url "/x" is not supported'})

    def test_typed_json(self):
        schema = {'type': 'object', 'properties': {'n': {'type': 'integer'}, 'tags': {'type': 'array', 'items': {'type': 'string'}}}}
        job = resolved(json_job(schema))
        self.assertEqual(job['run']['result_columns'], result_columns(json_ddl='struct<`n`:bigint,`tags`:array<string>>'))
        df = self.spark.createDataFrame([('{"n":9007199254740993,"tags":["a"]}',), (None,)], 'json string')
        rows = df.select(typed_json(F.col('json'), job).alias('json')).collect()
        self.assertEqual(rows[0]['json']['n'], 9007199254740993)
        self.assertEqual(rows[0]['json']['tags'], ['a'])
        self.assertIsNone(rows[1]['json'])


if __name__ == '__main__':
    unittest.main()
