#!/usr/bin/env bash
# The code checks `npm test` runs before the tests (also `npm run lint`):
#   - Biome: formatting and lint of the TypeScript tree (biome.jsonc);
#   - ruff: formatting and lint of the Python tree (ruff.toml);
#   - no import cycle in src/ (scripts/check/import-cycles.ts);
#   - every import in src/ keeps to the layer table, no folder-level loop, no file over 450 lines
#     (scripts/check/layers.ts);
#   - no function over 80 lines in src/ (scripts/check/function-length.ts);
#   - python/sparkinfer/contract.py is what the job schema makes (scripts/gen-contract.ts).
#   bash scripts/lint.sh           check; exit 1 on the first kind of failure, saying how to fix it
#   bash scripts/lint.sh --fix     format both trees and apply the linters' safe fixes, then check
set -euo pipefail
cd "$(dirname "$0")/.."
NODE=$(bash scripts/node.sh)
RUFF=${SPARKINFER_CACHE:-$HOME/.cache/sparkinfer}/venvs/ruff-0.17.6/bin/ruff   # scripts/setup.sh step 10
[ -x "$RUFF" ] || { echo "lint: ruff is missing: run bash scripts/setup.sh --test-servers" >&2; exit 1; }
BIOME=node_modules/@biomejs/biome/bin/biome

if [ "${1:-}" = "--fix" ]; then
  "$NODE" "$BIOME" check --write >&2
  "$RUFF" format --quiet .
  "$RUFF" check --fix --quiet .
  "$NODE" scripts/gen-contract.ts >&2
fi
"$NODE" "$BIOME" check --reporter=summary >&2 || { echo "lint: Biome found the problems above; bash scripts/lint.sh --fix formats and applies safe fixes" >&2; exit 1; }
"$RUFF" format --check --quiet . || { echo "lint: ruff format would change the files above; run bash scripts/lint.sh --fix" >&2; exit 1; }
"$RUFF" check --quiet . || { echo "lint: ruff found the problems above" >&2; exit 1; }
"$NODE" scripts/check/import-cycles.ts >&2
"$NODE" scripts/check/layers.ts >&2
"$NODE" scripts/check/function-length.ts >&2
"$NODE" scripts/gen-contract.ts --check
echo "lint: ok" >&2
