"""The resolved job (`job.json`, see src/jobfile/resolved.ts) as the driver reads it.

The CLI resolves every job the driver gets (a run's job.json, the Kubernetes ConfigMap, and for
`infer()` a dict or file through `sparkinfer validate --json`): validated, defaults applied,
durations in milliseconds, and a `run` block with the run id, the columns and the result columns.
The driver checks what it relies on and derives nothing.
"""

import copy
import json
import re
from urllib.parse import urlsplit

from sparkinfer import formats  # openai-batch checks
from sparkinfer.contract import CONTRACT
from sparkinfer.errors import SpecError

# Formats, modes and tasks come from the job schema (scripts/lib/contract.ts).
INPUT_FORMATS = tuple(CONTRACT['input_formats'])
OUTPUT_FORMATS = tuple(CONTRACT['output_formats'])
OUTPUT_MODES = tuple(CONTRACT['output_modes'])
TASKS = tuple(CONTRACT['tasks'])


def load_job(source, dataframe=False):
    """Reads `job.json` (a path) or copies a dict (both resolved by the CLI) and checks what the driver needs.

    `dataframe`: the job of `infer(df, job)`, whose DataFrame is the input and whose caller writes
    the result: the input's source and the output's place may be left out (as `sparkinfer validate
    --no-input-check` allows, src/jobfile/dataframe.ts); what is given is checked.
    """
    if isinstance(source, dict):
        job = copy.deepcopy(source)
    else:
        try:
            with open(source, encoding='utf-8') as f:
                job = json.load(f)
        except OSError as e:
            raise SpecError(f'cannot read job file {source}: {e.strerror}') from None
        except ValueError as e:
            raise SpecError(f'job file {source} is not valid JSON: {e}') from None
    if not isinstance(job, dict):
        raise SpecError(f'expected the job to be a JSON object, got {type(job).__name__}')
    _check(job, dataframe)
    return job


def _check(job, dataframe=False):
    name = job.get('name')
    if not isinstance(name, str) or not re.fullmatch(r'[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?', name):
        raise SpecError(f'expected `name` to be lowercase letters, digits and dashes, got {name!r}')
    inp, out = job['input'], job['output']
    fmt = inp.get('format')
    if not (dataframe and fmt is None):
        _check_place('input', inp, fmt, INPUT_FORMATS, {'table': 'table', 'sql': 'query'}, dataframe)
    if not isinstance(inp['options'], dict):
        raise SpecError(f'expected `input.options` to be an object, got {inp["options"]!r}')
    key = inp.get('key')
    if key is not None and (not isinstance(key, str) or not key):
        raise SpecError(f'expected `input.key` to be a column name, got {key!r}')
    ofmt = out['format']
    _check_place('output', out, ofmt, OUTPUT_FORMATS, {'table': 'table'}, dataframe)
    if fmt not in ('table', 'sql') and ofmt != 'table' and inp.get('path') and out.get('path') and _same_path(inp['path'], out['path']):
        # The driver reads a materialized copy, so Spark's own "overwriting the input" guard can't fire.
        raise SpecError(f'output.path is the input path ({out["path"]}); write the results somewhere else')
    if out['mode'] not in OUTPUT_MODES:
        raise SpecError(f'expected `output.mode` to be {", ".join(OUTPUT_MODES[:-1])} or {OUTPUT_MODES[-1]}, got {out["mode"]!r}')
    for field in ('include', 'partition_by'):
        v = out[field]
        if not isinstance(v, list) or not all(isinstance(c, str) and c for c in v):
            raise SpecError(f'expected `output.{field}` to be a list of column names, got {v!r}')
    files = out['files']
    if files != 'auto' and (isinstance(files, bool) or not isinstance(files, int) or files < 1):
        raise SpecError(f'expected `output.files` to be "auto" or a number from 1 and up, got {files!r}')
    parts = job['spark']['partitions']
    if parts != 'auto' and (isinstance(parts, bool) or not isinstance(parts, int) or parts < 1):
        raise SpecError(f'expected `spark.partitions` to be "auto" or a number from 1 and up, got {parts!r}')
    if not isinstance(job['spark']['conf'], dict):
        raise SpecError(f'expected `spark.conf` to be an object, got {job["spark"]["conf"]!r}')
    if job['task'] not in TASKS:
        raise SpecError(f'expected `task` to be {" or ".join(TASKS)}, got {job["task"]!r}')
    formats.check_job(job)


