"""Write a temporally dense sequence as one CF cube (time, y, x): NetCDF (xarray, Panoply) or Zarr (Dask).

The format follows the path: a name ending ``.zarr`` is a Zarr store (a directory), anything else NetCDF-4.
Both hold the same dataset (see :mod:`goesvfi_lab.frames.cube_cf` for its metadata). Frames stream into
the output one at a time (a dask array of one chunk per frame, computed with the synchronous scheduler),
so a cube of full-disk frames never sits in memory twice, and it works unchanged inside a Dask worker
(no nested cluster computation). Every write is atomic: a hidden sibling renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from . import cube_cf
from .atomic import atomic_dir, atomic_path
from .netcdf import NETCDF_LOCK, read_netcdf
from .read import ReadOptions, read_field

_PACKING_ATTRS = ("scale_factor", "add_offset", "_FillValue", "_Unsigned", "valid_range", "missing_value")
ZARR_FORMAT = 2  # read by zarr-python 2 and 3, and by netCDF-C's NCZarr: the widest set of readers
LATLON_ATTRS = {
    "lat": {"standard_name": "latitude", "long_name": "latitude of the pixel centre", "units": "degrees_north"},
    "lon": {"standard_name": "longitude", "long_name": "longitude of the pixel centre", "units": "degrees_east"},
}


def cube_format(path: str | os.PathLike[str]) -> str:
    """``"zarr"`` for a path ending ``.zarr`` (a directory store), else ``"netcdf"``."""
    return "zarr" if os.fspath(path).rstrip("/\\").lower().endswith(".zarr") else "netcdf"


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


def _variable_name(variable: str | None, template: Any, first: Any) -> str:
    """The data variable's name: as asked, else as read (``CMI``, ``BT``, ``reflectance``…), else ``CMI``."""
    if variable:
        return variable
    for source in (template, first):
        name = getattr(source, "name", None)
        if isinstance(name, str) and name:
            return name
    if isinstance(first, (str, os.PathLike)):
        return str(read_netcdf(first).name)
    return "CMI"


def _time_renames(template: Any) -> dict[str, str]:
    """The input's scalar time coordinates, which ``cell_methods`` say ``time`` in the cube: ABI's mid-scan
    ``t`` (whether or not the reader kept it) and any other scalar time the template carries."""
    renames = {"t": "time"}
    if template is not None:
        for c, v in template.coords.items():
            if v.ndim == 0 and (np.issubdtype(v.dtype, np.datetime64) or v.attrs.get("standard_name") == "time"):
                renames[str(c)] = "time"
    return renames


def _latlon(path: str, template: Any) -> dict[str, Any]:
    """2-D ``lat``/``lon`` auxiliary coordinates from the template's fixed grid (NaN off the disk)."""
    from goesvfi_lab.geo import lonlat

    if template is None:
        raise ValueError(f"{path}: lat/lon need a template with x/y and the grid mapping")
    lon, lat = lonlat(template)
    dims = template.dims[-2:]
    return {
        "lat": (dims, np.asarray(lat, dtype=np.float32), LATLON_ATTRS["lat"]),
        "lon": (dims, np.asarray(lon, dtype=np.float32), LATLON_ATTRS["lon"]),
    }


