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

from ..errors import FrameError
from .images import read_image, sniff_format
from .netcdf import read_netcdf


@dataclass(frozen=True)
class ReadOptions:
    """How an input file becomes a frame (small, hashable and picklable: it travels in task specs)."""

    variable: str | None = None  # NetCDF variable; None: ``CMI``, else ``Rad`` (converted)
    window: tuple[int, int, int, int] | None = None  # crop (y0, y1, x0, x1), half-open; NetCDF reads only it
    band: int | None = None  # ABI band: picks CMI_Cnn of an MCMIP file, checked against one-band files
    mask_dqf: bool | None = None  # True: DQF > 1 -> NaN; None: the product's default (L1b "no value"); False: none

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | None, *, window: tuple[int, int, int, int] | None = None
    ) -> ReadOptions:
        """The options a job's ``settings`` ask for (keys as documented in :mod:`goesvfi_lab.engine.layout`).

        A ``crop`` bbox needs the first input's grid to become pixels: :func:`goesvfi_lab.geo.read_options`
        resolves it and passes ``window``; without one a bbox is refused here rather than silently ignored.
        """
        settings = settings or {}
        crop = parse_crop(settings.get("crop"))
        if window is None and crop is not None:
            if crop[0] == "bbox":
                raise ValueError("a crop bbox must be resolved on the first input: use goesvfi_lab.geo.read_options")
            window = crop[1]
        return cls(
            variable=settings.get("variable") or None,
            window=tuple(window) if window else None,
            band=parse_band(settings.get("band")),
            mask_dqf=parse_mask_dqf(settings.get("mask_dqf")),
        )

    def netcdf_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~goesvfi_lab.frames.netcdf.read_netcdf` for these options."""
        return {"variable": self.variable, "band": self.band, "mask_dqf": self.mask_dqf, "window": self.window}


def parse_band(band: Any) -> int | None:
    """A ``band`` setting as an ABI band number 1..16 (``13``, ``"13"``, ``"C13"``); None: not given."""
    if band is None or band == "":
        return None
    text = str(band).strip().upper().removeprefix("C")
    if isinstance(band, bool) or not text.isdigit() or not 1 <= int(text) <= 16:
        raise ValueError(f"band must be an ABI band 1..16 (e.g. 13 or 'C13'), not {band!r}")
    return int(text)


def parse_mask_dqf(value: Any) -> bool | None:
    """A ``mask_dqf`` setting: True, False, or None (the product's default)."""
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"mask_dqf must be True, False or None (the product's default), not {value!r}")


def read_field(path: str | os.PathLike[str], options: ReadOptions | None = None):
    """An ABI NetCDF field as an ``xarray.DataArray`` with its coordinates, read as ``options`` say.

    A crop ``window`` is read alone (only its rows and columns of the field, DQF and x/y leave the file),
    so x/y (and the projection) are the crop's and a small crop of a big scan costs its share of the read.
    """
    options = options or ReadOptions()
    return read_netcdf(path, **options.netcdf_kwargs())


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
    image = read_image(path)
    if options.window is None:
        return image
    y0, y1, x0, x1 = _check_window(path, options.window, image.shape[:2])
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def parse_crop(crop: Any) -> tuple[str, tuple] | None:
    """A ``crop`` setting as ("bbox", (W, S, E, N) degrees) or ("window", (y0, y1, x0, x1) pixels); None: no crop.

    ValueError saying what is expected for anything else (checked at admission, before any task).
    """
    if not crop:
        return None
    if not isinstance(crop, Mapping) or len(crop) != 1 or next(iter(crop)) not in ("bbox", "window"):
        raise ValueError(
            f"crop must be {{'bbox': (west, south, east, north)}} or {{'window': (y0, y1, x0, x1)}}, not {crop!r}"
        )
    kind, value = next(iter(crop.items()))
    try:
        values = tuple(value)
    except TypeError:
        values = ()
    if len(values) != 4:
        raise ValueError(f"crop {kind} needs 4 numbers, not {value!r}")
    if kind == "bbox":
        return kind, tuple(float(v) for v in values)
    if not all(float(v) == int(v) for v in values):
        raise ValueError(f"crop window needs whole pixel indices (y0, y1, x0, x1), not {value!r}")
    y0, y1, x0, x1 = (int(v) for v in values)
    if not (0 <= y0 < y1 and 0 <= x0 < x1):
        raise ValueError(f"crop window (y0, y1, x0, x1) = {values!r}: need 0 <= y0 < y1 and 0 <= x0 < x1 (half-open)")
    return kind, (y0, y1, x0, x1)


def _check_window(
    path: str | os.PathLike[str], window: tuple[int, int, int, int], shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """``window`` if it fits a frame of ``shape``; FrameError naming the file otherwise."""
    y0, y1, x0, x1 = window
    rows, cols = shape[:2]
    if not (0 <= y0 < y1 <= rows and 0 <= x0 < x1 <= cols):
        raise FrameError(path, f"crop window rows {y0}:{y1}, columns {x0}:{x1} does not fit the {rows}×{cols} frame")
    return window
