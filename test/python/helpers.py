"""Shared pieces for the driver tests: one small Spark session, a /health server, jobs, nasty rows."""

import atexit
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, 'python'))

FAKE_WORKER = os.path.join(HERE, 'fake_worker.py')
FAKE_WORKER_JS = os.path.join(HERE, 'fake_worker.mjs')
NODE = os.path.realpath(os.path.join(REPO, 'node_modules', '.bin', 'node'))
# Executors inherit the environment of the JVM, fixed when the session starts.
os.environ['SPARKINFER_NODE'] = NODE


def use_fake_worker(mode='echo', log_dir=None):
    """Points the driver's TRANSFORM at the fake worker (read by the driver each run).
    mode None: the production command (node + the shipped worker and job)."""
    if mode is None:
        os.environ.pop('SPARKINFER_WORKER_CMD', None)
        return
    cmd = f'{sys.executable} {FAKE_WORKER} {mode}'
    if log_dir:
        cmd += f' {log_dir}'
    os.environ['SPARKINFER_WORKER_CMD'] = cmd


def worker_rows(log_dir):
    """(processes, rows) the fake worker saw: proves how often inference ran."""
    names = os.listdir(log_dir)
    return len(names), sum(int(open(os.path.join(log_dir, n)).read()) for n in names)


use_fake_worker()

_spark = None


def spark_session():
    """One local[2] session for all test cases in the process (JVM start is the slow part)."""
    global _spark
    if _spark is None:
        from pyspark.sql import SparkSession

        warehouse = tempfile.mkdtemp(prefix='sparkinfer-wh-')
        atexit.register(shutil.rmtree, warehouse, True)
        _spark = (
            SparkSession.builder.master('local[2]')
            .appName('sparkinfer-driver-tests')
            .config('spark.ui.enabled', 'false')
            .config('spark.sql.shuffle.partitions', '4')
            .config('spark.sql.session.timeZone', 'UTC')
            .config('spark.sql.warehouse.dir', warehouse)
            .getOrCreate()
        )
        _spark.sparkContext.setLogLevel('ERROR')
    return _spark


