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
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
    echo "no $CHROMIUM: install Chromium there, or unset GOESVFI_CHROMIUM" >&2
    exit 1
fi
"$(dirname "$0")/apt-install.sh" chromium fonts-dejavu-core
"$CHROMIUM" --version
