#!/usr/bin/env bash
# Debian packages the full test suite uses beyond Python (idempotent; run as root, or via sudo):
#   podman, runc, mmdebstrap   the image: a base from Debian's packages, built and run rootful
# Go (for scripts/build-tools.sh) is expected on the machine.
set -euo pipefail
packages=(podman runc mmdebstrap uidmap)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-ci-packages: all installed"; exit 0; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
echo "install-ci-packages: installed ${missing[*]}"
