#!/usr/bin/env bash
# Builds Jaeger v2 (`github.com/jaegertracing/jaeger/cmd/jaeger`, the module's v1.75.0 tag) from the
# Go module proxy for `npm run test:traces`. Idempotent and cached: the binary lands in
#   ${SPARKINFER_CACHE:-~/.cache/sparkinfer}/jaeger/<version>/jaeger
# and a second run with the same go.mod/go.sum and Go only prints its path. The wrapper module
# (jaeger/go.mod, a `tool` directive made by `go get -tool`) and its go.sum pin every module; the
# build runs in a scratch copy so the checkout is never modified.
#
# Usage: scripts/traces/build.sh   -> prints one JSON line {version, jaeger, cached}
# Env:   SPARKINFER_CACHE, GOPROXY (go's own), JAEGER_BUILD_NICE (default 19)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/jaeger"
version="$(awk '$1 == "github.com/jaegertracing/jaeger" { print $2; exit }' "$here/go.mod")"
[[ -n "$version" ]] || { echo "traces: cannot read Jaeger's pinned version from $here/go.mod" >&2; exit 1; }
command -v go >/dev/null || { echo "traces: go is not on PATH (Go >= 1.26 is needed)" >&2; exit 1; }

cache="${SPARKINFER_CACHE:-$HOME/.cache/sparkinfer}"
out="$cache/jaeger/$version"
mkdir -p "$out"
stamp="$( (cat "$here/go.mod" "$here/go.sum"; go env GOVERSION) | sha256sum | cut -d' ' -f1)"
if [[ -x "$out/jaeger" && -f "$out/BUILD_INFO" ]] && grep -qx "stamp=$stamp" "$out/BUILD_INFO"; then
  printf '{"version":"%s","jaeger":"%s","cached":true}\n' "$version" "$out/jaeger"
  exit 0
fi

work="$out/src"
rm -rf "$work"
mkdir -p "$work"
cp "$here/go.mod" "$here/go.sum" "$work/"
t0=$(date +%s)
echo "traces: building Jaeger $version in $work (nice ${JAEGER_BUILD_NICE:-19}; minutes the first time)" >&2
(cd "$work" && nice -n "${JAEGER_BUILD_NICE:-19}" go build -trimpath -ldflags "-s -w" -o "$out/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
mv -f "$out/jaeger.tmp" "$out/jaeger"
secs=$(($(date +%s) - t0))
printf 'stamp=%s\njaeger=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' "$stamp" "$version" "$(go env GOVERSION)" "$secs" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$out/BUILD_INFO"
rm -rf "$work"
echo "traces: Jaeger built in $secs s" >&2
printf '{"version":"%s","jaeger":"%s","cached":false,"build_seconds":%s}\n' "$version" "$out/jaeger" "$secs"
