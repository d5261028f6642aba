"""Job files for `infer()`: validated by the bundled CLI under Node, so the rules, the defaults and
the messages are those of `sparkinfer validate` (file:line:col, the field, what was expected).

The bundle is `_bundle/sparkinfer.mjs` inside the installed wheel (scripts/build-wheel.sh puts it
there), else `dist/sparkinfer.mjs` of the checkout this package sits in.
"""

import json
import os
import re
import subprocess
import tempfile

from sparkinfer.errors import RuntimeFailure, SpecError
from sparkinfer.node import find_node

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BUNDLE_DIRS = (
    os.path.join(_PACKAGE_DIR, '_bundle'),  # the wheel
    os.path.join(os.path.dirname(os.path.dirname(_PACKAGE_DIR)), 'dist'),
)  # a checkout


def bundled(name):
    """The path of a bundled file (`sparkinfer.mjs`, `sparkinfer-worker.mjs`), or FileNotFoundError."""
    for folder in BUNDLE_DIRS:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f'sparkinfer: {name} is not in {" or ".join(BUNDLE_DIRS)}; reinstall the sparkinfer wheel (in a checkout: `npm run build`)'
    )


def is_resolved(job):
    """A job the CLI already resolved (`sparkinfer validate --json`): it carries the `run` block."""
    return isinstance(job, dict) and isinstance(job.get('run'), dict)


def _validate_file(path, shown):
    """`node sparkinfer.mjs validate PATH --json`; `shown` replaces PATH in messages (None: keep it).

    `--no-input-check`: the DataFrame takes the place of the job's input, so its path and columns
    are not checked here (`infer()` checks the DataFrame's columns itself), and the job's `input`
    and `output` may be left out (src/jobfile/dataframe.ts).
    """
    node = find_node()
    cmd = [node, bundled('sparkinfer.mjs'), 'validate', path, '--json', '--no-input-check']
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, encoding='utf-8', timeout=120)
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f'sparkinfer validate did not finish in 120 s ({node})') from None
    if r.returncode == 0:
        lines = r.stdout.strip().splitlines()
        return json.loads(lines[-1])
    message = '\n'.join(line[len('sparkinfer: ') :] if line.startswith('sparkinfer: ') else line for line in r.stderr.strip().splitlines())
    if shown is not None:
        # A dict has no lines to point at: keep the field and what was expected.
        message = re.sub(re.escape(path) + r':\d+:\d+ ', '', message).replace(path, shown)
    if r.returncode == 2:
        raise SpecError(message)
    raise RuntimeFailure(f'sparkinfer validate failed (exit {r.returncode}): {message}')


def resolve_job(job):
    """A job file path (YAML or JSON) or a dict → the resolved job (a dict with `run`).

    A resolved job (a `run` block, as `sparkinfer validate --json` writes) is returned as it is.
    Anything else goes through the CLI's validation; a problem raises SpecError with its message.
    """
    if isinstance(job, dict):
        if is_resolved(job):
            return job
        with tempfile.TemporaryDirectory(prefix='sparkinfer-job-') as tmp:
            path = os.path.join(tmp, 'job.json')
            try:
                text = json.dumps(job, ensure_ascii=False, indent=2)
            except (TypeError, ValueError) as e:
                raise SpecError(f'the job dict does not convert to JSON: {e}') from None
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
            return _validate_file(path, 'job')
    if not isinstance(job, (str, os.PathLike)):
        raise SpecError(f'expected the job to be a job file path or a dict, got {type(job).__name__}')
    path = os.fspath(job)
    if path.endswith('.json'):
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None  # the CLI says what is wrong, with the position
        if is_resolved(data):
            return data
    return _validate_file(path, None)
