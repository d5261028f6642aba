#!/usr/bin/env bash
# The apiserver test tier (`npm run test:k8s`), separate from `npm test` because the first build
# of kube-apiserver and etcd from Go modules takes a long while (see docs/kubernetes-cli.md).
# Builds them if needed (cached), then runs test/k8s/ with node:test.
set -euo pipefail
cd "$(dirname "$0")/../.."
NODE=$(bash scripts/node.sh)
t0=$(date +%s)
bash scripts/k8s-apiserver/build.sh >&2
echo "test:k8s: binaries ready in $(($(date +%s) - t0)) s" >&2
exec "$NODE" --disable-warning=ExperimentalWarning --test --test-concurrency=1 --test-reporter=spec test/k8s/*.test.ts
