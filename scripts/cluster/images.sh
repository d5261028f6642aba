#!/usr/bin/env bash
# Builds the local cluster's container images without a registry or a Docker engine, and writes
# each as a docker-archive tar that `ctr -n k8s.io images import` loads (scripts/cluster/ does):
#   pause    localhost/sparkinfer/pause:1          scripts/cluster/pause.c, static, FROM scratch
#   base     localhost/sparkinfer/debian:bookworm  Debian 12 minbase from Debian packages
#                                                  (mmdebstrap): what debian:bookworm-slim is
#   spark    localhost/sparkinfer/sparkinfer:dev   deploy/Dockerfile itself, BASE_IMAGE=the base
#   engine   localhost/sparkinfer/llama-server:cpu deploy/engine-llama-server.Dockerfile: the CPU
#                                                  llama-server setup built + the demo model
# Tars and a stamp per image go to ${SPARKINFER_CACHE:-~/.cache/sparkinfer}/cluster/images/;
# an image is rebuilt only when its inputs changed. buildah keeps its own storage under
# .../cluster/buildah (never /var/lib/containers). Needs root and scripts/cluster/deps.sh.
#   vllm     localhost/sparkinfer/vllm:cpu         deploy/engine-vllm-cpu.Dockerfile: vLLM's CPU build +
#                                                  the demo model (optional, ~7 GB: only when named)
# Usage: scripts/cluster/images.sh [pause|base|spark|engine|vllm ...]   (default: the first four, in this order)
# Prints one JSON line per image: {"name","ref","tar","cached","build_seconds"}.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${SPARKINFER_CACHE:-$HOME/.cache/sparkinfer}"
out="$cache/cluster/images"
mkdir -p "$out" "$cache/cluster/buildah"
bash "$here/deps.sh" --check
# A TLS-intercepting proxy's CA, for pip/npm/Maven inside the build (a build secret, never in a layer).
build_ca="${SPARKINFER_BUILD_CA:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
secret=(); [[ -s "$build_ca" ]] && secret=(--secret "id=build-ca,src=$build_ca")
ba() { buildah --root "$cache/cluster/buildah/root" --runroot /run/sparkinfer-buildah --storage-driver overlay "$@"; }
# On every exit (a failed or interrupted build too): no working container and no mount of buildah's
# storage stays behind (an interrupted `buildah build` leaves its container's overlay mounted).
# `npm run cluster -- down` unmounts the same (scripts/cluster/cluster.ts ourMounts) after a SIGKILL.
release_storage() {
  ba rm --all >/dev/null 2>&1 || true
  awk -v r="$cache/cluster/buildah" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
}
trap release_storage EXIT

# Keep in sync with src/launch/paths.ts and scripts/setup.sh (the llama-server and the demo model).
llama_dir="$(ls -d "$cache"/llama-server/*/ 2>/dev/null | sort -V | tail -1)"
model="$cache/models/smollm2-135m-instruct.gguf"

# done_already NAME STAMP: true when NAME's tar exists and was built from STAMP.
done_already() { [[ -f "$out/$1.tar" && -f "$out/$1.stamp" ]] && [[ "$(cat "$out/$1.stamp")" == "$2" ]]; }
report() { printf '{"name":"%s","ref":"%s","tar":"%s","cached":%s%s}\n' "$1" "$2" "$out/$1.tar" "$3" "${4:+,\"build_seconds\":$4}"; }
# save NAME REF STAMP T0: writes the image REF as NAME.tar (docker-archive) and its stamp.
save() {
  rm -f "$out/$1.tar.tmp"
  ba push -q "$2" "docker-archive:$out/$1.tar.tmp:$2" >/dev/null
  mv -f "$out/$1.tar.tmp" "$out/$1.tar"
  echo "$3" > "$out/$1.stamp"
  report "$1" "$2" false $(($(date +%s) - $4))
}
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

build_pause() {
  local ref=localhost/sparkinfer/pause:1 stamp; stamp="$(hash_of "$here/pause.c" "$here/images.sh")"
  if done_already pause "$stamp"; then report pause "$ref" true; return; fi
  local t0; t0=$(date +%s); local tmp; tmp="$(mktemp -d)"
  gcc -static -O2 -o "$tmp/pause" "$here/pause.c"
  local c; c="$(ba from scratch)"
  ba copy "$c" "$tmp/pause" /pause >/dev/null
  ba config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  ba commit -q --rm "$c" "$ref" >/dev/null
  rm -rf "$tmp"
  save pause "$ref" "$stamp" "$t0"
}

