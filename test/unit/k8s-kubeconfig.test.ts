/**
 * kubectl's kubeconfig rules (src/k8s/kubeconfig.ts), on files in a temporary directory. No
 * cluster needed; the apiserver tier (apiserver.test.ts) uses these files against a real one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SpecError } from '../../src/errors.ts';
import { kubeconfigFiles, loadClusterAccess } from '../../src/k8s/kubeconfig.ts';
import { driverMessage, parseProgressLine, formatDriverProgress } from '../../src/k8s/logs.ts';
import { PassThrough } from 'node:stream';
import { confirmCancel } from '../../src/k8s/submit.ts';
import { appStatusOf, exitCodeOfState, formatStatus } from '../../src/k8s/watch.ts';
import { tempDir } from '../helpers/tmp.ts';

const dir = tempDir('kubeconfig');

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const A = write(
  'a/config',
  `
apiVersion: v1
kind: Config
current-context: ctx-a
clusters:
- name: shared
  cluster: { server: "https://a.example:6443/", certificate-authority: ca.pem, tls-server-name: api.a }
- name: only-a
  cluster: { server: "https://only-a.example", insecure-skip-tls-verify: true }
users:
- name: alice
  user: { token: from-a }
contexts:
- name: ctx-a
  context: { cluster: shared, user: alice, namespace: team-a }
`,
);
write('a/ca.pem', 'CA OF A');
const B = write(
  'b/config',
  `
current-context: ctx-b
clusters:
- name: shared
  cluster: { server: "https://b.example:6443" }
users:
- name: alice
  user: { token: from-b }
- name: bob
  user: { client-certificate: certs/bob.crt, client-key-data: ${Buffer.from('KEY OF BOB').toString('base64')} }
- name: carol
  user: { exec: { apiVersion: client.authentication.k8s.io/v1, command: ./get-token, args: [--cluster, b], env: [{name: REGION, value: eu}] } }
- name: legacy
  user: { auth-provider: { name: gcp } }
contexts:
- name: ctx-b
  context: { cluster: shared, user: bob }
- name: ctx-exec
  context: { cluster: only-a, user: carol }
- name: ctx-legacy
  context: { cluster: shared, user: legacy }
- name: ctx-a
  context: { cluster: only-a, user: bob, namespace: shadowed }
`,
);
write('b/certs/bob.crt', 'CERT OF BOB');

test('KUBECONFIG merges like client-go: first current-context, first definition of each name wins, missing files skipped', () => {
  const env = { KUBECONFIG: [A, join(dir, 'missing'), '', B].join(delimiter) };
  assert.deepEqual(kubeconfigFiles({ env }), [A, B]);
  const a = loadClusterAccess({ env });
  assert.equal(a.context, 'ctx-a');
  assert.equal(a.server, 'https://a.example:6443', 'cluster `shared` comes from the first file; trailing slash dropped');
  assert.equal(a.namespace, 'team-a');
  assert.deepEqual(a.auth, { kind: 'token', token: 'from-a' });
  assert.equal(a.tls.ca?.toString(), 'CA OF A', 'a relative certificate-authority is relative to the file that names it');
  assert.equal(a.tls.serverName, 'api.a');
  assert.equal(a.tls.insecureSkipVerify, false);
});

test('--context picks a context defined only in a later file; its relative paths resolve against that file', () => {
  const env = { KUBECONFIG: [A, B].join(delimiter) };
  const b = loadClusterAccess({ env, context: 'ctx-b' });
  assert.equal(b.server, 'https://a.example:6443', "cluster `shared` is still the first file's");
  assert.equal(b.namespace, 'default', 'no namespace in the context');
  assert.equal(b.tls.cert?.toString(), 'CERT OF BOB');
  assert.equal(b.tls.key?.toString(), 'KEY OF BOB');
  assert.deepEqual(b.auth, { kind: 'none' });
  const e = loadClusterAccess({ env, context: 'ctx-exec', namespace: 'ns-flag' });
  assert.equal(e.namespace, 'ns-flag', '--namespace beats the context');
  assert.equal(e.tls.insecureSkipVerify, true);
  assert.equal(e.auth.kind, 'exec');
  if (e.auth.kind === 'exec') {
    assert.deepEqual(
      [e.auth.exec.command, e.auth.exec.args, e.auth.exec.env, e.auth.exec.baseDir],
      ['./get-token', ['--cluster', 'b'], { REGION: 'eu' }, join(dir, 'b')],
    );
  }
});

test('--kubeconfig reads that file only, and ~/.kube/config is the fallback', () => {
  const only = loadClusterAccess({ kubeconfig: B, env: { KUBECONFIG: A } });
  assert.equal(only.context, 'ctx-b');
  assert.equal(only.server, 'https://b.example:6443');
  write(
    'home/.kube/config',
    'current-context: h\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:8080"}}]\ncontexts: [{name: h, context: {cluster: c}}]\n',
  );
  const home = loadClusterAccess({ env: {}, home: join(dir, 'home') });
  assert.equal(home.server, 'http://127.0.0.1:8080');
  assert.deepEqual(home.auth, { kind: 'none' });
});

test('errors name the problem and are SpecErrors (exit 2)', () => {
  const env = { KUBECONFIG: [A, B].join(delimiter) };
  assert.throws(
    () => loadClusterAccess({ env, context: 'nope' }),
    (e: unknown) => e instanceof SpecError && /no context `nope` \(known: ctx-a, ctx-b, ctx-exec, ctx-legacy\)/.test(e.message),
  );
  assert.throws(
    () => loadClusterAccess({ env, context: 'ctx-legacy' }),
    (e: unknown) => e instanceof SpecError && /auth-provider.*exec/.test(e.message),
  );
  assert.throws(
    () => loadClusterAccess({ env, namespace: 'Bad_NS' }),
    (e: unknown) => e instanceof SpecError && /`Bad_NS`/.test(e.message),
  );
  assert.throws(
    () => loadClusterAccess({ kubeconfig: join(dir, 'nope.yaml') }),
    (e: unknown) => e instanceof SpecError && /does not exist/.test(e.message),
  );
  assert.throws(
    () => loadClusterAccess({ env: {}, home: join(dir, 'nohome'), serviceAccountDir: join(dir, 'nosa') }),
    (e: unknown) => e instanceof SpecError && /no kubeconfig found.*not running in a pod/.test(e.message),
  );
  const bad = write('bad/config', 'clusters: {name: x}\n');
  assert.throws(
    () => loadClusterAccess({ kubeconfig: bad }),
    (e: unknown) => e instanceof SpecError && /expected `clusters` to be a list/.test(e.message),
  );
});

test('inside a pod without a kubeconfig: the service account token file, CA and namespace', () => {
  const sa = join(dir, 'sa');
  write('sa/token', 'tok\n');
  write('sa/ca.crt', 'POD CA');
  write('sa/namespace', 'ml-batch\n');
  const a = loadClusterAccess({
    env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    home: join(dir, 'nohome'),
    serviceAccountDir: sa,
  });
  assert.equal(a.server, 'https://10.96.0.1:443');
  assert.equal(a.namespace, 'ml-batch');
  assert.deepEqual(a.auth, { kind: 'tokenFile', path: join(sa, 'token') });
  assert.equal(a.tls.ca?.toString(), 'POD CA');
  const v6 = loadClusterAccess({
    env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
    home: join(dir, 'nohome'),
    serviceAccountDir: sa,
    namespace: 'other',
  });
  assert.equal(v6.server, 'https://[fd00::1]:443');
  assert.equal(v6.namespace, 'other');
});

test('driver progress lines parse; other lines and malformed JSON do not', () => {
  const p = parseProgressLine(
    '2026-01-01 12:00:00 INFO sparkinfer-progress {"rows_total":1000,"rows_done":250,"rows_failed":1,"completion_tokens":9000,"tasks_done":3,"tasks_active":4,"tasks_total":16,"elapsed_s":90}',
  );
  assert.ok(p);
  assert.deepEqual(
    [p.rowsTotal, p.rowsDone, p.rowsFailed, p.completionTokens, p.tasksTotal, p.elapsedMs],
    [1000, 250, 1, 9000, 16, 90_000],
  );
  assert.equal(formatDriverProgress(p), '250/1000 rows, 1 failed, 100.0 tok/s eta 4m30s tasks 3/16 (4 running) [1m30s]');
  assert.equal(parseProgressLine('INFO SparkContext: Running Spark version 4.0.1'), undefined);
  assert.equal(parseProgressLine('sparkinfer-progress {"rows_done":'), undefined);
  assert.equal(parseProgressLine('sparkinfer-progress {"rows_total":5}'), undefined, 'rows_done is required');
});

test("the driver's own lines are told from Spark's", () => {
  const own = 'sparkinfer: the engine (llama-server, container `engine` of executor pod p-exec-1) never became healthy';
  assert.equal(driverMessage(own), own);
  assert.equal(driverMessage('26/12/05 12:00:00 INFO SparkContext: sparkinfer: not at the start'), undefined);
  assert.equal(driverMessage('sparkinfer-progress {"rows_done":1}'), undefined, 'progress lines are parsed, not printed');
});

test('application states map to exit codes; status lines carry driver, executors and the error', () => {
  assert.deepEqual(['COMPLETED', 'FAILED', 'RUNNING', 'SUBMISSION_FAILED', 'PENDING_RERUN', 'NEW'].map(exitCodeOfState), [
    0,
    1,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  const s = appStatusOf({
    metadata: { name: 'q-1', namespace: 'ns', labels: { 'sparkinfer.io/run-id': 'q-1' } },
    status: {
      applicationState: { state: 'FAILED', errorMessage: 'driver container failed with ExitCode: 1\nmore' },
      executionAttempts: 2,
      driverInfo: { podName: 'q-1-driver' },
      executorState: { a: 'RUNNING', b: 'FAILED', c: 'RUNNING' },
    },
  });
  assert.equal(
    formatStatus(s),
    'ns/q-1 FAILED, driver q-1-driver, executors 1 failed 2 running, attempt 2, error: driver container failed with ExitCode: 1',
  );
  assert.equal(appStatusOf({ metadata: { name: 'x', namespace: 'ns' } }).state, 'NEW');
});

test('Ctrl-C prompt: y cancels, anything else or EOF does not, and without a TTY it never asks', async () => {
  const ask = async (answer: string | null, isTTY: boolean): Promise<[boolean, string]> => {
    const input = Object.assign(new PassThrough(), { isTTY });
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d: Buffer) => {
      shown += d.toString();
    });
    const r = confirmCancel('ns/app', { input, output });
    if (answer === null) input.end();
    else input.write(answer);
    return [await r, shown];
  };
  const [yes, prompt] = await ask('y\n', true);
  assert.equal(yes, true);
  assert.match(prompt, /Cancel ns\/app on the cluster\? .*\[y\/N\]/);
  assert.equal((await ask('YES\n', true))[0], true);
  assert.equal((await ask('\n', true))[0], false);
  assert.equal((await ask('n\n', true))[0], false);
  assert.equal((await ask(null, true))[0], false);
  const [noTty, shown] = await ask('y\n', false);
  assert.equal(noTty, false);
  assert.equal(shown, '');
});
