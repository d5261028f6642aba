#!/usr/bin/env bash
# Builds the Python wheel (python/pyproject.toml, setuptools): the sparkinfer package plus the
# bundled CLI and worker in sparkinfer/_bundle/, so `infer()` needs no checkout and no TypeScript.
#
#   bash scripts/build-wheel.sh [OUT_DIR]     default OUT_DIR: dist/; prints the wheel's path last
#
# It builds in a staging copy, so nothing is written into python/. pip fetches the build backend
# (setuptools) from PyPI into an isolated build environment; pip's cache makes that quick.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
NODE=$(bash scripts/node.sh)
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

version=$("$NODE" -p 'require("./package.json").version')
pyversion=$(sed -n 's/^version = "\([^"]*\)".*/\1/p' python/pyproject.toml)
[ "$version" = "$pyversion" ] || { echo "build-wheel: package.json says $version, python/pyproject.toml says $pyversion" >&2; exit 1; }

"$NODE" scripts/build.ts >&2
stage=$(mktemp -d "${TMPDIR:-/tmp}/sparkinfer-wheel-XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/sparkinfer/_bundle"
cp python/pyproject.toml "$stage/"
cp python/sparkinfer/*.py "$stage/sparkinfer/"
cp dist/sparkinfer.mjs dist/sparkinfer-worker.mjs "$stage/sparkinfer/_bundle/"
# The bundled CLI finds its version (and knows it is not a checkout) through this file.
printf '{"name":"sparkinfer","version":"%s","private":true,"type":"module"}\n' "$version" >"$stage/sparkinfer/_bundle/package.json"
rm -f "$OUT/sparkinfer-$version-py3-none-any.whl"
"$PYTHON" -m pip wheel --quiet --no-deps --disable-pip-version-check -w "$OUT" "$stage" >&2
wheel="$OUT/sparkinfer-$version-py3-none-any.whl"
[ -f "$wheel" ] || { echo "build-wheel: pip wrote no $wheel" >&2; exit 1; }
echo "$wheel"
