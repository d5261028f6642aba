/**
 * submit / status / watch / logs / cancel against a real kube-apiserver + etcd built from Go
 * modules (scripts/k8s-apiserver/build.sh), with the real SparkApplication CRD installed.
 * Nothing runs pods there, so the test plays spark-operator: it writes `.status` through the
 * status subresource, one step after the watcher has seen the previous one. For logs it plays the
 * kubelet too: a Node whose kubelet endpoint is a loopback TLS server, so the apiserver's own
 * log proxy is what the client talks to.
 *
 *   npm run test:k8s   (build.sh first; the first build takes a long while)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { startApiserver, type Apiserver } from '../../scripts/k8s-apiserver/apiserver.ts';
import { exitCodeFor } from '../../src/exit-codes.ts';
import { RuntimeFailure, SpecError } from '../../src/errors.ts';
import { renderJobFile } from '../../src/k8s/cli.ts';
import { KubeApiError, KubeClient, objectPath, type KubeObject } from '../../src/k8s/client.ts';
import type { DriverProgress } from '../../src/k8s/logs.ts';
import { cancel, connect, driverLogs, followRun, submit, type SubmitResult } from '../../src/k8s/submit.ts';
import { SPARK_APP, formatStatus, getStatus, watchApp, type AppStatus } from '../../src/k8s/watch.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'k8s');
const QUICKSTART = join(FIXTURES, 'quickstart.yaml');
const GPU = join(FIXTURES, 'gpu-volcano.yaml');
type Any = Record<string, any>;

let api: Apiserver;
let dflt: KubeClient;
let batch: KubeClient;
let runSeq = 0;

before(async () => {
  const t0 = Date.now();
  api = await startApiserver({ log: (l) => process.stderr.write(`apiserver: ${l}\n`) });
  process.stderr.write(`apiserver: up with the CRD in ${Date.now() - t0} ms\n`);
  dflt = api.client('default');
  batch = api.client('ml-batch');
  await dflt.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ml-batch' } });
});

after(async () => {
  await dflt?.close();
  await batch?.close();
  await api?.stop();
});

/** A fresh run id per submit, so tests never share objects. */
function runId(name: string): string {
  return `${name}-20260101000000-${(++runSeq).toString(16).padStart(4, '0')}`;
}

/** Plays the operator: merge-patches `.status` (driverInfo is required by the CRD). */
async function setStatus(c: KubeClient, name: string, status: Any): Promise<void> {
  await c.call('PATCH', `${objectPath({ ...SPARK_APP, namespace: c.namespace, name })}/status`, {
    body: { status: { driverInfo: {}, ...status } },
    contentType: 'application/merge-patch+json',
  });
}

/** Every leaf of `want` is in `got` with the same value (the server may add defaults, never drop). */
function assertKept(want: unknown, got: unknown, path = ''): void {
  if (typeof want === 'object' && want !== null) {
    assert.equal(typeof got, 'object', `${path}: missing on the server`);
    for (const [k, v] of Object.entries(want)) assertKept(v, (got as Any)[k], `${path}.${k}`);
  } else {
    assert.equal(got, want, `${path}: the server has ${JSON.stringify(got)}`);
  }
}

/**
 * Runs `followRun` while playing the operator: after the watcher reports state N, it writes
 * step N+1. Returns the outcome and the states the watcher saw.
 */
async function operate(
  r: SubmitResult,
  steps: Record<string, Any[]>,
  extra: Parameters<typeof followRun>[1] = {},
): Promise<{ exitCode: number; states: string[]; last: AppStatus }> {
  const ac = new AbortController();
  const states: string[] = [];
  const cursor: Record<string, number> = {};
  const patches: Promise<void>[] = [];
  const outcome = await followRun(r, {
    ...extra,
    logRetryMs: 50,
    signal: ac.signal,
    onStatus: (s) => {
      states.push(`${s.name === r.name ? '' : `${s.name}:`}${s.state}`);
      const i = cursor[s.name] ?? 0;
      const step = steps[s.name]?.[i];
      cursor[s.name] = i + 1;
      if (step !== undefined) patches.push(setStatus(r.client, s.name, step).catch((err: unknown) => ac.abort(err)));
    },
  });
  await Promise.all(patches);
  return { exitCode: outcome.exitCode, states, last: outcome.status };
}

