/**
 * Data on an S3-compatible store, end to end: the real CLI, real Spark (local mode) with the cloud
 * jars setup fetched (hadoop-aws, the AWS SDK, the S3A magic committer), against a real S3 server
 * on loopback (moto, test/helpers/s3-server.ts) with authentication on. The storage is what is
 * under test, so the engine is the instant fake (src/sim/server.ts), behind the fault proxy's
 * `slow` answers where a run must last long enough to be killed.
 *
 *   A  JSON from s3a:// → Parquet to s3a://: every key once, only the committed files in the prefix,
 *      the run directory local, the credentials from the environment nowhere in logs or event log
 *   B  Parquet from s3a:// (A's output) → Parquet to s3a://, SIGKILLed during the write, then rerun:
 *      nothing visible after the kill, every key once after the rerun, no stray keys or uploads
 *   C  B's Parquet read back as input (an independent reader of it), written as JSON and tallied
 *   D  wrong credentials, a missing bucket, a closed loopback port: exit 1 or 2, fast, naming the path
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, type CliResult } from '../helpers/cli.ts';
import { startS3Server, type S3Server } from '../helpers/s3-server.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { killGroup } from '../../src/launch/cleanup.ts';
import { waitFor } from '../helpers/wait.ts';
import { ledgerLineCount, questionText, runDirs, tally, writeQuestions } from '../reliability/lib.ts';
import { groupRunning, readGroups } from '../../src/launch/procs.ts';
import { pidDir } from '../../src/job/run-setup.ts';
import { startSimServer, type SimServer } from '../../src/sim/server.ts';
import { freePort } from '../../src/launch/port.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROWS = 60;
let s3: S3Server;
let engine: SimServer;
let slow: FaultProxy;
const work = tempDir('s3-e2e');
let ids: number[] = [];

before(async () => {
  s3 = await startS3Server('data');
  engine = await startSimServer({ mode: 'instant', model: 'm' });
  slow = await startFaultProxy(engine.url, { plan: () => 'slow', slowMs: 250 });
  const local = join(work, 'questions.jsonl');
  ids = writeQuestions(local, ROWS);
  await s3.put('in/questions.jsonl', local);
});
after(async () => {
  await slow?.close();
  await engine?.close();
  await s3?.stop();
});

function storage(endpoint = s3.endpoint): string {
  return `storage: { endpoint: "${endpoint}", region: us-east-1, path_style: true }`;
}

function job(name: string, body: string): string {
  const p = join(work, `${name}.yaml`);
  writeFileSync(
    p,
    `name: ${name}
prompt: { system: "Answer in one word.", user: "{{ question }}" }
model: m
sampling: { max_tokens: 4 }
limits: { max_failed_fraction: 0, min_rows_for_budget: 1 }
${body}
`,
  );
  return p;
}

function s3cli(args: string[], env: NodeJS.ProcessEnv = {}, onStart?: (pid: number) => void): Promise<CliResult> {
  return runCli(args, { env: { ...s3.env, ...env }, timeoutMs: 300_000, ...(onStart !== undefined ? { onStart } : {}) });
}

/** Keys under `prefix` other than the committed data: `_SUCCESS`, `part-*` files and the folder marker. */
function strays(keys: Record<string, number>, prefix: string): string[] {
  return Object.keys(keys).filter((k) => k !== prefix && k !== `${prefix}_SUCCESS` && !/^part-[^/]+$/.test(k.slice(prefix.length)));
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile());
}

