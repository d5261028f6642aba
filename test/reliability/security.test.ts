/**
 * Bad input and secrets, in one run on a real standalone cluster (master + worker on loopback)
 * against a real llama-server that demands an API key:
 *   - quotes and shell metacharacters in every free-text field of the job file (paths, key and
 *     included column names, templates, model, stop strings, reader options, Spark conf) and in
 *     the data execute nothing: the marker file they all try to create never appears;
 *   - an over-long prompt is a per-row E_CONTEXT_LENGTH, not a failed task;
 *   - the key (from the env var named by engine.api_key_env) reaches the engine, and appears in
 *     no log, output, request column, error, ledger, event log, nor in Spark's REST environment
 *     (spark.executorEnv carries it on a standalone cluster; spark.redaction.regex masks it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf } from '../helpers/cli.ts';
import { startStandalone, type Cluster } from '../helpers/standalone.ts';
import { startEngine, type LocalEngine } from '../../src/launch/engine.ts';
import { freePort } from '../../src/launch/port.ts';
import { printTable, readOutput, row, tally, type ScenarioRow } from './lib.ts';
import { tempDir } from '../helpers/tmp.ts';

const KEY_ENV = 'SPARKINFER_TEST_API_KEY';
const KEY = `sk-test-${randomBytes(12).toString('hex')}`;
const work = tempDir('rel-sec');
const marker = join(work, 'pwned');
// Every way a shell would run `touch <marker>` if one ever saw these strings. The marker's path comes
// from the environment (every process of the run inherits it), so the strings can be file names too.
const MARKER_ENV = 'SPARKINFER_PWNED';
const EVIL = `$(touch "$${MARKER_ENV}") \`touch "$${MARKER_ENV}"\` ; touch "$${MARKER_ENV}" | touch "$${MARKER_ENV}" && touch "$${MARKER_ENV}" ' " > "$${MARKER_ENV}.gt"`;
const table: ScenarioRow[] = [];
let engine: LocalEngine;
let cluster: Cluster;

before(async () => {
  engine = await startEngine({
    kind: 'llama-server',
    model: 'smollm2-135m-instruct',
    alias: 'smollm2-135m-instruct',
    args: ['--api-key', KEY],
    parallel: 4,
    ctxPerSlot: 1024,
    maxRestarts: 0,
    logFile: join(work, 'engine', 'engine.log'),
    logger: { info: () => {}, warn: (m) => process.stderr.write(`engine: ${m}\n`) },
  });
  await engine.waitHealthy(120_000);
  cluster = await startStandalone(1, { coresPerWorker: 2 });
});
after(async () => {
  await cluster?.stop();
  await engine?.stop();
  printTable('reliability: bad input and secrets', table);
});

/** Files under `dir` (recursively) whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (p: string): void => {
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const n of readdirSync(p)) walk(join(p, n));
      return;
    }
    if (readFileSync(p).includes(needle)) hits.push(p);
  };
  walk(dir);
  return hits;
}

test('metacharacters execute nothing, an over-long prompt is a row error, and the API key leaks nowhere (standalone cluster, event log on)', {
  timeout: 900_000,
}, async () => {
  const t0 = Date.now();
  // The engine really wants the key.
  const denied = await fetch(`${engine.endpoint}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}',
  });
  assert.equal(denied.status, 401);

  const keyCol = `id\`${EVIL}`;
  const qCol = `q ${EVIL}`;
  const inDir = join(work, `in ${EVIL}`);
  const outDir = join(work, `out ${EVIL}`);
  mkdirSync(inDir);
  const questions = [
    'What is 2 plus 2?',
    EVIL,
    `${EVIL}\n${EVIL}\r\n\t\u0000`,
    '{{ 7 * 7 }} {% for x in range(3) %}{{ x }}{% endfor %}',
    'x'.repeat(20 * 1024),
    'Name a colour.',
  ];
  writeFileSync(
    join(inDir, 'data.jsonl'),
    `${questions.map((q, i) => JSON.stringify({ [keyCol]: i, question: q, [qCol]: `${i} ${EVIL}`, note: EVIL })).join('\n')}\n`,
  );
  const eventLog = join(work, 'events');
  mkdirSync(eventLog);
  const uiPort = await freePort();
  const j = JSON.stringify;
  writeFileSync(
    join(work, 'sec.yaml'),
    `
name: sec
input: { format: json, path: ${j(inDir)}, key: ${j(keyCol)}, options: { ${j(`note ${EVIL}`)}: ${j(EVIL)} } }
prompt:
  system: ${j(`You answer briefly. ${EVIL}`)}
  user: ${j(`Question ({{ note }}): {{ question }} ${EVIL}`)}
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 4, stop: [${j(EVIL)}] }
engine: { endpoint: "${engine.endpoint}", kind: llama-server, concurrency: 2, request_timeout: 120s, startup_timeout: 60s, api_key_env: ${KEY_ENV} }
output: { format: json, path: ${j(outDir)}, include: [${j(qCol)}, note, question], include_request: true }
spark:
  master: "${cluster.master}"
  partitions: 2
  conf:
    spark.executor.memory: 512m
    spark.task.maxFailures: 2
    spark.eventLog.enabled: true
    spark.eventLog.dir: ${j(`file://${eventLog}`)}
    spark.eventLog.compress: false
    spark.ui.port: ${uiPort}
    spark.sparkinfer.note: ${j(EVIL)}
`,
  );
  // Spark's REST environment of the running application, fetched while it runs.
  let environment = '';
  let polling = true;
  const fetchEnv = (async () => {
    const base = `http://127.0.0.1:${uiPort}/api/v1/applications`;
    while (polling && environment === '') {
      try {
        const apps = (await (await fetch(base)).json()) as Array<{ id: string }>;
        const id = apps[0]?.id;
        if (id !== undefined) {
          const res = await fetch(`${base}/${id}/environment`);
          if (res.ok) environment = await res.text();
        }
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const r = await runCli(['run', join(work, 'sec.yaml'), '--json'], { env: { [KEY_ENV]: KEY, [MARKER_ENV]: marker }, timeoutMs: 800_000 });
  polling = false;
  await fetchEnv;
  const s = summaryOf(r);
  const rows = readOutput(outDir);
  const t = tally(
    rows,
    questions.map((_, i) => i),
    keyCol,
  );
  table.push(
    row(
      'metacharacters in job fields and data',
      questions.length,
      t,
      null,
      `exit ${r.code}; marker created: ${existsSync(marker) || existsSync(`${marker}.gt`)}`,
      (Date.now() - t0) / 1000,
    ),
  );

  assert.equal(r.code, 0, r.stderr.slice(-4000));
  assert.equal(existsSync(marker), false, 'no shell ran a metacharacter string');
  assert.equal(existsSync(`${marker}.gt`), false, 'no shell redirect ran');
  assert.equal(t.lost, 0);
  assert.equal(t.duplicates, 0);
  // Carried columns come back byte for byte; the over-long prompt is a row error with a stable code.
  for (const [i, q] of questions.entries()) {
    assert.equal(t.byKey.get(String(i))?.question, q);
    assert.equal(t.byKey.get(String(i))?.[qCol], `${i} ${EVIL}`);
  }
  const long = t.byKey.get('4');
  assert.equal(long?.error_code, 'E_CONTEXT_LENGTH');
  assert.equal(s.rows_failed, 1);
  assert.deepEqual(s.errors_by_code, { E_CONTEXT_LENGTH: 1 });
  for (const [k, x] of t.byKey) if (k !== '4') assert.equal(x.error_code, null, `row ${k} answered with the key`);
  const req = JSON.parse(String(t.byKey.get('1')?.request)) as { messages: Array<{ content: string }>; stop: string[] };
  assert.ok(req.messages[1]?.content.includes(EVIL), 'the data reached the prompt unchanged');
  assert.deepEqual(req.stop, [EVIL]);

  // The key: nowhere on disk that sparkinfer or Spark wrote, nor in what the CLI printed.
  assert.ok(!r.stdout.includes(KEY) && !r.stderr.includes(KEY), 'not in the CLI output');
  const runsRoot = `${outDir}.sparkinfer`;
  for (const dir of [runsRoot, outDir, eventLog]) assert.deepEqual(filesContaining(dir, KEY), [], `not under ${dir}`);
  for (const x of rows) assert.ok(!JSON.stringify(x).includes(KEY), 'not in an output row (request, error_message)');
  // Spark's REST environment and the event log hold the executorEnv entry, redacted.
  assert.notEqual(environment, '', 'fetched /api/v1/applications/<id>/environment while the run was going');
  assert.ok(!environment.includes(KEY), 'not in the REST environment');
  const redacted = new RegExp(`"spark\\.executorEnv\\.${KEY_ENV}"\\s*[,:]\\s*"\\*+\\(redacted\\)"`);
  assert.match(environment, redacted, "the REST environment lists the key's entry, redacted");
  // Spark 4 writes rolling event logs (a folder per application); uncompressed above, to read them here.
  const logs = filesContaining(eventLog, '"Event"');
  assert.ok(logs.length > 0, 'an event log was written');
  const events = logs.map((p) => readFileSync(p, 'utf8')).join('\n');
  assert.match(events, /SparkListenerEnvironmentUpdate/);
  assert.match(events, redacted, "the event log lists the key's entry, redacted");
});
