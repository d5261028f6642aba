"""Driver pieces that need no Spark: job loading, names, SQL text, messages, the engine wait.

The jobs are resolved by the bundled CLI (dist/sparkinfer.mjs, `validate --json`) as every job
the driver gets is: the defaults, durations and the run block are TypeScript's."""

import os
import tempfile
import unittest

import helpers  # noqa: F401  (puts python/ on sys.path)
from helpers import HealthServer, closed_port_endpoint, minimal_job, resolved, result_columns, with_values
from sparkinfer.columns import output_names, quote, sql_string
from sparkinfer.contract import CONTRACT
from sparkinfer.engine import driver_can_reach, wait_for_engine
from sparkinfer.errors import RuntimeFailure, SpecError
from sparkinfer.job import check_run, health_url, load_job
from sparkinfer.prepare import auto_partitions, resume_partitions
from sparkinfer.sparkerr import is_data_problem, short_message
from sparkinfer.transform import transform_sql, worker_command
from sparkinfer.watch import budget_exceeded


def resolved_job(**over):
    """minimal_job resolved by the CLI, then fields of its sections replaced (values the CLI would refuse)."""
    return with_values(resolved(minimal_job()), **over)


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def sleep(self, s):
        self.now += s


class JobTests(unittest.TestCase):
    def test_defaults_applied(self):
        # TypeScript applies them (the plan); the driver reads them as they come.
        job = load_job(resolved(minimal_job()))
        self.assertEqual(job['output']['mode'], 'error')
        self.assertEqual(job['output']['format'], 'parquet')
        self.assertEqual(job['spark']['partitions'], 'auto')
        self.assertEqual(job['engine']['startup_timeout'], 600_000)

    def test_every_contract_default_is_applied(self):
        # The values come from the job schema (scripts/lib/contract.ts); here: that the resolved job the
        # driver gets (from the bundled CLI) carries each one.
        job = load_job(resolved(minimal_job()))
        for dotted, default in CONTRACT['defaults'].items():
            section, _, field = dotted.rpartition('.')
            self.assertEqual((job[section] if section else job)[field], default, dotted)

    def test_budget_rule_matches_the_cli(self):
        examples = CONTRACT['failure_budget_examples']
        self.assertGreater(len(examples), 20)
        self.assertTrue(any(e['exceeded'] for e in examples) and not all(e['exceeded'] for e in examples))
        for e in examples:
            limits = {k: e[k] for k in ('max_failed_fraction', 'min_rows_for_budget')}
            self.assertEqual(budget_exceeded(limits, e['finished'], e['failed']), e['exceeded'], e)

    def test_durations(self):
        # The CLI turns durations into milliseconds; the driver reads numbers.
        def timeout(value):
            engine = {'endpoint': 'http://127.0.0.1:1/v1', 'startup_timeout': value}
            return load_job(resolved(minimal_job(engine=engine)))['engine']['startup_timeout']

        self.assertEqual(timeout('1m30s'), 90_000)
        self.assertEqual(load_job(resolved_job(engine={'startup_timeout': 2500}))['engine']['startup_timeout'], 2500)
        with self.assertRaisesRegex(SpecError, r'startup_timeout: expected a duration with a unit.*"30"'):
            timeout('30')

    def test_bad_job_file(self):
        with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
            f.write('{"name": ')
        try:
            with self.assertRaisesRegex(SpecError, 'is not valid JSON'):
                load_job(f.name)
        finally:
            os.unlink(f.name)

    def test_bad_values_are_quoted(self):
        with self.assertRaisesRegex(SpecError, r"`output.mode` to be error, overwrite, append or incremental, got 'replace'"):
            load_job(resolved_job(output={'path': '/o', 'mode': 'replace'}))
        with self.assertRaisesRegex(SpecError, r'`spark.partitions` to be "auto" or a number from 1 and up, got 0'):
            load_job(resolved_job(spark={'partitions': 0}))
        with self.assertRaisesRegex(SpecError, r'expected `input.table` for input format `table`'):
            load_job(resolved_job(input={'format': 'table'}))

    def test_run_estimate_is_checked(self):
        # `sparkinfer estimate` writes run.estimate = {sample, seed} (src/job/estimate.ts).
        run = {'id': 'r', 'columns': [], 'result_columns': result_columns()}
        check_run({'run': {**run, 'estimate': {'sample': 32, 'seed': 0}}})
        for bad in ({'sample': 0, 'seed': 1}, {'sample': 3}, {'sample': True, 'seed': 1}, [32, 1]):
            with self.assertRaisesRegex(SpecError, r'`run.estimate` to be \{"sample": a number from 1 and up'):
                check_run({'run': {**run, 'estimate': bad}})

    def test_a_job_without_result_columns_is_refused(self):
        # Every CLI since the plan carries them writes them; a job.json without them is an older CLI's.
        job = resolved(minimal_job())
        check_run(job)
        self.assertEqual(job['run']['result_columns'], result_columns(), 'helpers.result_columns is what the plan writes')
        del job['run']['result_columns']
        with self.assertRaisesRegex(SpecError, r'no `run.result_columns`: it was resolved by an older sparkinfer CLI'):
            check_run(job)
        with self.assertRaisesRegex(SpecError, r'`run.result_columns` to be a list of \{"name", "ddl"\}'):
            check_run({'run': {'id': 'r', 'columns': [], 'result_columns': [{'name': 'text'}]}})

    def test_output_over_the_input_is_refused(self):
        with self.assertRaisesRegex(SpecError, r'output.path is the input path \(/data/in/\)'):
            load_job(resolved_job(input={'format': 'parquet', 'path': 'file:/data/in'}, output={'path': '/data/in/'}))

    def test_openai_batch_is_keyed_by_custom_id(self):
        # The CLI sets the key (src/jobfile/schema.ts); python/sparkinfer/formats.py reads it; test_formats.py covers the rest.
        job = load_job(resolved(minimal_job(input={'format': 'openai-batch', 'path': '/b.jsonl'})))
        self.assertEqual(job['input']['key'], 'custom_id')

    def test_health_url(self):
        self.assertEqual(health_url('http://h:1/v1'), 'http://h:1/health')
        self.assertEqual(health_url('http://h:1/v1/'), 'http://h:1/health')
        self.assertEqual(health_url('https://h/proxy/v1'), 'https://h/proxy/health')
        self.assertEqual(health_url('http://h:1'), 'http://h:1/health')
        with self.assertRaises(SpecError):
            health_url('ftp://h/v1')

    def test_output_names_in_order(self):
        output = {'path': '/o', 'include': ['id', 'q'], 'include_request': True}
        job = load_job(resolved(minimal_job(input={'format': 'json', 'path': '/in', 'key': 'id'}, output=output)))
        self.assertEqual(
            output_names(job),
            [
                'id',
                'q',
                'text',
                'reasoning',
                'json',
                'finish_reason',
                'prompt_tokens',
                'completion_tokens',
                'latency_ms',
                'attempts',
                'error_code',
                'error_message',
                'model',
                'run_id',
                'request',
            ],
        )
        embed = load_job(resolved(minimal_job(task='embed')))
        self.assertIn('embedding', output_names(embed))


