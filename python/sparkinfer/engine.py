"""Engine readiness: one wait on `/health` per run, before the inference action."""

import os
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from sparkinfer.errors import RuntimeFailure

_LOOPBACK = ('127.0.0.1', 'localhost', '::1', '[::1]')


def driver_can_reach(master, endpoint):
    """Whether the driver should wait for the engine itself.

    A loopback endpoint on a cluster (Kubernetes sidecars, one engine per executor) is not the
    driver's to reach; the workers wait for their own engine. In local mode the engine is the
    driver's neighbour.
    """
    host = (urlsplit(endpoint).hostname or '').lower()
    return (master or '').startswith('local') or host not in _LOOPBACK


def _reason(e):
    if isinstance(e, urllib.error.HTTPError):
        return f'HTTP {e.code}'
    reason = getattr(e, 'reason', e)
    if isinstance(reason, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return 'timed out'
    if isinstance(reason, socket.gaierror):
        return 'unknown host'
    return str(reason) or type(reason).__name__


def wait_for_engine(
    url, timeout_ms, *, log, accept_any_status=False, api_key=None, clock=time.monotonic, sleep=time.sleep, poll_s=0.5, log_every_s=5.0
):
    """Polls `url` (GET) until it answers 200, for up to `timeout_ms` milliseconds.

    `accept_any_status`: any HTTP answer below 500 counts as up (a generic OpenAI-compatible server
    may have no `/health`; being reachable is what matters). Raises RuntimeFailure on timeout.
    """
    start = clock()
    deadline = start + timeout_ms / 1000.0
    next_log = start + log_every_s
    headers = {'Authorization': f'Bearer {api_key}'} if api_key else {}
    last = 'no answer yet'
    while True:
        now = clock()
        try:
            per_try = max(0.1, min(5.0, deadline - now))
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=per_try) as r:
                if r.status == 200:
                    return
                last = f'HTTP {r.status}'
        except Exception as e:  # every failure is a reason to wait, until the deadline
            if isinstance(e, urllib.error.HTTPError):
                e.close()
            if accept_any_status and isinstance(e, urllib.error.HTTPError) and e.code < 500:
                return
            last = _reason(e)
        now = clock()
        if now >= deadline:
            raise RuntimeFailure(f'engine at {url} was not healthy within {timeout_ms / 1000:g}s (engine.startup_timeout): {last}')
        if now >= next_log:
            log(f'waiting for engine at {url} ({now - start:.0f}s of {timeout_ms / 1000:g}s): {last}')
            next_log = now + log_every_s
        sleep(min(poll_s, max(0.0, deadline - now)))


def api_key_for(job):
    name = job['engine'].get('api_key_env')
    return os.environ.get(name) if name else None
