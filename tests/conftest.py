"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

# Keep matplotlib and Dask from writing into the user's home during tests.
os.environ.setdefault("MPLBACKEND", "Agg")
# `auto` compares the source's cost table with the budget, not this host's timings (goesvfi_lab/interp/
# costs.py): choices in tests do not depend on the machine, and no test run writes the user's cache.
# The variable reaches subprocesses (CLI, Dask workers, JupyterLab's kernels); the set covers this one.
os.environ["DASK_GOESVFI__INTERP__AUTO_COSTS"] = "table"

import dask  # noqa: E402

import goesvfi_lab.config  # noqa: E402,F401  (the package defaults first: a set before them would drop them)

dask.config.set({"goesvfi.interp.auto-costs": "table"})


@pytest.fixture
def sample_nc(tmp_path):
    """Twelve 64×64 CONUS-like NetCDF scans written by the package's own generator."""
    from goesvfi_lab.sample import write_sample

    return write_sample(tmp_path / "nc", frames=12, size=(64, 64), fmt="nc", seed=1)
