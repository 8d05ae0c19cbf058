"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

# Keep matplotlib and Dask from writing into the user's home during tests.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def sample_nc(tmp_path):
    """Twelve 64×64 CONUS-like NetCDF scans written by the package's own generator."""
    from goesvfi_lab.sample import write_sample

    return write_sample(tmp_path / "nc", frames=12, size=(64, 64), fmt="nc", seed=1)
