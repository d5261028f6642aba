"""Finding the Node >= 24 that `infer()` runs the bundled CLI and the worker on.

`$SPARKINFER_NODE` when set (it must be a Node >= 24: no silent fallback), else `node` on PATH when
it is new enough; the same order as the CLI's scripts/node.sh. Executors start the worker with
`$SPARKINFER_NODE`, else `node` on their PATH (transform.worker_command).
"""

import os
import shutil
import subprocess

from sparkinfer.errors import RuntimeFailure

MIN_MAJOR = 24

HOW_TO_GET = (
    'Install Node 24 and put it first on PATH, or point SPARKINFER_NODE at it, e.g.: '
    '`npm install --prefix ~/.local/share/sparkinfer-node node@24` and '
    '`export SPARKINFER_NODE=~/.local/share/sparkinfer-node/node_modules/node/bin/node`'
)


def node_version(path):
    """`v24.1.0` → (24, 'v24.1.0'); (0, reason) when `path` does not run as Node."""
    try:
        out = subprocess.run([path, '--version'], capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return 0, f'does not run ({e.__class__.__name__})'
    try:
        return int(out.lstrip('v').split('.')[0]), out
    except ValueError:
        return 0, f'printed {out[:40]!r} for --version'


def find_node():
    """The path of a Node >= 24, or a RuntimeFailure saying what was found and how to get one."""
    env = os.environ.get('SPARKINFER_NODE')
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise RuntimeFailure(f'sparkinfer needs Node >= {MIN_MAJOR}: SPARKINFER_NODE is `{env}`, which is not an executable file')
        major, shown = node_version(env)
        if major < MIN_MAJOR:
            raise RuntimeFailure(
                f'sparkinfer needs Node >= {MIN_MAJOR}: SPARKINFER_NODE is `{env}`, which {shown if major == 0 else "is Node " + shown}'
            )
        return env
    on_path = shutil.which('node')
    if on_path is None:
        raise RuntimeFailure(
            f'sparkinfer needs Node >= {MIN_MAJOR}: there is no `node` on PATH and SPARKINFER_NODE is not set. {HOW_TO_GET}'
        )
    major, shown = node_version(on_path)
    if major < MIN_MAJOR:
        raise RuntimeFailure(f'sparkinfer needs Node >= {MIN_MAJOR}: `node` on PATH ({on_path}) is {shown}. {HOW_TO_GET}')
    return on_path
