"""The driver end to end on a real local Spark (one shared session) with the FAKE worker."""

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from helpers import B53, BIG, HealthServer, make_job, nasty_rows, result_columns, spark_session, use_fake_worker, worker_rows, write_jsonl
from sparkinfer import run_job
from sparkinfer.errors import InputError, RuntimeFailure, SpecError


class DriverTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spark = spark_session()
        cls.engine = HealthServer()

    @classmethod
    def tearDownClass(cls):
        cls.engine.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sparkinfer-test-')
        self.worker_log = os.path.join(self.tmp, 'worker-log')
        os.makedirs(self.worker_log)
        use_fake_worker('echo', self.worker_log)

    def tearDown(self):
        use_fake_worker()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def job(self, rows, **kw):
        path = write_jsonl(os.path.join(self.tmp, 'in.jsonl'), rows)
        return make_job(self.tmp, path, self.engine.endpoint, **kw)

    def read_json(self, *parts):
        with open(os.path.join(*parts), encoding='utf-8') as f:
            return json.load(f)


class NastyInputTests(DriverTestCase):
    def test_every_row_once_with_exact_values_and_stable_keys(self):
        rows = nasty_rows()
        job = self.job(rows, include=['big', 'n', 'note'])
        summary = run_job(job, spark=self.spark)
        self.assertEqual((summary['rows_in'], summary['rows_ok'], summary['rows_failed']), (len(rows), len(rows), 0))
        # engine.prefix_order defaults to auto: a one-column prompt has no prefix key, so no plan
        self.assertEqual(
            self.read_json(job['run']['dir'], 'plan.json'),
            {
                'rows_total': len(rows),
                'partitions': 4,
                'prefix_plan': {'applied': False, 'reason': 'the prompt has fewer than two columns: no prefix key'},
            },
        )
        self.assertEqual(self.read_json(job['run']['dir'], 'driver_summary.json'), summary)
        # inference ran once per row: the single action, one worker per partition
        self.assertEqual(worker_rows(self.worker_log), (4, len(rows)))
        with open(os.path.join(job['run']['dir'], 'logs', 'driver.log'), encoding='utf-8') as f:
            plan = f.read().split('inference plan:')[1]
        above = plan[: plan.index('ScriptTransformation')]  # a tree string prints parents first
        self.assertNotIn('Exchange', above)  # no shuffle after the TRANSFORM
        self.assertIn('Exchange RoundRobinPartitioning(4)', plan[plan.index('ScriptTransformation') :])

        out = self.spark.read.parquet(job['output']['path'])
        self.assertEqual(
            out.columns,
            [
                '_key',
                'big',
                'n',
                'note',
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
            ],
        )
        got = out.collect()
        keys = [r['_key'] for r in got]
        self.assertEqual(len(set(keys)), len(rows))
        # the referenced column crossed the pipe exactly (the fake echoes it), carried ones came back exactly
        expected = collections.Counter(
            (json.dumps({'question': r['question']}, sort_keys=True, ensure_ascii=False), r['n'], r['big'], r['note']) for r in rows
        )
        actual = collections.Counter((r['text'], r['n'], None if r['big'] is None else int(r['big']), r['note']) for r in got)
        self.assertEqual(actual, expected)
        self.assertIn(B53, [r['n'] for r in got])
        self.assertIn(BIG, [int(r['big']) for r in got if r['big'] is not None])
        # identical rows: one hash, numbered #1 and #2
        same = sorted(r['_key'] for r in got if r['note'] == 'same')
        self.assertEqual([k.split('#')[1] for k in same], ['1', '2'])
        self.assertEqual(same[0].split('#')[0], same[1].split('#')[0])

        # a second run over the same rows, split differently, derives the same keys
        job2 = self.job(list(reversed(rows)), include=['note'])
        job2['output']['path'] = os.path.join(self.tmp, 'out2')
        job2['run']['dir'] = os.path.join(self.tmp, 'runs', 'r2')
        job2['spark']['partitions'] = 3
        run_job(job2, spark=self.spark)
        keys2 = [r['_key'] for r in self.spark.read.parquet(job2['output']['path']).select('_key').collect()]
        self.assertEqual(sorted(keys2), sorted(keys))


