"""Object-store paths checked once, fast, before the job leans on them (docs/storage.md).

S3A retries a connection failure for minutes (fs.s3a.retry.limit, fs.s3a.attempts.maximum), which
is right in the middle of a long write and wrong at the start, when the endpoint is mistyped or
the credentials are wrong. `preflight` looks at each s3a:// path of the job once through its own
FileSystem instance with one attempt and a short connect timeout, and turns what it finds into a
message that names the path: access refused, no such bucket, endpoint unreachable. The job itself
then runs with the store's usual retries.
"""

import re

from sparkinfer.errors import InputError, RuntimeFailure
from sparkinfer.sparkerr import short_message

FAST = {
    'fs.s3a.retry.limit': '0',
    'fs.s3a.attempts.maximum': '0',
    'fs.s3a.retry.throttle.limit': '0',
    'fs.s3a.connection.establish.timeout': '10s',
    'fs.s3a.connection.timeout': '30s',
}


def _paths(job):
    out = []
    inp, outp = job['input'], job['output']
    if isinstance(inp.get('path'), str) and inp['path'].startswith('s3a://'):
        out.append(('input', inp['path']))
    if outp.get('format') != 'table' and isinstance(outp.get('path'), str) and outp['path'].startswith('s3a://'):
        out.append(('output', outp['path']))
    return out


def preflight(spark, job):
    """Raises InputError (no such bucket: exit 2) or RuntimeFailure (refused, unreachable: exit 1)."""
    paths = _paths(job)
    if not paths:
        return
    sc = spark.sparkContext
    jvm = sc._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(sc._jsc.hadoopConfiguration())
    for k, v in FAST.items():
        conf.set(k, v)
    for role, p in paths:
        path = jvm.org.apache.hadoop.fs.Path(p)
        fs = None
        try:
            fs = jvm.org.apache.hadoop.fs.FileSystem.newInstance(path.toUri(), conf)
            fs.exists(path)
        except Exception as e:
            msg = short_message(e)
            cls = InputError if re.search(r'UnknownStoreException|NoSuchBucket|[Bb]ucket does not exist', str(e)) else RuntimeFailure
            raise cls(f'cannot use the {role} {msg}' if msg.startswith('s3a://') else f'cannot use the {role} {p}: {msg}') from e
        finally:
            if fs is not None:
                try:
                    fs.close()
                except Exception:  # closing a FileSystem that never connected: nothing to lose
                    pass
