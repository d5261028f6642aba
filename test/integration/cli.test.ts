/** The CLI's fast paths: job file errors exit 2 with file:line:col before anything starts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT, runCli, summaryOf } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const work = tempDir('cli');
// validate reads the input's columns (test/integration/validate-checks.test.ts): the jobs below read this file.
writeFileSync(join(work, 'q.jsonl'), '{"question": "What is Spark?"}\n');
const good = `name: ok
input: { format: json, path: q.jsonl }
prompt:
  user: "{{ question }}"
model: m
engine: { endpoint: "http://127.0.0.1:9/v1" }
output: { path: out }
`;

test('validate accepts a good job and lists the referenced columns', async () => {
  writeFileSync(join(work, 'good.yaml'), good);
  const r = await runCli(['validate', join(work, 'good.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /columns: question/);
});

test('validate --json prints the job for infer(): defaults applied, and the columns the templates read', async () => {
  writeFileSync(join(work, 'good3.yaml'), good);
  const r = await runCli(['validate', join(work, 'good3.yaml'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const job = JSON.parse(r.stdout) as {
    engine: { concurrency: unknown };
    run: { id: string; columns: string[]; result_columns: Array<{ name: string; ddl: string }>; endpoint: string; engine_kind: string };
  };
  assert.deepEqual(job.run.columns, ['question']);
  assert.equal(job.run.endpoint, 'http://127.0.0.1:9/v1');
  assert.equal(job.run.engine_kind, 'openai');
  assert.equal(job.engine.concurrency, 'auto');
  // The plan's run block, as for a local run: the run id and the result columns come from TypeScript.
  assert.match(job.run.id, /^[a-z0-9-]+-\d{14}-[0-9a-f]{4}$/);
  assert.deepEqual(job.run.result_columns.slice(0, 3), [
    { name: 'text', ddl: 'string' },
    { name: 'reasoning', ddl: 'string' },
    { name: 'json', ddl: 'string' },
  ]);
});

test("validate: a job without input and output is infer()'s (--no-input-check), and refused at file:line:col otherwise", async () => {
  const bare = 'name: df\nprompt:\n  user: "{{ question }}"\nmodel: m\nengine: { endpoint: "http://127.0.0.1:9/v1" }\n';
  writeFileSync(join(work, 'bare.yaml'), bare);
  const refused = await runCli(['validate', join(work, 'bare.yaml')]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /bare\.yaml:1:1 input: missing required field/);
  assert.match(refused.stderr, /bare\.yaml:1:1 output: missing required field/);
  const r = await runCli(['validate', join(work, 'bare.yaml'), '--json', '--no-input-check']);
  assert.equal(r.code, 0, r.stderr);
  const job = JSON.parse(r.stdout) as { input: Record<string, unknown>; output: Record<string, unknown>; run: { columns: string[] } };
  assert.deepEqual(job.input, { options: {}, keep_model: false }, 'nothing made up for the input');
  assert.equal(job.output.path, undefined);
  assert.deepEqual(job.run.columns, ['question']);
});

test('render: the default image, which is not published, gets one warning on stderr; stdout stays the manifests', async () => {
  const fixture = join(ROOT, 'test', 'fixtures', 'k8s', 'quickstart.yaml');
  const r = await runCli(['render', fixture, '--target', 'k8s']);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('warning'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(
    warnings[0] ?? '',
    /^sparkinfer: warning: no kubernetes\.image .*ghcr\.io\/sparkinfer\/sparkinfer:.* is not published: build deploy\/Dockerfile, push it .*docs\/kubernetes\.md/,
  );
  const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as { kind: string }).kind);
  assert.deepEqual(kinds, ['ConfigMap', 'SparkApplication']);
  const own = await runCli(['render', fixture, '--set', 'kubernetes.image=registry.example.com/ml/sparkinfer:0.1.0']);
  assert.equal(own.code, 0, own.stderr);
  assert.doesNotMatch(own.stderr, /warning/);
  assert.match(own.stdout, /image: registry\.example\.com\/ml\/sparkinfer:0\.1\.0/);
});

test('a wrong field type exits 2 with file:line:col and the field', async () => {
  writeFileSync(join(work, 'bad.yaml'), good.replace('engine: { endpoint', 'engine: { concurrency: fast, endpoint'));
  const r = await runCli(['run', join(work, 'bad.yaml'), '--json']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml:6:\d+ engine\.concurrency/);
  assert.equal(summaryOf(r).status, 'failed');
});

test('an unquoted template gets a "quote it" error', async () => {
  writeFileSync(join(work, 'unquoted.yaml'), good.replace('user: "{{ question }}"', 'user: {{ question }}'));
  const r = await runCli(['validate', join(work, 'unquoted.yaml')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unquoted\.yaml:4:\d+ prompt\.user: .*quoted/);
});

test('--set overrides are validated like the file', async () => {
  writeFileSync(join(work, 'good2.yaml'), good);
  const r = await runCli(['validate', join(work, 'good2.yaml'), '--set', 'engine.request_timeout=30']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /engine\.request_timeout/);
  assert.match(r.stderr, /unit/);
});

test('estimate: a bad --sample or --seed is a usage error (exit 2) that quotes the value, before anything starts', async () => {
  writeFileSync(join(work, 'est.yaml'), good.replace('engine: { endpoint', 'engine: { kind: llama-server, endpoint'));
  for (const [flag, value] of [
    ['--sample', '0'],
    ['--sample', 'abc'],
    ['--sample', '2.5'],
    ['--seed', '-1'],
  ] as const) {
    const r = await runCli(['estimate', join(work, 'est.yaml'), flag, value]);
    assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${flag}.*\`${value.replace('.', '\\.')}\``), `${flag} ${value}`);
    assert.equal(r.stdout, '');
  }
});

test('estimate: an engine without a tokenizer and a bad estimate: section exit 2 before anything starts', async () => {
  writeFileSync(join(work, 'est-openai.yaml'), good);
  const r = await runCli(['estimate', join(work, 'est-openai.yaml'), '--json']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no tokenizer endpoint; set `engine\.kind` to `llama-server` or `vllm`/);
  assert.equal(summaryOf(r).status, 'failed');
  writeFileSync(
    join(work, 'est-price.yaml'),
    `${good.replace('engine: { endpoint', 'engine: { kind: vllm, endpoint')}estimate: { price_per_hour: "two" }\n`,
  );
  const p = await runCli(['estimate', join(work, 'est-price.yaml')]);
  assert.equal(p.code, 2, p.stderr);
  assert.match(p.stderr, /est-price\.yaml:8:\d+ estimate\.price_per_hour: expected a number from 0 and up, got "two" \(string\)/);
  // A multi-stage job: refused with the way to try it, not a failure after Spark has started.
  writeFileSync(
    join(work, 'est-stages.yaml'),
    good
      .replace('engine: { endpoint', 'engine: { kind: llama-server, endpoint')
      .replace('prompt:\n  user: "{{ question }}"\n', 'stages:\n  - name: first\n    prompt: { user: "{{ question }}" }\n'),
  );
  const st = await runCli(['estimate', join(work, 'est-stages.yaml')]);
  assert.equal(st.code, 2, st.stderr);
  assert.match(st.stderr, /estimate does not cover multi-stage jobs yet .*sparkinfer run --limit N/);
});

test('status, logs and cancel without a kubeconfig exit 2 with one clear line, no stack trace', async () => {
  for (const command of ['status', 'logs', 'cancel']) {
    const r = await runCli([command, 'some-run'], { env: { KUBECONFIG: join(work, 'no-such-kubeconfig'), KUBERNETES_SERVICE_HOST: '' } });
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    assert.match(r.stderr, /^sparkinfer: no Kubernetes context: no kubeconfig found .*pass --context or --kubeconfig\n$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('batch usage errors say "sparkinfer:" once and exit 2', async () => {
  const missing = join(work, 'missing.jsonl');
  const r = await runCli(['batch', '-i', missing, '-o', join(work, 'out.jsonl'), '--endpoint', 'http://127.0.0.1:9/v1']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, `sparkinfer: batch: input file ${missing} does not exist\n`);
  const both = await runCli(['batch', '-i', missing, '-o', join(work, 'out.jsonl')]);
  assert.equal(both.code, 2, both.stderr);
  assert.equal(both.stderr, 'sparkinfer: batch: give either --endpoint URL or --launch\n');
});
