"""Write a temporally dense sequence as one CF NetCDF cube (time, y, x) that xarray and Panoply read.

Frames stream into the file one at a time (a dask array of one chunk per frame, computed with the
synchronous scheduler), so a cube of full-disk frames never sits in memory twice, and it works
unchanged inside a Dask worker (no nested cluster computation).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from .atomic import atomic_path
from .netcdf import NETCDF_LOCK, read_netcdf
from .read import ReadOptions, read_field

_PACKING_ATTRS = ("scale_factor", "add_offset", "_FillValue", "_Unsigned", "valid_range", "missing_value")


def _datetime64(times: Sequence[Any]) -> np.ndarray:
    """datetime (aware -> UTC), numpy datetime64 or ISO strings -> datetime64[ns] (UTC, naive)."""
    out = []
    for t in times:
        if isinstance(t, datetime):
            if t.tzinfo is not None:
                t = t.astimezone(timezone.utc).replace(tzinfo=None)
            out.append(np.datetime64(t, "ns"))
        else:
            out.append(np.datetime64(t, "ns"))
    return np.array(out, dtype="datetime64[ns]")


def _load(frame: Any, variable: str | None) -> np.ndarray:
    if isinstance(frame, (str, os.PathLike)):
        return read_netcdf(frame, variable=variable).values
    array = np.asarray(getattr(frame, "values", frame), dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"cube frames must be 2-D fields, got shape {array.shape}")
    return array


def write_cube(
    path: str | os.PathLike[str],
    frames: Sequence[Any],
    times: Sequence[Any],
    attrs: dict[str, Any] | None = None,
    variable: str = "CMI",
    template: Any = None,
    complevel: int = 4,
) -> str:
    """Write ``frames`` (2-D arrays, DataArrays or NetCDF paths) at ``times`` as ``variable(time, y, x)``.

    ``times`` are datetimes (naive = UTC) or datetime64, encoded as integer "microseconds since" the first.
    ``template`` (an ``xarray.DataArray`` such as :func:`read_netcdf` returns) lends its x/y
    coordinates, its attributes and its grid-mapping variable; ``attrs`` update the variable's
    attributes. Data are float32, zlib-compressed, NaN as fill. Written atomically; returns the path.
    """
    import dask
    import dask.array as da
    import xarray as xr

    path = os.fspath(path)
    frames = list(frames)
    stamps = _datetime64(times)
    if not frames:
        raise ValueError(f"{path}: no frames for the cube")
    if len(stamps) != len(frames):
        raise ValueError(f"{path}: {len(frames)} frames but {len(stamps)} times")
    if np.any(np.diff(stamps) <= np.timedelta64(0, "ns")):
        raise ValueError(f"{path}: times must strictly increase")

    first = _load(frames[0], variable if variable != "CMI" else None)
    height, width = first.shape
    source = None if variable == "CMI" else variable

    def load(i: int) -> np.ndarray:
        array = first if i == 0 else _load(frames[i], source)
        if array.shape != (height, width):
            raise ValueError(f"{path}: frame {i} is {array.shape}, expected {(height, width)}")
        return array.astype(np.float32, copy=False)[None]

    blocks = [da.from_delayed(dask.delayed(load)(i), (1, height, width), np.float32) for i in range(len(frames))]
    data = da.concatenate(blocks, axis=0)

    coords: dict[str, Any] = {
        "time": ("time", stamps, {"standard_name": "time", "long_name": "frame time", "axis": "T"})
    }
    var_attrs: dict[str, Any] = {}
    if template is not None:
        if tuple(template.shape[-2:]) != (height, width):
            raise ValueError(f"{path}: template is {template.shape[-2:]}, frames are {(height, width)}")
        grid_mapping = template.attrs.get("grid_mapping")
        for name in (*template.dims[-2:], grid_mapping):
            if name and name in template.coords:
                coords[name] = template.coords[name].variable.copy()
                coords[name].encoding = {}  # written plainly, not re-packed like the source file
        var_attrs.update({k: v for k, v in template.attrs.items() if k not in _PACKING_ATTRS})
        dims = ("time", *template.dims[-2:])
    else:
        dims = ("time", "y", "x")
    var_attrs.update(attrs or {})
    ds = xr.Dataset({variable: (dims, data, var_attrs)}, coords=coords)
    ds.attrs.update(Conventions="CF-1.7", title=f"{variable} interpolated in time", source="goesvfi-lab")
    t0 = stamps[0].astype("datetime64[s]").item()
    encoding = {
        variable: {
            "dtype": "float32",
            "zlib": True,
            "complevel": int(complevel),
            "shuffle": True,
            "_FillValue": np.float32(np.nan),
            "chunksizes": (1, min(height, 512), min(width, 512)),
        },
        # integer microseconds: interpolated times (e.g. a third of a 5-min scan interval) round-trip exactly,
        # where float seconds since a sub-second epoch drift by a nanosecond
        "time": {"units": f"microseconds since {t0:%Y-%m-%d %H:%M:%S}", "calendar": "standard", "dtype": "int64"},
    }
    for name in (*dims[1:], var_attrs.get("grid_mapping")):
        if name in ds.coords:
            encoding[name] = {"_FillValue": None}  # coordinates never hold fill
    # NETCDF_LOCK serialises the netCDF library in this process. The synchronous scheduler keeps xarray from
    # picking a distributed.Lock for the write (it does whenever a Dask client is the default, as inside a
    # worker): a round trip to the scheduler per write, and a hang when that client is gone.
    with atomic_path(path) as tmp, NETCDF_LOCK, dask.config.set(scheduler="synchronous"):
        delayed = ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding, compute=False)
        delayed.compute()
    return path


def write_interpolated_cube(
    path: str | os.PathLike[str],
    fields: Sequence[Any],
    times: Sequence[datetime | None],
    source: str,
    factor: int,
    method: str,
    options: ReadOptions | None = None,
) -> str:
    """The cube of one interpolated sequence, written the same way by the batch engine and the CLI.

    ``source`` (the first input, a NetCDF file), read with the job's ``options`` (the same field and
    pixels as the frames), lends x/y, the grid-mapping variable, units and the other attributes;
    ``factor`` and ``method`` are recorded. FrameError naming ``source`` for PNG
    inputs or inputs without scan times.
    """
    from goesvfi_lab.errors import FrameError

    from .images import sniff_format

    if sniff_format(source) != "netcdf":
        raise FrameError(source, "a NetCDF cube needs NetCDF inputs (PNG frames carry no physical values)")
    if not times or any(t is None for t in times):
        raise FrameError(source, "a NetCDF cube needs scan times: input names must be GOES ABI names")
    stamps = list(times)
    if len(set(stamps)) != len(stamps):  # factor larger than the cadence in microseconds: keep order honest
        stamps = [stamps[0] + timedelta(microseconds=i) for i in range(len(stamps))]  # type: ignore[operator]
    template = read_field(source, options)
    return write_cube(
        path, fields, stamps, template=template, attrs={"goesvfi_factor": int(factor), "goesvfi_method": str(method)}
    )
