#!/usr/bin/env bash
# `npm run quickstart`: set everything up, run the example job, print a few answers read back from
# the written output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NODE=$(bash scripts/node.sh)
out=examples/quickstart/out
rm -rf "$out" "$out.sparkinfer"
bin/sparkinfer run examples/quickstart/job.yaml
"$NODE" --disable-warning=ExperimentalWarning scripts/show-output.ts "$out" 5
