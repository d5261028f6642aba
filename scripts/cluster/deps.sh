#!/usr/bin/env bash
# Installs the Debian packages the local cluster needs (npm run cluster; scripts/cluster/):
#   containerd, runc             the container runtime kubelet talks to (CRI)
#   containernetworking-plugins  bridge, host-local, loopback, portmap CNI plugins (/usr/lib/cni)
#   iptables, conntrack          kube-proxy's iptables mode and the cluster's own safety rules
#   mmdebstrap, buildah          the images (Debian base from Debian packages; deploy/Dockerfile
#                                built by buildah, with no Docker engine and no registry)
#   uidmap, fuse-overlayfs       what buildah expects to find (not used as root, but it checks)
# Idempotent: does nothing when every package is installed. Needs root (the cluster does anyway).
# Usage: scripts/cluster/deps.sh [--check]   (--check: exit 1 and name what is missing)
set -euo pipefail

packages=(containerd runc containernetworking-plugins iptables conntrack mmdebstrap buildah uidmap fuse-overlayfs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "cluster-deps: all present (${packages[*]})" >&2
  exit 0
fi
if [[ "${1:-}" == --check ]]; then
  echo "cluster-deps: missing Debian packages: ${missing[*]} (run scripts/cluster/deps.sh)" >&2
  exit 1
fi
[[ $(id -u) -eq 0 ]] || { echo "cluster-deps: root is needed to install ${missing[*]}" >&2; exit 1; }
echo "cluster-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: no docker-ish extras; policy-rc.d keeps dpkg from starting containerd
# (this project starts its own containerd with its own config, see scripts/cluster/).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' > $policy; chmod +x $policy; created_policy=1; fi
trap '[[ $created_policy == 1 ]] && rm -f $policy' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
echo "cluster-deps: installed ${missing[*]}" >&2
