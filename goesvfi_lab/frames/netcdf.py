"""Read GOES ABI NetCDF frames as physical fields: L2 ``CMI``, or L1b ``Rad`` converted like CMI.

xarray's CF decoding unpacks the int16 counts (scale_factor, add_offset, _Unsigned) and turns
_FillValue into NaN, so this module only picks the variable and applies the ABI conversions:

- emissive bands (7-16): brightness temperature with the file's Planck constants,
  ``BT = (fk2 / ln(fk1 / Rad + 1) - bc1) / bc2``;
- reflective bands (1-6): reflectance factor ``Rad * kappa0``.

The file is opened raw and only the variables the field needs are decoded (see :mod:`.abi` for bands,
DQF and scan times), so an auxiliary variable xarray cannot decode (a time in odd units) costs nothing.
Scan times are exposed as coordinates (``t`` mid-scan, ``time_coverage_start`` / ``_end``); cubes and
jobs time each scan by its *start* from the file name (:func:`goesvfi_lab.discover.parse_goes_name`),
which every ABI file has, agrees with the sequence grouping and is readable without opening the file.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import FrameError
from . import abi
from .images import brief_error, check_frame_size, sniff_format

PLANCK_NAMES = ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2")
# CF/ABI attributes that describe the packed counts, not the unpacked field
_PACKING_ATTRS = ("scale_factor", "add_offset", "_FillValue", "_Unsigned", "valid_range", "missing_value")


def _constant(ds: Any, name: str, var: Any) -> float | None:
    """A calibration constant stored as a scalar variable (real ABI files) or as an attribute; None if at fill."""
    if name in ds.variables:
        value = np.asarray(_decode(ds, name).values, dtype=np.float64).reshape(-1)
        return float(value[0]) if value.size and np.isfinite(value[0]) else None
    for attrs in (var.attrs, ds.attrs):
        if name in attrs:
            return float(np.asarray(attrs[name]).reshape(-1)[0])
    return None


def radiance_to_bt(rad: np.ndarray, fk1: float, fk2: float, bc1: float, bc2: float) -> np.ndarray:
    """ABI L1b radiance -> brightness temperature (K); radiance <= 0 or NaN -> NaN."""
    rad = np.asarray(rad, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bt = (fk2 / np.log(fk1 / rad + 1.0) - bc1) / bc2
    bt[~(rad > 0)] = np.nan
    return bt.astype(np.float32)


def bt_to_radiance(bt: np.ndarray, fk1: float, fk2: float, bc1: float, bc2: float) -> np.ndarray:
    """Inverse of :func:`radiance_to_bt` (float64), used to write L1b-like files."""
    bt = np.asarray(bt, dtype=np.float64)
    return fk1 / np.expm1(fk2 / (bc1 + bc2 * bt))


# The netCDF-C/HDF5 libraries are not thread-safe: two threads of one worker process reading .nc files at
# once crash it (seen as a bus error within a few hundred concurrent reads). Every NetCDF open, read and
# write in the package holds this process-wide lock; the decoding work stays outside it where possible.
NETCDF_LOCK = threading.RLock()


def _xarray_netcdf_lock() -> Any:
    """The lock xarray takes around its own netCDF4 calls, including a file it closes from the garbage
    collector (``CachingFileManager.__del__``, which only tries it without blocking)."""
    try:
        from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK
    except ImportError:  # a future xarray: our lock alone still serialises the package's own calls
        return contextlib.nullcontext()
    return NETCDF4_PYTHON_LOCK


@contextlib.contextmanager
def netcdf4_library() -> Iterator[None]:
    """Hold around a direct ``netCDF4`` call (not through xarray): this process's NETCDF_LOCK and xarray's.

    xarray closes a dataset that its owner never closed (a test's ``xr.open_dataset`` left to the garbage
    collector) in whichever thread collects it, holding only xarray's lock; a netCDF4 call of ours on
    another thread at that moment crashed the process (seen: a segmentation fault in a cube's global
    attributes read). With xarray's lock held as well, that close waits for a later collection.
    Lock order is always NETCDF_LOCK, then xarray's; nothing takes them the other way round.
    """
    with NETCDF_LOCK, _xarray_netcdf_lock():
        yield


def read_netcdf(
    path: str | os.PathLike[str],
    variable: str | None = None,
    band: int | None = None,
    mask_dqf: bool | None = None,
    window: tuple[int, int, int, int] | None = None,
):
    """One ABI field as a float32 ``xarray.DataArray`` (y, x) with its coordinates and attributes.

    ``variable=None`` takes ``CMI_C{band:02d}`` of a multi-band (MCMIP) file, else ``CMI``, else ``Rad``
    (converted to brightness temperature or reflectance). ``band`` is required for MCMIP files and checked
    against one-band files. ``mask_dqf``: True sets pixels whose DQF > 1 to NaN, None the product's default
    (L1b "no value" pixels), False none (see :func:`.abi.dqf_rule`). Any other named variable is returned
    unpacked as float32. Coordinates: x/y (radians), the grid mapping, and scalar datetime64 ``t``
    (mid-scan), ``time_coverage_start`` and ``time_coverage_end`` (scan start/end) where the file has them.
    ``window`` (y0, y1, x0, x1), half-open pixels: only those rows and columns of the field (and of its DQF
    and x/y) are read from the file and decoded, so a small crop of a big scan costs its share of the read;
    the result equals the whole field's ``isel`` of the window. The file is closed before returning, so the
    result is safe to pickle and keep. Thread-safe (see NETCDF_LOCK).
    """
    with NETCDF_LOCK:
        return _read_netcdf(path, variable, band, mask_dqf, window)


def _decode(ds: Any, name: str, times: bool = False, rows_cols: dict[str, slice] | None = None):
    """One variable of a raw dataset, CF-decoded alone (unpacked, fill as NaN; times if asked).

    ``rows_cols`` ({dim: slice}) indexes the lazy raw variable first, so only those samples leave the file.
    """
    import xarray as xr

    var = ds.variables[name]
    if rows_cols:
        var = var.isel({d: s for d, s in rows_cols.items() if d in var.dims})
    return xr.decode_cf(xr.Dataset({name: var}), decode_times=times, decode_coords=False)[name]


def _to_dims(var: Any, dims: tuple) -> Any:
    """``var`` without its length-1 dimensions other than ``dims`` (a window may be one row or column)."""
    return var.squeeze([d for d in var.dims if d not in dims], drop=True)


def _window_indexers(path: str, dims: tuple, shape: tuple, window: tuple[int, int, int, int] | None):
    """``window`` as {y dim: slice, x dim: slice} of a field of ``shape``; None without one; FrameError if
    it does not fit (the message :func:`goesvfi_lab.frames.read.read_field` gives images too)."""
    if window is None:
        return None
    y0, y1, x0, x1 = (int(v) for v in window)
    rows, cols = shape
    if not (0 <= y0 < y1 <= rows and 0 <= x0 < x1 <= cols):
        raise FrameError(path, f"crop window rows {y0}:{y1}, columns {x0}:{x1} does not fit the {rows}×{cols} frame")
    return {dims[0]: slice(y0, y1), dims[1]: slice(x0, x1)}


def _read_netcdf(
    path: str | os.PathLike[str],
    variable: str | None,
    band: int | None,
    mask_dqf: bool | None,
    window: tuple[int, int, int, int] | None = None,
):
    import xarray as xr

    path = os.fspath(path)
    fmt = sniff_format(path)
    if fmt != "netcdf":
        raise FrameError(path, f"is {fmt.upper()}, not NetCDF")
    try:  # raw: only the variables the field needs are decoded, so an odd auxiliary one cannot stop the read
        ds = xr.open_dataset(path, engine="netcdf4", decode_cf=False, cache=False)
    except Exception as e:
        # xarray leaves a file it opened and then failed on to the garbage collector, whose close outside
        # NETCDF_LOCK can race another thread's read (an HDF error, or a crash): close it now, under the lock
        gc.collect()
        raise FrameError(path, f"cannot open as NetCDF: {brief_error(e)}") from e
    with ds:
        name = abi.choose_variable(path, ds.data_vars, variable, band)
        abi.check_band(path, name, band, _file_band(path, ds))
        raw = ds[name]
        if raw.ndim != 2:
            raw = raw.squeeze(drop=True)
        if raw.ndim != 2:
            raise FrameError(path, f"variable {name!r} has dims {raw.dims}, expected 2-D (y, x)")
        rows_cols = _window_indexers(path, raw.dims, tuple(raw.shape), window)
        if rows_cols is not None:
            raw = raw.isel(rows_cols)  # lazy: nothing is read yet
        check_frame_size(path, tuple(raw.shape), 8 if name == "Rad" else 4)  # Rad converts through float64
        try:
            var = _to_dims(_decode(ds, name, rows_cols=rows_cols), raw.dims)
            values = np.asarray(var.values)
        except Exception as e:
            raise FrameError(path, f"cannot read variable {name!r}: {brief_error(e)}") from e
        attrs = {k: v for k, v in raw.attrs.items() if k not in _PACKING_ATTRS and k != "coordinates"}
        if name == "Rad":
            values, attrs, name = _convert_radiance(path, ds, raw, values, attrs)
        values = _mask_quality(path, ds, raw, values, attrs, mask_dqf, rows_cols)
        coords = _coordinates(ds, raw, rows_cols)
        projection = attrs.get("grid_mapping", "goes_imager_projection")
        if projection in ds.variables:
            coords[projection] = ds[projection].copy(deep=True)
        da = xr.DataArray(values.astype(np.float32, copy=False), dims=raw.dims, coords=coords, attrs=attrs, name=name)
    da.encoding["source"] = path
    return da


def _file_band(path: str, ds: Any) -> int | None:
    """The band of a one-band file: ``band_id``, else the file name's ``C13``."""
    if "band_id" in ds.variables:
        try:
            value = np.asarray(_decode(ds, "band_id").values, dtype=np.float64).reshape(-1)
            if value.size and np.isfinite(value[0]):
                return int(value[0])
        except Exception:
            pass  # an unreadable band_id says nothing; the name may
    from ..discover import parse_goes_name

    name = parse_goes_name(path)
    return name.band if name is not None else None


