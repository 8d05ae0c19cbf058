"""Where ABI pixels are on Earth, and which pixels a lon/lat box covers (numpy + pyproj).

ABI files give each pixel as fixed-grid scan angles (``x``/``y`` radians) plus a ``goes_imager_projection``
variable (satellite height ``h``, ellipsoid ``a``/``b``, ``longitude_of_projection_origin``, sweep axis x).
Scan angle times ``h`` is the ``+proj=geos`` plane in metres, so pyproj does the geometry: no hand-written
formulas to get subtly wrong. Pixels whose line of sight misses the Earth come back NaN.

:func:`lonlat` geolocates a field (as :func:`goesvfi_lab.frames.read_field` returns it), a cube or a file;
:func:`read_options` turns a job's ``crop`` setting into the pixel window every reader of the job applies
(the batch engine at admission and ``goesvfi-lab interpolate`` call it alike, once per job).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import FrameError
from .frames.read import ReadOptions, parse_crop

PROJECTION = "goes_imager_projection"
_PROJECTION_KEYS = ("perspective_point_height", "semi_major_axis", "semi_minor_axis", "longitude_of_projection_origin")
_ROWS_PER_BLOCK = 512  # lon/lat of a full disk is computed in row blocks: bounded memory at any size
_EDGE_SAMPLES = 4096  # points per edge of a box when its outline is projected onto the grid
_MARGIN = 2  # pixels added around the projected outline before the exact per-pixel test


@dataclass(frozen=True)
class FixedGrid:
    """The fixed grid of one file or field: pixel centres (scan angle, rad) and the projection that places them."""

    source: str
    x: np.ndarray  # (columns,) rad, west to east
    y: np.ndarray  # (rows,) rad, usually decreasing (north up)
    height: float  # perspective_point_height, m above the ellipsoid
    semi_major: float
    semi_minor: float
    lon_0: float
    sweep: str = "x"
    scene: str | None = None  # the file's scene_id (Full Disk, CONUS, Mesoscale), for messages

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.y), len(self.x)

    def window(self, window: tuple[int, int, int, int] | None) -> FixedGrid:
        """The grid of a pixel window (y0, y1, x0, x1), half-open."""
        if window is None:
            return self
        y0, y1, x0, x1 = window
        return FixedGrid(**{**self.__dict__, "x": self.x[x0:x1], "y": self.y[y0:y1]})


def _source_of(obj: Any) -> str:
    encoding = getattr(obj, "encoding", None) or {}
    return str(encoding.get("source") or getattr(obj, "name", None) or "<field>")


def _grid_from_xarray(obj: Any, source: str | None = None) -> FixedGrid:
    """The grid of a DataArray (x/y and the projection as coordinates, as read_field keeps them) or a Dataset."""
    source = source or _source_of(obj)
    name = (getattr(obj, "attrs", {}) or {}).get("grid_mapping") or PROJECTION
    if hasattr(obj, "data_vars") and name not in obj.variables:  # a Dataset: its data variable names the mapping
        name = next((v.attrs["grid_mapping"] for v in obj.data_vars.values() if "grid_mapping" in v.attrs), PROJECTION)
    holder = obj.coords if name in obj.coords else getattr(obj, "variables", obj.coords)
    if name not in holder:
        raise FrameError(source, f"no {name} variable: geolocation refused (lon/lat and a crop bbox need it)")
    for axis in ("x", "y"):
        if axis not in obj.coords or obj.coords[axis].ndim != 1:
            raise FrameError(source, f"no 1-D {axis} coordinate (fixed-grid radians): geolocation refused")
    attrs = dict(holder[name].attrs)
    missing = [k for k in _PROJECTION_KEYS if k not in attrs]
    if missing:
        raise FrameError(source, f"{name} lacks {', '.join(missing)}: geolocation refused")
    sweep = str(attrs.get("sweep_angle_axis", "x"))
    if sweep not in ("x", "y"):
        raise FrameError(source, f"{name} has sweep_angle_axis {sweep!r} (x or y expected): geolocation refused")
    units = str(obj.coords["x"].attrs.get("units", "rad"))
    if units not in ("rad", "radian", "radians"):
        raise FrameError(source, f"x is in {units!r}, not fixed-grid radians: geolocation refused")
    global_attrs = getattr(obj, "attrs", {}) or {}
    return FixedGrid(
        source=source,
        x=np.asarray(obj.coords["x"].values, dtype=np.float64),
        y=np.asarray(obj.coords["y"].values, dtype=np.float64),
        height=float(attrs["perspective_point_height"]),
        semi_major=float(attrs["semi_major_axis"]),
        semi_minor=float(attrs["semi_minor_axis"]),
        lon_0=float(attrs["longitude_of_projection_origin"]),
        sweep=sweep,
        scene=str(global_attrs["scene_id"]) if "scene_id" in global_attrs else None,
    )


def fixed_grid(obj: Any) -> FixedGrid:
    """The :class:`FixedGrid` of a path (reads x, y and the projection only, not the field), a field, a cube,
    a :class:`~goesvfi_lab.discover.Sequence` (its first scan) or a :class:`~goesvfi_lab.model.BatchJob` (its
    first input, cropped as the job's ``crop`` setting says: the grid of the job's frames and cube).

    FrameError naming the file when it has no fixed grid (a PNG, a NetCDF file without the projection).
    """
    if isinstance(obj, FixedGrid):
        return obj
    if hasattr(obj, "inputs") and hasattr(obj, "settings"):  # a BatchJob
        if not obj.inputs:
            raise ValueError(f"job {getattr(obj, 'name', '?')!r} has no inputs to geolocate")
        crop = resolve_crop(obj.settings, os.fspath(obj.inputs[0]))
        return fixed_grid(os.fspath(obj.inputs[0])).window(crop.window if crop else None)
    if hasattr(obj, "paths") and hasattr(obj, "times"):  # a discover.Sequence: one grid for all its scans
        if not obj.paths:
            raise ValueError(f"sequence {getattr(obj, 'name', '?')!r} has no files to geolocate")
        return fixed_grid(os.fspath(obj.paths[0]))
    if not isinstance(obj, (str, os.PathLike)):
        return _grid_from_xarray(obj)
    import xarray as xr

    from .frames.images import brief_error, sniff_format
    from .frames.netcdf import NETCDF_LOCK

    path = os.fspath(obj)
    fmt = sniff_format(path)
    if fmt != "netcdf":
        raise FrameError(path, f"is {fmt.upper()}: no fixed grid to geolocate (lon/lat and a crop bbox need NetCDF)")
    with NETCDF_LOCK:
        try:
            ds = xr.open_dataset(path, engine="netcdf4", decode_times=False, cache=False)
        except Exception as e:
            raise FrameError(path, f"cannot open as NetCDF: {brief_error(e)}") from e
        with ds:
            wanted = [v for v in ("x", "y", PROJECTION) if v in ds.variables]
            for v in ds.data_vars.values():
                if "grid_mapping" in v.attrs and v.attrs["grid_mapping"] in ds.variables:
                    wanted.append(v.attrs["grid_mapping"])
            small = ds[sorted(set(wanted))].load() if wanted else ds[[]]
            small.attrs = dict(ds.attrs)
    return _grid_from_xarray(small, source=path)


@functools.lru_cache(maxsize=16)
def _transformers(height: float, a: float, b: float, lon_0: float, sweep: str):
    """(geos metres -> lon/lat, lon/lat -> geos metres); pyproj Transformers are thread-safe since 3.1."""
    from pyproj import CRS, Transformer

    geos = CRS.from_dict({"proj": "geos", "h": height, "a": a, "b": b, "lon_0": lon_0, "sweep": sweep})
    lonlat_crs = geos.geodetic_crs
    return (
        Transformer.from_crs(geos, lonlat_crs, always_xy=True),
        Transformer.from_crs(lonlat_crs, geos, always_xy=True),
    )


def _inverse(grid: FixedGrid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lon/lat (degrees) of scan angles x, y (rad, same shape); NaN where the line of sight misses the Earth."""
    to_lonlat, _ = _transformers(grid.height, grid.semi_major, grid.semi_minor, grid.lon_0, grid.sweep)
    lon, lat = to_lonlat.transform(x * grid.height, y * grid.height)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    off = ~(np.isfinite(lon) & np.isfinite(lat))
    lon[off] = np.nan
    lat[off] = np.nan
    return lon, lat


