"""The driver's watch over the engine sidecars on Kubernetes (sidecar_watch.py): pods as the API server
returns them (the shapes the local cluster's kubelet wrote for a wrong model path), no cluster."""

import threading
import time
import unittest

import helpers  # noqa: F401  (puts python/ on sys.path)
from sparkinfer import sidecar_watch as sw

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def iso(t):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))


def pod(name, engine_status=None, executor_status=None):
    """An executor pod as spark-operator's webhook leaves it: the engine as a native sidecar."""
    return {
        'metadata': {'name': name},
        'spec': {
            'initContainers': [{'name': 'engine', 'image': 'localhost/sparkinfer/llama-server:cpu', 'restartPolicy': 'Always'}],
            'containers': [{'name': sw.EXECUTOR_CONTAINER}],
        },
        'status': {
            'initContainerStatuses': [{'name': 'engine', **engine_status}] if engine_status else [],
            'containerStatuses': [
                {
                    'name': sw.EXECUTOR_CONTAINER,
                    **(executor_status or {'started': False, 'state': {'waiting': {'reason': 'PodInitializing'}}}),
                }
            ],
        },
    }


CRASHED = {
    'started': False,
    'restartCount': 2,
    'state': {'waiting': {'reason': 'CrashLoopBackOff'}},
    'lastState': {
        'terminated': {
            'exitCode': 1,
            'reason': 'Error',
            'message': 'main: loading model\n\ngguf_init_from_file: failed to open GGUF file /opt/models/missing.gguf\n'
            'llama_model_load: error loading model\nmain: exiting due to model loading error\n',
        }
    },
}
STARTING = {'started': False, 'restartCount': 0, 'state': {'running': {'startedAt': iso(T0)}}}
HEALTHY = {'started': True, 'restartCount': 0, 'state': {'running': {'startedAt': iso(T0)}}}


class VerdictTests(unittest.TestCase):
    def test_a_crashed_engine_is_named_with_its_exit_and_last_lines(self):
        msg = sw.engine_failure([pod('a-exec-1', CRASHED)], 180_000, 'llama-server', T0 + 20)
        self.assertEqual(
            msg,
            'the engine (llama-server, container `engine` of executor pod a-exec-1, image localhost/sparkinfer/llama-server:cpu) '
            'never became healthy: it exited with code 1 (Error) before its startup probe passed (2 restart(s) so far); '
            'its last lines: main: loading model | gguf_init_from_file: failed to open GGUF file /opt/models/missing.gguf | '
            'llama_model_load: error loading model | main: exiting due to model loading error '
            '(kubectl logs a-exec-1 -c engine --previous)',
        )

    def test_the_kubelets_kill_after_the_startup_timeout_says_so(self):
        killed = {'started': False, 'restartCount': 1, 'state': {'terminated': {'exitCode': 137, 'reason': 'Error'}}}
        msg = sw.engine_failure([pod('a-exec-1', killed)], 180_000, 'vllm', T0)
        self.assertIn('was killed (exit 137): its startup probe did not pass within 180s (kubernetes.engine.startup_timeout)', msg)
        self.assertTrue(msg.endswith('(kubectl logs a-exec-1 -c engine)'), msg)

    def test_a_slow_engine_fails_only_past_the_startup_timeout_and_its_grace(self):
        pods = [pod('a-exec-1', STARTING)]
        self.assertIsNone(sw.engine_failure(pods, 180_000, 'vllm', T0 + 180 + sw.GRACE_S - 1))
        msg = sw.engine_failure(pods, 180_000, 'vllm', T0 + 180 + sw.GRACE_S + 1)
        self.assertIn('its startup probe has not passed after 211s (kubernetes.engine.startup_timeout 180s)', msg)

    def test_healthy_pending_and_not_yet_created_engines_are_no_failure(self):
        unscheduled = pod('a-exec-2')
        self.assertIsNone(sw.engine_failure([pod('a-exec-1', HEALTHY), unscheduled], 1000, 'vllm', T0 + 3600))

    def test_an_executor_that_ran_means_an_engine_got_healthy(self):
        self.assertFalse(sw.executor_ever_started([pod('a-exec-1', CRASHED)]))
        ran = pod('a-exec-2', HEALTHY, {'started': True, 'state': {'running': {'startedAt': iso(T0)}}})
        self.assertTrue(sw.executor_ever_started([pod('a-exec-1', CRASHED), ran]))
        gone = pod('a-exec-3', HEALTHY, {'state': {'terminated': {'exitCode': 0}}})
        self.assertTrue(sw.executor_ever_started([gone]))


