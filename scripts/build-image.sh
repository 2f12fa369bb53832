#!/usr/bin/env bash
# `make images`: the one ChargePlane image, built with podman (preferred) or docker.
#
#   scripts/build-image.sh TAG VERSION [BASE_IMAGE]
#
# BASE_IMAGE (default python:3.11-slim from Docker Hub) may be the Debian-built base of
# scripts/build-base-image.sh on a machine without registry access. With podman the build
# also gets this machine's pip configuration and CA bundle, so that its `pip install` reaches
# PyPI the way the host does (through a mirror or a proxy's CA), and rlimits at or below the
# machine's hard limits (runc refuses to set higher ones; see scripts/podman.sh).
set -euo pipefail
tag=$1 version=$2 base=${3:-python:3.11-slim}
root=$(cd "$(dirname "$0")/.." && pwd)
engine=$(command -v podman || command -v docker || true)
[ -n "$engine" ] || { echo "build-image: neither podman nor docker is installed" >&2; exit 1; }
args=(build --build-arg "VERSION=$version" --build-arg "BASE_IMAGE=$base" --tag "$tag")
if [ "$(basename "$engine")" = podman ]; then
  engine=$root/scripts/podman.sh
  for file in /etc/pip.conf /etc/ssl/certs/ca-certificates.crt /etc/npmrc; do
    [ -f "$file" ] && args+=(--volume "$file:$file:ro")
  done
  # npm's user configuration; the build runs as root
  [ -f "$HOME/.npmrc" ] && args+=(--volume "$HOME/.npmrc:/root/.npmrc:ro")
fi
exec "$engine" "${args[@]}" "$root"
