"""Frame interpolation in torch: ``linear``, ``flow`` (classical optical flow), ``rife`` (our IFNet with
the RIFE HD v3 weights), ``fast`` (OpenCV DIS) and ``ensemble`` (RIFE averaged over rotated copies of
the pair; on video blended with ``fast`` where the two agree).

Arrays in, arrays out: uint8/uint16/float32, H×W or H×W×C, NaN-aware (see prep.py). ``method="auto"``
picks the best-measured backend for the input kind (kind.py) within a speed budget per device (auto.py):
today ``ensemble`` for 8-bit video and ``flow`` for physical fields, 16-bit renders and 8-bit renders
of ABI scans. Frames larger than
``goesvfi.interp.tile-size`` go through overlapping feathered tiles (tiling.py). Backends are cached per
process (registry.py); inside a Dask worker torch uses the worker's thread count (device.py).
"""

from __future__ import annotations

from .api import interpolate, interpolate_sequence, interpolate_times, uses_context
from .device import configure_threads, select_device
from .registry import available_methods, clear_cache, get_backend, resolve_method

__all__ = [
    "available_methods",
    "clear_cache",
    "configure_threads",
    "get_backend",
    "interpolate",
    "interpolate_sequence",
    "interpolate_times",
    "resolve_method",
    "select_device",
    "uses_context",
]
