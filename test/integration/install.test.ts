/**
 * The two install routes, taken as a user takes them; nothing here runs from the tree:
 *
 * 1. npm: `npm pack`, `npm install -g --prefix <tmp>` of the tarball, `sparkinfer setup` into a
 *    fresh cache (the llama-server build and the demo model are linked in from the shared cache,
 *    so nothing is compiled twice), then the quickstart job from a folder outside the checkout.
 * 2. wheel: scripts/build-wheel.sh, a fresh venv (no system site packages) with pyspark and the
 *    wheel, then `infer()` on the hostile rows of test/helpers/nasty.ts against a launched
 *    llama-server, compared row by row with what `sparkinfer run` writes for the same rows.
 *
 * Each install step's time goes to the test's diagnostics (docs/setup.md quotes them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { ROOT, readJsonOutput, runCli, runCommand, summaryOf, type CliResult } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { NASTY_QUESTIONS, nastyJsonl } from '../helpers/nasty.ts';
import { cacheDir } from '../../src/launch/paths.ts';
import { PYSPARK_VERSION } from '../../src/install/layout.ts';
import { tempDir } from '../helpers/tmp.ts';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** The Node 24 this suite runs on: what a user points SPARKINFER_NODE at. */
const NODE24 = process.execPath;

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-4000)}`);
  return r;
}

function outsideCheckout(dir: string): void {
  assert.ok(relative(ROOT, dir).startsWith('..'), `${dir} is inside the checkout ${ROOT}`);
}

/** The value of every key column in the output, each once, in order. */
function keysOnce(rows: Array<Record<string, unknown>>, key: string): string[] {
  const keys = rows.map((r) => JSON.stringify(r[key]));
  const dup = keys.filter((k, i) => keys.indexOf(k) !== i);
  assert.deepEqual(dup, [], `keys written more than once: ${dup.join(', ')}`);
  return keys.sort();
}

test('npm route: pack, install -g into a prefix, setup into a fresh cache, run the quickstart from outside the checkout', {
  timeout: 600_000,
}, async (t) => {
  const work = tempDir('npm');
  outsideCheckout(work);

  const pack = ok(await runCommand('npm', ['pack', '--pack-destination', work, '--json'], { timeoutMs: 180_000 }), 'npm pack');
  const tgz = join(work, `sparkinfer-${VERSION}.tgz`);
  assert.ok(existsSync(tgz), pack.stdout);
  const listing = ok(await runCommand('tar', ['-tzf', tgz]), 'tar -t')
    .stdout.split('\n')
    .filter((l) => l !== '');
  for (const f of [
    'bin/sparkinfer',
    'dist/sparkinfer.mjs',
    'dist/sparkinfer-worker.mjs',
    'python/sparkinfer/driver.py',
    'python/sparkinfer/api.py',
    'scripts/setup.sh',
    'scripts/node.sh',
    'scripts/lib/pypi_fetch.py',
    'scripts/lib/maven_fetch.py',
    'scripts/lib/cloud-jars.txt',
    'package.json',
  ]) {
    assert.ok(listing.includes(`package/${f}`), `the tarball lacks ${f}: ${listing.join(' ')}`);
  }
  assert.deepEqual(
    listing.filter((f) => f.startsWith('package/src/') || f.endsWith('.ts')),
    [],
    'TypeScript sources in the tarball',
  );

  const prefix = join(work, 'prefix');
  const install = ok(
    await runCommand('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tgz], { timeoutMs: 180_000 }),
    'npm install -g',
  );
  const pkgDir = join(prefix, 'lib', 'node_modules', 'sparkinfer');
  assert.ok(existsSync(join(prefix, 'bin', 'sparkinfer')), install.stderr);
  assert.ok(!existsSync(join(pkgDir, 'src')), 'an installed package has no src/: it must run the bundle');
  assert.ok(!existsSync(join(pkgDir, 'node_modules')), 'the bundle carries the dependencies: nothing else is installed');

  const cache = join(work, 'cache');
  mkdirSync(cache);
  // The engine build (25-45 min) and the model come from the shared cache; the venv is made fresh.
  for (const d of ['llama-server', 'models']) symlinkSync(join(cacheDir(), d), join(cache, d));
  const PATH = [join(prefix, 'bin'), process.env.PATH ?? ''].join(delimiter);
  const env = { PATH, SPARKINFER_NODE: NODE24, SPARKINFER_CACHE: cache, SPARKINFER_JVM_ARCHIVE: 'off' };
  const cli = (args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}, timeoutMs = 300_000) =>
    runCommand('sparkinfer', args, { cwd, env: { ...env, ...extra }, timeoutMs });

  const version = ok(await cli(['--version'], work), 'sparkinfer --version');
  assert.equal(version.stdout.trim(), VERSION);
  const help = ok(await cli(['--help'], work), 'sparkinfer --help').stdout;
  for (const verb of ['setup', 'validate', 'run', 'render', 'submit', 'batch', 'jvm-archive'])
    assert.match(help, new RegExp(`\\n  ${verb} `), help);

  // No Node 24: exit 2 and how to get one, never a crash on an old Node.
  const badNode = await cli(['--version'], work, { SPARKINFER_NODE: join(work, 'no-such-node') });
  assert.equal(badNode.code, 2, badNode.stderr);
  assert.match(badNode.stderr, /needs Node >= 24: SPARKINFER_NODE is `.*no-such-node`, which is not an executable file/);
  const systemPath = [join(prefix, 'bin'), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);
  const systemNode = (await runCommand('bash', ['-c', 'command -v node || true'], { env: { PATH: systemPath } })).stdout.trim();
  const systemMajor =
    systemNode === '' ? 0 : Number((await runCommand(systemNode, ['-p', 'process.versions.node.split(".")[0]'])).stdout.trim());
  const bare = await runCommand('sparkinfer', ['--version'], { cwd: work, env: { PATH: systemPath, SPARKINFER_NODE: '' } });
  if (systemMajor >= 24) {
    assert.equal(bare.stdout.trim(), VERSION, bare.stderr);
  } else {
    t.diagnostic(`system node: ${systemNode || 'none'} (major ${systemMajor})`);
    assert.equal(bare.code, 2, bare.stderr);
    assert.match(
      bare.stderr,
      /needs Node >= 24: (the system node is v\d+|there is no node on PATH).*\n.*npm install --prefix .* node@24\n.*export SPARKINFER_NODE=/,
    );
  }

  const setup = ok(await cli(['setup'], work, {}, 600_000), 'sparkinfer setup');
  const venv = join(cache, 'venvs', `pyspark-${PYSPARK_VERSION}`);
  assert.match(setup.stderr, new RegExp(`venv: installed pyspark ${PYSPARK_VERSION.replace(/\./g, '\\.')} into ${venv}`), setup.stderr);
  assert.match(setup.stderr, /node_modules: not needed/);
  assert.ok(existsSync(join(venv, 'bin', 'spark-submit')), setup.stderr);
  assert.deepEqual(
    readdirSync(pkgDir).sort(),
    ['README.md', 'bin', 'dist', 'examples', 'package.json', 'python', 'scripts'],
    'setup wrote into the package folder',
  );
  // The package ships the quickstart example (package.json "files").
  for (const f of ['job.yaml', 'questions.jsonl'])
    assert.ok(existsSync(join(pkgDir, 'examples', 'quickstart', f)), `examples/quickstart/${f} not in the package`);
  const again = ok(await cli(['setup'], work), 'sparkinfer setup (again)');
  assert.match(again.stderr, /venv: ok/);
  ok(await cli(['setup', '--check'], work), 'sparkinfer setup --check');

  const qs = join(work, 'quickstart');
  mkdirSync(qs);
  for (const f of ['job.yaml', 'questions.jsonl']) copyFileSync(join(ROOT, 'examples', 'quickstart', f), join(qs, f));
  // All 100 rows, but short answers: the 48-token answers took 40 s on a quiet machine and over
  // 8 min when other work shared its 2 cores. `--set` goes through the installed CLI as well.
  const run = await cli(['run', 'job.yaml', '--json', '--set', 'sampling.max_tokens=8'], qs, {}, 480_000);
  const summary = summaryOf(run);
  assert.equal(run.code, 0, `${JSON.stringify(summary)}\n${run.stderr.slice(-3000)}`);
  const ids = readFileSync(join(qs, 'questions.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.stringify((JSON.parse(l) as { id: unknown }).id));
  const rows = readJsonOutput(join(qs, 'out'));
  assert.deepEqual(keysOnce(rows, 'id'), ids.sort());
  assert.equal(summary.rows_in, ids.length);
  assert.ok(
    rows.every((r) => (typeof r.text === 'string' && r.text !== '') || typeof r.error_code === 'string'),
    'a row without text or error_code',
  );
  t.diagnostic(
    `npm pack ${(pack.ms / 1000).toFixed(1)} s, npm install -g ${(install.ms / 1000).toFixed(1)} s, ` +
      `sparkinfer setup (fresh venv, warm engine cache, no JVM archive) ${(setup.ms / 1000).toFixed(1)} s, again ${(again.ms / 1000).toFixed(1)} s, ` +
      `quickstart ${(run.ms / 1000).toFixed(1)} s (${rows.length} rows, ${String(summary.rows_ok)} ok)`,
  );
});

test('wheel route: build, install into a fresh venv with pyspark, infer() on hostile rows equals sparkinfer run', {
  timeout: 600_000,
}, async (t) => {
  const work = tempDir('wheel');
  outsideCheckout(work);

  const build = ok(
    await runCommand('bash', [join(ROOT, 'scripts', 'build-wheel.sh'), join(work, 'wheel')], { timeoutMs: 300_000 }),
    'build-wheel.sh',
  );
  const wheel = build.stdout.trim().split('\n').pop() ?? '';
  assert.equal(wheel, join(work, 'wheel', `sparkinfer-${VERSION}-py3-none-any.whl`));
  const listing = ok(await runCommand('python3', ['-m', 'zipfile', '-l', wheel]), 'zipfile -l').stdout;
  for (const f of ['sparkinfer/api.py', 'sparkinfer/_bundle/sparkinfer.mjs', 'sparkinfer/_bundle/sparkinfer-worker.mjs'])
    assert.match(listing, new RegExp(`^${f} `, 'm'), listing);

  const venv = join(work, 'venv');
  const py = join(venv, 'bin', 'python');
  const mkVenv = ok(await runCommand('python3', ['-m', 'venv', venv]), 'python3 -m venv');
  const pip = ok(
    await runCommand(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `pyspark==${PYSPARK_VERSION}`, wheel], {
      timeoutMs: 300_000,
    }),
    'pip install',
  );
  const where = ok(
    await runCommand(py, ['-c', 'import sparkinfer; print(sparkinfer.__file__)'], { cwd: work }),
    'import sparkinfer',
  ).stdout.trim();
  assert.ok(where.startsWith(venv), `sparkinfer imported from ${where}, not the venv`);
  const pyEnv = { SPARKINFER_NODE: NODE24, PYSPARK_PYTHON: py, PYSPARK_DRIVER_PYTHON: py, PYTHONPATH: '' };

  // The same rules and messages as the CLI, and a clear error without Node 24.
  writeFileSync(
    join(work, 'bad.yaml'),
    'name: bad\ninput: { format: json, path: x.jsonl }\nprompt: { user: "{{ q }}" }\nmodel: m\nengine: { endpoint: "http://127.0.0.1:9/v1", concurrency: fast }\noutput: { path: out }\n',
  );
  const cliSays = await runCli(['validate', join(work, 'bad.yaml')]);
  assert.equal(cliSays.code, 2);
  const probe = [
    'import sys',
    'from sparkinfer import infer, SpecError, RuntimeFailure',
    'try:',
    '    infer(None, sys.argv[1])',
    'except (SpecError, RuntimeFailure) as e:',
    '    print(type(e).__name__ + ": " + e.message)',
  ].join('\n');
  const pySays = ok(await runCommand(py, ['-c', probe, join(work, 'bad.yaml')], { cwd: work, env: pyEnv }), 'infer(bad.yaml)');
  assert.equal(pySays.stdout.trim(), `SpecError: ${cliSays.stderr.trim().replace(/^sparkinfer: /, '')}`);
  const noNode = ok(
    await runCommand(py, ['-c', probe, join(work, 'bad.yaml')], {
      cwd: work,
      env: { ...pyEnv, SPARKINFER_NODE: join(work, 'no-such-node') },
    }),
    'infer without node',
  );
  assert.match(
    noNode.stdout,
    /^RuntimeFailure: sparkinfer needs Node >= 24: SPARKINFER_NODE is `.*no-such-node`, which is not an executable file/,
  );

  // Text is compared too, so every answer must be computed the same way in both runs: one slot
  // (no batch shared with another request) and no prompt cache (no prefix reused from the
  // previous request). With 2 slots and the cache on, greedy answers differed between the runs.
  const engine = await startDemoEngine({ parallel: 1, args: ['--no-cache-prompt'] });
  t.after(() => engine.stop());
  writeFileSync(join(work, 'nasty.jsonl'), nastyJsonl());
  writeFileSync(
    join(work, 'job.yaml'),
    [
      'name: nasty-install',
      'input: { format: json, path: nasty.jsonl }',
      'prompt:',
      '  system: "Answer in a few words."',
      '  user: "{{ q }} #{{ n }}"',
      'model: smollm2-135m-instruct',
      'sampling: { temperature: 0, seed: 7, max_tokens: 12 }',
      `engine: { endpoint: "${engine.endpoint}", kind: llama-server, concurrency: 1, startup_timeout: 60s }`,
      'output: { format: json, path: cli-out, mode: overwrite, include: [q, n, big] }',
      'limits: { max_failed_fraction: 0.5, min_rows_for_budget: 1 }',
      'spark: { master: "local[2]", partitions: 2 }',
      '',
    ].join('\n'),
  );
  const run = await runCli(['run', join(work, 'job.yaml'), '--json'], { cwd: work, timeoutMs: 300_000 });
  assert.equal(run.code, 0, `${run.stdout.slice(-2000)}\n${run.stderr.slice(-3000)}`);
  writeFileSync(
    join(work, 'infer.py'),
    [
      'import sys',
      'from pyspark.sql import SparkSession',
      'from sparkinfer import infer',
      'spark = (SparkSession.builder.master("local[2]").appName("install-test").config("spark.ui.enabled", "false").getOrCreate())',
      'df = spark.read.option("mode", "FAILFAST").json(sys.argv[1])',
      '# ignoreNullFields=false: the writer option sparkinfer run uses for output.format json (python/sparkinfer/output.py)',
      'infer(df, sys.argv[2]).write.mode("overwrite").option("ignoreNullFields", "false").json(sys.argv[3])',
      'spark.stop()',
      '',
    ].join('\n'),
  );
  const inferRun = ok(
    await runCommand(py, [join(work, 'infer.py'), join(work, 'nasty.jsonl'), join(work, 'job.yaml'), join(work, 'py-out')], {
      cwd: work,
      env: pyEnv,
      timeoutMs: 300_000,
    }),
    'infer()',
  );

  const fromCli = readJsonOutput(join(work, 'cli-out'));
  const fromPy = readJsonOutput(join(work, 'py-out'));
  assert.equal(fromCli.length, NASTY_QUESTIONS.length);
  assert.deepEqual(keysOnce(fromPy, '_key'), keysOnce(fromCli, '_key'));
  const comparable = (r: Record<string, unknown>): Record<string, unknown> => {
    const { latency_ms: _l, run_id: _r, ...rest } = r;
    return rest;
  };
  const byKey = new Map(fromCli.map((r) => [JSON.stringify(r._key), r]));
  for (const r of fromPy)
    assert.deepEqual(comparable(r), comparable(byKey.get(JSON.stringify(r._key)) ?? {}), `row ${JSON.stringify(r._key)}`);
  assert.ok(
    fromPy.some((r) => typeof r.text === 'string' && r.text !== ''),
    'no row was answered',
  );
  t.diagnostic(
    `wheel build ${(build.ms / 1000).toFixed(1)} s, venv ${(mkVenv.ms / 1000).toFixed(1)} s, ` +
      `pip install pyspark + wheel ${(pip.ms / 1000).toFixed(1)} s, sparkinfer run ${(run.ms / 1000).toFixed(1)} s, infer() ${(inferRun.ms / 1000).toFixed(1)} s`,
  );
});
