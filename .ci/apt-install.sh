#!/usr/bin/env bash
# apt-install.sh PACKAGE... : install Debian packages with apt-get, as root or through sudo.
# Shared by the install-*.sh scripts, which first check whether what they need is already there.
set -euo pipefail

if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: install $* yourself" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "installing $* needs root (apt-get install -y $*)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