test('server-side apply with fieldValidation=Strict accepts the rendered quickstart, 4-executor GPU and two-phase manifests, and keeps every field', async () => {
  for (const [file, set, client] of [
    [QUICKSTART, [], dflt],
    [GPU, [], batch],
    [GPU, ['kubernetes.phases=two'], batch],
  ] as const) {
    const run = renderJobFile(file, [...set], { runId: runId('apply') });
    for (const obj of [run.configMap, ...run.apps]) {
      const stored = await client.apply<Any>(obj);
      assert.equal(stored.metadata.managedFields[0].manager, 'sparkinfer');
      assert.equal(stored.metadata.managedFields[0].operation, 'Apply');
      assertKept(obj, stored, `${obj.kind}/${obj.metadata.name}`);
    }
    if (set.length === 0 && file === GPU) {
      const app = run.apps[0] as Any;
      assert.equal(app.spec.executor.initContainers[0].restartPolicy, 'Always');
      assert.equal(app.spec.dynamicAllocation.maxExecutors, 4);
    }
  }
});

test('a misspelled field is rejected by the server (exit 2), where a non-strict write would prune it silently', async () => {
  const run = renderJobFile(GPU, [], { runId: runId('typo') });
  const app = structuredClone(run.apps[0]) as Any;
  app.spec.dynamicAlocation = { enabled: true };
  app.spec.executor.initContainers[0].restartPolcy = 'Always';
  const ref = { ...SPARK_APP, namespace: 'ml-batch', name: app.metadata.name };
  let attempts = 0;
  const counting = new KubeClient(batch.access, {
    sleep: async () => {
      attempts++;
    },
  });
  try {
    // Server-side apply: the apiserver answers 500 "field not declared in schema"
    // (kubernetes/kubernetes#139253); the client treats it as the request's fault. One typo at a
    // time: with several, the server names one or all of them.
    for (const [typo, path] of [
      ['dynamicAlocation', /\.spec\.dynamicAlocation: field not declared in schema/],
      ['restartPolcy', /\.spec\.executor\.initContainers\[0\]\.restartPolcy: field not declared in schema/],
    ] as const) {
      const one = structuredClone(run.apps[0]) as Any;
      if (typo === 'dynamicAlocation') one.spec.dynamicAlocation = { enabled: true };
      else one.spec.executor.initContainers[0].restartPolcy = 'Always';
      await assert.rejects(counting.apply(one as KubeObject), (err: unknown) => {
        assert.ok(err instanceof KubeApiError, String(err));
        assert.match(err.message, path);
        assert.equal(exitCodeFor(err), 2);
        return true;
      });
    }
  } finally {
    await counting.close();
  }
  assert.equal(attempts, 0, 'not retried');
  assert.equal(await batch.find(ref), undefined, 'nothing was stored');
  // A plain create with fieldValidation=Strict is rejected too (strict decoding) ...
  const create = (fieldValidation: string, name: string): Promise<Any> =>
    batch.call<Any>('POST', objectPath({ ...ref, name: undefined }), {
      query: { fieldValidation },
      body: { ...app, metadata: { ...app.metadata, name } },
    });
  await assert.rejects(
    create('Strict', `${ref.name}-post`),
    (err: unknown) =>
      err instanceof KubeApiError &&
      err.status === 400 &&
      /strict decoding error: unknown field "spec\.dynamicAlocation", unknown field "spec\.executor\.initContainers\[0\]\.restartPolcy"/.test(
        err.message,
      ),
  );
  // ... and without strictness the CRD prunes the typos and stores the rest: why it matters.
  const pruned = await create('Ignore', `${ref.name}-post`);
  assert.equal(pruned.spec.dynamicAlocation, undefined);
  assert.equal(pruned.spec.executor.initContainers[0].restartPolcy, undefined);
  assert.equal(pruned.spec.executor.initContainers[0].restartPolicy, 'Always');
});

