import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SparkinferError, SpecError } from '../../src/errors.ts';
import { compilePrompt } from '../../src/prompt/render.ts';
import type { RenderedPrompt } from '../../src/prompt/render.ts';
import type { Job } from '../../src/jobfile/schema.ts';

const chat = (prompt: Partial<Job['prompt']>) => compilePrompt({ prompt: { api: 'chat', ...prompt } as Job['prompt'] });

function userContent(r: RenderedPrompt): string {
  assert.equal(r.kind, 'chat');
  const last = r.messages.at(-1);
  assert.ok(last !== undefined);
  return last.content;
}

test('chat: system then user, with the referenced columns listed once', () => {
  const p = chat({ system: 'You are {{ persona }}.', user: 'Q: {{ question }} ({{ persona }})' });
  assert.deepEqual(p.columns, ['persona', 'question']);
  assert.deepEqual(p.render({ persona: 'terse', question: 'why?', _k: '1', _c: null }), {
    kind: 'chat',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Q: why? (terse)' },
    ],
  });
});

test('chat: messages render each content and keep roles and order, empty ones included', () => {
  const p = chat({
    messages: [
      { role: 'system', content: '{{ s }}' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: '{{ u }}' },
    ],
  });
  assert.deepEqual(p.render({ s: null, u: 'hi' }), {
    kind: 'chat',
    messages: [
      { role: 'system', content: '' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'hi' },
    ],
  });
});

test("completions: text, with the template's one trailing newline dropped like Jinja", () => {
  const p = compilePrompt({ prompt: { api: 'completions', text: 'Q: {{ value }}\nA:\n' } as Job['prompt'] });
  assert.deepEqual(p.render({ value: 'two plus two' }), { kind: 'completion', prompt: 'Q: two plus two\nA:' });
});

test('loops trim their block newlines (trim_blocks, lstrip_blocks)', () => {
  const p = chat({ user: 'Items:\n  {% for t in tags %}\n- {{ t }}\n  {% endfor %}\nEnd' });
  assert.equal(userContent(p.render({ tags: ['a', 'b'] })), 'Items:\n- a\n- b\nEnd');
});

test('null, undefined and missing columns render as empty strings', () => {
  const p = chat({ user: '[{{ a }}][{{ b }}][{{ c }}][{{ d.e }}]' });
  assert.equal(userContent(p.render({ a: null, b: undefined, d: null })), '[][][][]');
});

const HOSTILE: [string, string][] = [
  ['quotes', `he said "hi" and 'bye'`],
  ['backslashes', 'C:\\temp\\new \\n \\u0041 \\\\'],
  ['jinja syntax inside data', '{{ secret }} {% for x in y %}{# c #}{% endfor %}'],
  ['NUL', 'a\u0000b'],
  ['control characters', '\u0001\u0002\u001f\u007f'],
  ['CR, LF, CRLF', 'line1\rline2\nline3\r\nline4'],
  ['tabs', '\tcol1\tcol2\t'],
  ['unicode and emoji', 'héllo wörld — 日本語 🎉👩‍👩‍👧 \u2028\u2029'],
  ['lone surrogate', 'x\ud800y'],
  ['20 KB string', 'ab"\\\n\u0001é🎉'.repeat(2048).slice(0, 20 * 1024)],
];

for (const [name, value] of HOSTILE) {
  test(`hostile data renders byte-exactly and survives JSON: ${name}`, () => {
    const p = chat({ system: 'S', user: '<{{ v }}>' });
    const r = p.render({ v: value });
    assert.equal(userContent(r), `<${value}>`);
    const roundTrip = JSON.parse(JSON.stringify(r)) as RenderedPrompt;
    assert.deepEqual(roundTrip, r);
    // The body line must not carry raw CR/LF (the line protocol and Spark split on them).
    assert.doesNotMatch(JSON.stringify(r), /[\r\n]/);
  });
}

