"""Short, human messages from Spark/Py4J exceptions (the full trace goes to logs/driver.log)."""

import re

# Lines that carry the reason, most specific first.
_PATTERNS = (
    re.compile(r'(sparkinfer: [^\n]*)'),  # our raise_error messages
    re.compile(r'\[(MALFORMED_RECORD_IN_PARSING[^\]]*)\] ([^\n]*)'),
    re.compile(r'\[(PATH_NOT_FOUND|TABLE_OR_VIEW_NOT_FOUND|PARSE_SYNTAX_ERROR|UNRESOLVED_COLUMN[^\]]*)\] ([^\n]*)'),
)

_MAX = 600

# A full or failing disk, as the JVM words it (IOException messages carry strerror's text).
_DISK = (
    (re.compile(r'No space left on device'), 'no space left on device (ENOSPC)'),
    (re.compile(r'Disk quota exceeded'), 'disk quota exceeded (EDQUOT)'),
    (re.compile(r'Input/output error'), 'input/output error (EIO)'),
)


def disk_problem(e):
    """'no space left on device (ENOSPC)' and the like when a JVM-side write failed on its disk, else None."""
    text = str(e)
    if re.search(r'Subprocess exited with status', text):
        return None  # a worker's own reason names its file; short_message keeps it
    for pat, words in _DISK:
        if pat.search(text):
            return words
    return None


def short_message(e):
    """One or two lines: the reason, without Java stack frames or class names where avoidable."""
    text = str(e)
    died = re.search(r'Subprocess exited with status (\d+)\. Error:(.*?)(?=\n\s+at |\Z)', text, re.S)
    if died:  # the worker's short fatal reason (Spark keeps 2 KB of its stderr): keep its end
        reason = died.group(2).strip()
        reason = ' '.join((reason[:-2] if reason.endswith('\n.') else reason).split())  # Spark appends '\n.'
        reason = reason if len(reason) <= 400 else '…' + reason[-399:]
        return f'the worker exited with status {died.group(1)}: {reason}'
    stored = _storage_message(text)
    if stored:
        return stored
    for pat in _PATTERNS:
        m = pat.search(text)
        if m:
            msg = ' '.join(g for g in m.groups() if g)
            return _clip(_strip_sqlstate(msg))
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(('at ', '...')) and 'An error occurred while calling' not in ln]
    msg = lines[0] if lines else type(e).__name__
    msg = re.sub(r'^:?\s*([a-z0-9_]+\.)+[A-Za-z0-9_$]+(Exception|Error):\s*', '', msg)
    return _clip(_strip_sqlstate(msg))


# An object-store failure names the path (docs/storage.md); the S3A exception's own text repeats it
# between request ids and class names.
_STORE_PATH = re.compile(r'\b(s3a://[^\s:;,()\'"]+)')
_ENDPOINT = re.compile(r'Connect to ([^\s]+) (?:\[[^\]]*\] )?failed: ([^:\n(]+)')


def _storage_message(text):
    m = _STORE_PATH.search(text)
    if not m:
        return None
    path = m.group(1)
    if re.search(r'Status Code: 403|AccessDenied|SignatureDoesNotMatch|InvalidAccessKeyId|InvalidClientTokenId', text):
        return (
            f'{path}: access refused (HTTP 403): check the credentials (AWS_ACCESS_KEY_ID and '
            "AWS_SECRET_ACCESS_KEY, an AWS profile, or the pod's web identity) and what they may read and write"
        )
    if re.search(r'UnknownStoreException|NoSuchBucket|[Bb]ucket does not exist', text):
        return f'{path}: the bucket does not exist (or the endpoint serves other buckets: check storage.endpoint)'
    if re.search(r'Connection refused|Unable to execute HTTP request|UnknownHostException|connect timed out|ConnectTimeout', text):
        e = _ENDPOINT.search(text)
        where = f' at {e.group(1)} ({e.group(2).strip()})' if e else ''
        return f'{path}: cannot reach the S3 endpoint{where}: check storage.endpoint (fs.s3a.endpoint) and the network'
    return None


def _strip_sqlstate(msg):
    return re.sub(r'\s*SQLSTATE: \w+\.?', '', msg).strip()


def _clip(msg):
    return msg if len(msg) <= _MAX else msg[: _MAX - 1] + '…'


def is_data_problem(e):
    """SQLSTATE class 22 (data exception) or 42 (syntax, analysis): the input or query is at fault."""
    return re.search(r'SQLSTATE: (22|42)\w{3}', str(e)) is not None
