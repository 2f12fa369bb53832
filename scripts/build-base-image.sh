#!/usr/bin/env bash
# A base image for the Dockerfile made from Debian's packages alone, for machines that reach
# Debian's archive but no image registry: Debian 12 (bookworm) with its Python 3.11, built with
# mmdebstrap into a tarball and imported into podman (or docker). Kept by the engine: a second
# run finds it and does nothing.
#
#   scripts/build-base-image.sh [IMAGE]      (default localhost/chargeplane-base:bookworm)
#   make images BASE_IMAGE=localhost/chargeplane-base:bookworm
set -euo pipefail
image=${1:-localhost/chargeplane-base:bookworm}
engine=$(command -v podman || command -v docker || true)
[ -n "$engine" ] || { echo "build-base-image: neither podman nor docker is installed" >&2; exit 1; }
if "$engine" image exists "$image" 2>/dev/null || "$engine" image inspect "$image" >/dev/null 2>&1; then
  echo "build-base-image: $image exists"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "build-base-image: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# minbase + what the Dockerfile runs: python3 with venv (pip comes from PyPI inside the venv),
# CA certificates for pip's HTTPS, passwd for useradd. No docs, man pages or apt lists.
mmdebstrap --variant=minbase \
  --include=python3,python3-venv,python-is-python3,ca-certificates,passwd \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$work/rootfs.tar" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
"$engine" import --change 'CMD ["/bin/bash"]' "$work/rootfs.tar" "$image"
echo "build-base-image: $image imported ($(du -h "$work/rootfs.tar" | cut -f1) rootfs)"
