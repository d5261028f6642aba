/**
 * deploy/Dockerfile, checked without Docker: dockerfile-utils' linter (syntax, instruction
 * arguments, flags), then our rules on dockerfile-ast's parse: pinned base images, a non-root
 * user, tini as PID 1, versions that match the rest of the project, and COPY sources that exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { DockerfileParser } from 'dockerfile-ast';
import { DEFAULT_SPARK_VERSION } from '../../src/jobfile/kubernetes.ts';
import { NODE_BIN, WORKER_BUNDLE, DRIVER_FILE, SPARK_UID } from '../../src/k8s/render.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const TEXT = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');

/** Base images of each stage with ARG defaults substituted; stage names are kept as they are. */
function stages(
  text: string,
): { image: string; stage: string | null; instructions: { keyword: string; args: string; flags: string[] }[] }[] {
  const df = DockerfileParser.parse(text);
  const args = new Map(df.getInitialARGs().map((a) => [a.getProperty()?.getName() ?? '', a.getProperty()?.getValue() ?? '']));
  const sub = (s: string): string => s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n: string) => args.get(n) ?? `\${${n}}`);
  const out: ReturnType<typeof stages> = [];
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword();
    const content = ins.getArgumentsContent() ?? '';
    if (keyword === 'FROM') {
      const from = df.getFROMs().find((f) => f.getRange().start.line === ins.getRange().start.line);
      out.push({ image: sub(from?.getImage() ?? ''), stage: from?.getBuildStage() ?? null, instructions: [] });
    } else {
      const flags =
        'getFlags' in ins && typeof ins.getFlags === 'function' ? (ins.getFlags() as { getName(): string }[]).map((f) => f.getName()) : [];
      out.at(-1)?.instructions.push({ keyword, args: content, flags });
    }
  }
  return out;
}

test('the linter finds no problem in deploy/Dockerfile, and does find them in a broken one', () => {
  assert.deepEqual(
    validate(TEXT).map((d) => `${d.range.start.line + 1}: ${d.message}`),
    [],
  );
  const broken = "FROM debian:12.8-slim\nCOPY onlyone\nEXPOSE 80/tcpx\nENTRYPOINT ['tini']\n";
  assert.ok(validate(broken).length >= 2, 'the linter reports a COPY without destination and a bad protocol');
});

test('every base image is a pinned Debian 12 tag (BASE_IMAGE), and versions agree with the project', () => {
  const all = stages(TEXT);
  const names = new Set(all.map((s) => s.stage).filter((s): s is string => s !== null));
  const external = all.map((s) => s.image).filter((img) => !names.has(img));
  assert.ok(external.length >= 2, `expected the base in the spark and build stages, got ${external.join(', ')}`);
  for (const img of external) {
    const m = /^[^:@\s]+:([^@\s]+)(@sha256:[0-9a-f]{64})?$/.exec(img);
    assert.ok(m !== null, `${img} has no tag`);
    assert.notEqual(m[1], 'latest', `${img} uses latest`);
    // One base for every stage, so the local cluster tier can pass its mmdebstrap-built equivalent.
    assert.equal(img, 'debian:bookworm-slim', `${img}: every stage starts from BASE_IMAGE (default debian:bookworm-slim)`);
  }
  // pyspark's version is the Spark version of the manifests and of scripts/setup.sh.
  const df = DockerfileParser.parse(TEXT);
  const pyspark = df
    .getInitialARGs()
    .find((a) => a.getProperty()?.getName() === 'PYSPARK_VERSION')
    ?.getProperty()
    ?.getValue();
  assert.equal(pyspark, DEFAULT_SPARK_VERSION, `PYSPARK_VERSION ${pyspark} vs kubernetes.spark_version ${DEFAULT_SPARK_VERSION}`);
  assert.match(
    readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8'),
    new RegExp(`PYSPARK_VERSION=${DEFAULT_SPARK_VERSION.replace(/\./g, '\\.')}\\b`),
  );
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ${} substitution, matched as written.
  const pin = '"pyspark==${PYSPARK_VERSION}"';
  assert.ok(
    all.some((s) => s.instructions.some((i) => i.keyword === 'RUN' && i.args.includes(pin))),
    'pyspark is installed at PYSPARK_VERSION',
  );
  // Node 24 is the node package package-lock.json pins (npm), checked in the build.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  assert.match(lock.packages['node_modules/node']?.version ?? '', /^24\./, 'package-lock.json pins node@24');
  assert.ok(
    all.some((s) => s.instructions.some((i) => i.keyword === 'RUN' && i.args.includes('npm rebuild node'))),
    'the pinned node package provides the node binary',
  );
});

