"""The json column's Spark type (jsonschema_spark.py) and OpenAI Batch files (formats.py)."""

import json
import os
import shutil
import tempfile
import unittest

import helpers  # noqa: F401  (puts python/ on sys.path)
from helpers import REPO, spark_session
from pyspark.sql import functions as F
from pyspark.sql import types as T
from sparkinfer import formats
from sparkinfer.columns import line_schema, result_fields
from sparkinfer.errors import SpecError
from sparkinfer.job import load_job
from sparkinfer.jsonschema_spark import json_struct, typed_json

FIXTURES = json.load(open(os.path.join(REPO, 'test', 'fixtures', 'json-schemas.json'), encoding='utf-8'))


def batch_job(**over):
    job = {
        'name': 'b',
        'input': {'format': 'openai-batch', 'path': '/in.jsonl'},
        'engine': {'endpoint': 'http://127.0.0.1:1/v1'},
        'output': {'format': 'openai-batch', 'path': '/out'},
        'run': {'id': 'r1', 'columns': []},
    }
    job.update(over)
    return job


class SchemaTypeTests(unittest.TestCase):
    def test_same_types_as_the_cli(self):
        # test/unit/response-schema.test.ts checks the TypeScript side against the same file.
        for case in FIXTURES['supported']:
            with self.subTest(case['name']):
                self.assertEqual(json_struct(case['schema']).simpleString(), case['spark'])

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
                json_struct(case['schema'])

    def test_result_and_line_schemas(self):
        job = load_job(
            {
                'name': 'j',
                'input': {'format': 'json', 'path': '/in'},
                'engine': {'endpoint': 'http://h:1/v1'},
                'output': {'path': '/out'},
                'response': {'format': 'json', 'schema': FIXTURES['supported'][0]['schema']},
            }
        )
        types = {f.name: f.dataType for f in result_fields(job)}
        self.assertEqual(types['json'].simpleString(), FIXTURES['supported'][0]['spark'])
        self.assertIsInstance(line_schema(job)['json'].dataType, T.StringType, 'the worker sends json as a string')
        self.assertNotIn('response', types)


class BatchJobTests(unittest.TestCase):
    def test_key_and_columns(self):
        job = load_job(batch_job())
        self.assertEqual(job['input']['key'], 'custom_id')
        self.assertEqual(job['run']['columns'], ['_line'])
        self.assertIn('response', [f.name for f in line_schema(job).fields])

    def test_refusals(self):
        with self.assertRaisesRegex(SpecError, 'key of an openai-batch input is custom_id'):
            load_job(batch_job(input={'format': 'openai-batch', 'path': '/in', 'key': 'id'}))
        with self.assertRaisesRegex(SpecError, 'needs input.format: openai-batch'):
            load_job(batch_job(input={'format': 'json', 'path': '/in'}))
        with self.assertRaisesRegex(SpecError, 'use output.mode error or overwrite'):
            load_job(batch_job(output={'format': 'openai-batch', 'path': '/out', 'mode': 'append'}))


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
        job = {
            'response': {
                'format': 'json',
                'schema': {
                    'type': 'object',
                    'properties': {'n': {'type': 'integer'}, 'tags': {'type': 'array', 'items': {'type': 'string'}}},
                },
            }
        }
        df = self.spark.createDataFrame([('{"n":9007199254740993,"tags":["a"]}',), (None,)], 'json string')
        rows = df.select(typed_json(F.col('json'), job).alias('json')).collect()
        self.assertEqual(rows[0]['json']['n'], 9007199254740993)
        self.assertEqual(rows[0]['json']['tags'], ['a'])
        self.assertIsNone(rows[1]['json'])


if __name__ == '__main__':
    unittest.main()
