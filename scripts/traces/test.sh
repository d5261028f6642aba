#!/usr/bin/env bash
# The traces tier (`npm run test:traces`), separate from `npm test` because the first build of
# Jaeger from its Go module takes minutes (docs/observability.md "Traces"). Builds Jaeger if needed
# (cached, scripts/traces/build.sh), the worker bundle, then runs test/traces/ with node:test.
set -euo pipefail
cd "$(dirname "$0")/../.."
NODE=$(bash scripts/node.sh)
t0=$(date +%s)
built="$(bash scripts/traces/build.sh)"
SPARKINFER_JAEGER="$("$NODE" -e 'process.stdout.write(JSON.parse(process.argv[1]).jaeger)' "$built")"
export SPARKINFER_JAEGER
echo "test:traces: Jaeger ready in $(($(date +%s) - t0)) s: $SPARKINFER_JAEGER" >&2
"$NODE" scripts/build.ts
exec "$NODE" --disable-warning=ExperimentalWarning --test --test-concurrency=1 --test-reporter=spec test/traces/*.test.ts