class FakeApi:
    """Stands in for the API server: returns the next list of pods (the last one repeats)."""

    def __init__(self, *lists):
        self.lists = list(lists)
        self.calls = 0
        self.selectors = []

    def list_pods(self, selector):
        self.selectors.append(selector)
        self.calls += 1
        item = self.lists[min(self.calls, len(self.lists)) - 1]
        if isinstance(item, Exception):
            raise item
        return item


class FakeContext:
    """Stands in for the SparkContext: counts the cancellations of all jobs."""

    applicationId = 'spark-0123'
    master = 'k8s://https://10.214.0.1:443'

    def __init__(self):
        self.cancels = 0
        self.cancelled_twice = threading.Event()

    def cancelAllJobs(self):
        self.cancels += 1
        if self.cancels >= 2:
            self.cancelled_twice.set()


JOB = {'run': {'id': 'q-20270115080000-abcd', 'engine_kind': 'llama-server'}, 'engine': {'startup_timeout': 180_000}}


class WatchTests(unittest.TestCase):
    def watch(self, api, clock=lambda: T0):
        sc, lines = FakeContext(), []
        w = sw.SidecarWatch(sc, JOB, api, log=lines.append, interval_s=0.01, clock=clock)
        w.start()
        self.addCleanup(w.stop)
        return w, sc, lines

    def test_cancels_every_job_until_stopped_when_the_engine_crashed(self):
        api = FakeApi(OSError('connection refused'), [pod('a-exec-1')], [pod('a-exec-1', CRASHED)])
        w, sc, lines = self.watch(api)
        # Again and again: the run may start its next Spark action after the first cancel.
        self.assertTrue(sc.cancelled_twice.wait(10), 'all jobs were cancelled, more than once')
        self.assertTrue(w.is_alive(), 'it keeps cancelling until the driver stops it')
        calls = api.calls
        w.stop()
        w.join(10)
        self.assertFalse(w.is_alive())
        self.assertEqual(api.calls, calls, 'no more pod reads once the verdict is in')
        self.assertIn('failed to open GGUF file /opt/models/missing.gguf', w.failure)
        self.assertEqual(api.selectors[0], 'spark-app-selector=spark-0123,spark-role=executor')
        self.assertEqual(lines[0], 'cannot read the executor pods to watch the engines: connection refused')
        self.assertEqual(lines[-1], f'{w.failure}; cancelling the run')

    def test_stops_judging_once_an_executor_ran(self):
        ran = pod('a-exec-2', HEALTHY, {'started': True, 'state': {'running': {'startedAt': iso(T0)}}})
        api = FakeApi([pod('a-exec-1', STARTING)], [ran, pod('a-exec-1', CRASHED)])
        w, sc, _ = self.watch(api)
        w.join(10)
        self.assertFalse(w.is_alive())
        self.assertIsNone(w.failure)
        self.assertEqual(sc.cancels, 0)
        self.assertEqual(api.calls, 2)

    def test_not_started_outside_kubernetes(self):
        sc = FakeContext()
        sc.master = 'local[2]'
        self.assertIsNone(sw.start(sc, JOB, log=lambda m: None))


class InClusterApiTests(unittest.TestCase):
    def test_refuses_outside_a_pod(self):
        with self.assertRaisesRegex(OSError, 'not in a Kubernetes pod'):
            sw.InClusterApi(sa_dir='/nonexistent', env={'KUBERNETES_SERVICE_HOST': '10.214.0.1'})


if __name__ == '__main__':
    unittest.main()
