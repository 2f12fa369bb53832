#!/usr/bin/env bash
# What the console's browser suite (tests/e2e/console) needs on a fresh Debian machine: Debian's
# Chromium (Playwright drives it; it never downloads a browser of its own), and axe-core from the
# npm registry (`npm ci` of the console's lock file). Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser.sh: Chromium is missing; run this as root (it uses apt-get)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
chromium --version

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser.sh: npm is missing; run this as root (it uses apt-get)" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm
fi
python3 scripts/build_console.py
test -f services/api_gateway/console/node_modules/axe-core/axe.min.js
echo "install-browser.sh: Chromium and axe-core are ready"
