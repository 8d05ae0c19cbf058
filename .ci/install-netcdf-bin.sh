#!/usr/bin/env bash
# Installs ncgen (Debian's netcdf-bin): the real-structure tests build their NetCDF fixtures from the
# verbatim NOAA headers in ../shared/goes/ with `ncgen -4`, not only from this package's own writer.
# Idempotent: does nothing when ncgen is already there.
set -euo pipefail

if command -v ncgen >/dev/null 2>&1; then
    echo "ncgen present: $(command -v ncgen)"
    exit 0
fi
"$(dirname "$0")/apt-install.sh" netcdf-bin
command -v ncgen
