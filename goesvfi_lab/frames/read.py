"""One entry point for any frame file: images come back as stored, NetCDF as a physical field.

:class:`ReadOptions` says *which* field and *which* pixels a job reads (a NetCDF variable, and what later
options add: an MCMIP band, DQF masking, a crop window). One value per job, built once from the job's
settings and handed to every pair task, to the cube's template and to the CLI alike, so all of them see
the same pixels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .images import read_image, sniff_format
from .netcdf import read_netcdf


@dataclass(frozen=True)
class ReadOptions:
    """How an input file becomes a frame (small, hashable and picklable: it travels in task specs)."""

    variable: str | None = None  # NetCDF variable; None: ``CMI``, else ``Rad`` (converted)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> ReadOptions:
        """The options a job's ``settings`` ask for (keys as documented in :mod:`goesvfi_lab.engine.layout`)."""
        settings = settings or {}
        return cls(variable=settings.get("variable") or None)

    def netcdf_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~goesvfi_lab.frames.netcdf.read_netcdf` for these options."""
        return {"variable": self.variable}


def read_field(path: str | os.PathLike[str], options: ReadOptions | None = None):
    """An ABI NetCDF field as an ``xarray.DataArray`` with its coordinates, read as ``options`` say."""
    return read_netcdf(path, **(options or ReadOptions()).netcdf_kwargs())


def read_frame(
    path: str | os.PathLike[str], variable: str | None = None, *, options: ReadOptions | None = None
) -> np.ndarray:
    """Pixels of a PNG/JPEG/TIFF (uint8/uint16, HxW or HxWxC) or an ABI NetCDF field (float32 HxW, NaN fill).

    ``options`` (or the shorthand ``variable``) apply to NetCDF inputs. Raises
    :class:`goesvfi_lab.errors.FrameError` naming the file and the reason when it cannot be read.
    """
    if options is None:
        options = ReadOptions(variable=variable)
    if sniff_format(path) == "netcdf":
        return read_field(path, options).values
    return read_image(path)
