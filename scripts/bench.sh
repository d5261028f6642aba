#!/usr/bin/env bash
# `npm run bench -- [--quick] [--json] [--only a,b]`: the benchmark suite (bench/README.md).
# One JSON object on stdout; results and charts in bench/results/; progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE=$(bash scripts/node.sh)
exec "$NODE" --disable-warning=ExperimentalWarning bench/run.ts "$@"
