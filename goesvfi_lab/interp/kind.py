"""What kind of motion a frame pair shows: it picks ``auto``'s method and the flow settings.

- ``field``: physical fields (float), 16-bit renders, and 8-bit renders of ABI scans (files with ABI
  names): fine texture carried by smooth winds, no occlusions — flow with the field settings wins;
- ``video``: any other 8-bit imagery (camera motion, occlusions) — the RIFE ensemble wins.

Why 8-bit ABI renders are fields, measured on grey IR renders of the sample CONUS scene (512², 5-min
scans, factor 2; PSNR dB, s/frame on 2 CPU cores): flow with the field settings 48.15 at 0.04; the
ensemble 45.66 at 1.5; rife 44.35; flow with the video settings 38.70; minterpolate 38.70 at 0.09.
A pixel array alone does not say what it shows, so without file names ``uint8`` means ``video``;
pass ``kind="field"`` (or the job setting ``kind``) for satellite renders with other names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

KINDS = ("auto", "video", "field")


def input_kind(dtype: np.dtype | str | type, paths: Iterable[str | os.PathLike[str]] = (), kind: str = "auto") -> str:
    """``"video"`` or ``"field"`` for frames of ``dtype`` read from ``paths`` (``kind`` other than auto wins)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind != "auto":
        return kind
    if np.dtype(dtype) != np.uint8:
        return "field"
    from goesvfi_lab.discover import parse_goes_name

    paths = list(paths)
    if paths and all(parse_goes_name(p) is not None for p in paths):
        return "field"
    return "video"
