/**
 * Client-side chat templates: the GGUF metadata reader (on files written here, and on the demo
 * model that setup fetched), template resolution (`gguf`, .gguf, tokenizer_config.json, plain
 * file) and rendering. Byte-for-byte agreement with llama-server's /apply-template is checked
 * against the real engine in test/e2e/kinds.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readGgufMetadata } from '../../src/prompt/gguf.ts';
import { compileChatTemplate, ggufChatInfo, loadChatTemplate } from '../../src/prompt/chat-template.ts';
import { compilePrompt } from '../../src/prompt/render.ts';
import { resolveModel } from '../../src/launch/paths.ts';
import { SparkinferError, SpecError } from '../../src/errors.ts';
import type { Job } from '../../src/jobfile/schema.ts';
import { tempDir } from '../helpers/tmp.ts';

const dir = tempDir('gguf');

/** Little GGUF writer: typed key/value pairs, no tensors. */
function gguf(kvs: Array<[string, number, unknown]>, o: { magic?: number; version?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    parts.push(b);
  };
  const u64 = (n: bigint): void => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    parts.push(b);
  };
  const str = (s: string): void => {
    const b = Buffer.from(s, 'utf8');
    u64(BigInt(b.length));
    parts.push(b);
  };
  const value = (type: number, v: unknown): void => {
    const b8 = Buffer.alloc(8);
    switch (type) {
      case 0:
        parts.push(Buffer.from([v as number]));
        break;
      case 4:
        u32(v as number);
        break;
      case 5:
        b8.writeInt32LE(v as number);
        parts.push(b8.subarray(0, 4));
        break;
      case 6:
        b8.writeFloatLE(v as number);
        parts.push(b8.subarray(0, 4));
        break;
      case 7:
        parts.push(Buffer.from([v ? 1 : 0]));
        break;
      case 8:
        str(v as string);
        break;
      case 11:
        b8.writeBigInt64LE(v as bigint);
        parts.push(b8);
        break;
      case 12:
        b8.writeDoubleLE(v as number);
        parts.push(b8);
        break;
      case 9: {
        const [inner, items] = v as [number, unknown[]];
        u32(inner);
        u64(BigInt(items.length));
        for (const x of items) value(inner, x);
        break;
      }
      default:
        throw new Error(`test writer: type ${type}`);
    }
  };
  u32(o.magic ?? 0x46554747);
  u32(o.version ?? 3);
  u64(0n);
  u64(BigInt(kvs.length));
  for (const [k, t, v] of kvs) {
    str(k);
    u32(t);
    value(t, v);
  }
  return Buffer.concat(parts);
}

const TEMPLATE =
  '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}';
const KVS: Array<[string, number, unknown]> = [
  ['general.architecture', 8, 'llama'],
  ['general.weird.f32', 6, 0.5],
  ['general.flag', 7, true],
  ['general.i64', 11, -5n],
  ['general.f64', 12, 2.25],
  ['skip.u32s', 9, [4, [1, 2, 3]]],
  [
    'skip.nested',
    9,
    [
      9,
      [
        [8, ['a', 'b']],
        [8, []],
      ],
    ],
  ],
  ['tokenizer.ggml.tokens', 9, [8, ['<unk>', '<s>', '</s>', 'hello']]],
  ['tokenizer.ggml.bos_token_id', 4, 1],
  ['tokenizer.ggml.eos_token_id', 5, 2],
  ['tokenizer.chat_template', 8, TEMPLATE],
];

