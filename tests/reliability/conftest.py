"""Fixtures for the reliability suite: real ``dask scheduler`` / ``dask worker`` processes on 127.0.0.1.

The cluster helpers live in ``tests/_engine_support.py`` (shared with the engine tests); this folder
has no ``__init__.py``, so its own directory is what pytest puts on ``sys.path``: add ``tests/``.
"""

from __future__ import annotations

import os
import sys

import dask
import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from _engine_support import FAULT_CONFIG as FAST  # noqa: E402
from _engine_support import SubprocessCluster  # noqa: E402


@pytest.fixture(autouse=True)
def fast_config():
    with dask.config.set(FAST):
        yield


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory):
    """Two single-thread workers (with nannies) that the tests which kill nothing share."""
    with SubprocessCluster(tmp_path_factory.mktemp("shared-cluster"), {"a": [], "b": []}) as cluster:
        yield cluster
