#!/usr/bin/env bash
# The test command (`npm test`): sets everything up, type-checks, runs the code checks
# (scripts/lint.sh: format, lint, import cycles, layers, contract drift), then runs every tier with
# node:test in one run, so the runner prints one closing summary.
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
# One file at a time: the real-component tiers share 2 cores with Spark and the engine.
exec "$NODE" --disable-warning=ExperimentalWarning --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
