"""The driver as the CLI runs it: spark-submit with --files job.json,sparkinfer-worker.mjs, exit codes
and run-directory files. The worker is the FAKE JavaScript worker, started by the production
USING command on $SPARKINFER_NODE."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from helpers import FAKE_WORKER_JS, NODE, REPO, HealthServer, make_job, nasty_rows, write_jsonl

SPARK_SUBMIT = os.path.join(os.path.dirname(sys.executable), 'spark-submit')
DRIVER = os.path.join(REPO, 'python', 'sparkinfer', 'driver.py')


class SubmitTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sparkinfer-submit-')
        self.engine = HealthServer()
        os.makedirs(os.path.join(self.tmp, 'dist'))
        self.worker = os.path.join(self.tmp, 'dist', 'sparkinfer-worker.mjs')
        shutil.copy(FAKE_WORKER_JS, self.worker)

    def tearDown(self):
        self.engine.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def submit(self, job, ship_from_driver=False):
        run_dir = job['run']['dir']
        os.makedirs(run_dir, exist_ok=True)
        job_path = os.path.join(run_dir, 'job.json')
        with open(job_path, 'w', encoding='utf-8') as f:
            json.dump(job, f)
        env = {k: v for k, v in os.environ.items() if k != 'SPARKINFER_WORKER_CMD'}
        env.update(SPARKINFER_NODE=NODE, PYSPARK_PYTHON=sys.executable)
        # Kubernetes (src/k8s/render.ts): no --files; the driver ships both itself (--worker).
        files = [] if ship_from_driver else ['--files', f'{job_path},{self.worker}']
        cmd = [
            SPARK_SUBMIT,
            '--master',
            'local[2]',
            *files,
            '--conf',
            'spark.ui.enabled=false',
            '--conf',
            'spark.ui.showConsoleProgress=false',
            DRIVER,
            '--job',
            job_path,
            *(['--worker', self.worker] if ship_from_driver else []),
        ]
        return subprocess.run(cmd, cwd=self.tmp, env=env, capture_output=True, text=True, timeout=300)

    def test_hive_table_output_with_the_production_command(self):
        rows = nasty_rows()
        inp = write_jsonl(os.path.join(self.tmp, 'in.jsonl'), rows)
        warehouse = os.path.join(self.tmp, 'warehouse')
        job = make_job(
            self.tmp,
            inp,
            self.engine.endpoint,
            include=['note'],
            out_format='table',
            output={'table': 'answers'},
            spark={
                'hive': True,
                'conf': {
                    'spark.sql.warehouse.dir': warehouse,
                    'spark.hadoop.javax.jdo.option.ConnectionURL': f'jdbc:derby:;databaseName={self.tmp}/metastore_db;create=true',
                },
            },
        )
        res = self.submit(job)
        run_dir = job['run']['dir']
        self.assertEqual(res.returncode, 0, res.stderr[-3000:])
        with open(os.path.join(run_dir, 'driver_summary.json')) as f:
            summary = json.load(f)
        self.assertEqual(
            (summary['status'], summary['rows_in'], summary['rows_ok'], summary['distinct_keys_out']),
            ('succeeded', len(rows), len(rows), len(rows)),
        )
        self.assertEqual(summary['output'], 'answers')
        with open(os.path.join(run_dir, 'plan.json')) as f:
            self.assertEqual(json.load(f)['rows_total'], len(rows))
        self.assertFalse(os.path.exists(os.path.join(run_dir, 'driver_error.json')))
        self.assertTrue(any(f.endswith('.parquet') for f in os.listdir(os.path.join(warehouse, 'answers'))))
        with open(os.path.join(run_dir, 'logs', 'driver.log')) as f:
            log = f.read()
        self.assertIn('prepared 46 rows', log)
        self.assertIn('HiveScriptTransformation', log)  # Hive's operator, with our explicit ROW FORMAT

    def test_driver_ships_job_and_worker_itself_with_worker_flag(self):
        # As on Kubernetes: spark-submit gets no --files; the rows still reach the worker.
        rows = [{'id': i, 'question': f'q{i}'} for i in range(1, 13)]
        inp = write_jsonl(os.path.join(self.tmp, 'in.jsonl'), rows)
        job = make_job(self.tmp, inp, self.engine.endpoint)
        res = self.submit(job, ship_from_driver=True)
        self.assertEqual(res.returncode, 0, res.stderr[-3000:])
        with open(os.path.join(job['run']['dir'], 'driver_summary.json')) as f:
            summary = json.load(f)
        self.assertEqual(
            (summary['status'], summary['rows_in'], summary['rows_ok'], summary['distinct_keys_out']), ('succeeded', 12, 12, 12)
        )
        # A worker under another name could not be found by the USING command: refused up front.
        other = os.path.join(self.tmp, 'dist', 'worker.mjs')
        shutil.copy(self.worker, other)
        self.worker = other
        res = self.submit(make_job(self.tmp, inp, self.engine.endpoint), ship_from_driver=True)
        self.assertEqual(res.returncode, 2, res.stderr[-3000:])
        self.assertIn('it must be named sparkinfer-worker.mjs', res.stdout + res.stderr)

    def test_missing_column_exits_2_without_waiting_for_the_engine(self):
        never = HealthServer([503])
        try:
            inp = write_jsonl(os.path.join(self.tmp, 'in.jsonl'), [{'id': 1, 'question': 'q'}])
            job = make_job(self.tmp, inp, never.endpoint, columns=('questoin',))
            job['engine']['startup_timeout'] = 600_000
            res = self.submit(job)
            self.assertEqual(res.returncode, 2, res.stderr[-3000:])
            with open(os.path.join(job['run']['dir'], 'driver_error.json')) as f:
                err = json.load(f)
            self.assertEqual(
                err,
                {
                    'exit_code': 2,
                    'code': 'E_INPUT',
                    'message': 'input has no column "questoin" (referenced by the prompt); available columns: '
                    'id, question (did you mean "question"?)',
                },
            )
            # spark-submit merges the Python driver's stderr into its own stdout
            self.assertIn('sparkinfer: input has no column "questoin"', res.stdout + res.stderr)
            self.assertEqual(never.hits, 0)
        finally:
            never.close()


if __name__ == '__main__':
    unittest.main()
