#!/usr/bin/env bash
# Runs on the GPU machine (bench/GPU.md), from the repository root, with bench/gpu/carry/* carried.
#   bash bench/gpu/device.sh STEP…      steps, in order; each is skipped once done on this machine:
#     build            llama-server with CUDA (sm_90) from the carried llama.cpp sources
#     prebuilt         llama-server from carried xz parts of an earlier build (pack.sh --prebuilt)
#     random-model     the random-weight Llama GGUF of Qwen2.5-1.5B's shape (make-model.py)
#     smollm2          the demo model from its two carried halves (sha256 checked)
#     bench:MODEL:GPUS gpu-bench.mjs for MODEL (random-1.5b | smollm2) on GPUS (e.g. 1,2,4)
# Bench settings from the environment: WARMUP_S, MEASURE_S, PARALLEL, MAX_TOKENS,
# WORKERS_PER_ENGINE, EXTRA_ARGS (llama-server flags, default -bs), and for diagnostics ARMS
# (ceiling,worker), CEILING_RAMP_S, WORKER_CONCURRENCY (auto); WORKLOAD (fixed | varied answer
# lengths) and REPEATS (arm pairs per engine start, for the spread). TAG names a variant: its result is
# gpu-MODEL-TAG.json, so several variants can run on one machine (one device.sh call each).
# DEADLINE (epoch seconds) overrides the time box, for several device.sh calls in one device call.
# Work lives in $GPU_WORK (default /tmp/sparkinfer-gpu), which stays while the machine is warm.
# Results and logs go to $OUT (the device tool's return folder) when it is set, else $GPU_WORK/out.
set -uo pipefail
CARRY=${CARRY:-bench/gpu/carry}
W=${GPU_WORK:-/tmp/sparkinfer-gpu}
OUT=${OUT:-$W/out}
mkdir -p "$W" "$OUT"
# The tools folder: build/ (sources route) or pre1/ (prebuilt route, pack.sh --prebuilt).
B=$CARRY/build
[ -f "$B/gpu-bench.mjs" ] || B=$CARRY/pre1
T0=$(date +%s)
LIMIT=${STEP_LIMIT_S:-570}   # no step is started that would end after this many seconds (a call may run 600)
DEADLINE=${DEADLINE:-$(( T0 + LIMIT ))}
log() { echo "[device $(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*" >&2; }
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

node_bin() {
  if [ ! -x "$W/node" ]; then
    xz -dc "$B/node.xz" > "$W/node.tmp" 2>/dev/null \
      || python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$B/node.xz" "$W/node.tmp"
    chmod +x "$W/node.tmp" && mv "$W/node.tmp" "$W/node"
  fi
  echo "$W/node"
}

src_dir() {
  if [ ! -f "$W/src/llama.cpp/CMakeLists.txt" ]; then
    rm -rf "$W/src" && mkdir -p "$W/src"
    tar -xJf "$CARRY/build/llama-src.tar.xz" -C "$W/src" \
      || python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$CARRY/build/llama-src.tar.xz" "$W/src"
  fi
  echo "$W/src/llama.cpp"
}

step_build() {
  [ -x "$W/bin/llama-server" ] && { log "build: done before"; return 0; }
  local src; src=$(src_dir)
  nvcc --version | tail -n 2 >&2; nvidia-smi -L >&2
  log "build: configure"
  cmake -S "$src" -B "$W/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DGGML_CCACHE=OFF -DBUILD_SHARED_LIBS=OFF \
    > "$OUT/build.log" 2>&1 || { tail -n 40 "$OUT/build.log" >&2; return 1; }
  log "build: compile (-j$(nproc))"
  local b0; b0=$(date +%s)
  cmake --build "$W/build" --target llama-server -j"$(nproc)" >> "$OUT/build.log" 2>&1 || { tail -n 60 "$OUT/build.log" >&2; return 1; }
  mkdir -p "$W/bin" && cp "$W/build/bin/llama-server" "$W/bin/llama-server"
  log "build: llama-server built in $(( $(date +%s) - b0 )) s ($(du -h "$W/bin/llama-server" | cut -f1))"
  "$W/bin/llama-server" --version >&2 || true
  ldd "$W/bin/llama-server" | grep -i -E "cuda|cublas|not found" >&2 || true
  # Keep a copy in case the machine goes back before the next call (files ≤ 16 MiB each).
  (cd "$W/bin" && xz -T0 -c llama-server | split -b 15M - "$OUT/llama-server.xz.part-")
  gzip -9 -f "$OUT/build.log"
}

step_prebuilt() {
  [ -x "$W/bin/llama-server" ] && { log "prebuilt: done before"; return 0; }
  ls "$CARRY"/pre*/llama-server.xz.part-* >/dev/null 2>&1 || { log "prebuilt: no parts carried"; return 1; }
  mkdir -p "$W/bin" && cat "$CARRY"/pre*/llama-server.xz.part-* | xz -dc > "$W/bin/llama-server.tmp" \
    && chmod +x "$W/bin/llama-server.tmp" && mv "$W/bin/llama-server.tmp" "$W/bin/llama-server" \
    && "$W/bin/llama-server" --version >&2
}

