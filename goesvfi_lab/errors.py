"""Exceptions with messages a scientist can act on: every one names the file and the reason."""

from __future__ import annotations

import os


class GoesVfiError(Exception):
    """Base class for errors raised by goesvfi-lab."""


class FrameError(GoesVfiError, ValueError):
    """A frame file could not be read or written; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep both fields across pickling (Dask ships exceptions between processes)
        return (type(self), (self.path, self.reason))


class PairError(GoesVfiError, ValueError):
    """Two frames cannot be interpolated together (size or dtype mismatch, empty, all-NaN)."""