def write_cube(
    path: str | os.PathLike[str],
    frames: Sequence[Any],
    times: Sequence[Any],
    attrs: dict[str, Any] | None = None,
    variable: str | None = None,
    template: Any = None,
    complevel: int = 4,
    *,
    factor: int | None = None,
    sources: Sequence[str | os.PathLike[str]] = (),
    history: str | None = None,
    global_attrs: dict[str, Any] | None = None,
    latlon: bool = False,
    confidence: Sequence[Any] | None = None,
) -> str:
    """Write ``frames`` (2-D arrays, DataArrays or NetCDF paths) at ``times`` as ``variable(time, y, x)``.

    ``times`` are datetimes (naive = UTC) or datetime64, encoded as integer "microseconds since" the first.
    ``variable`` defaults to the name the field was read under (the template's, or the first path's).
    ``template`` (an ``xarray.DataArray`` such as :func:`read_netcdf` returns) lends its x/y
    coordinates, its attributes and its grid-mapping variable; ``attrs`` update the variable's
    attributes. ``factor`` adds ``frame_type`` (every factor-th time a scan); ``sources`` and ``history``
    fill the global ``source`` and ``history``; ``latlon`` adds 2-D lat/lon (needs the template).
    ``confidence`` (one per frame: a 2-D array, an ``.npy`` path, or None at a scan — 1 where it has a
    value) adds ``variable_confidence(time, y, x)`` in 0–1 (:data:`CONFIDENCE_ATTRS`).
    Data are float32, compressed, NaN as fill; Zarr stores one frame per chunk. Written atomically;
    returns the path.
    """
    import dask

    path = os.fspath(path)
    frames = list(frames)
    stamps = _datetime64(times)
    if not frames:
        raise ValueError(f"{path}: no frames for the cube")
    if len(stamps) != len(frames):
        raise ValueError(f"{path}: {len(frames)} frames but {len(stamps)} times")
    if np.any(np.diff(stamps) <= np.timedelta64(0, "ns")):
        raise ValueError(f"{path}: times must strictly increase")
    name = _variable_name(variable, template, frames[0])
    ds = _dataset(path, frames, stamps, name, variable, template, attrs, factor, latlon)
    if confidence is not None:
        _add_confidence(ds, name, confidence, path)
    title = f"{ds[name].attrs.get('long_name') or name} interpolated in time"
    ds.attrs.update(global_attrs or {})
    ds.attrs.update(cube_cf.provenance(stamps, sources, history, title))
    fmt = cube_format(path)
    encoding = _encoding(ds, name, fmt, stamps[0], complevel)
    # The synchronous scheduler keeps xarray from picking a distributed.Lock for the write (it does whenever a
    # Dask client is the default, as inside a worker): a round trip to the scheduler per write, and a hang when
    # that client is gone. NETCDF_LOCK serialises the netCDF library in this process.
    try:
        with dask.config.set(scheduler="synchronous"):
            if fmt == "zarr":
                with atomic_dir(path) as tmp:
                    # compute=False writes the metadata and coordinates; compute() then the frames, one chunk each
                    delayed = ds.to_zarr(
                        tmp, mode="w-", encoding=encoding, compute=False, consolidated=True, zarr_format=ZARR_FORMAT
                    )
                    delayed.compute()
            else:
                with atomic_path(path) as tmp, NETCDF_LOCK:
                    ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding, compute=False).compute()
    except OSError as e:  # a full disk, a read-only folder: say which cube, and that a retry may help
        from goesvfi_lab.errors import FrameError

        from .images import brief_error

        raise FrameError(path, f"cannot write the {fmt} cube: {brief_error(e)}", transient=True) from e
    return path


def _dataset(
    path: str,
    frames: list[Any],
    stamps: np.ndarray,
    name: str,
    variable: str | None,
    template: Any,
    attrs: dict[str, Any] | None,
    factor: int | None,
    latlon: bool,
) -> Any:
    """The cube as a lazy ``xarray.Dataset``: one dask chunk per frame, CF references resolved."""
    import dask
    import dask.array as da
    import xarray as xr

    first = _load(frames[0], variable)
    height, width = first.shape

    def load(i: int) -> np.ndarray:
        array = first if i == 0 else _load(frames[i], variable)
        if array.shape != (height, width):
            raise ValueError(f"{path}: frame {i} is {array.shape}, expected {(height, width)}")
        return array.astype(np.float32, copy=False)[None]

    blocks = [da.from_delayed(dask.delayed(load)(i), (1, height, width), np.float32) for i in range(len(frames))]
    data = da.concatenate(blocks, axis=0)

    coords: dict[str, Any] = {
        "time": ("time", stamps, {"standard_name": "time", "long_name": "frame time", "axis": "T"})
    }
    var_attrs: dict[str, Any] = {}
    dims: tuple[str, ...] = ("time", "y", "x")
    extra_vars: dict[str, Any] = {}
    if template is not None:
        if tuple(template.shape[-2:]) != (height, width):
            raise ValueError(f"{path}: template is {template.shape[-2:]}, frames are {(height, width)}")
        grid_mapping = template.attrs.get("grid_mapping")
        # the grid mapping is a data variable: CF keeps it out of ``coordinates`` (xarray lists coordinates there)
        for coord, into in ((template.dims[-2], coords), (template.dims[-1], coords), (grid_mapping, extra_vars)):
            if coord and coord in template.coords:
                into[coord] = template.coords[coord].variable.copy()
                into[coord].encoding = {}  # written plainly, not re-packed like the source file
        var_attrs.update({k: v for k, v in template.attrs.items() if k not in _PACKING_ATTRS})
        dims = ("time", *template.dims[-2:])
    if latlon:
        coords.update(_latlon(path, template))
    var_attrs.update(attrs or {})
    data_vars: dict[str, Any] = {name: (dims, data, var_attrs), **extra_vars}
    if factor is not None:
        data_vars[cube_cf.FRAME_TYPE] = ("time", cube_cf.frame_types(len(frames), factor), cube_cf.FRAME_TYPE_ATTRS)
    ds = xr.Dataset(data_vars, coords=coords)
    present, renames = set(map(str, ds.variables)), _time_renames(template)
    for var in ds.variables.values():
        var.attrs = cube_cf.resolve_references(var.attrs, present, renames)
    if latlon:
        ds[name].encoding["coordinates"] = "lat lon"
    return ds