build_base() {
  local ref=localhost/sparkinfer/debian:bookworm stamp; stamp="$(echo "bookworm minbase v1" | sha256sum | cut -d' ' -f1)"
  if done_already base "$stamp"; then report base "$ref" true; return; fi
  local t0; t0=$(date +%s); local tmp; tmp="$(mktemp -d)"
  # The Debian archive is the only source; --skip=output/dev keeps device nodes out of the tar
  # (the runtime creates /dev), the same shape as the public debian:*-slim images.
  mmdebstrap --quiet --variant=minbase --format=tar --skip=output/dev \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --aptopt='Acquire::Retries "3"' \
    bookworm "$tmp/rootfs.tar" http://deb.debian.org/debian
  local c; c="$(ba from scratch)"
  local mnt; mnt="$(ba mount "$c")"
  tar -C "$mnt" -xf "$tmp/rootfs.tar"
  ba umount "$c" >/dev/null
  ba config --cmd '["bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  ba commit -q --rm "$c" "$ref" >/dev/null
  rm -rf "$tmp"
  save base "$ref" "$stamp" "$t0"
}

build_spark() {
  local ref=localhost/sparkinfer/sparkinfer:dev
  # The build context is what deploy/Dockerfile.dockerignore lets through; hash those files.
  local stamp; stamp="$(cd "$root" && { cat deploy/Dockerfile deploy/Dockerfile.dockerignore deploy/entrypoint.sh "$out/base.stamp"; git ls-files -z package.json package-lock.json tsconfig.json src scripts/build.ts scripts/lib/maven_fetch.py scripts/lib/cloud-jars.txt python/sparkinfer | xargs -0 cat; } | sha256sum | cut -d' ' -f1)"
  if done_already spark "$stamp"; then report spark "$ref" true; return; fi
  local t0; t0=$(date +%s)
  ba build --isolation chroot --network host --layers -f "$root/deploy/Dockerfile" \
    --ignorefile "$root/deploy/Dockerfile.dockerignore" "${secret[@]}" \
    --build-arg BASE_IMAGE=localhost/sparkinfer/debian:bookworm -t "$ref" "$root" >&2
  save spark "$ref" "$stamp" "$t0"
}

build_engine() {
  local ref=localhost/sparkinfer/llama-server:cpu
  [[ -n "$llama_dir" && -x "$llama_dir/llama-server" && -f "$model" ]] || { echo "cluster-images: no llama-server or demo model in $cache: run scripts/setup.sh" >&2; exit 1; }
  local stamp; stamp="$( { cat "$root/deploy/engine-llama-server.Dockerfile" "$out/base.stamp" "$llama_dir/BUILD_INFO"; echo "$model $(stat -c %s "$model")"; } | sha256sum | cut -d' ' -f1)"
  if done_already engine "$stamp"; then report engine "$ref" true; return; fi
  local t0; t0=$(date +%s); local ctx; ctx="$(mktemp -d)"
  cp "$llama_dir/llama-server" "$ctx/llama-server"
  cp "$model" "$ctx/model.gguf"
  ba build --isolation chroot --network host --layers -q -f "$root/deploy/engine-llama-server.Dockerfile" \
    --build-arg BASE_IMAGE=localhost/sparkinfer/debian:bookworm -t "$ref" "$ctx" >/dev/null
  rm -rf "$ctx"
  save engine "$ref" "$stamp" "$t0"
}

# Optional (about 7 GB, not in the default set): `images.sh vllm`, for `npm run test:cluster:vllm`.
build_vllm() {
  local ref=localhost/sparkinfer/vllm:cpu
  [[ -f "$model" ]] || { echo "cluster-images: no demo model in $cache: run scripts/setup.sh" >&2; exit 1; }
  local stamp; stamp="$( { cat "$root/deploy/engine-vllm-cpu.Dockerfile" "$root/bench/vllm-convert.py" "$out/base.stamp"; echo "$model $(stat -c %s "$model")"; } | sha256sum | cut -d' ' -f1)"
  if done_already vllm "$stamp"; then report vllm "$ref" true; return; fi
  local t0; t0=$(date +%s); local ctx; ctx="$(mktemp -d)"
  cp "$model" "$ctx/model.gguf"
  cp "$root/bench/vllm-convert.py" "$ctx/vllm-convert.py"
  ba build --isolation chroot --network host --layers -f "$root/deploy/engine-vllm-cpu.Dockerfile" "${secret[@]}" \
    --build-arg BASE_IMAGE=localhost/sparkinfer/debian:bookworm -t "$ref" "$ctx" >&2
  rm -rf "$ctx"
  save vllm "$ref" "$stamp" "$t0"
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(pause base spark engine)
for n in "${names[@]}"; do
  case "$n" in
    pause) build_pause ;; base) build_base ;; spark) build_spark ;; engine) build_engine ;; vllm) build_vllm ;;
    *) echo "cluster-images: unknown image '$n'" >&2; exit 2 ;;
  esac
done