class HealthServer:
    """Answers GET /health with the next status from `statuses` (the last one repeats)."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                status = outer.statuses[min(outer.hits, len(outer.statuses)) - 1]
                self.send_response(status if self.path == '/health' else 404)
                self.send_header('Content-Length', '2')
                self.end_headers()
                self.wfile.write(b'{}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f'http://127.0.0.1:{self.server.server_address[1]}/v1'

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port_endpoint():
    """An endpoint nothing listens on (bound then closed)."""
    import socket

    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return f'http://127.0.0.1:{port}/v1'


_RESOLVED = {}


def minimal_job(**over):
    """The smallest job file, in the job-file form; `over` replaces whole sections."""
    job = {
        'name': 'j',
        'model': 'm',
        'prompt': {'user': '{{ q }}'},
        'input': {'format': 'json', 'path': '/in'},
        'engine': {'endpoint': 'http://127.0.0.1:1/v1'},
        'output': {'path': '/out'},
    }
    job.update(over)
    if job['input'].get('format') == 'openai-batch':
        del job['prompt']  # its lines carry their own request bodies
    return job


def resolved(job):
    """A job in the job-file form, resolved by the bundled CLI (`sparkinfer validate --json`, as
    `infer()` does): what TypeScript hands the driver. Cached per job; each call gets its own copy."""
    from sparkinfer.validate import resolve_job

    key = json.dumps(job, sort_keys=True)
    if key not in _RESOLVED:
        _RESOLVED[key] = resolve_job(job)
    return json.loads(json.dumps(_RESOLVED[key]))


def with_values(job, **sections):
    """The job with fields of its sections replaced (`output={'mode': 'x'}` keeps the rest of `output`)."""
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(job.get(name), dict):
            job[name].update(value)
        else:
            job[name] = value
    return job


def result_columns(task='generate', json_ddl='string'):
    """`run.result_columns` as the plan writes them (src/plan/output-columns.ts) for a job of this task
    and `json` type: make_job's jobs stand for CLI-resolved ones. test_formats.py checks this list
    against what the bundled CLI writes."""
    cols = [('text', 'string'), ('reasoning', 'string'), ('json', json_ddl)]
    if task == 'embed':
        cols.append(('embedding', 'array<float>'))
    cols += [('finish_reason', 'string'), ('prompt_tokens', 'int'), ('completion_tokens', 'int'), ('latency_ms', 'double')]
    cols += [('attempts', 'int'), ('error_code', 'string'), ('error_message', 'string'), ('model', 'string')]
    return [{'name': n, 'ddl': d} for n, d in cols]


def make_job(tmp, input_path, endpoint, *, columns=('question',), key=None, include=(), out_format='parquet', out_path=None, **sections):
    """A resolved job as the CLI writes it (job.json), for a text job; tests change what they need."""
    run_dir = os.path.join(tmp, 'runs', 'r1')
    job = {
        'name': 'test-job',
        'task': 'generate',
        'input': {'format': 'json', 'path': input_path, 'options': {}, **({'key': key} if key else {})},
        'prompt': {'api': 'chat', 'user': '{{ question }}'},
        'model': 'fake-model',
        'sampling': {'max_tokens': 16},
        'response': {'format': 'text'},
        'engine': {'endpoint': endpoint, 'startup_timeout': 20000, 'concurrency': 'auto'},
        'output': {
            'format': out_format,
            'path': out_path or os.path.join(tmp, 'out'),
            'mode': 'error',
            'include': list(include),
            'include_request': False,
            'partition_by': [],
            'files': 'auto',
        },
        'spark': {'master': 'local[2]', 'partitions': 'auto', 'conf': {}, 'hive': False},
        'resume': {},
        'limits': {'max_failed_fraction': 0.5, 'min_rows_for_budget': 1},
        'run': {
            'id': 'test-job-20250101000000-abcd',
            'dir': run_dir,
            'root': os.path.dirname(run_dir),
            'columns': list(columns),
            'result_columns': result_columns(),
            'endpoint': endpoint,
            'engine_kind': 'llama-server',
            'fresh': True,
            'retry_errors': False,
            'fingerprint': 'f',
        },
    }
    for name, value in sections.items():
        job[name].update(value)
    # The schema's other defaults, as the CLI writes them into every resolved job (durations in ms).
    from sparkinfer.contract import CONTRACT

    for dotted, default in CONTRACT['defaults'].items():
        section, _, field = dotted.rpartition('.')
        (job[section] if section else job).setdefault(field, json.loads(json.dumps(default)))
    return job


def write_jsonl(path, rows):
    with open(path, 'w', encoding='utf-8') as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + '\n')
    return path


BIG = 12345678901234567890  # above 2^63: Spark infers decimal(20,0)
B53 = 9007199254740993  # 2^53 + 1: a long that JavaScript would round


def nasty_rows():
    """Values that break naive pipes: control characters, unicode, quotes, nulls, big ints, 20 KB strings.
    Rows 0 and 1 are identical on purpose (no key: they must get #1 and #2)."""
    weird = 'tab\there, CR\rLF\n, CRLF\r\n, \u0001 SOH, \u0000 NUL, "quotes", \\back\\slash, emoji 😀🧪, 日本語, \u2028'
    rows = [
        {'question': weird, 'n': B53, 'big': BIG, 'note': 'same'},
        {'question': weird, 'n': B53, 'big': BIG, 'note': 'same'},
        {'question': None, 'n': None, 'big': None, 'note': None},
        {'question': 'x' * 20_000 + '\t\n', 'n': -1, 'big': 1, 'note': 'long'},
        {'question': '\\N', 'n': 0, 'big': 0, 'note': "\\N is Hive's null marker"},
        {'question': '', 'n': 2, 'big': 2, 'note': 'empty'},
    ]
    rows += [{'question': f'q{i}', 'n': i, 'big': BIG - i, 'note': f'row {i}'} for i in range(40)]
    return rows
