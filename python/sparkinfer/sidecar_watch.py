"""The engine sidecar on Kubernetes, seen from the driver (docs/kubernetes.md, "The engine never gets healthy").

On Kubernetes every executor pod runs the engine as a native sidecar (src/k8s/sidecar.ts): the
executor container starts only once the engine's startup probe passed. An engine that never gets
healthy (a wrong model path, a model that does not fit) therefore keeps its pod in `Init` forever:
the kubelet restarts the sidecar, Spark waits for executors, and the run hangs. The driver cannot
reach the engines (each listens on its own pod's loopback), but it can read its executor pods
from the API server with the pod's service account, which Spark's own driver needs anyway.

SidecarWatch polls the run's executor pods from the start of the run (the prepare phase's Spark
jobs need executors too). As long as no executor
container has ever started, an engine that exited before its startup probe passed (a crash, or
the kubelet's kill when `startup_timeout` ran out), or one running past `startup_timeout` without
passing it, ends the run: every Spark job is cancelled (until the driver stops the watch) and the driver fails with
`failure`, a message naming the engine, its pod, its exit and its last log lines (the sidecar's
`terminationMessagePolicy: FallbackToLogsOnError` puts them into the pod's status).
"""

import json
import os
import ssl
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime

SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount'
EXECUTOR_CONTAINER = 'spark-kubernetes-executor'
# After startup_timeout the kubelet kills the engine; this grace covers its last probe period.
GRACE_S = 30
LOG_LINES = 5


def _sidecars(pod):
    """Init containers with restartPolicy Always: the engine."""
    return [c for c in (pod.get('spec') or {}).get('initContainers') or [] if c.get('restartPolicy') == 'Always']


def _statuses(pod, key):
    return {s.get('name'): s for s in (pod.get('status') or {}).get(key) or []}


def _ts(value):
    try:
        return datetime.fromisoformat(str(value).replace('Z', '+00:00')).timestamp()
    except ValueError:
        return None


def executor_ever_started(pods):
    """Whether any executor container of these pods has run: then some engine got healthy."""
    for pod in pods:
        for s in _statuses(pod, 'containerStatuses').values():
            if s.get('name') == EXECUTOR_CONTAINER and (
                s.get('started') or 'running' in (s.get('state') or {}) or 'terminated' in (s.get('state') or {}) or s.get('lastState')
            ):
                return True
    return False


def engine_failure(pods, startup_timeout_ms, engine_kind, now):
    """The message for the first engine sidecar that failed to start, or None.

    `pods`: the run's executor pods (API objects); `now`: seconds since the epoch. Only meaningful
    while no executor has started (see executor_ever_started)."""
    timeout_s = startup_timeout_ms / 1000
    for pod in pods:
        name = (pod.get('metadata') or {}).get('name', '?')
        init = _statuses(pod, 'initContainerStatuses')
        for c in _sidecars(pod):
            s = init.get(c.get('name'))
            if s is None or s.get('started'):
                continue
            state = s.get('state') or {}
            term = state.get('terminated') or (s.get('lastState') or {}).get('terminated')
            what = f'the engine ({engine_kind}, container `{c.get("name")}` of executor pod {name}, image {c.get("image")})'
            hint = f'kubectl logs {name} -c {c.get("name")}{" --previous" if "terminated" not in state else ""}'
            if term:
                code = term.get('exitCode')
                killed = code in (137, 143)
                why = (
                    f'was killed (exit {code}): its startup probe did not pass within {timeout_s:g}s (kubernetes.engine.startup_timeout)'
                    if killed
                    else f'exited with code {code} ({term.get("reason") or "no reason given"}) before its startup probe passed'
                )
                lines = [ln for ln in str(term.get('message') or '').strip().splitlines() if ln.strip()][-LOG_LINES:]
                tail = f'; its last lines: {" | ".join(lines)}' if lines else ''
                restarts = s.get('restartCount') or 0
                again = f' ({restarts} restart(s) so far)' if restarts else ''
                return f'{what} never became healthy: it {why}{again}{tail} ({hint})'
            started = _ts((state.get('running') or {}).get('startedAt'))
            if started is not None and now - started > timeout_s + GRACE_S:
                return (
                    f'{what} never became healthy: its startup probe has not passed after {now - started:.0f}s '
                    f'(kubernetes.engine.startup_timeout {timeout_s:g}s) ({hint})'
                )
    return None