def _coordinates(ds: Any, raw: Any, rows_cols: dict[str, slice] | None = None) -> dict[str, Any]:
    """x/y (``rows_cols`` of them) and the scalar coordinates the field lists (``t`` decoded to datetime64),
    plus the scan start/end.

    A coordinate that fails to decode (a time in odd units, a fill where a time should be) is left out.
    """
    import xarray as xr

    coords: dict[str, Any] = {}
    listed = str(raw.attrs.get("coordinates", "")).split()
    for c in dict.fromkeys([*raw.dims, *listed]):
        if c not in ds.variables or not set(ds.variables[c].dims) <= set(raw.dims):
            continue
        try:
            units = ds.variables[c].attrs.get("units", "")
            value = _decode(ds, c, times=units.startswith("seconds since"), rows_cols=rows_cols)
            value.load()
        except Exception:
            continue
        if value.ndim == 0 and value.dtype.kind == "f" and not np.isfinite(value.values):
            continue
        coords[c] = value.variable
    for key in ("time_coverage_start", "time_coverage_end"):
        stamp = abi.coverage_time(ds.attrs.get(key))
        if stamp is not None and key not in coords:
            coords[key] = xr.Variable((), stamp, {"long_name": f"scan {key.rsplit('_', 1)[1]} (file attribute)"})
    return coords