class SqlTextTests(unittest.TestCase):
    def test_quote_doubles_backticks(self):
        self.assertEqual(quote('a`b.c'), '`a``b.c`')

    def test_sql_string_escapes(self):
        self.assertEqual(sql_string('it\'s \\ "x"'), "'it\\'s \\\\ \"x\"'")

    def test_worker_command_is_constant(self):
        saved = os.environ.pop('SPARKINFER_WORKER_CMD', None)
        try:
            self.assertEqual(worker_command(), '"${SPARKINFER_NODE:-node}" --max-semi-space-size=16 sparkinfer-worker.mjs job.json')
            with self.assertRaises(ValueError):
                worker_command('w.mjs; rm -rf /', 'job.json')
            # Count mode (sparkinfer estimate) appends a constant word, nothing else.
            self.assertEqual(
                worker_command(mode='count'), '"${SPARKINFER_NODE:-node}" --max-semi-space-size=16 sparkinfer-worker.mjs job.json count'
            )
            with self.assertRaises(ValueError):
                worker_command(mode='count; rm -rf /')
        finally:
            if saved is not None:
                os.environ['SPARKINFER_WORKER_CMD'] = saved

    def test_transform_sql_delimited_both_sides(self):
        sql = transform_sql('v', 'cmd')
        self.assertEqual(sql.count("ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'"), 2)
        self.assertIn("USING 'cmd' AS (line STRING)", sql)


class PartitionTests(unittest.TestCase):
    def test_auto_partitions(self):
        self.assertEqual(auto_partitions(1_000_000, 8), 500)  # ~2000 rows per task
        self.assertEqual(auto_partitions(1000, 8), 16)  # 2 per slot
        self.assertEqual(auto_partitions(5, 8), 5)  # never more tasks than rows
        self.assertEqual(auto_partitions(0, 8), 1)

    def test_resume_partitions_keep_the_rows_per_task(self):
        self.assertEqual(resume_partitions(40, 100_000, 100_000, 2), 40)  # a first run: the job's number
        self.assertEqual(resume_partitions(40, 30_000, 100_000, 2), 12)  # 2,500 rows per task, as chosen
        self.assertEqual(resume_partitions(40, 500, 100_000, 2), 4)  # at least 2 per task slot
        self.assertEqual(resume_partitions(3, 10, 100_000, 8), 3)  # never more than the job's number
        self.assertEqual(resume_partitions(40, 1, 100_000, 2), 1)  # nor than the rows
        self.assertEqual(resume_partitions(40, 0, 100_000, 2), 1)