test('integers beyond 2^53 render with their exact digits (BigInt or digit strings)', () => {
  const p = chat({ user: '{{ id }}|{{ s }}|{{ o.big }}|{{ l[0] }}' });
  const out = userContent(
    p.render({ id: 12345678901234567890n, s: '12345678901234567890', o: { big: -98765432109876543210n }, l: [2n ** 64n] }),
  );
  assert.equal(out, '12345678901234567890|12345678901234567890|-98765432109876543210|18446744073709551616');
});

test('numbers and booleans print as the library prints them', () => {
  const p = chat({ user: '{{ i }} {{ f }} {{ b }}' });
  assert.equal(userContent(p.render({ i: 42, f: 0.25, b: false })), '42 0.25 false');
});

test('a render-time failure is a per-row E_TEMPLATE error naming the field', () => {
  const p = chat({ system: 'ok', user: '{{ n.upper() }}' });
  assert.equal(userContent(p.render({ n: 'abc' })), 'ABC');
  assert.throws(
    () => p.render({ n: 5 }),
    (err: unknown) => {
      assert.ok(err instanceof SparkinferError);
      assert.equal(err.code, 'E_TEMPLATE');
      assert.match(err.message, /^prompt\.user: /);
      return true;
    },
  );
  const raising = chat({ user: '{{ raise_exception("row " ~ id ~ " is bad") if bad else "fine" }}' });
  assert.equal(userContent(raising.render({ id: 1, bad: false })), 'fine');
  assert.throws(() => raising.render({ id: 7, bad: true }), /prompt\.user: row 7 is bad/);
});

test('a column named like an object builtin stays a plain value', () => {
  const p = chat({ user: '{{ constructor }}|{{ toString }}' });
  assert.equal(userContent(p.render({})), '|');
  assert.equal(userContent(p.render({ constructor: 'c', toString: 't' })), 'c|t');
});

test('an unresolved chat_template is refused clearly at compile time (the CLI resolves it into job.json)', () => {
  assert.throws(
    () => compilePrompt({ prompt: { api: 'completions', user: '{{ q }}', chat_template: 'gguf' } as Job['prompt'] }),
    (err: unknown) => err instanceof SpecError && /chat_template: "gguf" was not resolved/.test(err.message),
  );
});

test('a template syntax error is a SpecError at compile time', () => {
  assert.throws(
    () => chat({ user: '{{ q ' }),
    (err: unknown) => err instanceof SpecError && /^prompt\.user: template syntax error/.test(err.message),
  );
});

test('one compiled prompt renders 100k rows of a 1 KB template, each with its own values', { timeout: 60_000 }, () => {
  const template = `${'Context: lorem ipsum dolor sit amet. '.repeat(26)}\nQuestion {{ id }}: {{ question }}\nTopic: {{ meta.topic }}`;
  assert.ok(template.length >= 1000);
  const p = chat({ system: 'Be brief.', user: template });
  let last = '';
  for (let i = 0; i < 100_000; i++) last = userContent(p.render({ id: i, question: `q${i}`, meta: { topic: i % 7 } }));
  assert.ok(last.endsWith('\nQuestion 99999: q99999\nTopic: 4'), last.slice(-60));
});

test('text-and-{{ column }} templates (the fast path) render exactly as the library does, whatever the values', async () => {
  const { Template } = await import('@huggingface/jinja');
  const source = 'Q: {{ a }} / {{ b }}{{ a }}\n';
  const p = chat({ user: source });
  const values: unknown[] = [
    'plain',
    '',
    'ünï {{ x }} {% if %} \\n',
    0,
    1.5,
    -2,
    true,
    false,
    null,
    undefined,
    [1, 'a'],
    { k: 'v' },
    10n ** 20n,
    '12345678901234567890',
  ];
  for (const a of values) {
    for (const b of ['s', 7, null]) {
      const row: Record<string, unknown> = { b };
      if (a !== undefined) row.a = a;
      // The library, given what render.ts gives it (BigInt as its digits).
      const expected = new Template(source).render({ a: typeof a === 'bigint' ? a.toString() : a, b } as Record<string, unknown>);
      assert.equal(userContent(p.render(row)), expected, `a=${String(a)} b=${String(b)}`);
    }
  }
});