test('A: JSON from s3a:// to Parquet on s3a://, magic committer, run directory local, no credential in any log', {
  timeout: 300_000,
}, async () => {
  const events = join(work, 'events');
  mkdirSync(events);
  const path = job(
    's3-a',
    `input: { format: json, path: "s3a://data/in/questions.jsonl", key: id }
engine: { endpoint: "${engine.url}/v1", kind: openai, concurrency: 4, startup_timeout: 60s }
output: { format: parquet, path: "s3a://data/out/a", include: [question] }
${storage()}
spark: { master: "local[2]", partitions: 3, conf: { spark.eventLog.enabled: true, spark.eventLog.dir: "file://${events}" } }`,
  );
  const r = await s3cli(['run', path, '--json']);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = summaryOf(r);
  assert.equal(s.rows_in, ROWS);
  assert.equal(s.rows_ok, ROWS);
  assert.equal(s.output, 's3a://data/out/a');
  // Only what the committer committed is in the prefix; its _SUCCESS says which committer it was.
  const l = await s3.list('out/a/');
  assert.deepEqual(strays(l.keys, 'out/a/'), [], `stray keys: ${JSON.stringify(l.keys)}`);
  assert.ok(Object.keys(l.keys).filter((k) => k.endsWith('.parquet')).length >= 1, 'parquet part files');
  assert.deepEqual(l.uploads, [], 'no multipart upload left pending');
  const success = JSON.parse(await s3.get('out/a/_SUCCESS')) as { committer?: string; filenames?: string[] };
  assert.equal(success.committer, 'magic');
  assert.equal(success.filenames?.length, Object.keys(l.keys).filter((k) => k.includes('/part-')).length);
  // The run directory is local, beside the job file, and the CLI said where; no folder named after the URI.
  const root = join(work, 'sparkinfer-runs', 's3a_data_out_a');
  assert.ok(existsSync(join(root, String(s.run_id), 'summary.json')), `run directory under ${root}`);
  assert.match(r.stderr, /the run directory \(ledger, logs\) is local: /);
  assert.ok(!existsSync(join(work, 's3a:')), 'no local folder named s3a:');
  // The credentials came from the environment and reached no log, event log, manifest or output.
  const logs = [...filesUnder(root), ...filesUnder(events)];
  assert.ok(filesUnder(events).length >= 1, 'the Spark event log was written');
  for (const secret of [s3.secretAccessKey]) {
    for (const f of logs) assert.ok(!readFileSync(f).includes(secret), `the secret key is in ${f}`);
    assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), 'the secret key is in the CLI output');
  }
});

test('B+C: Parquet from s3a://, SIGKILLed during the write to s3a://, rerun: nothing visible after the kill, every key once after', {
  timeout: 600_000,
}, async () => {
  const out = 'out/b/';
  const path = job(
    's3-b',
    `input: { format: parquet, path: "s3a://data/out/a", key: id }
engine: { endpoint: "${slow.endpoint}", kind: openai, concurrency: 2, startup_timeout: 60s }
output: { format: parquet, path: "s3a://data/out/b", include: [question] }
${storage()}
spark: { master: "local[2,2]", partitions: 4 }`,
  );
  const root = join(work, 'sparkinfer-runs', 's3a_data_out_b');
  assert.ok((await s3.list('out/a/')).keys['out/a/_SUCCESS'] !== undefined, 'B reads the output of test A');
  let pid = 0;
  let ended: CliResult | undefined;
  const a = s3cli(['run', path, '--json'], {}, (p) => {
    pid = p;
  }).then((r) => {
    ended = r;
    return r;
  });
  // Two tasks of 15 rows at a time: past 35 rows, a task has finished and committed its files.
  await waitFor(
    '35 rows in the ledger',
    () => {
      if (ended !== undefined)
        throw new Error(`the run ended before it could be killed (exit ${ended.code}): ${ended.stderr.slice(-2000)}`);
      return ledgerLineCount(root) >= 35;
    },
    240_000,
    20,
  );
  // ... and once the committer has written something for it: kill with committed task state.
  await waitFor(
    `a pending upload or __magic key under ${out}`,
    async () => {
      const l = await s3.list(out);
      return l.uploads.length > 0 || Object.keys(l.keys).some((k) => k.includes('__magic'));
    },
    30_000,
    20,
  );
  const sparkPgids = readGroups(pidDir(runDirs(root)[0] ?? ''))
    .filter((g) => g.role === 'spark')
    .map((g) => g.pgid);
  assert.equal(sparkPgids.length, 1, 'the run recorded its Spark process group');
  killGroup(pid, 'SIGKILL');
  const killed = await a;
  assert.notEqual(killed.code, 0);
  await waitFor("the killed run's Spark processes to exit", () => sparkPgids.every((g) => !groupRunning(g)), 30_000, 100);
  // The magic committer makes nothing visible before the job commit: no part file, no _SUCCESS.
  const afterKill = await s3.list(out);
  const visible = Object.keys(afterKill.keys).filter((k) => /\/part-|_SUCCESS$/.test(k) && !k.includes('__magic'));
  assert.deepEqual(visible, [], `visible after the kill: ${visible.join(', ')}`);
  const magic = Object.keys(afterKill.keys).filter((k) => k.includes('__magic'));
  assert.ok(magic.length + afterKill.uploads.length > 0, 'the killed run left committer state for the rerun to clear');
  process.stderr.write(
    `storage-s3: after the kill: ${magic.length} __magic keys, ${afterKill.uploads.length} pending uploads, ${ledgerLineCount(root)} ledger lines\n`,
  );

  const rerun = await s3cli(['run', path, '--json']);
  assert.equal(rerun.code, 0, rerun.stderr.slice(-3000));
  const s = summaryOf(rerun);
  assert.equal(s.rows_in, ROWS);
  assert.equal((s.rows_from_ledger as number) + (s.rows_inferred as number), ROWS);
  assert.ok((s.rows_from_ledger as number) >= 35, `resumed ${String(s.rows_from_ledger)} rows from the ledger`);
  const l = await s3.list(out);
  assert.deepEqual(strays(l.keys, out), [], `stray keys after the rerun: ${JSON.stringify(l.keys)}`);
  assert.deepEqual(l.uploads, [], "the killed run's pending uploads were aborted");

  // C: read B's Parquet back as input and write it as JSON, which this test reads itself.
  const pathC = job(
    's3-c',
    `input: { format: parquet, path: "s3a://data/out/b", key: id }
engine: { endpoint: "${engine.url}/v1", kind: openai, concurrency: 4, startup_timeout: 60s }
output: { format: json, path: "s3a://data/out/c", include: [question] }
${storage()}
spark: { master: "local[2]", partitions: 2 }`,
  );
  const c = await s3cli(['run', pathC, '--json']);
  assert.equal(c.code, 0, c.stderr.slice(-3000));
  const lc = await s3.list('out/c/');
  const rows: Array<Record<string, unknown>> = [];
  for (const k of Object.keys(lc.keys).filter((x) => /\/part-[^/]+\.json$/.test(x))) {
    for (const line of (await s3.get(k)).split('\n')) if (line !== '') rows.push(JSON.parse(line) as Record<string, unknown>);
  }
  const t = tally(rows, ids);
  assert.equal(t.rowsOut, ROWS);
  assert.equal(t.duplicates, 0);
  assert.equal(t.lost, 0);
  assert.equal(t.foreign, 0);
  for (const [k, row] of t.byKey) assert.equal(row.question, questionText(Number(k)), `question of ${k} came through A, B and C unchanged`);
});

