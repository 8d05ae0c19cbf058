#!/usr/bin/env bash
# Installs the headless browser the JupyterLab end-to-end test drives (tests/test_lab_browser.py).
# Debian's chromium, not a Playwright browser download: Python playwright brings only the driver and
# the test points it at /usr/bin/chromium. Idempotent: does nothing when chromium is already there.
set -euo pipefail

CHROMIUM="${GOESVFI_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    echo "chromium present: $CHROMIUM"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no $CHROMIUM and no apt-get: install Chromium yourself and set GOESVFI_CHROMIUM" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "installing chromium needs root (apt-get install -y chromium)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$CHROMIUM" --version
