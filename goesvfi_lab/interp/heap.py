"""glibc's allocator set for large tensors while a backend runs, and given back to the OS after.

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that they return memory; setting any
such variable also turns off glibc's sliding mmap threshold, so every buffer over 128 KiB is mapped,
faulted in and unmapped again on each call. Measured with RIFE on video (``MALLOC_TRIM_THRESHOLD_=65536``
as a worker has it, three calls each, two interleaved rounds): 2.20–2.25 s/MP at 512² and 2.12–2.13 at
1920×1080, against 1.31 and 1.41–1.53 inside :func:`roomy_heap` and 1.33–1.40 / 1.58–1.61 for a process
without the variable. So during a backend call the heap keeps its pages (mmap threshold 32 MiB, trim only past 2 GiB,
256 MiB top pad); when the last concurrent call ends the settings go back to the environment's (or glibc's
defaults) and ``malloc_trim(0)`` returns the free pages, which is what the nanny wants. Only where the
environment sets one of those variables: otherwise the sliding threshold is on and already near the scoped
figures, and any ``mallopt`` would turn it off for good. Elsewhere than glibc (macOS, Windows, musl) this
does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
ROOMY = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 256 << 20}  # mallopt takes an int
_ENV = {
    M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_",
    M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_",
    M_TOP_PAD: "MALLOC_TOP_PAD_",
}
_GLIBC_DEFAULT = 128 * 1024  # all three parameters start at 128 KiB in glibc

_lock = threading.Lock()
_depth = 0
_libc: ctypes.CDLL | None | bool = False  # False: not looked up yet


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is False:
        _libc = None
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(None)
                lib.gnu_get_libc_version  # noqa: B018  (absent on musl: leave the allocator alone)
                lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc = lib
            except (OSError, AttributeError):
                _libc = None
    return _libc


def _needed() -> bool:
    """Whether the environment fixed glibc's thresholds (Dask's nanny does), turning off the sliding one."""
    return any(name in os.environ for name in (*_ENV.values(), "MALLOC_MMAP_MAX_"))


def _restored(param: int) -> int:
    """The value the process started with: its environment variable, else glibc's default."""
    try:
        return int(os.environ[_ENV[param]])
    except (KeyError, ValueError):
        return _GLIBC_DEFAULT


def _settings(values: dict[int, int]) -> None:
    lib = _glibc()
    if lib is not None:
        for param, value in values.items():
            lib.mallopt(param, min(value, 2**31 - 1))


@contextmanager
def roomy_heap() -> Iterator[None]:
    """Within: large buffers are reused, not remapped. Nested and concurrent uses share one scope."""
    global _depth
    if _glibc() is None or not _needed():
        yield
        return
    with _lock:
        if _depth == 0:
            _settings(ROOMY)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _settings({p: _restored(p) for p in ROOMY})
                lib = _glibc()
                if lib is not None:
                    lib.malloc_trim(0)


def active() -> bool:
    """Whether a backend call is inside :func:`roomy_heap` now (tests)."""
    with _lock:
        return _depth > 0
