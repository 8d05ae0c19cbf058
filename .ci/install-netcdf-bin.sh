#!/usr/bin/env bash
# Installs ncgen (Debian's netcdf-bin): the real-structure tests build their NetCDF fixtures from the
# verbatim NOAA headers in ../shared/goes/ with `ncgen -4`, not only from this package's own writer.
# Idempotent: does nothing when ncgen is already there.
set -euo pipefail

if command -v ncgen >/dev/null 2>&1; then
    echo "ncgen present: $(command -v ncgen)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no ncgen and no apt-get: install netCDF's ncgen (netcdf-bin) yourself" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "installing ncgen needs root (apt-get install -y netcdf-bin)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends netcdf-bin >/dev/null
command -v ncgen