class TypedKeyTests(DriverTestCase):
    def test_user_key_and_carried_types_survive(self):
        self.spark.sql("""
            SELECT * FROM VALUES
              (9007199254740993L, 'a', timestamp'2024-01-02 03:04:05.123456', 12345678901234567890.0123456789BD,
               named_struct('x', 1, 'tags', array('p', 'q')), map('k', 2), date'2024-02-29', 0.1D, X'00FF'),
              (-9223372036854775808L, 'b', NULL, NULL, NULL, NULL, NULL, NULL, NULL)
            AS t(id, question, ts, amount, meta, m, d, f, bin)
        """).createOrReplaceTempView('typed_input')
        include = ['ts', 'amount', 'meta', 'm', 'd', 'f', 'bin']
        job = self.job([], key='id', include=include, input={'format': 'sql', 'query': 'SELECT * FROM typed_input'})
        summary = run_job(job, spark=self.spark)
        self.assertEqual(summary['rows_ok'], 2)
        src = self.spark.table('typed_input')
        out = self.spark.read.parquet(job['output']['path'])
        for name in ['id'] + include:
            self.assertEqual(out.schema[name].dataType.simpleString(), src.schema[name].dataType.simpleString(), name)
        self.assertEqual(sorted(out.select('id', *include).collect()), sorted(src.select('id', *include).collect()))


class FormatTests(DriverTestCase):
    ROWS = [{'id': i, 'question': f'q{i}\n"x"', 'lang': 'en' if i % 2 else 'fr', 'fail': i == 3} for i in range(6)]

    def run_format(self, fmt, **out):
        kw = {'out_format': fmt, 'key': 'id', 'include': ['lang'], 'columns': ('question', 'fail')}
        if fmt == 'table':
            kw['output'] = {'table': 'answers_' + str(int(time.time() * 1000)), **out}
        else:
            kw['output'] = out
        job = self.job(self.ROWS, **kw)
        summary = run_job(job, spark=self.spark)
        self.assertEqual((summary['rows_in'], summary['rows_ok'], summary['rows_failed']), (6, 5, 1), fmt)
        self.assertEqual(summary['errors_by_code'], {'E_HTTP_4XX': 1})
        failed_dir = summary['failed_rows_path']
        lines = [
            json.loads(line)
            for f in os.listdir(failed_dir)
            if f.endswith('.json')
            for line in open(os.path.join(failed_dir, f), encoding='utf-8')
        ]
        self.assertEqual(lines, [{'key': 3, 'error_code': 'E_HTTP_4XX', 'error_message': 'rejected: bad row'}])
        return job, summary

    def test_json_with_partition_by(self):
        job, _ = self.run_format('json', partition_by=['lang'])
        listed = sorted(f for f in os.listdir(job['output']['path']) if not f.startswith('.'))
        self.assertEqual(listed, ['_SUCCESS', 'lang=en', 'lang=fr'])

    def test_csv_roundtrips_quotes_and_newlines(self):
        job, summary = self.run_format('csv')
        self.assertEqual(summary['prompt_tokens'], sum(len(json.dumps({'fail': r['fail'], 'question': r['question']})) for r in self.ROWS))

    def test_orc_and_table(self):
        self.run_format('orc')
        job, _ = self.run_format('table')
        self.assertEqual(self.spark.table(job['output']['table']).count(), 6)

    def test_append_counts_only_this_run(self):
        job, _ = self.run_format('parquet', mode='append')
        job['run']['id'] = 'test-job-20250101000001-beef'
        job['run']['dir'] = os.path.join(self.tmp, 'runs', 'r2')
        summary = run_job(job, spark=self.spark)
        self.assertEqual(summary['rows_in'], 6)
        self.assertEqual(self.spark.read.parquet(job['output']['path']).count(), 12)

    def test_limit_files_request_and_embedding(self):
        use_fake_worker('embed', self.worker_log)
        job = self.job(self.ROWS, key='id', output={'include_request': True, 'files': 1})
        job['task'] = 'embed'
        job['run']['result_columns'] = result_columns('embed')
        job['run']['limit'] = 4
        summary = run_job(job, spark=self.spark)
        self.assertEqual(summary['rows_in'], 4)
        out = self.spark.read.parquet(job['output']['path'])
        self.assertEqual(len([f for f in os.listdir(job['output']['path']) if f.endswith('.parquet')]), 1)
        self.assertEqual(out.columns[-2:], ['run_id', 'request'])
        self.assertEqual(out.schema['embedding'].dataType.simpleString(), 'array<float>')
        self.assertEqual({tuple(r['embedding']) for r in out.collect()}, {(0.5, -1.25)})