class InClusterApi:
    """The API server, as this pod's service account (token, CA and namespace mounted by Kubernetes)."""

    def __init__(self, sa_dir=SERVICE_ACCOUNT, env=None):
        env = os.environ if env is None else env
        host, port = env.get('KUBERNETES_SERVICE_HOST'), env.get('KUBERNETES_SERVICE_PORT', '443')
        if not host or not os.path.isfile(os.path.join(sa_dir, 'token')):
            raise OSError('not in a Kubernetes pod (no service account token)')
        self._base = f'https://{f"[{host}]" if ":" in host else host}:{port}'
        self._sa_dir = sa_dir
        with open(os.path.join(sa_dir, 'namespace'), encoding='utf-8') as f:
            self.namespace = f.read().strip()
        self._ctx = ssl.create_default_context(cafile=os.path.join(sa_dir, 'ca.crt'))

    def list_pods(self, selector, timeout_s=10):
        with open(os.path.join(self._sa_dir, 'token'), encoding='utf-8') as f:  # rotated: read each time
            token = f.read().strip()
        q = urllib.parse.urlencode({'labelSelector': selector})
        url = f'{self._base}/api/v1/namespaces/{urllib.parse.quote(self.namespace)}/pods?{q}'
        req = urllib.request.Request(url, headers={'Authorization': f'Bearer {token}', 'Accept': 'application/json'})
        with urllib.request.urlopen(req, timeout=timeout_s, context=self._ctx) as r:
            return json.load(r).get('items') or []


class SidecarWatch(threading.Thread):
    """Ends a run whose engines never get healthy (module docstring). `failure` is set when it did."""

    def __init__(self, sc, job, api, *, log, interval_s=5.0, clock=time.time):
        super().__init__(name='sparkinfer-sidecar-watch', daemon=True)
        self._sc = sc
        self._timeout_ms = job['engine']['startup_timeout']
        self._kind = job['run'].get('engine_kind') or 'engine'
        self._selector = f'spark-app-selector={sc.applicationId},spark-role=executor'
        self._api = api
        self._log = log
        self._interval = interval_s
        self._clock = clock
        self._halt = threading.Event()
        self.failure = None

    def run(self):
        warned = False
        while not self._halt.wait(self._interval):
            try:
                pods = self._api.list_pods(self._selector)
            except Exception as e:  # the API is out of reach now: Spark's own calls will say so
                if not warned:
                    self._log(f'cannot read the executor pods to watch the engines: {e}')
                    warned = True
                continue
            if executor_ever_started(pods):
                return  # an engine got healthy: from here on, the workers ride out engine trouble
            failure = engine_failure(pods, self._timeout_ms, self._kind, self._clock())
            if failure is not None:
                self.failure = failure
                self._log(f'{failure}; cancelling the run')
                # Every job, until the driver stops the watch: the run may be between two actions
                # (prepare, plan, inference), and the next one would wait for executors too.
                while True:
                    self._sc.cancelAllJobs()
                    if self._halt.wait(self._interval):
                        return

    def stop(self):
        self._halt.set()


def start(sc, job, *, log):
    """A running SidecarWatch when the driver runs in a Kubernetes pod with engine sidecars, else None."""
    if not (sc.master or '').startswith('k8s://'):
        return None
    try:
        api = InClusterApi()
    except OSError as e:
        log(f'not watching the engine sidecars: {e}')
        return None
    w = SidecarWatch(sc, job, api, log=log)
    w.start()
    return w
