"""Exceptions with messages a scientist can act on: every one names the file and the reason."""

from __future__ import annotations

import os


class GoesVfiError(Exception):
    """Base class for errors raised by goesvfi-lab."""


class FrameError(GoesVfiError, ValueError):
    """A frame file could not be read or written; ``path`` and ``reason`` say which and why.

    ``transient``: the cause can go away by itself (the file is not there yet, an I/O error, a full
    disk), so the job is retried; a corrupt or mismatched file is not (it fails the same way again).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, transient: bool = False) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.transient = transient
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep the fields across pickling (Dask ships exceptions between processes)
        return (type(self), (self.path, self.reason, self.transient))


class OutputConflict(GoesVfiError):
    """The output folder holds another job's result; replacing it needs ``overwrite``."""


# failures that can change between attempts (by type name: distributed and torch are not imported here)
_TRANSIENT_NAMES = frozenset({"KilledWorker", "CommClosedError", "OutOfMemoryError", "FutureCancelledError"})


def is_transient(exc: BaseException) -> bool:
    """Whether retrying can help: a lost worker, memory, a timeout, I/O — not a property of the input.

    Our own errors say so themselves (:class:`FrameError` ``transient``); other errors from reading
    or computing (ValueError, TypeError, RuntimeError …) would fail the same way again.
    """
    if isinstance(exc, GoesVfiError):
        return bool(getattr(exc, "transient", False))
    if isinstance(exc, (OSError, MemoryError, TimeoutError)):
        return True
    return bool({c.__name__ for c in type(exc).__mro__} & _TRANSIENT_NAMES)


class PairError(GoesVfiError, ValueError):
    """Two frames cannot be interpolated together (size or dtype mismatch, empty, all-NaN)."""