def _mask_quality(
    path: str, ds: Any, raw: Any, values, attrs: dict, mask_dqf: bool | None, rows_cols: dict[str, slice] | None
):
    """``values`` of the field ``raw`` with the pixels the DQF rule rules out set to NaN (the rule is noted in
    ``attrs``); the DQF is read over the field's window (``rows_cols``) only."""
    name = raw.name
    rule = abi.dqf_rule(mask_dqf, level_l1b=name == "Rad")
    if rule is None:
        return values
    dqf = abi.dqf_name(name, raw.attrs, ds.variables)
    if dqf is None:
        if mask_dqf:
            raise FrameError(path, f"no DQF variable for {name!r}: cannot mask by quality (mask_dqf)")
        return values
    try:
        flags = np.asarray(_to_dims(_decode(ds, dqf, rows_cols=rows_cols), raw.dims).values)
    except Exception as e:
        raise FrameError(path, f"cannot read {dqf!r} to mask by quality: {brief_error(e)}") from e
    if flags.shape != values.shape:
        raise FrameError(path, f"{dqf!r} is {flags.shape}, the field {values.shape}: cannot mask by quality")
    text, bad = rule
    with np.errstate(invalid="ignore"):
        masked = bad(flags)
    values = np.array(values, dtype=np.float32)
    values[masked] = np.nan
    attrs["goesvfi_dqf_mask"] = f"{dqf} {text.removeprefix('DQF ')}"
    return values


def _convert_radiance(path: str, ds: Any, var: Any, rad: np.ndarray, attrs: dict) -> tuple[np.ndarray, dict, str]:
    """Emissive (Planck constants present, not fill) -> K; reflective (kappa0 present) -> reflectance factor.

    NOAA files carry both sets, the other band kind's at its fill (-999): a fill counts as absent.
    """
    planck = [_constant(ds, n, var) for n in PLANCK_NAMES]
    if all(p is not None for p in planck):
        fk1, fk2, bc1, bc2 = planck  # type: ignore[misc]
        attrs.update(units="K", long_name="ABI L1b brightness temperature", standard_name="toa_brightness_temperature")
        return radiance_to_bt(rad, fk1, fk2, bc1, bc2), attrs, "BT"
    kappa0 = _constant(ds, "kappa0", var)
    if kappa0 is not None:
        attrs.update(units="1", long_name="ABI L1b reflectance factor")
        attrs.pop("standard_name", None)
        return (rad.astype(np.float64) * kappa0).astype(np.float32), attrs, "reflectance"
    raise FrameError(path, "Rad without Planck constants (planck_fk1/fk2/bc1/bc2) or kappa0: cannot convert")