class FailFastTests(DriverTestCase):
    """Input and spec errors: exit 2 material, raised before any engine wait or inference."""

    def assert_fails(self, job, cls, pattern):
        server = HealthServer([503])  # an engine that never becomes healthy: it must not be waited for
        job['run']['endpoint'] = server.endpoint
        job['engine']['startup_timeout'] = 600_000
        start = time.monotonic()
        try:
            with self.assertRaisesRegex(cls, pattern):
                run_job(job, spark=self.spark)
        finally:
            server.close()
        self.assertLess(time.monotonic() - start, 30)
        self.assertEqual(server.hits, 0)
        self.assertEqual(worker_rows(self.worker_log), (0, 0))

    def test_missing_column(self):
        job = self.job([{'id': 1, 'question': 'q'}], columns=('questoin',))
        self.assert_fails(
            job,
            InputError,
            r'^input has no column "questoin" \(referenced by the prompt\); '
            r'available columns: id, question \(did you mean "question"\?\)$',
        )

    def test_missing_include_and_key(self):
        self.assert_fails(
            self.job([{'id': 1, 'question': 'q'}], include=['lang']), InputError, r'no column "lang" \(referenced by output.include\)'
        )
        self.assert_fails(
            self.job([{'id': 1, 'question': 'q'}], key='ID'), InputError, r'no column "ID" \(referenced by input.key\).*did you mean "id"'
        )

    def test_duplicate_and_null_keys(self):
        rows = [{'id': i, 'question': 'q'} for i in (1, 1, 1, 2, 2, 3)]
        self.assert_fails(
            self.job(rows, key='id'),
            InputError,
            r'input.key "id" is not unique: "1" \(3 rows\), "2" \(2 rows\); a key must identify one row',
        )
        rows = [{'id': 1, 'question': 'q'}, {'id': None, 'question': 'q'}, {'question': 'q'}]
        self.assert_fails(self.job(rows, key='id'), InputError, r'input.key "id" is null in 2 rows')

    def test_output_exists(self):
        job = self.job([{'question': 'q'}])
        os.makedirs(job['output']['path'])
        self.assert_fails(job, InputError, r'output .*/out exists; set output.mode to overwrite or append')

    def test_collisions_and_formats(self):
        self.assert_fails(
            self.job([{'question': 'q', 'text': 't'}], include=['text']), InputError, r'output.include "text" collides with a result column'
        )
        self.assert_fails(self.job([{'question': 'q', '_key': 'k'}]), InputError, r'input has a column "_key"')
        self.assert_fails(
            self.job([{'question': 'q', 'tags': ['a']}], include=['tags'], out_format='csv'),
            InputError,
            r'output.format csv cannot hold column "tags" \(array<string>\)',
        )
        self.assert_fails(
            self.job([{'question': 'q'}], output={'partition_by': ['nope']}),
            SpecError,
            r'output.partition_by "nope" is not an output column',
        )

    def test_malformed_and_missing_input(self):
        path = write_jsonl(os.path.join(self.tmp, 'bad.jsonl'), ['{"question": "ok"}', '{"question": '])
        job = make_job(self.tmp, path, self.engine.endpoint)
        self.assert_fails(job, InputError, r'cannot read input .*bad.jsonl \(json\): MALFORMED_RECORD_IN_PARSING')
        job = make_job(self.tmp, os.path.join(self.tmp, 'nope.jsonl'), self.engine.endpoint)
        self.assert_fails(job, InputError, r'cannot read input .*nope.jsonl \(json\): PATH_NOT_FOUND')


