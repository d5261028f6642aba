#!/usr/bin/env bash
# The test command (`npm test`): sets everything up, type-checks, runs the code checks
# (scripts/lint.sh: format, lint, import cycles, layers, contract drift), then runs every tier with
# node:test in one run, so the runner prints one closing summary, and fails when the tests left
# anything in the temporary directory.
#   TIERS="unit integration" npm test     run some tiers only (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test-servers
NODE=$(bash scripts/node.sh)
"$NODE" node_modules/typescript/bin/tsc --noEmit -p .
echo "typecheck: ok" >&2
bash scripts/lint.sh
files=()
for tier in ${TIERS:-unit integration e2e reliability}; do
  for f in test/"$tier"/*.test.ts; do [ -e "$f" ] && files+=("$f"); done
done

# Nothing left behind: the suite runs with a private TMPDIR (os.tmpdir(), Python's tempfile and
# mktemp all honour it; Spark's JVMs keep java.io.tmpdir), so whatever its processes leave there is
# theirs and no one else's. At the end a `sparkinfer-*` entry still there fails the run, named; then
# the folder goes, also when the run is interrupted. (A path that hard-codes /tmp would escape this
# check: code and tests use os.tmpdir() / tempfile.) SPARKINFER_KEEP_TMP=1 keeps it (and the tests'
# own folders, test/helpers/tmp.ts) to read a failed test's files.
suite_tmp=$(mktemp -d "${TMPDIR:-/tmp}/sparkinfer-suite-XXXXXX")
cleanup() {
  if [ "${SPARKINFER_KEEP_TMP:-}" = 1 ]; then echo "kept: $suite_tmp" >&2; else rm -rf "$suite_tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rc=0
# One file at a time: the real-component tiers share 2 cores with Spark and the engine.
TMPDIR=$suite_tmp "$NODE" --disable-warning=ExperimentalWarning --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || rc=$?
left=()
[ "${SPARKINFER_KEEP_TMP:-}" = 1 ] && exit $rc # the tests kept their folders on purpose
for e in "$suite_tmp"/sparkinfer-*; do
  [ -e "$e" ] || continue
  # The engine share board (src/scheduler/board-file.ts): the last worker to leave removes it, but a
  # worker the reliability tests SIGKILL cannot take its claim along; the next worker that joins
  # sweeps it, by design. Everything else named sparkinfer-* is a leak of a test or of the product.
  [ "$(basename "$e")" = sparkinfer-engines ] && continue
  left+=("$e")
done
if [ ${#left[@]} -gt 0 ]; then
  echo "test: ${#left[@]} temporary entries left behind (remove them in the test, test/helpers/tmp.ts, or in the code that made them):" >&2
  for e in "${left[@]}"; do echo "  ${e#"$suite_tmp"/} ($(find "$e" | head -4 | tr '\n' ' '))" >&2; done
  [ $rc -ne 0 ] || rc=1
fi
exit $rc
