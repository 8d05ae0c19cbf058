"""Read GOES ABI NetCDF frames as physical fields: L2 ``CMI``, or L1b ``Rad`` converted like CMI.

xarray's mask_and_scale unpacks the int16 counts (scale_factor, add_offset, _Unsigned) and turns
_FillValue into NaN, so this module only picks the variable and applies the ABI conversions:

- emissive bands (7-16): brightness temperature with the file's Planck constants,
  ``BT = (fk2 / ln(fk1 / Rad + 1) - bc1) / bc2``;
- reflective bands (1-6): reflectance factor ``Rad * kappa0``.
DQF is ignored.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..errors import FrameError
from .images import brief_error, check_frame_size, sniff_format

PLANCK_NAMES = ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2")
# CF/ABI attributes that describe the packed counts, not the unpacked field
_PACKING_ATTRS = ("scale_factor", "add_offset", "_FillValue", "_Unsigned", "valid_range", "missing_value")


def _constant(ds: Any, name: str, var: Any) -> float | None:
    """A calibration constant stored as a scalar variable (real ABI files) or as an attribute."""
    if name in ds.variables:
        value = np.asarray(ds[name].values, dtype=np.float64)
        return float(value.reshape(-1)[0]) if value.size else None
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


def read_netcdf(path: str | os.PathLike[str], variable: str | None = None):
    """One ABI field as a float32 ``xarray.DataArray`` (y, x) with its coordinates and attributes.

    ``variable=None`` takes ``CMI``, else ``Rad`` (converted to brightness temperature or
    reflectance). Any other named variable is returned unpacked as float32. The file is closed
    before returning, so the result is safe to pickle and keep. Thread-safe (see NETCDF_LOCK).
    """
    with NETCDF_LOCK:
        return _read_netcdf(path, variable)


def _read_netcdf(path: str | os.PathLike[str], variable: str | None = None):
    import xarray as xr

    path = os.fspath(path)
    fmt = sniff_format(path)
    if fmt != "netcdf":
        raise FrameError(path, f"is {fmt.upper()}, not NetCDF")
    try:  # the netCDF C library reads NetCDF-4 (HDF5) and classic files alike
        ds = xr.open_dataset(path, engine="netcdf4", mask_and_scale=True, decode_times=True, cache=False)
    except Exception as e:
        raise FrameError(path, f"cannot open as NetCDF: {brief_error(e)}") from e
    with ds:
        name = variable or next((v for v in ("CMI", "Rad") if v in ds.data_vars), None)
        if name is None or name not in ds.variables:
            have = ", ".join(map(str, ds.data_vars)) or "none"
            wanted = repr(variable) if variable else "CMI or Rad"
            raise FrameError(path, f"no {wanted} variable (variables: {have})")
        var = ds[name]
        if var.ndim != 2:
            var = var.squeeze(drop=True)
        if var.ndim != 2:
            raise FrameError(path, f"variable {name!r} has dims {var.dims}, expected 2-D (y, x)")
        check_frame_size(path, tuple(var.shape), 8 if name == "Rad" else 4)  # Rad converts through float64
        try:
            values = np.asarray(var.values)
        except Exception as e:
            raise FrameError(path, f"cannot read variable {name!r}: {brief_error(e)}") from e
        attrs = {k: v for k, v in var.attrs.items() if k not in _PACKING_ATTRS}
        if name == "Rad":
            values, attrs, name = _convert_radiance(path, ds, var, values, attrs)
        coords = {c: ds[c].copy(deep=True) for c in var.coords if c in ds.variables and ds[c].ndim <= 2}
        projection = attrs.get("grid_mapping", "goes_imager_projection")
        if projection in ds.variables:
            coords[projection] = ds[projection].copy(deep=True)
        da = xr.DataArray(values.astype(np.float32, copy=False), dims=var.dims, coords=coords, attrs=attrs, name=name)
    da.encoding["source"] = path
    return da


def _convert_radiance(path: str, ds: Any, var: Any, rad: np.ndarray, attrs: dict) -> tuple[np.ndarray, dict, str]:
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