step_random_model() {
  [ -s "$W/models/random-1.5b.gguf" ] && { log "random-model: done before"; return 0; }
  mkdir -p "$W/models"
  local ggufpy
  if [ -f "$B/llama-src.tar.xz" ]; then ggufpy=$(src_dir)/gguf-py
  else mkdir -p "$W/gguf" && tar -xJf "$B/gguf-py.tar.xz" -C "$W/gguf" && ggufpy=$W/gguf/llama.cpp/gguf-py; fi
  python3 "$B/make-model.py" random "$B/vocab.gguf" "$W/models/random-1.5b.gguf.tmp" \
    --preset qwen2.5-1.5b --gguf-py "$ggufpy" && mv "$W/models/random-1.5b.gguf.tmp" "$W/models/random-1.5b.gguf"
}

step_smollm2() {
  [ -s "$W/models/smollm2.gguf" ] && { log "smollm2: done before"; return 0; }
  mkdir -p "$W/models" "$W/parts"
  for p in a b; do [ -f "$CARRY/model-$p/smollm2.part-$p" ] && cp "$CARRY/model-$p/smollm2.part-$p" "$W/parts/"; done
  [ -f "$CARRY/model-b/smollm2.sha256" ] && cp "$CARRY/model-b/smollm2.sha256" "$W/parts/"
  [ -f "$W/parts/smollm2.part-a" ] && [ -f "$W/parts/smollm2.part-b" ] || { log "smollm2: have $(ls "$W/parts" | tr '\n' ' ') — need both halves"; return 1; }
  cat "$W/parts/smollm2.part-a" "$W/parts/smollm2.part-b" > "$W/models/smollm2.gguf.tmp"
  [ "$(sha256sum "$W/models/smollm2.gguf.tmp" | cut -d' ' -f1)" = "$(cat "$W/parts/smollm2.sha256")" ] || { log "smollm2: checksum mismatch"; return 1; }
  mv "$W/models/smollm2.gguf.tmp" "$W/models/smollm2.gguf"
}

step_bench() {  # MODEL GPUS
  local model=$1 gpus=$2 file name
  case $model in
    random-1.5b) file=$W/models/random-1.5b.gguf; name=random-llama-1.5b ;;
    smollm2) file=$W/models/smollm2.gguf; name=smollm2-135m-instruct ;;
    *) log "unknown model $model"; return 1 ;;
  esac
  local tag=${TAG:-}
  [ -f "$W/bench/done-$name-$gpus${tag:+-$tag}" ] && { log "bench $model $gpus ${tag}: done before"; return 0; }
  local node; node=$(node_bin)
  mkdir -p "$W/bench"
  log "bench $model on $gpus GPU(s) ${tag}"
  # EXTRA_ARGS: more llama-server flags; default -bs (backend sampling: llama.cpp samples on the
  # GPU; without it, sampling 256 slots on one CPU thread bounds the engine, see bench/GPU.md).
  local extra=${EXTRA_ARGS--bs}
  "$node" "$B/gpu-bench.mjs" --llama-server "$W/bin/llama-server" --model "$file" --model-name "$name" \
    --gpus "$gpus" --worker "$B/sparkinfer-worker.mjs" --out "$W/bench" --extra-args="$extra" \
    --parallel "${PARALLEL:-256}" --max-tokens "${MAX_TOKENS:-64}" --warmup "${WARMUP_S:-10}" --measure "${MEASURE_S:-30}" \
    --workers-per-engine "${WORKERS_PER_ENGINE:-2}" --arms "${ARMS:-ceiling,worker}" \
    --ceiling-ramp "${CEILING_RAMP_S:-0}" --worker-concurrency "${WORKER_CONCURRENCY:-auto}" \
    --workload "${WORKLOAD:-fixed}" --repeats "${REPEATS:-1}" \
    ${tag:+--tag "$tag"} --result "$OUT/gpu-$name${tag:+-$tag}.json" > "$W/bench/stdout-$name.json"
  local rc=$?
  # The 1-GPU engine log, for its per-request timings (llama-server prints them at release).
  gzip -9 -c "$W"/bench/engine-"$name"-1gpu-0.log > "$OUT/engine-$name${tag:+-$tag}.log.gz" 2>/dev/null || true
  [ $rc = 0 ] || return 1
  touch "$W/bench/done-$name-$gpus${tag:+-$tag}"
}

nvidia-smi --query-gpu=index,name,memory.total,utilization.gpu --format=csv,noheader >&2 || true
# Rough length of a step, in s: a step that would end past LIMIT is not started.
estimate() {
  case $1 in
    build) echo 300 ;; prebuilt) echo 10 ;; random-model) echo 60 ;; smollm2) echo 5 ;;
    bench:*) local g=${1##*:} a; a=$(( $(tr -cd , <<<"${ARMS:-ceiling,worker}" | wc -c) + 1 ))
      echo $(( ((${WARMUP_S:-10} + ${MEASURE_S:-30} + 2) * a * ${REPEATS:-1} + 40) * ( $(tr -cd , <<<"$g" | wc -c) + 1 ) )) ;;
    *) echo 0 ;;
  esac
}
for step in "$@"; do
  if [ $(( $(date +%s) + $(estimate "$step") )) -gt "$DEADLINE" ]; then log "time's up: not starting $step (needs ~$(estimate "$step") s)"; continue; fi
  case $step in
    build) step_build || { log "build failed"; exit 1; } ;;
    prebuilt) step_prebuilt || { log "prebuilt failed"; exit 1; } ;;
    random-model) step_random_model || { log "random-model failed"; exit 1; } ;;
    smollm2) step_smollm2 || log "smollm2 not ready" ;;
    bench:*) IFS=: read -r _ m g <<<"$step"; step_bench "$m" "$g" || log "bench $m failed" ;;
    *) log "unknown step $step"; exit 2 ;;
  esac
done
log "done: $(ls "$OUT" | tr '\n' ' ')"
