import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpecError } from '../../src/errors.ts';
import { referencedColumns, rootVariablesOf, templateVariables } from '../../src/prompt/analyze.ts';
import type { Job } from '../../src/jobfile/schema.ts';

const vars = (t: string): string[] => templateVariables(t, 'prompt.user');

const CASES: { name: string; template: string; expected: string[] }[] = [
  { name: 'plain text', template: 'no variables here', expected: [] },
  { name: 'identifiers in first-use order, no duplicates', template: '{{ b }} {{ a }} {{ b }}', expected: ['b', 'a'] },
  { name: 'attribute access gives the root', template: '{{ row.a }} {{ row.b.c }}', expected: ['row'] },
  {
    name: 'subscripts give the root and walk the index',
    template: "{{ x['y'] }} {{ z[idx] }} {{ s[1:n] }}",
    expected: ['x', 'z', 'idx', 's', 'n'],
  },
  {
    name: 'filters are not variables, their arguments are',
    template: '{{ name | upper }} {{ tags | join(sep) }} {{ v | default(fallback) }}',
    expected: ['name', 'tags', 'sep', 'v', 'fallback'],
  },
  { name: 'tests are not variables', template: '{% if v is defined and w is not none %}{{ v }}{% endif %}', expected: ['v', 'w'] },
  {
    name: 'loop variables and loop are bound inside the loop only',
    template: '{% for t in tags %}{{ loop.index }}{{ t }}{{ other }}{% endfor %}{{ t }}',
    expected: ['tags', 'other', 't'],
  },
  {
    name: 'tuple loop targets and a loop filter',
    template: '{% for k, v in d.items() if v > min %}{{ k }}={{ v }}{% else %}{{ empty }}{% endfor %}',
    expected: ['d', 'min', 'empty'],
  },
  {
    name: 'set targets are bound after the set',
    template: '{{ x }}{% set x = y %}{{ x }}{% set a, b = pair %}{{ a }}{{ b }}',
    expected: ['x', 'y', 'pair'],
  },
  { name: 'a set that reads its own name reads the column', template: '{% set title = title | upper %}{{ title }}', expected: ['title'] },
  { name: 'block set', template: '{% set block %}{{ inner }}{% endset %}{{ block }}', expected: ['inner'] },
  {
    name: 'namespaces',
    template: '{% set ns = namespace(total=0) %}{% for i in items %}{% set ns.total = ns.total + i.n %}{% endfor %}{{ ns.total }}',
    expected: ['items'],
  },
  {
    name: 'macros: params, defaults, caller, free variables',
    template: '{% macro m(a, b=dflt) %}{{ a }}{{ b }}{{ caller() }}{{ outside }}{% endmacro %}{{ m(q) }}',
    expected: ['dflt', 'outside', 'q'],
  },
  {
    name: 'call blocks',
    template: '{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}{{ body }}{% endcall %}',
    expected: ['body'],
  },
  {
    name: 'builtins are not columns',
    template: '{{ true }}{{ none }}{{ False }}{{ range(n) | list }}{{ raise_exception("x") if bad else "" }}',
    expected: ['n', 'bad'],
  },
  { name: 'ternaries in source order', template: '{{ a if c else b }}', expected: ['a', 'c', 'b'] },
  { name: 'literals: lists, dicts, strings', template: '{{ [p, 1, "s"] }}{{ {"k": q} }}{{ "x" ~ r }}', expected: ['p', 'q', 'r'] },
  { name: 'filter blocks', template: '{% filter upper %}{{ shout }}{% endfilter %}', expected: ['shout'] },
  { name: 'comments', template: '{# {{ hidden }} #}{{ shown }}', expected: ['shown'] },
  { name: 'unary and arithmetic', template: '{{ -a + b * c }}{{ not d }}', expected: ['a', 'b', 'c', 'd'] },
  { name: 'loop at top level is an ordinary variable', template: '{{ loop }}', expected: ['loop'] },
];

for (const c of CASES) {
  test(`analysis: ${c.name}`, () => {
    assert.deepEqual(vars(c.template), c.expected);
  });
}

test('syntax errors are SpecErrors naming the field and the Jinja error', () => {
  for (const [template, detail] of [
    ['{{ x', /Unexpected end of input/],
    ['{{ x + }}', /Unexpected token/],
    ['{% for %}', /Unexpected token/],
    ['{% if a %}never closed', /unexpected end of template/],
  ] as const) {
    assert.throws(
      () => templateVariables(template, 'prompt.messages[2].content'),
      (err: unknown) => {
        assert.ok(err instanceof SpecError);
        assert.match(err.message, /^prompt\.messages\[2\]\.content: template syntax error: /);
        assert.match(err.message, detail);
        return true;
      },
    );
  }
});

test('referencedColumns spans system, user, messages and text in order', () => {
  const chat = { api: 'chat', system: 'You are {{ persona }}.', user: '{{ question }} ({{ persona }})' } as Job['prompt'];
  assert.deepEqual(referencedColumns(chat), ['persona', 'question']);
  const messages = {
    api: 'chat',
    messages: [
      { role: 'system', content: '{{ s }}' },
      { role: 'assistant', content: '{{ a }}' },
      { role: 'user', content: '{{ u }}{{ s }}' },
    ],
  } as Job['prompt'];
  assert.deepEqual(referencedColumns(messages), ['s', 'a', 'u']);
  assert.deepEqual(referencedColumns({ api: 'completions', text: 'Q: {{ value }}\nA:' } as Job['prompt']), ['value']);
});

test('a node type the walker does not know (a newer Jinja library) is a SpecError (exit 2), not a plain Error', () => {
  const future = { body: [{ type: 'FutureNode' }] };
  assert.throws(
    () => rootVariablesOf(future),
    (err: unknown) => err instanceof SpecError && /unsupported template node type "FutureNode"/.test(err.message),
  );
});
