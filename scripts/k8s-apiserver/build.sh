#!/usr/bin/env bash
# Builds kube-apiserver and etcd from Go modules (proxy.golang.org) for the apiserver test tier
# (npm run test:k8s). Idempotent and cached: the binaries land in
#   ${SPARKINFER_CACHE:-~/.cache/sparkinfer}/k8s/<kubernetes version>/{kube-apiserver,etcd}
# and a second run with the same go.mod/go.sum only prints their paths.
#
# The wrapper module (go.mod here) requires k8s.io/kubernetes at a pinned version and pins every
# k8s.io/* staging repo to the matching v0.x.y, because k8s.io/kubernetes' own go.mod points them
# at ./staging, which does not exist outside its repository. The build runs in a scratch copy so
# the checkout is never modified; go.sum here (when present) pins every module hash.
#
# Usage: scripts/k8s-apiserver/build.sh   -> prints one JSON line {version, kube_apiserver, etcd}
# Env:   SPARKINFER_CACHE, GOPROXY (go's own), K8S_BUILD_NICE (default 19)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$here/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$here/go.mod")"
[[ -n "$version" && -n "$etcd_version" ]] || { echo "k8s-apiserver: cannot read the pinned versions from $here/go.mod" >&2; exit 1; }

cache="${SPARKINFER_CACHE:-$HOME/.cache/sparkinfer}"
out="$cache/k8s/$version"
mkdir -p "$out"

command -v go >/dev/null || { echo "k8s-apiserver: go is not on PATH (Go >= 1.26 is needed)" >&2; exit 1; }

# The binaries are reused only when they were built from exactly this go.mod with this Go.
stamp="$( (cat "$here/go.mod"; go env GOVERSION) | sha256sum | cut -d' ' -f1)"
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -f "$out/BUILD_INFO" ]] && grep -qx "stamp=$stamp" "$out/BUILD_INFO"; then
  printf '{"version":"%s","kube_apiserver":"%s","etcd":"%s","cached":true}\n' "$version" "$out/kube-apiserver" "$out/etcd"
  exit 0
fi

work="$out/src"
rm -rf "$work"
mkdir -p "$work"
cp "$here/go.mod" "$work/go.mod"
[[ -f "$here/go.sum" ]] && cp "$here/go.sum" "$work/go.sum"

nice_level="${K8S_BUILD_NICE:-19}"
export GOFLAGS="-mod=mod ${GOFLAGS:-}"
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$version \
 -X k8s.io/component-base/version.gitMajor=$(echo "${version#v}" | cut -d. -f1) \
 -X k8s.io/component-base/version.gitMinor=$(echo "${version#v}" | cut -d. -f2) \
 -X k8s.io/component-base/version.gitTreeState=clean"

t0=$(date +%s)
echo "k8s-apiserver: building kube-apiserver $version and etcd $etcd_version in $work (nice $nice_level; this takes a while the first time)" >&2
(
  cd "$work"
  nice -n "$nice_level" go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  t1=$(date +%s)
  echo "k8s-apiserver: kube-apiserver built in $((t1 - t0)) s" >&2
  nice -n "$nice_level" go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3
  echo "k8s-apiserver: etcd built in $(($(date +%s) - t1)) s" >&2
)
mv -f "$out/kube-apiserver.tmp" "$out/kube-apiserver"
mv -f "$out/etcd.tmp" "$out/etcd"
# Keep the go.sum the build resolved, so it can be copied next to go.mod to pin hashes.
cp "$work/go.sum" "$out/go.sum"
secs=$(($(date +%s) - t0))
{
  echo "stamp=$stamp"
  echo "kubernetes=$version"
  echo "etcd=$etcd_version"
  echo "go=$(go env GOVERSION)"
  echo "build_seconds=$secs"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$out/BUILD_INFO"
rm -rf "$work"
echo "k8s-apiserver: done in $secs s" >&2
printf '{"version":"%s","kube_apiserver":"%s","etcd":"%s","cached":false,"build_seconds":%s}\n' "$version" "$out/kube-apiserver" "$out/etcd" "$secs"