CONFIDENCE_ATTRS = {
    "long_name": "confidence of the interpolated value",
    "units": "1",
    "valid_range": np.array([0.0, 1.0], dtype=np.float32),
    "comment": (
        "1 at the scans; between them, how well the two scans carried along the estimated motion agree: "
        "1 / (1 + (4 t (1 - t) |difference| / (0.02 of the pair's value range))^2). Low where cloud appears, "
        "vanishes or the motion is wrong; an indication, not a calibrated error"
    ),
}


def _add_confidence(ds: Any, name: str, confidence: Sequence[Any], path: str) -> None:
    """``name_confidence`` beside ``name``, lazily, one dask chunk per frame like the field."""
    import dask
    import dask.array as da

    field = ds[name]
    if len(confidence) != field.shape[0]:
        raise ValueError(f"{path}: {len(confidence)} confidence maps for {field.shape[0]} frames")
    shape = tuple(field.shape[1:])

    def load(i: int) -> np.ndarray:
        item = confidence[i]
        if item is None:  # a scan: sure wherever it has a value
            values = np.asarray(field.data[i].compute())
            return np.where(np.isfinite(values), np.float32(1), np.float32(np.nan))[None]
        array = np.load(item) if isinstance(item, (str, os.PathLike)) else np.asarray(item)
        if array.shape != shape:
            raise ValueError(f"{path}: confidence {i} is {array.shape}, expected {shape}")
        return array.astype(np.float32, copy=False)[None]

    blocks = [da.from_delayed(dask.delayed(load)(i), (1, *shape), np.float32) for i in range(len(confidence))]
    attrs = dict(CONFIDENCE_ATTRS)
    if "grid_mapping" in field.attrs:
        attrs["grid_mapping"] = field.attrs["grid_mapping"]
    ds[f"{name}_confidence"] = (field.dims, da.concatenate(blocks, axis=0), attrs)
    if "coordinates" in field.encoding:
        ds[f"{name}_confidence"].encoding["coordinates"] = field.encoding["coordinates"]