def _check_place(section, spec, fmt, formats_, place_of, dataframe):
    """The section's format is known, and it names its table, query or path (for infer(), a
    `dataframe` job, the place may be left out: infer() neither reads the input nor writes the output)."""
    if fmt not in formats_:
        raise SpecError(f'expected `{section}.format` to be one of {", ".join(formats_)}, got {fmt!r}')
    need = place_of.get(fmt, 'path')
    if dataframe and spec.get(need) is None:
        return
    if not isinstance(spec.get(need), str) or not spec[need]:
        raise SpecError(f'expected `{section}.{need}` for {section} format `{fmt}`')


def _same_path(a, b):
    def norm(p):
        p = p[len('file:') :] if p.startswith('file:') else p
        return p.rstrip('/') or '/'

    return norm(a) == norm(b)


def fill_run(job, run_dir=None):
    """`infer()`: the resolved job's `run` block (from `sparkinfer validate --json`) with the run
    directory of this call. Everything else in it comes from the CLI, the run id included."""
    if run_dir is not None and isinstance(job.get('run'), dict):
        job['run']['dir'] = run_dir
    check_run(job)
    return job


def check_run(job):
    run = job.get('run')
    if not isinstance(run, dict):
        raise SpecError('expected a `run` block in job.json (the CLI writes it)')
    if not isinstance(run.get('id'), str) or not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9._-]*', run['id']):
        raise SpecError(f'expected `run.id` to be letters, digits, dots and dashes, got {run.get("id")!r}')
    cols = run.get('columns')
    if not isinstance(cols, list) or not all(isinstance(c, str) and c for c in cols):
        raise SpecError(f'expected `run.columns` to be a list of column names, got {cols!r}')
    _check_result_columns(run.get('result_columns'))
    limit = run.get('limit')
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise SpecError(f'expected `run.limit` to be a number from 0 and up, got {limit!r}')
    est = run.get('estimate')  # `sparkinfer estimate` (estimate.py): {sample, seed}
    if est is not None:
        ints = isinstance(est, dict) and all(isinstance(est.get(k), int) and not isinstance(est.get(k), bool) for k in ('sample', 'seed'))
        if not ints or est['sample'] < 1:
            raise SpecError(f'expected `run.estimate` to be {{"sample": a number from 1 and up, "seed": a number}}, got {est!r}')


def _check_result_columns(result):
    """`run.result_columns`, written by every CLI since the plan carries them (src/plan/output-columns.ts)."""
    if result is None:
        raise SpecError(
            'the job has no `run.result_columns`: it was resolved by an older sparkinfer CLI; '
            'resolve it again with this version (`sparkinfer run`, or `sparkinfer validate --json` for infer())'
        )
    ok = isinstance(result, list) and all(
        isinstance(c, dict) and isinstance(c.get('name'), str) and c['name'] and isinstance(c.get('ddl'), str) and c['ddl'] for c in result
    )
    if not ok:
        raise SpecError(f'expected `run.result_columns` to be a list of {{"name", "ddl"}}, got {result!r}')


def health_url(endpoint):
    """`http://h:p/v1` → `http://h:p/health` (the engine's root, not the OpenAI base)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise SpecError(f'expected `run.endpoint` to be an http(s) URL, got {endpoint!r}')
    path = parts.path.rstrip('/')
    if path.endswith('/v1'):
        path = path[:-3]
    return f'{parts.scheme}://{parts.netloc}{path}/health'
