#!/usr/bin/env bash
# Builds every Go binary the local one-node cluster needs (npm run cluster), cached under
#   ${SPARKINFER_CACHE:-~/.cache/sparkinfer}/k8s/<kubernetes version>/   kube-apiserver, etcd (by
#       scripts/k8s-apiserver/build.sh), kubelet, kube-controller-manager, kube-scheduler, kube-proxy
#   ${SPARKINFER_CACHE:-~/.cache/sparkinfer}/cluster/coredns-<version>/coredns
#   ${SPARKINFER_CACHE:-~/.cache/sparkinfer}/cluster/spark-operator-<version>/spark-operator
#
# The Kubernetes binaries come from the same wrapper module as the apiserver tier
# (scripts/k8s-apiserver/go.mod), so every component has the same version and shares Go's build
# cache. CoreDNS and the spark-operator each have a wrapper module here (coredns.go.mod,
# spark-operator.go.mod). Each binary is rebuilt only when its go.mod or Go changed (a stamp).
#
# The machine is shared: every build runs at nice 19 with one Go process and one scheduler thread
# (GOFLAGS=-p=1, GOMAXPROCS=1) unless K8S_BUILD_PARALLEL=1.
#
# Usage: scripts/cluster/build.sh [component...]   (default: all, in the order below)
#   components: apiserver kubelet kube-scheduler kube-proxy kube-controller-manager spark-operator coredns
# Prints one JSON line per binary: {"name","path","cached","build_seconds"}.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${SPARKINFER_CACHE:-$HOME/.cache/sparkinfer}"
command -v go >/dev/null || { echo "cluster-build: go is not on PATH (Go >= 1.26 is needed)" >&2; exit 1; }
# One build at a time (they share scratch dirs and the machine's two cores): a second caller waits.
mkdir -p "$cache/cluster"
exec 9>"$cache/cluster/build.lock"
flock 9

if [[ "${K8S_BUILD_PARALLEL:-0}" != 1 ]]; then
  export GOMAXPROCS=1
  export GOFLAGS="-p=1 ${GOFLAGS:-}"
fi
export GOFLAGS="-mod=mod ${GOFLAGS:-}"
export K8S_BUILD_NICE="${K8S_BUILD_NICE:-19}"
gover="$(go env GOVERSION)"

# build_one NAME GOMOD OUTDIR PACKAGE LDFLAGS: builds PACKAGE of the wrapper module GOMOD into
# OUTDIR/NAME in a scratch copy (the checkout is never modified), unless the stamp matches.
build_one() {
  local name="$1" gomod="$2" out="$3" pkg="$4" ldflags="$5"
  local stamp; stamp="$( (cat "$gomod"; echo "$pkg $ldflags"; echo "$gover") | sha256sum | cut -d' ' -f1)"
  mkdir -p "$out"
  if [[ -x "$out/$name" && -f "$out/$name.BUILD_INFO" ]] && grep -qx "stamp=$stamp" "$out/$name.BUILD_INFO"; then
    printf '{"name":"%s","path":"%s","cached":true}\n' "$name" "$out/$name"
    return 0
  fi
  local work="$out/src-$name"
  rm -rf "$work"; mkdir -p "$work"
  cp "$gomod" "$work/go.mod"
  local sum="${gomod%.mod}.sum"
  [[ -f "$sum" ]] && cp "$sum" "$work/go.sum"
  local t0; t0=$(date +%s)
  echo "cluster-build: building $name ($pkg) at $(date -u +%H:%M:%S) (nice $K8S_BUILD_NICE, GOFLAGS=$GOFLAGS)" >&2
  (cd "$work" && nice -n "$K8S_BUILD_NICE" go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
  mv -f "$out/$name.tmp" "$out/$name"
  cp "$work/go.sum" "$out/$name.go.sum"
  local secs=$(($(date +%s) - t0))
  printf 'stamp=%s\npackage=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' "$stamp" "$pkg" "$gover" "$secs" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$out/$name.BUILD_INFO"
  rm -rf "$work"
  echo "cluster-build: $name built in $secs s" >&2
  printf '{"name":"%s","path":"%s","cached":false,"build_seconds":%s}\n' "$name" "$out/$name" "$secs"
}

k8s_mod="$root/scripts/k8s-apiserver/go.mod"
k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$k8s_mod")"
k8s_out="$cache/k8s/$k8s_version"
k8s_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$k8s_version \
 -X k8s.io/component-base/version.gitMajor=$(echo "${k8s_version#v}" | cut -d. -f1) \
 -X k8s.io/component-base/version.gitMinor=$(echo "${k8s_version#v}" | cut -d. -f2) \
 -X k8s.io/component-base/version.gitTreeState=clean"
# The version a go.mod requires of MODULE, in a require block or on a one-line `require`.
required() { awk -v m="$1" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$2"; }
coredns_version="$(required github.com/coredns/coredns "$here/coredns.go.mod")"
operator_version="$(required github.com/kubeflow/spark-operator/v2 "$here/spark-operator.go.mod")"
[[ -n "$coredns_version" && -n "$operator_version" ]] || { echo "cluster-build: cannot read the CoreDNS/spark-operator versions from $here/*.go.mod" >&2; exit 1; }

components=("$@")
[[ ${#components[@]} -gt 0 ]] || components=(apiserver kubelet kube-scheduler kube-proxy kube-controller-manager spark-operator coredns)
for c in "${components[@]}"; do
  case "$c" in
    apiserver) bash "$root/scripts/k8s-apiserver/build.sh" ;;
    kubelet|kube-scheduler|kube-proxy|kube-controller-manager)
      build_one "$c" "$k8s_mod" "$k8s_out" "k8s.io/kubernetes/cmd/$c" "$k8s_ldflags" ;;
    coredns)
      build_one coredns "$here/coredns.go.mod" "$cache/cluster/coredns-$coredns_version" "github.com/coredns/coredns" "-s -w" ;;
    spark-operator)
      build_one spark-operator "$here/spark-operator.go.mod" "$cache/cluster/spark-operator-$operator_version" \
        "github.com/kubeflow/spark-operator/v2/cmd/operator" "-s -w" ;;
    *) echo "cluster-build: unknown component '$c'" >&2; exit 2 ;;
  esac
done