class RuntimeFailureTests(DriverTestCase):
    ROWS = [{'id': i, 'question': f'q{i}', 'fail': i < 3} for i in range(10)]

    def fails(self, mode, pattern, **kw):
        use_fake_worker(mode, self.worker_log)
        job = self.job(self.ROWS, key='id', columns=('question', 'fail'), **kw)
        job['output']['path'] += '-' + mode
        job['run']['dir'] += '-' + mode
        with self.assertRaisesRegex(RuntimeFailure, pattern):
            run_job(job, spark=self.spark)
        return job

    def test_engine_never_healthy(self):
        server = HealthServer([503])
        try:
            job = self.job(self.ROWS, key='id')
            job['run']['endpoint'] = server.endpoint
            job['engine']['startup_timeout'] = 1500
            start = time.monotonic()
            with self.assertRaisesRegex(
                RuntimeFailure,
                rf'engine at {server.endpoint[:-3]}/health was not healthy '
                r'within 1.5s \(engine.startup_timeout\): HTTP 503',
            ):
                run_job(job, spark=self.spark)
            self.assertGreaterEqual(time.monotonic() - start, 1.5)
            self.assertEqual(worker_rows(self.worker_log), (0, 0))
        finally:
            server.close()

    def test_bad_worker_output_fails_the_job(self):
        self.fails('garbage', r'inference failed: MALFORMED_RECORD_IN_PARSING')
        self.fails('nokey', r'inference failed: sparkinfer: the worker wrote a result line without a key$')
        self.fails('swapc', r'sparkinfer: the worker echoed carried columns of another row$')
        self.fails('exit', r'inference failed: the worker exited with status 3: fake worker: engine outage$')

    def test_lost_rows_are_caught(self):
        job = self.fails('drop', r'the output has 6 rows with 6 distinct keys for 10 input rows')
        self.assertEqual(self.read_json(job['run']['dir'], 'driver_summary.json')['status'], 'failed')

    def test_failure_budget(self):
        job = self.fails(
            'echo',
            r'3 of 10 rows failed, more than limits.max_failed_fraction \(0.2\)',
            limits={'max_failed_fraction': 0.2, 'min_rows_for_budget': 5},
        )
        summary = self.read_json(job['run']['dir'], 'driver_summary.json')
        self.assertEqual((summary['status'], summary['rows_failed'], summary['errors_by_code']), ('failed', 3, {'E_HTTP_4XX': 3}))


