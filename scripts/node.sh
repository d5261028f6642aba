#!/usr/bin/env bash
# Prints the path of a Node >= 24: the system `node` when it is new enough, else the one pinned in
# package-lock.json (the npm package `node@24`, installed by `bash scripts/setup.sh`).
# Usage: NODE=$(bash scripts/node.sh) && "$NODE" file.ts
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIN_MAJOR=24

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

system_node=$(command -v node || true)
if [ -n "$system_node" ] && [ "$(major_of "$system_node")" -ge "$MIN_MAJOR" ]; then
  echo "$system_node"
  exit 0
fi

pinned=$ROOT/node_modules/node/bin/node
if [ -x "$pinned" ] && [ "$(major_of "$pinned")" -ge "$MIN_MAJOR" ]; then
  echo "$pinned"
  exit 0
fi

if [ -n "$system_node" ]; then
  have="system node is $("$system_node" --version 2>/dev/null || echo '?') at $system_node"
else
  have="no system node"
fi
echo "node.sh: need Node >= $MIN_MAJOR: $have, and $pinned is missing or too old; run: bash scripts/setup.sh" >&2
exit 1
