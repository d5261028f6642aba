/**
 * Docs that cannot drift: every `sparkinfer` flag that README.md and docs/*.md show exists in that
 * command's `--help` (and takes a value only where the CLI takes one), and every repository path
 * and relative link they cite exists. Spawns `bin/sparkinfer <cmd> --help` only: no Spark, no engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, globSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMMANDS = ['setup', 'validate', 'run', 'estimate', 'jvm-archive', 'render', 'submit', 'status', 'logs', 'cancel', 'batch'];
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** A command's flags from its --help: name → whether it takes a value (`--set <path=value>`). */
function helpFlags(command: string): Map<string, boolean> {
  const r = spawnSync(join(ROOT, 'bin', 'sparkinfer'), [command, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${command} --help: ${r.stderr}`);
  const flags = new Map<string, boolean>();
  for (const line of r.stdout.split('\n')) {
    const m = /^\s+((?:-[A-Za-z], )?--[a-z][a-z0-9-]*)( [<[])?/.exec(line);
    if (m === null) continue;
    for (const f of (m[1] as string).split(', ')) flags.set(f, m[2] !== undefined);
  }
  return flags;
}

interface Use {
  doc: string;
  line: number;
  commands: string[];
  flag: string;
  value: boolean;
}

const FLAG = /(?<![\w/-])(--?[A-Za-z][a-z0-9-]*)(=\S+)?/g;

const CMD = new RegExp(`sparkinfer (${COMMANDS.join('|')})\\b`, 'g');

/** Segments of a line that hold one command's flags: in code, up to a pipe or `&&`; in prose, the rest of its backtick span. */
function segments(line: string, code: boolean): { commands: string[]; text: string }[] {
  const row = new RegExp(`^\\| \`((?:${COMMANDS.join('|')})\\b[^|]*)\\|`).exec(line);
  if (row !== null) {
    // A row of docs/architecture.md's CLI table: `| \`status RUN\`, \`logs RUN [-f]\` | flags |`.
    const names = [...line.split('|')[1]!.matchAll(new RegExp(`\`(${COMMANDS.join('|')})\\b`, 'g'))].map((m) => m[1] as string);
    return [{ commands: names, text: line }];
  }
  const out: { commands: string[]; text: string }[] = [];
  const hits = [...line.matchAll(CMD)];
  hits.forEach((h, j) => {
    let text = line.slice((h.index ?? 0) + h[0].length, hits[j + 1]?.index ?? line.length);
    text = code ? (text.split(/\s(?:\||&&|;)\s/)[0] as string) : (text.split('`')[0] as string);
    out.push({ commands: [h[1] as string], text });
  });
  return out;
}

/** Flags shown with `sparkinfer <cmd>`, and those in the CLI table rows of architecture.md. */
function flagUses(doc: string, text: string): Use[] {
  const out: Use[] = [];
  let code = false;
  text.split('\n').forEach((line, i) => {
    if (line.startsWith('```')) code = !code;
    for (const s of segments(line, code))
      for (const m of s.text.matchAll(FLAG)) {
        // Short flags only as a word of their own (`-f`, `-n`), not inside prose like `-sized`.
        if (!(m[1] as string).startsWith('--') && (m[1] as string).length !== 2) continue;
        out.push({ doc, line: i + 1, commands: s.commands, flag: m[1] as string, value: m[2] !== undefined });
      }
  });
  return out;
}

/**
 * Pages (up to a heading) that describe sparkinfer's own verbs in prose: there every flag written
 * as `--flag` or **--flag** must be one of theirs. Later sections quote other tools' flags.
 */
const CLI_PROSE = [
  { doc: 'docs/kubernetes-cli.md', until: /^## Tested against/, commands: ['render', 'submit', 'status', 'logs', 'cancel'] },
];

function proseFlagUses(doc: string, text: string): Use[] {
  const page = CLI_PROSE.find((p) => p.doc === doc);
  if (page === undefined) return [];
  const out: Use[] = [];
  const lines = text.split('\n');
  const end = lines.findIndex((l) => page.until.test(l));
  lines.slice(0, end < 0 ? lines.length : end).forEach((line, i) => {
    for (const m of line.matchAll(/(?:`|\*\*)(--[a-z][a-z0-9-]*)(=[^`*\s]*)?/g))
      out.push({ doc, line: i + 1, commands: page.commands, flag: m[1] as string, value: m[2] !== undefined });
  });
  return out;
}

test("every sparkinfer flag the docs show exists in that command's --help, and takes a value only where the CLI does", () => {
  const help = new Map(COMMANDS.map((c) => [c, helpFlags(c)]));
  const wrong: string[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const u of [...flagUses(doc, text), ...proseFlagUses(doc, text)]) {
      const known = u.commands.map((c) => help.get(c)?.get(u.flag)).filter((v) => v !== undefined);
      if (known.length === 0) wrong.push(`${u.doc}:${u.line}: ${u.flag} is not a flag of sparkinfer ${u.commands.join('/')}`);
      else if (u.value && !known.includes(true))
        wrong.push(`${u.doc}:${u.line}: ${u.flag} takes no value (sparkinfer ${u.commands.join('/')})`);
    }
  }
  assert.deepEqual(wrong, []);
  // The check sees what it should: a flag of each kind is found.
  const readme = flagUses('README.md', readFileSync(join(ROOT, 'README.md'), 'utf8')).map((u) => `${u.commands[0]} ${u.flag}`);
  for (const f of ['run --retry-errors', 'estimate --sample', 'batch --endpoint']) assert.ok(readme.includes(f), f);
});

const PATH = /(?<![\w/.-])(?:\.\.\/)?((?:src|test|scripts|bench|python|deploy|examples|docs|bin)\/[A-Za-z0-9_.@*/-]*[A-Za-z0-9_*/])/g;
const LINK = /\]\(([^)\s#]+)(?:#[^)]*)?\)/g;

/** Repository paths (`src/…`, `test/…`, …) and relative link targets a doc cites, resolved from the root. */
function citedPaths(doc: string, text: string): { line: number; path: string }[] {
  const out: { line: number; path: string }[] = [];
  text.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(PATH)) {
      const path = (m[1] as string).replace(/\/$/, '');
      // A placeholder (`soak-<time>.json`, `part-…`) or a run's own output (`out.sparkinfer/<run id>/…`) is no repository path.
      const rest = line.slice((m.index ?? 0) + m[0].length);
      if (/^[\w.-]*[<…{]/.test(rest) || path.includes('.sparkinfer/')) continue;
      out.push({ line: i + 1, path });
    }
    for (const m of line.matchAll(LINK)) {
      const target = m[1] as string;
      if (/^[a-z]+:/i.test(target)) continue;
      out.push({ line: i + 1, path: relative(ROOT, resolve(ROOT, dirname(doc), target)) });
    }
  });
  return out;
}

test('every repository path and relative link in README.md and docs/*.md exists', () => {
  const missing: string[] = [];
  let seen = 0;
  for (const doc of DOCS) {
    for (const c of citedPaths(doc, readFileSync(join(ROOT, doc), 'utf8'))) {
      seen++;
      const ok = c.path.includes('*') ? globSync(c.path, { cwd: ROOT }).length > 0 : existsSync(join(ROOT, c.path));
      if (!ok) missing.push(`${doc}:${c.line}: ${c.path}`);
    }
  }
  assert.deepEqual(missing, []);
  assert.ok(seen > 100, `only ${seen} paths found: the pattern no longer sees the docs' citations`);
});