test('readGgufMetadata reads every value type, skips what is not kept, and reads through a small window', () => {
  const f = join(dir, 'm.gguf');
  writeFileSync(f, Buffer.concat([gguf(KVS), Buffer.alloc(64, 0xff)])); // tensor bytes follow; never read
  const all = readGgufMetadata(f, { windowBytes: 16 });
  assert.equal(all.version, 3);
  assert.equal(all.tensorCount, 0n);
  assert.equal(all.kv.get('general.architecture'), 'llama');
  assert.equal(all.kv.get('general.weird.f32'), 0.5);
  assert.equal(all.kv.get('general.flag'), true);
  assert.equal(all.kv.get('general.i64'), -5n);
  assert.equal(all.kv.get('general.f64'), 2.25);
  assert.deepEqual(all.kv.get('skip.u32s'), [1, 2, 3]);
  assert.deepEqual(all.kv.get('skip.nested'), [['a', 'b'], []]);
  const some = readGgufMetadata(f, { keep: (k) => k.startsWith('tokenizer.') });
  assert.deepEqual(
    [...some.kv.keys()],
    ['tokenizer.ggml.tokens', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.chat_template'],
  );
  assert.deepEqual(ggufChatInfo(f), { template: TEMPLATE, bos: '<s>', eos: '</s>' });
});

test('readGgufMetadata refuses files that are not GGUF, of another version, or cut short', () => {
  const bad = (name: string, bytes: Buffer, re: RegExp): void => {
    const f = join(dir, name);
    writeFileSync(f, bytes);
    assert.throws(
      () => readGgufMetadata(f),
      (e: unknown) => e instanceof SpecError && re.test(e.message),
      name,
    );
  };
  bad('magic.gguf', gguf(KVS, { magic: 0x12345678 }), /is not a GGUF file/);
  bad('v1.gguf', gguf(KVS, { version: 1 }), /version 1 is not supported/);
  const full = gguf(KVS);
  bad('cut.gguf', full.subarray(0, full.length - 10), /ends early/);
  assert.throws(() => readGgufMetadata(join(dir, 'missing.gguf')), /cannot read GGUF file/);
});

test('the demo model (fetched by setup): its GGUF holds the ChatML template with <|im_start|>/<|im_end|>', () => {
  const info = ggufChatInfo(resolveModel('smollm2-135m-instruct'));
  assert.match(info.template ?? '', /<\|im_start\|>/);
  assert.equal(info.bos, '<|im_start|>');
  assert.equal(info.eos, '<|im_end|>');
});

test('loadChatTemplate: gguf needs a launched model; .gguf, tokenizer_config.json and plain files resolve', () => {
  const model = join(dir, 'm.gguf');
  writeFileSync(model, gguf(KVS));
  assert.throws(
    () => loadChatTemplate('gguf', { baseDir: dir }),
    (e: unknown) => e instanceof SpecError && /launches no llama-server model/.test(e.message),
  );
  assert.equal(loadChatTemplate('gguf', { baseDir: dir, ggufModel: model }).source, `gguf:${model}`);
  assert.equal(loadChatTemplate('m.gguf', { baseDir: dir }).bos_token, '<s>');
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      chat_template: [
        { name: 'tool_use', template: 'x' },
        { name: 'default', template: '{{ messages[0].content }}' },
      ],
      bos_token: { content: '<B>' },
      eos_token: '<E>',
    }),
  );
  const cfg = loadChatTemplate('tokenizer_config.json', { baseDir: dir });
  assert.deepEqual([cfg.template, cfg.bos_token, cfg.eos_token], ['{{ messages[0].content }}', '<B>', '<E>']);
  writeFileSync(join(dir, 't.jinja'), '{{ bos_token }}|{{ messages | length }}');
  const plain = loadChatTemplate(join(dir, 't.jinja'), { baseDir: '/', ggufModel: model });
  assert.equal(plain.bos_token, '<s>', 'BOS/EOS come from the launched model');
  assert.equal(loadChatTemplate('t.jinja', { baseDir: dir }).bos_token, '');
  writeFileSync(join(dir, 'broken.jinja'), '{% for m in messages %}');
  assert.throws(() => loadChatTemplate('broken.jinja', { baseDir: dir }), /template syntax error/);
  assert.throws(() => loadChatTemplate('nope.jinja', { baseDir: dir }), /cannot read/);
});

test('rendering: messages, add_generation_prompt, bos/eos; raise_exception becomes a row error', () => {
  const render = compileChatTemplate({ template: TEMPLATE, bos_token: '<s>', eos_token: '</s>', source: 't' });
  assert.equal(
    render([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'a "q" {{ x }}\n' },
    ]),
    '<s>[system]S</s>\n[user]a "q" {{ x }}\n</s>\n[assistant]',
  );
  const strict = compileChatTemplate({
    template: "{% if messages[0].role != 'user' %}{{ raise_exception('first message must be user') }}{% endif %}ok",
    bos_token: '',
    eos_token: '',
    source: 't',
  });
  assert.equal(strict([{ role: 'user', content: '' }]), 'ok');
  assert.throws(
    () => strict([{ role: 'system', content: '' }]),
    (e: unknown) => e instanceof SparkinferError && e.code === 'E_TEMPLATE' && /first message must be user/.test(e.message),
  );
});

test('compilePrompt with a chat template renders the job chat to one completion prompt', () => {
  const prompt = { api: 'completions', system: 'Sys {{ a }}', user: 'U {{ b }}', chat_template: 'x' } as Job['prompt'];
  const p = compilePrompt({ prompt }, { chatTemplate: { template: TEMPLATE, bos_token: '<s>', eos_token: '</s>', source: 't' } });
  assert.deepEqual(p.columns, ['a', 'b']);
  assert.deepEqual(p.render({ a: 1, b: null }), { kind: 'completion', prompt: '<s>[system]Sys 1</s>\n[user]U </s>\n[assistant]' });
});