class RetriedDriverTests(DriverTestCase):
    """A driver started again on its own run directory, as the spark-operator does when it retries an
    application: the same job.json (read from a ConfigMap, so not in the run directory), the same run id."""

    def test_resumes_from_its_earlier_attempt(self):
        import fake_worker

        rows = [{'id': i, 'question': f'q{i}'} for i in range(1, 11)]
        job = self.job(rows, key='id', include=('question',))
        run = job['run']
        run['fresh'] = False
        run['dir'] = run_dir = os.path.join(run['root'], run['id'])  # <root>/<run id>, as rendered
        # The killed first attempt left 4 finished rows (row 4 twice: a retried task), a torn last line
        # and its workers' stats; no job.json (it was in the ConfigMap).
        os.makedirs(os.path.join(run_dir, 'ledger'))
        done = [fake_worker.result({'_k': str(i), '_c': '{}', 'question': f'q{i}'}, 'echo') for i in (1, 2, 3, 4, 4)]
        with open(os.path.join(run_dir, 'ledger', 'exec-1-1.jsonl'), 'w', encoding='utf-8') as f:
            f.write(''.join(json.dumps(r) + '\n' for r in done) + '{"k": "5", "c"')
        os.makedirs(os.path.join(run_dir, 'stats'))
        with open(os.path.join(run_dir, 'stats', 'exec-1-1.json'), 'w', encoding='utf-8') as f:
            json.dump({'worker': 'exec-1-1', 'done': False, 'rows_done': 5, 'rows_failed': 0}, f)

        summary = run_job(job, spark=self.spark)
        self.assertEqual(
            (summary['rows_from_ledger'], summary['rows_inferred'], summary['rows_out'], summary['distinct_keys_out']), (4, 6, 10, 10)
        )
        self.assertEqual(worker_rows(self.worker_log)[1], 6, 'only the rows the first attempt did not finish are inferred')
        out = {r['id']: r['question'] for r in self.spark.read.parquet(job['output']['path']).collect()}
        self.assertEqual(out, {i: f'q{i}' for i in range(1, 11)})
        attempt = os.path.join(run['root'], f'{run["id"]}.attempt-1')
        self.assertEqual(os.listdir(os.path.join(attempt, 'ledger')), ['exec-1-1.jsonl'])
        self.assertEqual(os.listdir(os.path.join(attempt, 'stats')), ['exec-1-1.json'])
        self.assertFalse(os.path.exists(os.path.join(run_dir, 'stats', 'exec-1-1.json')), 'the dead attempt is not summed again')
        self.assertEqual(self.read_json(attempt, 'job.json')['run']['fingerprint'], run['fingerprint'])
        self.assertEqual(self.read_json(run_dir, 'job.json')['run']['id'], run['id'], 'the run directory keeps its job.json')
        self.assertTrue(os.path.isfile(os.path.join(attempt, 'CONSUMED')), 'committed: never resumed again')


if __name__ == '__main__':
    unittest.main()