test('submit → status → watch: SUBMITTED, RUNNING, COMPLETED exits 0', async () => {
  const r = await submit(QUICKSTART, { client: dflt, runId: runId('quickstart') });
  assert.equal(r.name, r.runId, 'the application is <name>-<run_id> (the run id starts with the name)');
  assert.match(r.name, /^quickstart-/);
  assert.equal((await getStatus(dflt, r.name)).state, 'NEW');
  const cm = await dflt.get<Any>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: r.configMap });
  assert.deepEqual(
    cm.metadata.ownerReferences.map((o: Any) => o.name),
    [r.name],
    'the ConfigMap is owned by the application',
  );
  assert.equal(JSON.parse(cm.data['job.json']).run.id, r.runId);
  const exec = (n: number): string => `${r.name}-exec-${n}`;
  const { exitCode, states, last } = await operate(r, {
    [r.name]: [
      { applicationState: { state: 'SUBMITTED' }, submissionAttempts: 1, driverInfo: { podName: `${r.name}-driver` } },
      {
        applicationState: { state: 'RUNNING' },
        executionAttempts: 1,
        driverInfo: { podName: `${r.name}-driver` },
        executorState: { [exec(1)]: 'RUNNING', [exec(2)]: 'PENDING' },
      },
      {
        applicationState: { state: 'COMPLETED' },
        driverInfo: { podName: `${r.name}-driver` },
        executorState: { [exec(1)]: 'COMPLETED', [exec(2)]: 'COMPLETED' },
      },
    ],
  });
  assert.deepEqual(states, ['NEW', 'SUBMITTED', 'RUNNING', 'COMPLETED']);
  assert.equal(exitCode, 0);
  assert.equal(formatStatus(last), `default/${r.name} COMPLETED, driver ${r.name}-driver, executors 2 completed`);
  const s = await getStatus(dflt, r.runId);
  assert.deepEqual([s.state, s.executorCounts, s.runId], ['COMPLETED', { COMPLETED: 2 }, r.runId]);
  // Re-applying a completed application changes nothing: same generation, status kept.
  const again = await dflt.apply<Any>(renderJobFile(QUICKSTART, [], { runId: r.runId }).apps[0]!);
  assert.equal(again.metadata.generation, 1);
  assert.equal(again.status.applicationState.state, 'COMPLETED');
});

test("a FAILED application exits 1 with the operator's error message", async () => {
  const r = await submit(GPU, { client: batch, runId: runId('gpu') });
  const { exitCode, states, last } = await operate(r, {
    [r.name]: [
      { applicationState: { state: 'RUNNING' }, executionAttempts: 1 },
      {
        applicationState: { state: 'FAILING', errorMessage: 'driver container failed with ExitCode: 1, Reason: Error' },
        executionAttempts: 1,
      },
      { applicationState: { state: 'PENDING_RERUN' }, executionAttempts: 1 },
      {
        applicationState: { state: 'FAILED', errorMessage: 'driver container failed with ExitCode: 1, Reason: Error' },
        executionAttempts: 3,
      },
    ],
  });
  assert.deepEqual(states, ['NEW', 'RUNNING', 'FAILING', 'PENDING_RERUN', 'FAILED']);
  assert.equal(exitCode, 1);
  assert.match(formatStatus(last), /FAILED, attempt 3, error: driver container failed with ExitCode: 1/);
});

