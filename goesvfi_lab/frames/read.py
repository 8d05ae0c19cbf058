"""One entry point for any frame file: images come back as stored, NetCDF as a physical field."""

from __future__ import annotations

import os

import numpy as np

from .images import read_image, sniff_format
from .netcdf import read_netcdf


def read_frame(path: str | os.PathLike[str], variable: str | None = None) -> np.ndarray:
    """Pixels of a PNG/JPEG/TIFF (uint8/uint16, HxW or HxWxC) or an ABI NetCDF field (float32 HxW, NaN fill).

    Raises :class:`goesvfi_lab.errors.FrameError` naming the file and the reason when it cannot be read.
    """
    if sniff_format(path) == "netcdf":
        return read_netcdf(path, variable=variable).values
    return read_image(path)
