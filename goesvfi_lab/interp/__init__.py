"""Frame interpolation: ``linear``, ``flow`` (classical optical flow) and ``rife`` (IFNet) backends in torch.

Arrays in, arrays out: uint8/uint16/float32, H×W or H×W×C, NaN-aware (see prep.py). ``method="auto"``
picks by device and input kind (see auto.py). Frames larger than ``goesvfi.interp.tile-size`` go through
overlapping feathered tiles (tiling.py). Backends are cached per process (registry.py).
"""

from __future__ import annotations

from .api import interpolate, interpolate_sequence, interpolate_times
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
]
