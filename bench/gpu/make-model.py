#!/usr/bin/env python3
"""Writes GGUF files for the GPU benchmark (bench/GPU.md) with the `gguf` writer that ships in
llama.cpp's sources (gguf-py, from the same PyPI sdist the engine is built from).

  make-model.py vocab  SRC.gguf OUT.gguf       the tokenizer.* metadata of SRC, no tensors (~2 MB)
  make-model.py random VOCAB.gguf OUT.gguf [--preset qwen2.5-1.5b|tiny] [--seed N]
                                               a Llama-architecture model with RANDOM weights (F16)

The random model has the shape of Qwen2.5-1.5B (hidden 1536, 28 layers, 12 heads, 2 KV heads,
FFN 8960, tied embeddings) but the demo model's vocabulary (49,152 tokens), since no other
tokenizer can be fetched offline: about 1.4 B parameters, 2.8 GB. Its answers are noise; the
benchmark fixes their length with `ignore_eos`, so only the shape (compute per token, KV bytes
per token) matters. Field names: llama.cpp's gguf-py constants (gguf.Keys, MODEL_TENSOR names).
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def import_gguf(gguf_py):
    if gguf_py:
        sys.path.insert(0, gguf_py)
    import gguf  # noqa: PLC0415  (path set above)

    return gguf


PRESETS = {
    # name: (hidden, layers, heads, kv_heads, ffn, rope_base, ctx)
    'qwen2.5-1.5b': (1536, 28, 12, 2, 8960, 1_000_000.0, 32768),
    'tiny': (64, 2, 4, 2, 128, 10_000.0, 2048),
}


def copy_tokenizer(gguf, reader, writer):
    """Every tokenizer.* field of `reader`, with its own value types."""
    n = 0
    for name, field in reader.fields.items():
        if not name.startswith('tokenizer.'):
            continue
        main = field.types[0]
        if main == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            value = field.contents()
            writer.add_key_value(name, value, main, sub_type=sub)
        else:
            writer.add_key_value(name, field.contents(), main)
        n += 1
    return n


def vocab(gguf, src, out):
    reader = gguf.GGUFReader(src)
    arch = reader.fields['general.architecture'].contents()
    writer = gguf.GGUFWriter(out, arch)
    writer.add_name('vocabulary of ' + os.path.basename(src))
    vs = reader.fields.get(f'{arch}.vocab_size')
    if vs is not None:
        writer.add_uint32(f'{arch}.vocab_size', int(vs.contents()))
    n = copy_tokenizer(gguf, reader, writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f'wrote {out}: {n} tokenizer fields from {src}', file=sys.stderr)


def random_model(gguf, vocab_file, out, preset, seed):
    import numpy as np  # noqa: PLC0415

    hidden, layers, heads, kv_heads, ffn, rope_base, ctx = PRESETS[preset]
    head_dim = hidden // heads
    reader = gguf.GGUFReader(vocab_file)
    n_vocab = len(reader.fields['tokenizer.ggml.tokens'].data)
    writer = gguf.GGUFWriter(out, 'llama')
    writer.add_name(f'random-{preset} (random weights, benchmark only)')
    writer.add_context_length(ctx)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(rope_base)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    copy_tokenizer(gguf, reader, writer)

    rng = np.random.default_rng(seed)
    params = 0

    def mat(rows, cols):
        nonlocal params
        params += rows * cols
        # numpy shape (rows, cols) is ggml's ne = [cols, rows]: rows = output features.
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    def ones(n):
        nonlocal params
        params += n
        return np.ones(n, dtype=np.float32)

    t0 = time.time()
    writer.add_tensor('token_embd.weight', mat(n_vocab, hidden))
    writer.add_tensor('output_norm.weight', ones(hidden))
    # No output.weight: llama.cpp ties it to token_embd.weight (as Qwen2.5-1.5B does).
    for i in range(layers):
        p = f'blk.{i}.'
        writer.add_tensor(p + 'attn_norm.weight', ones(hidden))
        writer.add_tensor(p + 'attn_q.weight', mat(heads * head_dim, hidden))
        writer.add_tensor(p + 'attn_k.weight', mat(kv_heads * head_dim, hidden))
        writer.add_tensor(p + 'attn_v.weight', mat(kv_heads * head_dim, hidden))
        writer.add_tensor(p + 'attn_output.weight', mat(hidden, heads * head_dim))
        writer.add_tensor(p + 'ffn_norm.weight', ones(hidden))
        writer.add_tensor(p + 'ffn_gate.weight', mat(ffn, hidden))
        writer.add_tensor(p + 'ffn_up.weight', mat(ffn, hidden))
        writer.add_tensor(p + 'ffn_down.weight', mat(hidden, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    size = os.path.getsize(out)
    print(f'wrote {out}: {params / 1e9:.3f} B parameters, {size / 1e9:.2f} GB, {time.time() - t0:.1f} s', file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('mode', choices=['vocab', 'random'])
    ap.add_argument('src')
    ap.add_argument('out')
    ap.add_argument('--preset', default='qwen2.5-1.5b', choices=sorted(PRESETS))
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--gguf-py', default=os.environ.get('GGUF_PY', ''), help="llama.cpp's gguf-py folder")
    a = ap.parse_args()
    gguf = import_gguf(a.gguf_py)
    if a.mode == 'vocab':
        vocab(gguf, a.src, a.out)
    else:
        random_model(gguf, a.src, a.out, a.preset, a.seed)


if __name__ == '__main__':
    main()