def _encoding(ds: Any, name: str, fmt: str, t0: np.datetime64, complevel: int) -> dict[str, dict[str, Any]]:
    """Per-variable encoding: float32 data with NaN fill, integer microsecond times, plain coordinates."""
    height, width = ds[name].shape[-2:]
    start = t0.astype("datetime64[s]").item()
    # integer microseconds: interpolated times (e.g. a third of a 5-min scan interval) round-trip exactly,
    # where float seconds since a sub-second epoch drift by a nanosecond
    encoding: dict[str, dict[str, Any]] = {
        "time": {"units": f"microseconds since {start:%Y-%m-%d %H:%M:%S}", "calendar": "standard", "dtype": "int64"}
    }
    if fmt == "zarr":
        encoding[name] = {"dtype": "float32", "_FillValue": np.float32(np.nan), "chunks": (1, height, width)}
    else:
        encoding[name] = {
            "dtype": "float32",
            "zlib": True,
            "complevel": int(complevel),
            "shuffle": True,
            "_FillValue": np.float32(np.nan),
            "chunksizes": (1, min(height, 512), min(width, 512)),
        }
    if f"{name}_confidence" in ds:
        encoding[f"{name}_confidence"] = dict(encoding[name])
    for coord in ("lat", "lon"):
        if coord in ds.coords:
            encoding[coord] = {"dtype": "float32", "_FillValue": np.float32(np.nan)}
            if fmt == "netcdf":
                encoding[coord].update(
                    zlib=True, complevel=int(complevel), chunksizes=(min(height, 512), min(width, 512))
                )
    for var in (*ds[name].dims[1:], ds[name].attrs.get("grid_mapping"), cube_cf.FRAME_TYPE):
        if var in ds.variables:
            encoding[var] = {"_FillValue": None}  # coordinates, the grid mapping and flags never hold fill
    return encoding


def write_interpolated_cube(
    path: str | os.PathLike[str],
    fields: Sequence[Any],
    times: Sequence[datetime | None],
    inputs: Sequence[str] | str,
    factor: int,
    method: str,
    options: ReadOptions | None = None,
    latlon: bool = False,
    confidence: Sequence[Any] | None = None,
) -> str:
    """The cube of one interpolated sequence, written the same way by the batch engine and the CLI.

    ``inputs`` (NetCDF files; the first, read with the job's ``options`` so it has the frames' field
    and pixels, lends x/y, the grid-mapping variable, units and the other attributes) are named in
    ``source``; ``factor`` and ``method`` go into ``history``, the variable's attributes and
    ``frame_type``. NetCDF or Zarr by the path's extension (:func:`cube_format`). FrameError naming the
    first input for PNG inputs or inputs without scan times. ``confidence``: as for :func:`write_cube`.
    """
    from goesvfi_lab.errors import FrameError
    from goesvfi_lab.plan import n_frames

    from .images import sniff_format

    inputs = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(p) for p in inputs]
    source = inputs[0]
    if sniff_format(source) != "netcdf":
        raise FrameError(source, "a NetCDF cube needs NetCDF inputs (PNG frames carry no physical values)")
    if not times or any(t is None for t in times):
        raise FrameError(source, "a NetCDF cube needs scan times: input names must be GOES ABI names")
    if len(fields) != n_frames(len(inputs), factor):
        raise ValueError(
            f"{os.fspath(path)}: {len(fields)} frames for {len(inputs)} inputs at factor {factor}, "
            f"expected {n_frames(len(inputs), factor)}"
        )
    stamps = list(times)
    if len(set(stamps)) != len(stamps):  # factor larger than the cadence in microseconds: keep order honest
        stamps = [stamps[0] + timedelta(microseconds=i) for i in range(len(stamps))]  # type: ignore[operator]
    template = read_field(source, options)
    return write_cube(
        path,
        fields,
        stamps,
        template=template,
        attrs={"goesvfi_factor": int(factor), "goesvfi_method": str(method)},
        factor=factor,
        sources=inputs,
        history=cube_cf.history_line(method, factor, len(inputs), len(fields)),
        global_attrs=cube_cf.product_globals(source),
        latlon=latlon,
        confidence=confidence,
    )


def update_cube_attrs(path: str | os.PathLike[str], attrs: dict[str, Any]) -> None:
    """Add global attributes to a written cube in place (the self-check's score arrives after the cube).

    NetCDF: appended under the netCDF lock; Zarr: the root group's attributes, then the consolidated
    metadata again (what ``xr.open_zarr`` reads).
    """
    path = os.fspath(path)
    if cube_format(path) == "zarr":
        import zarr

        group = zarr.open_group(path, mode="r+", zarr_format=ZARR_FORMAT)
        group.attrs.update({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in attrs.items()})
        zarr.consolidate_metadata(path, zarr_format=ZARR_FORMAT)
        return
    import netCDF4

    from .netcdf import netcdf4_library

    with netcdf4_library(), netCDF4.Dataset(path, "a") as nc:
        nc.setncatts(attrs)