class InferApiTests(DriverTestCase):
    def test_infer_is_lazy_and_runs_the_shipped_worker_with_the_constant_command(self):
        from helpers import FAKE_WORKER_JS, NODE
        from pyspark import SparkFiles
        from sparkinfer import infer

        use_fake_worker(None)  # the real USING string: "${SPARKINFER_NODE:-node}" <worker> <job>
        df = self.spark.createDataFrame([(B53 + i, f'q{i}\t"{i}"') for i in range(7)], 'id long, question string')
        # A dict in the job-file form: the bundled CLI validates it and resolves its run block (the
        # run id, the columns the prompt reads, the result columns); infer() adds the run directory.
        job = {
            'name': 'test-job',
            'input': {'format': 'json', 'path': '/unused', 'key': 'id'},
            'prompt': {'user': '{{ question }} ({{ id }})'},
            'model': 'fake-model',
            'sampling': {'max_tokens': 16},
            'engine': {'endpoint': self.engine.endpoint, 'startup_timeout': '20s'},
            'output': {'path': os.path.join(self.tmp, 'out'), 'include': ['question']},
        }
        out = infer(df, job, worker_path=FAKE_WORKER_JS, run_dir=os.path.join(self.tmp, 'run'), partitions=3)
        self.assertEqual(out.columns[:3], ['id', 'question', 'text'])
        shipped = os.listdir(SparkFiles.getRootDirectory())
        self.assertTrue(any(f.startswith('sparkinfer-job-') and f.endswith('.json') for f in shipped), shipped)
        path = os.path.join(self.tmp, 'out')
        out.write.parquet(path)
        got = sorted(self.spark.read.parquet(path).collect())
        self.assertEqual([r['id'] for r in got], [B53 + i for i in range(7)])  # ... the carried key is exact
        for i, r in enumerate(got):
            sent = json.loads(r['text'])  # what the JS worker saw: JS rounds integers above 2^53 ...
            self.assertEqual(sent['question'], f'q{i}\t"{i}"')
            self.assertLessEqual(abs(sent['id'] - (B53 + i)), 2)
            self.assertEqual(r['question'], f'q{i}\t"{i}"')
        version = subprocess.run([NODE, '--version'], capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual({r['model'] for r in got}, {f'fake-model@{version}'})  # ran on $SPARKINFER_NODE

    def test_infer_checks_keys_eagerly(self):
        df = self.spark.createDataFrame([(1, 'a'), (1, 'b')], 'id long, question string')
        job = make_job(self.tmp, '/unused', self.engine.endpoint, key='id')
        from sparkinfer import infer

        with self.assertRaisesRegex(InputError, r'input.key "id" is not unique: "1" \(2 rows\)'):
            infer(df, job, worker_path=__file__)

    def test_infer_removes_the_temporary_run_dir_it_made(self):
        """Without a run dir, infer() makes one in the temporary directory and removes it: at once
        when the call fails, and when the Python process exits after the inference ran."""
        from helpers import FAKE_WORKER_JS, REPO
        from sparkinfer import infer

        tmp = os.path.join(self.tmp, 'tmpdir')
        os.makedirs(tmp)
        job = make_job(self.tmp, '/unused', self.engine.endpoint, key='id')
        del job['run']['dir']
        job_path = os.path.join(self.tmp, 'job.json')
        with open(job_path, 'w', encoding='utf-8') as f:
            json.dump(job, f)
        saved, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            with self.assertRaisesRegex(InputError, 'input.key "id" is not unique'):
                infer(self.spark.createDataFrame([(1, 'a'), (1, 'b')], 'id long, question string'), job, worker_path=FAKE_WORKER_JS)
        finally:
            tempfile.tempdir = saved
        self.assertEqual(os.listdir(tmp), [], 'the failed call removed its run folder')

        script = '\n'.join(
            [
                'import json, sys',
                'from pyspark.sql import SparkSession',
                'from sparkinfer import infer',
                "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()",
                "df = spark.createDataFrame([(1, 'q')], 'id long, question string')",
                'with open(sys.argv[1], encoding="utf-8") as f:',
                '    job = json.load(f)',
                'print(len(infer(df, job, worker_path=sys.argv[2]).collect()))',
            ]
        )
        env = {k: v for k, v in os.environ.items() if k != 'SPARKINFER_WORKER_CMD'}  # the real USING command
        env.update(TMPDIR=tmp, PYTHONPATH=os.path.join(REPO, 'python'))
        r = subprocess.run(
            [sys.executable, '-c', script, job_path, FAKE_WORKER_JS], cwd=self.tmp, env=env, capture_output=True, text=True, timeout=300
        )
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual(r.stdout.split(), ['1'])
        self.assertEqual([n for n in os.listdir(tmp) if n.startswith('sparkinfer-')], [], 'the run folder went with the process')

    def test_infer_takes_a_job_without_input_and_output(self):
        """infer() reads neither the job's input nor its output: both may be left out, or hold only
        `input.key` and `output.include`; the bundled CLI checks the rest as usual."""
        from helpers import FAKE_WORKER_JS
        from sparkinfer import infer

        df = self.spark.createDataFrame([(i, f'q{i}') for i in range(5)], 'id long, question string')
        bare = {
            'name': 'test-job',
            'prompt': {'user': '{{ question }}'},
            'model': 'fake-model',
            'engine': {'endpoint': self.engine.endpoint},
        }
        got = infer(df, bare, worker_path=FAKE_WORKER_JS, run_dir=os.path.join(self.tmp, 'r1'), partitions=2).collect()
        self.assertEqual(sorted(json.loads(r['text'])['question'] for r in got), [f'q{i}' for i in range(5)])
        self.assertIn('_key', got[0].asDict(), 'no input.key: the derived key')
        partial = dict(bare, input={'key': 'id'}, output={'include': ['question']})
        out = infer(df, partial, worker_path=FAKE_WORKER_JS, run_dir=os.path.join(self.tmp, 'r2'), partitions=2)
        self.assertEqual(out.columns[:3], ['id', 'question', 'text'])
        self.assertEqual(sorted(r['id'] for r in out.collect()), list(range(5)))
        with self.assertRaisesRegex(SpecError, r'^output.include: expected a list'):
            infer(df, dict(bare, output={'include': 'question'}))

    def test_infer_validates_a_dict_with_the_cli_rules(self):
        from sparkinfer import infer

        job = {
            'name': 'test-job',
            'input': {'format': 'json', 'path': '/unused'},
            'prompt': {'user': '{{ question }}'},
            'model': 'm',
            'engine': {'endpoint': self.engine.endpoint, 'concurrency': 'fast'},
            'output': {'path': '/o'},
        }
        with self.assertRaisesRegex(
            SpecError, r'^engine.concurrency: expected a whole number from 1 and up or "auto", got "fast" \(string\)$'
        ):
            infer(None, job)


class SqlRecipeTests(DriverTestCase):
    def test_the_documented_recipe_runs_as_written(self):
        import re

        from helpers import FAKE_WORKER_JS, REPO

        with open(os.path.join(REPO, 'docs', 'sql-recipe.md'), encoding='utf-8') as f:
            sql = re.search(r'```sql\n(.*?)```', f.read(), re.S).group(1)
        job_path = os.path.join(self.tmp, 'job.json')
        with open(job_path, 'w', encoding='utf-8') as f:
            json.dump(make_job(self.tmp, '/unused', self.engine.endpoint), f)
        worker = os.path.join(self.tmp, 'sparkinfer-worker.mjs')
        shutil.copy(FAKE_WORKER_JS, worker)
        sql = sql.replace('/path/to/run/job.json', job_path).replace('/path/to/sparkinfer-worker.mjs', worker)
        questions = [(B53 + i, f'q{i} \u2028 \t "x" \\ {"😀" * i}', 'en' if i % 2 else None) for i in range(9)]
        self.spark.createDataFrame(questions, 'id long, question string, lang string').createOrReplaceTempView('questions')
        self.spark.sql('DROP TABLE IF EXISTS answers')
        for statement in [s for s in sql.split(';\n') if s.strip()]:
            self.spark.sql(statement)
        got = sorted(self.spark.table('answers').collect())
        self.assertEqual([(r['id'], r['lang']) for r in got], [(i, lang) for i, _, lang in questions])
        self.assertEqual([json.loads(r['text'])['question'] for r in got], [q for _, q, _ in questions])
        self.assertEqual({r['error_code'] for r in got}, {None})


class ProgressTaskTests(DriverTestCase):
    """The progress lines carry Spark's task counts (on Kubernetes `sparkinfer logs` and `submit` read
    only these lines; locally the CLI asks Spark's REST API)."""

    def test_task_counts_of_the_running_job(self):
        import contextlib
        import io
        import threading

        from sparkinfer import watch

        sc = self.spark.sparkContext
        self.assertEqual(watch.task_counts(sc), {'tasks_done': 0, 'tasks_active': 0, 'tasks_total': 0}, 'no job runs')
        release = os.path.join(self.tmp, 'release')

        def hold(_):
            # Each task waits for the test to let it go (bounded: 60 s).
            for _ in range(600):
                if os.path.exists(release):
                    return 1
                time.sleep(0.1)
            return 0

        job = threading.Thread(target=lambda: sc.parallelize(range(5), 5).map(hold).collect())
        job.start()
        try:
            seen = None
            for _ in range(300):  # at most 30 s for Spark to start the job's tasks
                c = watch.task_counts(sc)
                if c['tasks_active'] == 2:  # local[2]: two slots
                    seen = c
                    break
                time.sleep(0.1)
            self.assertEqual(seen, {'tasks_done': 0, 'tasks_active': 2, 'tasks_total': 5})
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                watch.emit_progress(self.tmp, 1.0, sc)
            line = err.getvalue()
            self.assertTrue(line.startswith(watch.PROGRESS_PREFIX), line)
            p = json.loads(line[len(watch.PROGRESS_PREFIX) :])
            self.assertEqual((p['tasks_total'], p['tasks_active'], p['rows_done']), (5, 2, 0))
        finally:
            open(release, 'w').close()
            job.join(60)
        self.assertEqual(watch.task_counts(sc)['tasks_total'], 0, 'finished jobs are not counted')
