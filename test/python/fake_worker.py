"""FAKE worker for driver tests (not the real TypeScript worker): speaks the line protocol.

Started by Spark's TRANSFORM through SPARKINFER_WORKER_CMD: `python fake_worker.py MODE [LOG_DIR]`
(arguments, not environment: the executor JVM's environment is fixed when the session starts).
MODE picks a behaviour:
  echo (default): text = the referenced columns as canonical JSON, results in reverse order
  garbage: writes a line that is not JSON      nokey: writes a result without `k`
  drop: loses the first row of each partition  swapc: echoes the carried columns of another row
  exit: exits 3 with a short reason           embed: also returns an embedding
Rows with a truthy `fail` column get error_code E_HTTP_4XX. LOG_DIR receives one file per process with the number of rows it read: the tests count inference runs from it.
"""

import json
import os
import sys
import uuid


def result(obj, mode):
    cols = {k: v for k, v in obj.items() if k not in ('_k', '_c')}
    text = json.dumps(cols, sort_keys=True, ensure_ascii=False)
    failed = bool(cols.get('fail'))
    return {
        'k': obj['_k'],
        'c': obj['_c'],
        'text': None if failed else text,
        'reasoning': None,
        'json': None,
        'embedding': [0.5, -1.25] if mode == 'embed' else None,
        'finish_reason': None if failed else 'stop',
        'prompt_tokens': len(text),
        'completion_tokens': 0 if failed else 3,
        'latency_ms': 1.5,
        'attempts': 1,
        'error_code': 'E_HTTP_4XX' if failed else None,
        'error_message': 'rejected: bad row' if failed else None,
        'model': 'fake-model',
        'request': json.dumps({'messages': [text]}),
    }


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else 'echo'
    log_dir = sys.argv[2] if len(sys.argv) > 2 else None
    # Split on LF only: lines may hold raw U+2028, U+0085 (str.splitlines would split there).
    rows = [json.loads(line.decode('utf-8')) for line in sys.stdin.buffer.read().split(b'\n') if line]
    if log_dir:
        with open(os.path.join(log_dir, f'{os.getpid()}-{uuid.uuid4().hex}'), 'w') as f:
            f.write(str(len(rows)))
    if mode == 'exit' and rows:
        sys.stderr.write('fake worker: engine outage\n')
        sys.exit(3)
    out = [result(r, mode) for r in rows]
    if mode == 'drop':
        out = out[1:]
    if mode == 'swapc' and len(out) > 1:
        out[0]['c'], out[1]['c'] = out[1]['c'], out[0]['c']
    if mode == 'nokey' and out:
        out[0]['k'] = None
    lines = [json.dumps(r, ensure_ascii=False) for r in reversed(out)]  # completion order != input order
    if mode == 'garbage' and rows:
        lines.insert(0, 'this is not json')
    sys.stdout.buffer.write(''.join(line + '\n' for line in lines).encode('utf-8'))
    sys.stdout.buffer.flush()


if __name__ == '__main__':
    main()
