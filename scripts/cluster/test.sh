#!/usr/bin/env bash
# The cluster test tier (`npm run test:cluster`): real jobs on the local one-node cluster
# (scripts/cluster/cluster.ts). Not part of `npm test`: it needs root, and the first run builds the
# Kubernetes binaries and images (docs/kubernetes.md, "Try it on a local cluster").
# Brings the cluster up (idempotent; cached after the first time), runs test/cluster/, and takes the
# cluster down again if this run started it (SPARKINFER_CLUSTER_KEEP=1 keeps it up).
# `--vllm` (npm run test:cluster:vllm) builds the optional vLLM CPU engine image (7.5 GB, about
# 5 minutes the first time here) and runs test/cluster/vllm/ instead: the default engine kind as the sidecar.
set -euo pipefail
cd "$(dirname "$0")/../.."
vllm=0; [[ "${1:-}" == --vllm ]] && vllm=1
tests=(test/cluster/*.test.ts)
[[ $vllm == 1 ]] && tests=(test/cluster/vllm/*.test.ts)
NODE=$(bash scripts/node.sh)
[[ $(id -u) -eq 0 ]] || { echo "test:cluster: needs root (containerd, kubelet, iptables)" >&2; exit 1; }
bash scripts/setup.sh >&2
if [[ $vllm == 1 ]]; then
  t0=$(date +%s)
  bash scripts/cluster/images.sh vllm >&2
  echo "test:cluster: vLLM image ready in $(($(date +%s) - t0)) s" >&2
fi
was_up=0
"$NODE" scripts/cluster/cluster.ts status | grep -q '"operator-controller":[0-9]' && was_up=1
cleanup() { if [[ $was_up == 0 && "${SPARKINFER_CLUSTER_KEEP:-0}" != 1 ]]; then "$NODE" scripts/cluster/cluster.ts down >&2 || true; fi; }
trap cleanup EXIT
t0=$(date +%s)
"$NODE" scripts/cluster/cluster.ts up >&2
echo "test:cluster: cluster up in $(($(date +%s) - t0)) s" >&2
"$NODE" --disable-warning=ExperimentalWarning --test --test-concurrency=1 --test-reporter=spec "${tests[@]}"