test('cancel deletes the application and its ConfigMap; a watcher sees it go; status then exits 2', async () => {
  const r = await submit(QUICKSTART, { client: dflt, runId: runId('cancel') });
  const seen: string[] = [];
  let cancelled: Promise<string[]> | undefined;
  const ac = new AbortController();
  const watching = watchApp(dflt, r.name, {
    signal: ac.signal,
    onStatus: (s) => {
      seen.push(s.state);
      if (s.state === 'RUNNING') cancelled = cancel(dflt, r.name).then((c) => c.deleted);
      else setStatus(dflt, r.name, { applicationState: { state: 'RUNNING' } }).catch((err: unknown) => ac.abort(err));
    },
  });
  await assert.rejects(
    watching,
    (err: unknown) => err instanceof RuntimeFailure && /was deleted before it finished/.test(err.message) && exitCodeFor(err) === 1,
  );
  assert.deepEqual(seen, ['NEW', 'RUNNING']);
  assert.deepEqual((await cancelled)?.sort(), [`configmap/${r.configMap}`, `sparkapplication/${r.name}`]);
  await assert.rejects(
    getStatus(dflt, r.name),
    (err: unknown) => err instanceof KubeApiError && err.status === 404 && exitCodeFor(err) === 2,
  );
  await assert.rejects(cancel(dflt, r.name), (err: unknown) => err instanceof KubeApiError && err.status === 404);
});

test('two phases: submit needs --watch; the infer application is applied only after prepare COMPLETED', async () => {
  const set = ['kubernetes.phases=two'];
  await assert.rejects(submit(GPU, { client: batch, set, runId: runId('two') }), SpecError);
  const r = await submit(GPU, { client: batch, set, watch: true, runId: runId('two') });
  const [prepare, infer] = r.apps as [string, string];
  assert.equal(r.name, prepare);
  assert.equal(await batch.find({ ...SPARK_APP, namespace: 'ml-batch', name: infer }), undefined, 'infer waits for prepare');
  const { exitCode, states } = await operate(r, {
    [prepare]: [{ applicationState: { state: 'RUNNING' } }, { applicationState: { state: 'COMPLETED' } }],
    [infer]: [{ applicationState: { state: 'RUNNING' } }, { applicationState: { state: 'COMPLETED' } }],
  });
  assert.deepEqual(states, ['NEW', 'RUNNING', 'COMPLETED', `${infer}:NEW`, `${infer}:RUNNING`, `${infer}:COMPLETED`]);
  assert.equal(exitCode, 0);
  const cm = await batch.get<Any>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ml-batch', name: r.configMap });
  assert.deepEqual(
    cm.metadata.ownerReferences.map((o: Any) => o.name),
    [prepare, infer],
  );
  assert.equal((await getStatus(batch, r.runId)).name, infer, 'status of the run id is the later phase');
  assert.deepEqual((await cancel(batch, r.runId)).deleted.length, 3);
});