class MessageTests(unittest.TestCase):
    def test_worker_death(self):
        e = Exception(
            'An error occurred while calling o1.save.\n: org.apache.spark.SparkException: Job aborted.\n'
            'Caused by: org.apache.spark.SparkException: Subprocess exited with status 3. Error: '
            'engine outage after 600s\n.\n\tat org.apache.spark.X(X.scala:1)'
        )
        self.assertEqual(short_message(e), 'the worker exited with status 3: engine outage after 600s')

    def test_raise_error_message(self):
        e = Exception(
            ': org.apache.spark.SparkRuntimeException: [USER_RAISED_EXCEPTION] sparkinfer: the worker '
            'wrote a result line without a key SQLSTATE: P0001\n\tat x'
        )
        self.assertEqual(short_message(e), 'sparkinfer: the worker wrote a result line without a key')

    def test_plain_exception(self):
        e = Exception(': java.io.IOException: No space left on device\n\tat x')
        self.assertEqual(short_message(e), 'No space left on device')

    def test_object_store_messages(self):
        # The S3A exception texts the storage e2e test met (test/e2e/storage-s3.test.ts).
        denied = Exception(
            ': java.nio.file.AccessDeniedException: s3a://data/out/x: getFileStatus on s3a://data/out/x: '
            'software.amazon.awssdk.services.s3.model.S3Exception: null (Service: S3, Status Code: 403, '
            'Request ID: UX):null\n\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException(S3AUtils.java:1)'
        )
        self.assertTrue(short_message(denied).startswith('s3a://data/out/x: access refused (HTTP 403): check the credentials'))
        nobucket = Exception(
            ": org.apache.hadoop.fs.s3a.UnknownStoreException: `s3a://no-such-bucket/out/x': "
            'getFileStatus on s3a://no-such-bucket/out/x: NoSuchBucket\n\tat x'
        )
        self.assertTrue(short_message(nobucket).startswith('s3a://no-such-bucket/out/x: the bucket does not exist'))
        refused = Exception(
            ': org.apache.hadoop.net.ConnectTimeoutException: s3a://data/in/q.jsonl: getFileStatus on '
            's3a://data/in/q.jsonl: software.amazon.awssdk.core.exception.SdkClientException: Unable to '
            'execute HTTP request: Connect to 127.0.0.1:9 [/127.0.0.1] failed: Connection refused: '
            'Connection refused\n\tat x'
        )
        self.assertEqual(
            short_message(refused),
            's3a://data/in/q.jsonl: cannot reach the S3 endpoint at 127.0.0.1:9 '
            '(Connection refused): check storage.endpoint (fs.s3a.endpoint) and the network',
        )
        self.assertEqual(
            short_message(Exception(': java.io.IOException: s3a://b/k: Input/output error\n\tat x')),
            's3a://b/k: Input/output error',
            'other failures keep their own text',
        )

    def test_data_problem(self):
        self.assertTrue(is_data_problem(Exception('[MALFORMED_RECORD_IN_PARSING] x SQLSTATE: 22023')))
        self.assertFalse(is_data_problem(Exception('java.io.IOException: disk')))


class EngineWaitTests(unittest.TestCase):
    def test_waits_through_503_until_200(self):
        server = HealthServer([503, 503, 200])
        try:
            lines = []
            wait_for_engine(health_url(server.endpoint), 10_000, log=lines.append, poll_s=0.01)
            self.assertEqual(server.hits, 3)
        finally:
            server.close()

    def test_times_out_naming_the_endpoint_and_logs_every_5s(self):
        url = health_url(closed_port_endpoint())
        t = FakeClock()
        lines = []
        with self.assertRaises(RuntimeFailure) as cm:
            wait_for_engine(url, 12_000, log=lines.append, clock=t.clock, sleep=t.sleep)
        self.assertEqual(cm.exception.message, f'engine at {url} was not healthy within 12s (engine.startup_timeout): connection refused')
        self.assertEqual(
            lines,
            [
                f'waiting for engine at {url} (5s of 12s): connection refused',
                f'waiting for engine at {url} (10s of 12s): connection refused',
            ],
        )

    def test_generic_server_without_health_is_reachable(self):
        server = HealthServer([404])
        try:
            url = server.endpoint.replace('/v1', '/nohealth')
            wait_for_engine(url, 5000, log=lambda m: None, accept_any_status=True)
            with self.assertRaisesRegex(RuntimeFailure, 'HTTP 404'):
                wait_for_engine(url, 300, log=lambda m: None, poll_s=0.05)
        finally:
            server.close()

    def test_driver_reach(self):
        self.assertTrue(driver_can_reach('local[2]', 'http://127.0.0.1:8080/v1'))
        self.assertFalse(driver_can_reach('k8s://https://api:6443', 'http://127.0.0.1:8000/v1'))
        self.assertTrue(driver_can_reach('spark://m:7077', 'http://vllm.svc:8000/v1'))


if __name__ == '__main__':
    unittest.main()
