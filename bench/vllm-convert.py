"""Converts the demo model (SmolLM2-135M-Instruct, GGUF Q4_1 from ~/.cache/sparkinfer/models) to a
Hugging Face folder with bf16 safetensors, offline, for the optional vLLM bench engine:

    bench/.vllm-venv/venv/bin/python bench/vllm-convert.py bench/.vllm-model/smollm2-135m-instruct [MODEL.gguf]

transformers dequantizes GGUF weights on load (`gguf_file=`, needs the `gguf` and `accelerate`
packages); its GGUF loader marks the model as quantized, which blocks `save_pretrained`, so the
marker is dropped first (the weights in memory are plain tensors by then).
"""

import os
import sys
import time

from transformers import AutoModelForCausalLM, AutoTokenizer

# The GGUF: the second argument (the cluster's vLLM image build, deploy/engine-vllm-cpu.Dockerfile), else the setup's cache.
gguf = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.expanduser('~/.cache/sparkinfer/models/smollm2-135m-instruct.gguf')
src, f = os.path.dirname(gguf), os.path.basename(gguf)
out = sys.argv[1]
t = time.time()
tok = AutoTokenizer.from_pretrained(src, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(src, gguf_file=f, dtype='bfloat16')
# The GGUF weights are dequantized on load; drop the quantizer marker so the model saves as plain safetensors.
model.hf_quantizer = None
if hasattr(model.config, 'quantization_config'):
    del model.config.quantization_config
for attr in ('is_quantized', '_is_quantized_training_enabled'):
    if attr in model.__dict__:
        model.__dict__[attr] = False
model.save_pretrained(out, safe_serialization=True)
tok.save_pretrained(out)
print('converted in', round(time.time() - t, 1), 's:', os.listdir(out))
