#!/usr/bin/env bash
# `npm run soak -- [--rows 100000 | --quick] [--kills-only] [--json]`: the chaos soak (bench/chaos.ts, docs/reliability.md).
# The report on stdout, progress on stderr, the result file in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE=$(bash scripts/node.sh)
exec "$NODE" --disable-warning=ExperimentalWarning bench/chaos.ts "$@"