test("logs: the driver log through the apiserver's pod log proxy, progress lines parsed while watching", async () => {
  // The kubelet stand-in: a TLS server on loopback that the apiserver reaches through a Node.
  const requests: string[] = [];
  let release: (() => void) | undefined;
  const kubelet: Server = createServer({ cert: readFileSync(api.certFile), key: readFileSync(api.keyFile) }, (req, res: ServerResponse) => {
    requests.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('INFO SparkContext: Running Spark version 4.0.1\n');
    res.write('sparkinfer-progress {"rows_total":100,"rows_done":40,"rows_failed":0,"completion_tokens":800,"elapsed_s":8}\n');
    if (!(req.url ?? '').includes('follow=true')) {
      res.end('done\n');
      return;
    }
    res.write('sparkinfer-progress {"rows_total":100,"rows_done":100,"rows_failed":2,"completion_tokens":2000,"elapsed_s":20}\n');
    release = () => res.end();
  });
  await new Promise<void>((res) => kubelet.listen(0, '127.0.0.1', () => res()));
  try {
    const port = (kubelet.address() as { port: number }).port;
    await dflt.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'default' } });
    await dflt.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'fake-kubelet' } });
    await dflt.call('PATCH', '/api/v1/nodes/fake-kubelet/status', {
      body: { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } },
      contentType: 'application/merge-patch+json',
    });
    const r = await submit(QUICKSTART, { client: dflt, runId: runId('logs') });
    const pod = `${r.name}-driver`;
    await assert.rejects(
      driverLogs(dflt, r.name).next(),
      (err: unknown) => err instanceof KubeApiError && /has no driver pod yet .*NEW/.test(err.message) && exitCodeFor(err) === 2,
    );
    await dflt.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod, namespace: 'default' },
      spec: { nodeName: 'fake-kubelet', containers: [{ name: 'spark-kubernetes-driver', image: 'sparkinfer:test' }] },
    });
    const progress: DriverProgress[] = [];
    const lines: string[] = [];
    let done: Promise<void> | undefined;
    const { exitCode } = await operate(
      r,
      {
        [r.name]: [{ applicationState: { state: 'RUNNING' }, driverInfo: { podName: pod } }],
      },
      {
        onLogLine: (l) => lines.push(l),
        onProgress: (p) => {
          progress.push(p);
          if (p.rowsDone === 100) {
            release?.();
            done = setStatus(dflt, r.name, { applicationState: { state: 'COMPLETED' }, driverInfo: { podName: pod } });
          }
        },
      },
    );
    await done;
    assert.equal(exitCode, 0);
    assert.deepEqual(
      progress.map((p) => [p.rowsDone, p.rowsTotal, p.rowsFailed, p.elapsedMs]),
      [
        [40, 100, 0, 8000],
        [100, 100, 2, 20_000],
      ],
    );
    assert.deepEqual(lines, ['INFO SparkContext: Running Spark version 4.0.1']);
    assert.match(requests[0] ?? '', new RegExp(`^/containerLogs/default/${pod}/spark-kubernetes-driver\\?.*follow=true`));
    const all: string[] = [];
    for await (const l of driverLogs(dflt, r.runId)) all.push(l);
    assert.equal(all.length, 3);
    assert.equal(all[2], 'done');
  } finally {
    release?.();
    kubelet.closeAllConnections();
    await new Promise<void>((res) => kubelet.close(() => res()));
  }
});

test('kubeconfig end to end: --kubeconfig, an exec credential plugin, and a wrong token (exit 2)', async () => {
  const viaFile = connect({ kubeconfig: api.kubeconfig, namespace: 'ml-batch' });
  try {
    assert.equal(viaFile.namespace, 'ml-batch');
    assert.ok(Array.isArray((await viaFile.list({ ...SPARK_APP, namespace: viaFile.namespace })).items));
  } finally {
    await viaFile.close();
  }
  const plugin = join(api.workDir, 'token-plugin.sh');
  writeFileSync(
    plugin,
    `#!/bin/sh\n[ "$REGION" = eu ] || exit 3\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${api.token}"}}'\n`,
  );
  chmodSync(plugin, 0o755);
  const cfg = join(api.workDir, 'exec-kubeconfig');
  writeFileSync(
    cfg,
    readFileSync(api.kubeconfig, 'utf8').replace(
      /user: \{token: "[^"]+"\}/,
      'user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./token-plugin.sh, env: [{name: REGION, value: eu}]}}',
    ),
  );
  const viaExec = connect({ kubeconfig: cfg });
  try {
    assert.equal(viaExec.access.auth.kind, 'exec');
    assert.equal((await viaExec.get<Any>({ apiVersion: 'v1', kind: 'Namespace', name: 'ml-batch' })).metadata.name, 'ml-batch');
  } finally {
    await viaExec.close();
  }
  const wrong = new KubeClient({ ...api.access, auth: { kind: 'token', token: 'not-the-token' } });
  try {
    await assert.rejects(
      getStatus(wrong, 'anything'),
      (err: unknown) =>
        err instanceof KubeApiError && err.status === 401 && !err.message.includes('not-the-token') && exitCodeFor(err) === 2,
    );
  } finally {
    await wrong.close();
  }
});
