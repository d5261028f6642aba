#!/usr/bin/env bash
# Prints the path of a Node >= 24, the one sparkinfer runs on (bin/sparkinfer, setup, tests):
#   1. $SPARKINFER_NODE when set (it must be a Node >= 24: no silent fallback);
#   2. the system `node` on PATH when it is new enough;
#   3. in a checkout, the node@24 that `npm ci` installs (package-lock.json pins it as a devDependency).
# Otherwise it says how to get Node 24 and exits 1.
# Usage: NODE=$(bash scripts/node.sh) && "$NODE" file.ts
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
MIN_MAJOR=24

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
fail() { echo "sparkinfer: needs Node >= $MIN_MAJOR: $1" >&2; exit 1; }

if [ -n "${SPARKINFER_NODE:-}" ]; then
  [ -x "$SPARKINFER_NODE" ] && [ -f "$SPARKINFER_NODE" ] || fail "SPARKINFER_NODE is \`$SPARKINFER_NODE\`, which is not an executable file"
  [ "$(major_of "$SPARKINFER_NODE")" -ge "$MIN_MAJOR" ] \
    || fail "SPARKINFER_NODE is \`$SPARKINFER_NODE\`, which is Node $("$SPARKINFER_NODE" --version 2>/dev/null || echo '?')"
  echo "$SPARKINFER_NODE"
  exit 0
fi

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
  have="the system node is $("$system_node" --version 2>/dev/null || echo '?') ($system_node)"
else
  have="there is no node on PATH"
fi
if [ -f "$ROOT/src/cli/main.ts" ]; then
  fail "$have; run \`npm run setup\` (it installs node@24 into this checkout's node_modules/)"
fi
fail "$have. Install Node $MIN_MAJOR and put it first on PATH, or point SPARKINFER_NODE at it, e.g.:
  npm install --prefix ~/.local/share/sparkinfer-node node@$MIN_MAJOR
  export SPARKINFER_NODE=~/.local/share/sparkinfer-node/node_modules/node/bin/node"