def scan_angles(grid: Any, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-grid x, y (rad) where the satellite of ``grid`` sees lon/lat (degrees); NaN on the far side."""
    grid = fixed_grid(grid)
    _, to_geos = _transformers(grid.height, grid.semi_major, grid.semi_minor, grid.lon_0, grid.sweep)
    x, y = to_geos.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    x, y = np.asarray(x, dtype=np.float64) / grid.height, np.asarray(y, dtype=np.float64) / grid.height
    off = ~(np.isfinite(x) & np.isfinite(y))
    return np.where(off, np.nan, x), np.where(off, np.nan, y)


def lonlat(obj: Any) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) in degrees, float64 arrays of the field's (y, x) shape; NaN for pixels off the Earth's disk.

    ``obj``: a field as :func:`goesvfi_lab.frames.read_field` returns it (its x/y and projection coordinates;
    a cropped field gives the crop's lon/lat), a cube Dataset, a NetCDF path, a sequence, a job (its frames'
    lon/lat, crop included) or a :class:`FixedGrid`.
    FrameError naming the file when the projection variable or x/y are missing ("geolocation refused").
    """
    grid = fixed_grid(obj)
    rows, cols = grid.shape
    lon = np.empty((rows, cols), dtype=np.float64)
    lat = np.empty((rows, cols), dtype=np.float64)
    for r0 in range(0, rows, _ROWS_PER_BLOCK):
        r1 = min(r0 + _ROWS_PER_BLOCK, rows)
        x, y = np.meshgrid(grid.x, grid.y[r0:r1])
        lon[r0:r1], lat[r0:r1] = _inverse(grid, x, y)
    return lon, lat


# --- crop: a lon/lat box -> the smallest pixel window that covers it ---------------------------------------


def _in_box(lon: np.ndarray, lat: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Pixels whose centre lies in the box (edges included); west > east means the box crosses 180°."""
    west, south, east, north = bbox
    span = (east - west) % 360.0 if west != east else 0.0
    if east - west >= 360.0:
        span = 360.0
    with np.errstate(invalid="ignore"):
        inside_lon = ((lon - west) % 360.0) <= span
        return inside_lon & (lat >= south) & (lat <= north)


def _outline(bbox: tuple[float, float, float, float], n: int = _EDGE_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Points along the box's four edges (lon eastwards from west to east, across 180° when west > east)."""
    west, south, east, north = bbox
    span = (east - west) % 360.0 or (360.0 if east != west else 0.0)
    lons = west + np.linspace(0.0, span, n)
    lats = np.linspace(south, north, n)
    lon = np.concatenate([lons, lons, np.full(n, west), np.full(n, west + span)])
    lat = np.concatenate([np.full(n, south), np.full(n, north), lats, lats])
    return (lon + 180.0) % 360.0 - 180.0, lat


@functools.lru_cache(maxsize=8)
def _limb(height: float, a: float, b: float, lon_0: float, sweep: str, n: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Scan angles (x, y) just inside the Earth's limb in ``n`` directions (bisection on where pyproj sees
    the Earth): about one 2 km pixel apart, so a box across the limb is bounded without a full-disk search."""
    grid = FixedGrid("limb", np.zeros(1), np.zeros(1), height, a, b, lon_0, sweep)
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    lo, hi = np.zeros(n), np.full(n, 0.2)  # the limb is ~0.152 rad from nadir at geostationary height
    for _ in range(48):
        mid = (lo + hi) / 2
        seen = np.isfinite(_inverse(grid, mid * c, mid * s)[0])
        lo, hi = np.where(seen, mid, lo), np.where(seen, hi, mid)
    return lo * c, lo * s


def _index_range(axis: np.ndarray, values: np.ndarray, margin: int) -> tuple[int, int]:
    """Half-open index range of a regular axis that holds ``values`` (rad), widened by ``margin`` and clipped."""
    step = (axis[-1] - axis[0]) / (len(axis) - 1) if len(axis) > 1 else 1.0
    idx = (values - axis[0]) / step
    lo = int(np.floor(np.nanmin(idx))) - margin
    hi = int(np.ceil(np.nanmax(idx))) + margin + 1
    return max(lo, 0), min(hi, len(axis))


@dataclass(frozen=True)
class Crop:
    """A resolved crop: the pixel window (y0, y1, x0, x1), half-open, and what the job should be told."""

    window: tuple[int, int, int, int]
    off_disk: int  # pixels of the window off the Earth's disk (NaN in every frame)
    notes: tuple[str, ...] = ()

    @property
    def pixels(self) -> int:
        y0, y1, x0, x1 = self.window
        return (y1 - y0) * (x1 - x0)


def _box_text(bbox: tuple[float, float, float, float]) -> str:
    return "box (W {:g}, S {:g}, E {:g}, N {:g})".format(*bbox)


def _extent(grid: FixedGrid) -> str:
    """The sector's rough lon/lat extent (about 64 samples a side), for error messages."""
    step = max(1, min(grid.shape) // 64)
    lon, lat = lonlat(FixedGrid(**{**grid.__dict__, "x": grid.x[::step], "y": grid.y[::step]}))
    if not np.isfinite(lon).any():
        return "no pixel on the Earth's disk"
    return f"lon {np.nanmin(lon):.1f}..{np.nanmax(lon):.1f}, lat {np.nanmin(lat):.1f}..{np.nanmax(lat):.1f}"


def bbox_window(grid: Any, bbox: tuple[float, float, float, float]) -> Crop:
    """The smallest window of ``grid`` that holds every pixel whose lon/lat lies in ``bbox`` (W, S, E, N degrees).

    satpy's ``crop(ll_bbox=...)`` convention. The box's outline, projected onto the grid, bounds the search
    (the exact per-pixel test then runs on that part only); an outline that leaves the disk searches the
    whole grid in row blocks. FrameError naming the file and the box when no pixel of the file lies in it.
    """
    grid = fixed_grid(grid)
    bbox = check_bbox(bbox)
    sector = f"{grid.scene} sector" if grid.scene else "grid"
    ox, oy = scan_angles(grid, *_outline(bbox))
    on_disk = np.isfinite(ox)
    # the region seen inside the box is bounded by the box's outline where the satellite sees it and, for a
    # box past the limb, by the part of the limb inside the box: its extent on the grid bounds the search
    bx, by = ox[on_disk], oy[on_disk]
    if not on_disk.all():
        lx, ly = _limb(grid.height, grid.semi_major, grid.semi_minor, grid.lon_0, grid.sweep)
        in_box = _in_box(*_inverse(grid, lx, ly), bbox)
        bx, by = np.concatenate([bx, lx[in_box]]), np.concatenate([by, ly[in_box]])
    rows, cols = (_index_range(grid.y, by, _MARGIN), _index_range(grid.x, bx, _MARGIN)) if bx.size else ((0, 0), (0, 0))
    hit_rows: list[int] = []
    hit_cols: list[int] = []
    space = np.zeros((max(rows[1] - rows[0], 0), max(cols[1] - cols[0], 0)), dtype=bool)  # off-disk pixels searched
    if space.size:
        sub = FixedGrid(**{**grid.__dict__, "x": grid.x[cols[0] : cols[1]], "y": grid.y[rows[0] : rows[1]]})
        for r0 in range(0, sub.shape[0], _ROWS_PER_BLOCK):
            x, y = np.meshgrid(sub.x, sub.y[r0 : r0 + _ROWS_PER_BLOCK])
            lon, lat = _inverse(sub, x, y)
            space[r0 : r0 + _ROWS_PER_BLOCK] = np.isnan(lon)
            inside = _in_box(lon, lat, bbox)
            r, c = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
            if r.size:
                hit_rows += [rows[0] + r0 + int(r[0]), rows[0] + r0 + int(r[-1])]
                hit_cols += [cols[0] + int(c[0]), cols[0] + int(c[-1])]
    if not hit_rows:
        if not on_disk.any() and not _any_visible(grid, bbox):
            raise FrameError(
                grid.source,
                f"crop {_box_text(bbox)} is off the Earth's disk seen from the satellite at lon {grid.lon_0:g}",
            )
        raise FrameError(grid.source, f"crop {_box_text(bbox)} lies outside the file's {sector} ({_extent(grid)})")
    window = (min(hit_rows), max(hit_rows) + 1, min(hit_cols), max(hit_cols) + 1)
    notes = []
    if on_disk.all():
        iy = (oy - grid.y[0]) / ((grid.y[-1] - grid.y[0]) / (len(grid.y) - 1) if len(grid.y) > 1 else 1.0)
        ix = (ox - grid.x[0]) / ((grid.x[-1] - grid.x[0]) / (len(grid.x) - 1) if len(grid.x) > 1 else 1.0)
        clipped = (iy < -0.5) | (iy > grid.shape[0] - 0.5) | (ix < -0.5) | (ix > grid.shape[1] - 0.5)
        if clipped.any():
            notes.append(f"crop {_box_text(bbox)} reaches beyond the file's {sector}: cropped to the part inside")
    else:
        notes.append(f"crop {_box_text(bbox)} reaches past the Earth's limb: cropped to the part the satellite sees")
    y0, y1, x0, x1 = window
    off = int(np.count_nonzero(space[y0 - rows[0] : y1 - rows[0], x0 - cols[0] : x1 - cols[0]]))
    return _finish(grid, window, notes, f"crop {_box_text(bbox)}", off)


def _any_visible(grid: FixedGrid, bbox: tuple[float, float, float, float]) -> bool:
    """Whether any point of a 64×64 lattice over the box is seen by the satellite (a box whose outline is not)."""
    west, south, east, north = bbox
    span = (east - west) % 360.0 or 360.0
    lon, lat = np.meshgrid(west + np.linspace(0, span, 64), np.linspace(south, north, 64))
    return bool(np.isfinite(scan_angles(grid, (lon + 180.0) % 360.0 - 180.0, lat)[0]).any())


def _finish(
    grid: FixedGrid, window: tuple[int, int, int, int], notes: list[str], what: str, off: int | None = None
) -> Crop:
    """The Crop of ``window``, with a note when part of it is off the Earth's disk (``off`` pixels, when known)."""
    if off is None:
        off = int(np.count_nonzero(np.isnan(lonlat(grid.window(window))[0])))
    y0, y1, x0, x1 = window
    total = (y1 - y0) * (x1 - x0)
    if off:
        notes.append(
            f"{what}: window rows {y0}:{y1}, columns {x0}:{x1} ({y1 - y0}×{x1 - x0} px) has {off} pixels "
            f"({100 * off / total:.1f}%) off the Earth's disk: they stay NaN"
        )
    return Crop(window, off, tuple(notes))


def check_bbox(bbox: Any) -> tuple[float, float, float, float]:
    """``bbox`` as (west, south, east, north) floats; ValueError saying what is expected otherwise."""
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"crop bbox must be (west, south, east, north) in degrees, not {bbox!r}") from None
    if not (-90.0 <= south < north <= 90.0) or not all(np.isfinite([west, east])):
        raise ValueError(f"crop bbox {bbox!r}: need -90 <= south < north <= 90 and finite west/east (degrees)")
    return west, south, east, north


def window_crop(source: str, window: tuple[int, int, int, int]) -> Crop:
    """A pixel window's Crop: the off-disk note where ``source`` has a fixed grid, checked against its size."""
    from .frames.images import sniff_format

    if sniff_format(source) != "netcdf":
        return Crop(window, 0)
    try:
        grid = fixed_grid(source)
    except FrameError:  # no projection: a pixel window needs none (and the reader still checks the size)
        return Crop(window, 0)
    y0, y1, x0, x1 = window
    rows, cols = grid.shape
    if y1 > rows or x1 > cols:
        raise FrameError(source, f"crop window rows {y0}:{y1}, columns {x0}:{x1} exceeds the {rows}×{cols} frame")
    crop = _finish(grid, window, [], "crop")
    if crop.off_disk == crop.pixels:
        raise FrameError(source, f"crop window rows {y0}:{y1}, columns {x0}:{x1} is entirely off the Earth's disk")
    return crop


def resolve_crop(settings: Mapping[str, Any] | None, source: str) -> Crop | None:
    """The job's ``crop`` setting as a pixel window on ``source`` (its first input), or None for no crop."""
    crop = parse_crop((settings or {}).get("crop"))
    if crop is None:
        return None
    kind, value = crop
    if not os.path.exists(source):  # a remote input (s3://…) that the workers fetch: not readable here
        if kind == "window":
            return Crop(value, 0)  # pixels need no grid; the reader checks the size where it reads
        raise FrameError(
            source,
            "a crop bbox is resolved on the job's first input where the queue runs, and this file is not here "
            "(fetch the scans first with goesvfi-lab fetch, or crop with a pixel window)",
        )
    if kind == "window":
        return window_crop(source, value)
    return bbox_window(source, value)


def read_options(settings: Mapping[str, Any] | None, source: str) -> tuple[ReadOptions, tuple[str, ...]]:
    """The job's :class:`ReadOptions` with its crop resolved on ``source`` (the first input), and notes for the job.

    The one place a ``crop`` becomes pixels: the batch engine (at admission) and ``goesvfi-lab interpolate``
    both call it once per job, so every pair, the cube and the CLI read the same window.
    """
    crop = resolve_crop(settings, source)
    if crop is None:
        return ReadOptions.from_settings(settings), ()
    return ReadOptions.from_settings(settings, window=crop.window), crop.notes