test('D: wrong credentials, a missing bucket and a closed port fail fast with exit 1 or 2, naming the path', {
  timeout: 300_000,
}, async () => {
  const closed = await freePort();
  // The output is checked first (mode: error refuses an existing one), so the message names it or the input.
  const cases: Array<{ name: string; bucket: string; env: NodeJS.ProcessEnv; endpoint: string; want: RegExp }> = [
    {
      name: 's3-wrong-key',
      bucket: 'data',
      env: { AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
      endpoint: s3.endpoint,
      want: /s3a:\/\/data\/(in|out)\/\S+: access refused \(HTTP 403\)/,
    },
    {
      name: 's3-no-bucket',
      bucket: 'no-such-bucket',
      env: {},
      endpoint: s3.endpoint,
      want: /s3a:\/\/no-such-bucket\/\S+: the bucket does not exist/,
    },
    {
      name: 's3-closed-port',
      bucket: 'data',
      env: {},
      endpoint: `http://127.0.0.1:${closed}`,
      want: new RegExp(`s3a://data/\\S+: cannot reach the S3 endpoint at 127\\.0\\.0\\.1:${closed}`),
    },
  ];
  for (const c of cases) {
    const path = job(
      c.name,
      `input: { format: json, path: "s3a://${c.bucket}/in/questions.jsonl", key: id }
engine: { endpoint: "${engine.url}/v1", kind: openai, startup_timeout: 60s }
output: { format: parquet, path: "s3a://${c.bucket}/out/${c.name}" }
${storage(c.endpoint)}
spark: { master: "local[1]" }`,
    );
    const r = await s3cli(['run', path, '--json'], c.env);
    assert.ok(r.code === 1 || r.code === 2, `${c.name}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
    const message = String(summaryOf(r).message ?? '');
    assert.match(message, c.want, `${c.name}: ${message}`);
    assert.doesNotMatch(message, /\n|\.java:\d+\)|Exception/, `${c.name}: a stack trace or class name in the message`);
    assert.ok(r.ms < 120_000, `${c.name}: took ${r.ms} ms`);
    process.stderr.write(`storage-s3: ${c.name}: exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s: ${message}\n`);
  }
});