test('the entrypoint handles driver and executor, and the build context carries it', () => {
  const entry = readFileSync(join(ROOT, 'deploy', 'entrypoint.sh'), 'utf8');
  assert.match(entry, /^\s*driver\)/m);
  assert.match(entry, /^\s*executor\)/m);
  assert.match(entry, /KubernetesExecutorBackend/);
  assert.doesNotMatch(entry, /\beval\b/, 'arguments are never re-parsed by a shell');
  assert.ok(readFileSync(join(ROOT, 'deploy', 'Dockerfile.dockerignore'), 'utf8').includes('!deploy/entrypoint.sh'));
});

test('scripts/build.ts needs nothing outside the image build context unless it checks for it', () => {
  // The image's context has src/ and scripts/build.ts only; an unconditional entry elsewhere breaks the image build.
  const build = readFileSync(join(ROOT, 'scripts', 'build.ts'), 'utf8');
  for (const m of build.matchAll(/join\(root, '([^']+\.ts)'\)/g)) {
    const file = m[1] ?? '';
    if (file.startsWith('src/')) continue;
    const esc = file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const v = new RegExp(`const (\\w+) = join\\(root, '${esc}'\\);`).exec(build)?.[1];
    assert.ok(
      v !== undefined && new RegExp(`if \\(existsSync\\(${v}\\)\\) await build\\(`).test(build),
      `${file} is built only when it exists`,
    );
  }
});

test('the final image runs as a numeric non-root user with tini as PID 1', () => {
  const final = stages(TEXT).at(-1);
  assert.ok(final !== undefined);
  const users = final.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args.trim());
  const user = users.at(-1);
  assert.ok(user !== undefined, 'no USER in the final stage: it would run as root');
  assert.match(user, /^\d+(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
  assert.notEqual(user.split(':')[0], '0');
  assert.equal(Number(user.split(':')[0]), SPARK_UID, 'the uid the manifests run as');
  const entry = final.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  assert.ok(entry !== undefined, 'no ENTRYPOINT');
  const argv = JSON.parse(entry.args) as string[];
  assert.ok(Array.isArray(argv), 'exec form');
  assert.match(argv[0] ?? '', /(^|\/)tini$/);
  assert.equal(argv.at(-1), '/opt/entrypoint.sh', 'deploy/entrypoint.sh runs under tini');
});

test('the image puts node, the worker bundle and the driver where the manifests expect them', () => {
  const final = stages(TEXT).at(-1);
  const copies = (final?.instructions ?? []).filter((i) => i.keyword === 'COPY').map((i) => i.args);
  assert.ok(
    (final?.instructions ?? []).some((i) => i.keyword === 'COPY' && i.flags.includes('from')),
    'a multi-stage build',
  );
  const dest = (c: string): string => c.trim().split(/\s+/).at(-1) ?? '';
  assert.ok(copies.some((c) => dest(c) === NODE_BIN));
  assert.ok(copies.some((c) => c.includes('sparkinfer-worker.mjs') && WORKER_BUNDLE.startsWith(dest(c))));
  assert.ok(copies.some((c) => DRIVER_FILE.replace('local://', '').startsWith(dest(c))));
  // The s3a:// jars setup fetches (scripts/lib/cloud-jars.txt) are on Spark's class path in the image.
  assert.ok(
    copies.some((c) => dest(c) === '/opt/spark/jars/'),
    'the cloud jars are copied into /opt/spark/jars/',
  );
  assert.ok(
    stages(TEXT).some((s) =>
      s.instructions.some((i) => i.keyword === 'RUN' && i.args.includes('maven_fetch.py') && i.args.includes('cloud-jars.txt')),
    ),
    'fetched by scripts/lib/maven_fetch.py from the pinned list',
  );
  // Every COPY from the build context names something that exists in the repository.
  for (const s of stages(TEXT)) {
    for (const c of s.instructions.filter((i) => i.keyword === 'COPY' && !i.flags.includes('from'))) {
      for (const src of c.args.trim().split(/\s+/).slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} is missing`);
    }
  }
  const ignore = readFileSync(join(ROOT, 'deploy', 'Dockerfile.dockerignore'), 'utf8');
  for (const needed of [
    'deploy/entrypoint.sh',
    'package.json',
    'package-lock.json',
    'src/',
    'scripts/build.ts',
    'scripts/lib/maven_fetch.py',
    'scripts/lib/cloud-jars.txt',
    'python/sparkinfer/',
  ])
    assert.ok(ignore.includes(`!${needed}`), `.dockerignore excludes ${needed}`);
});
