"""Driver logging: short `sparkinfer: ...` lines on stderr, everything (with traces) in logs/driver.log."""

import os
import sys
import time

_log_file = None


def open_log(path):
    """Also append log lines to `path` (created with its folder). Safe to call again with a new path."""
    global _log_file
    close_log()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _log_file = open(path, 'a', encoding='utf-8')


def close_log():
    global _log_file
    if _log_file is not None:
        try:
            _log_file.close()
        except OSError:  # its last flush on a full disk: the run's own error is what matters
            pass
        _log_file = None


def _to_file(text):
    global _log_file
    if _log_file is not None:
        stamp = time.strftime('%Y-%m-%dT%H:%M:%S')
        try:
            _log_file.write(f'{stamp} {text}\n')
            _log_file.flush()
        except OSError:  # a full disk: the log is best effort, the run's error says what happened
            _log_file = None


def log(message):
    """A progress or warning line for humans (stderr: stdout is not ours to use)."""
    print(f'sparkinfer: {message}', file=sys.stderr, flush=True)
    _to_file(message)


def log_detail(text):
    """Detail for the log file only (stack traces, plans)."""
    _to_file(text)
