"""goesvfi-lab: frame interpolation for GOES imagery as prioritised batches on Dask.

Importing the package is cheap: heavy dependencies (torch, distributed, ipywidgets) load only when
the attribute that needs them is first used (Scientific Python SPEC 1 lazy loading).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "BatchJob": "goesvfi_lab.model",
    "JobPriority": "goesvfi_lab.model",
    "JobStatus": "goesvfi_lab.model",
    "Stats": "goesvfi_lab.model",
    "FileFilter": "goesvfi_lab.discover",
    "GoesName": "goesvfi_lab.discover",
    "Sequence": "goesvfi_lab.discover",
    "parse_goes_name": "goesvfi_lab.discover",
    "group_sequences": "goesvfi_lab.discover",
    "find_duplicates": "goesvfi_lab.discover",
    "FrameError": "goesvfi_lab.errors",
    "PairError": "goesvfi_lab.errors",
    "read_frame": "goesvfi_lab.frames",
    "write_png": "goesvfi_lab.frames",
    "write_video": "goesvfi_lab.frames",
    "write_cube": "goesvfi_lab.frames",
    "interpolate": "goesvfi_lab.interp",
    "interpolate_sequence": "goesvfi_lab.interp",
    "available_methods": "goesvfi_lab.interp",
    "BatchQueue": "goesvfi_lab.queue",
    "lonlat": "goesvfi_lab.geo",
    "lab": "goesvfi_lab.notebook",
    "panel": "goesvfi_lab.notebook",
    "player": "goesvfi_lab.notebook",
}
_SUBMODULES = {"model", "policy", "discover", "errors", "frames", "sample", "interp", "config", "geo", "archive"}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # cache: later lookups skip __getattr__
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"goesvfi_lab.{name}")
    raise AttributeError(f"module 'goesvfi_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, *_SUBMODULES])


if TYPE_CHECKING:  # static tools see the real names
    from .discover import FileFilter, GoesName, Sequence, find_duplicates, group_sequences, parse_goes_name
    from .errors import FrameError, PairError
    from .frames import read_frame, write_cube, write_png, write_video
    from .geo import lonlat
    from .interp import available_methods, interpolate, interpolate_sequence
    from .model import BatchJob, JobPriority, JobStatus, Stats
    from .notebook import lab, panel, player
    from .queue import BatchQueue
