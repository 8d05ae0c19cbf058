"""CF metadata of a cube: provenance, the scan/interpolated flag, and no attribute naming a variable it lacks.

A cube that travels is read without the inputs next to it, so everything a reader needs to trust it is in
the cube itself: where the data came from (``source``, ``history``), which times were observed and which
were made up (``frame_type``), and references (``grid_mapping``, ``ancillary_variables``…) that resolve.
Pure functions on attributes and names; :mod:`goesvfi_lab.frames.cube` applies them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

CONVENTIONS = "CF-1.8"
FRAME_TYPE = "frame_type"
SCAN, INTERPOLATED = 0, 1
FRAME_TYPE_ATTRS = {
    "long_name": "whether the frame at this time is an observed scan or interpolated between scans",
    "flag_values": np.array([SCAN, INTERPOLATED], dtype=np.int8),
    "flag_meanings": "scan interpolated",
}
# CF attributes whose value is a blank-separated list of variable names: keep the names present
_NAME_LISTS = ("ancillary_variables", "coordinates")
# CF attributes that name one variable (or "name: …" pairs): dropped when a named variable is missing
_NAME_REFS = ("bounds", "climatology", "geometry", "node_coordinates")
_PAIRED_REFS = ("cell_measures", "formula_terms", "grid_mapping")
# global attributes of an ABI product that still describe the cube (satellite, sector, resolution)
PRODUCT_GLOBALS = (
    "naming_authority",
    "institution",
    "project",
    "platform_ID",
    "orbital_slot",
    "instrument_type",
    "scene_id",
    "spatial_resolution",
)


def frame_types(n: int, factor: int | None) -> np.ndarray:
    """``frame_type`` per time: every ``factor``-th frame (0, f, 2f, …) is a scan, the others interpolated."""
    if factor is None or factor < 1:
        raise ValueError(f"factor must be a positive integer, not {factor!r}")
    flags = np.full(n, INTERPOLATED, dtype=np.int8)
    flags[::factor] = SCAN
    return flags


def _paired_names(value: str) -> list[str]:
    """Variable names in ``"key: name [name…] key: name…"`` (cell_measures, formula_terms) or a bare name."""
    if ":" not in value:
        return value.split()
    return [token for token in value.split() if not token.endswith(":")]


def _cell_methods(value: str, present: set[str], renames: Mapping[str, str]) -> str | None:
    """``cell_methods`` with renamed dimensions (the input's scalar ``t`` is the cube's ``time``), or None
    when it still names something the cube lacks (CF allows dimensions, coordinates and ``area``)."""
    for old, new in renames.items():
        value = re.sub(rf"(?<![\w-]){re.escape(old)}(?=\s*:)", new, value)
    names = re.findall(r"([A-Za-z_][\w-]*)\s*:", value)
    return value if all(n in present or n == "area" for n in names) else None


def resolve_references(
    attrs: Mapping[str, Any], present: Iterable[str], renames: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``attrs`` without references to variables not in ``present``.

    Lists (``ancillary_variables = "DQF"`` when DQF is not written) keep the names that exist and go when
    none does; single references (``grid_mapping``, ``bounds``…) go when what they name is missing;
    ``cell_methods`` is renamed through ``renames`` and dropped if it still names a missing variable.
    """
    present = set(present)
    out = dict(attrs)
    for key in _NAME_LISTS:
        if isinstance(out.get(key), str):
            kept = [n for n in out[key].split() if n in present]
            if kept:
                out[key] = " ".join(kept)
            else:
                del out[key]
    for key in (*_NAME_REFS, *_PAIRED_REFS):
        if isinstance(out.get(key), str):
            names = _paired_names(out[key]) if key in _PAIRED_REFS else out[key].split()
            if not names or any(n not in present for n in names):
                del out[key]
    if isinstance(out.get("cell_methods"), str):
        value = _cell_methods(out["cell_methods"], present, renames or {})
        if value is None:
            del out["cell_methods"]
        else:
            out["cell_methods"] = value
    return out


def dangling_references(variables: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``"variable: attribute -> name"`` for every reference that does not resolve (empty for a good cube)."""
    present = set(variables)
    out = []
    for var, attrs in variables.items():
        for key in (*_NAME_LISTS, *_NAME_REFS, *_PAIRED_REFS):
            value = attrs.get(key)
            if isinstance(value, str):
                names = _paired_names(value) if key in _PAIRED_REFS else value.split()
                out.extend(f"{var}: {key} -> {n}" for n in names if n not in present)
    return out


def utc_iso(stamp: np.datetime64) -> str:
    """A naive-UTC datetime64 as ISO 8601 with milliseconds and ``Z`` (as ABI's time_coverage_* read)."""
    return f"{np.datetime_as_string(np.datetime64(stamp, 'ms'), unit='ms')}Z"


def history_line(method: str, factor: int, scans: int, frames: int, now: datetime | None = None) -> str:
    """One CF ``history`` entry ("date: what was done"): package version, method, factor, UTC date."""
    from goesvfi_lab import __version__

    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return (
        f"{now:%Y-%m-%dT%H:%M:%SZ}: goesvfi-lab {__version__} interpolated {scans} scans in time, "
        f"method={method} factor={factor} ({frames} frames)"
    )


def provenance(
    stamps: np.ndarray,
    inputs: Sequence[str | os.PathLike[str]] = (),
    history: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Global attributes of a cube: conventions, coverage of its times, the input files and its history."""
    attrs: dict[str, Any] = {"Conventions": CONVENTIONS}
    if title:
        attrs["title"] = title
    attrs["source"] = ", ".join(os.path.basename(os.fspath(p)) for p in inputs) if inputs else "goesvfi-lab"
    if history:
        attrs["history"] = history
    attrs["time_coverage_start"] = utc_iso(stamps[0])
    attrs["time_coverage_end"] = utc_iso(stamps[-1])
    return attrs


def product_globals(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The input product's global attributes that still describe the cube (:data:`PRODUCT_GLOBALS`).

    Best effort: a file whose globals cannot be read gives none (the field itself was read already).
    """
    import netCDF4

    from .netcdf import netcdf4_library

    try:
        with netcdf4_library(), netCDF4.Dataset(os.fspath(path)) as nc:
            return {k: nc.getncattr(k) for k in PRODUCT_GLOBALS if k in nc.ncattrs()}
    except (OSError, RuntimeError, ValueError):
        return {}


QUALITY_PREFIX = "goesvfi_quality_"


def quality_attrs(quality: Mapping[str, Any]) -> dict[str, Any]:
    """Global attributes of a job's self-check score (:mod:`goesvfi_lab.quality`): ``goesvfi_quality_rmse``…,
    with the note that it is a pessimistic bound; values netCDF can hold (no None, lists as int arrays)."""
    attrs: dict[str, Any] = {}
    for key in ("rmse", "psnr", "unit", "linear_rmse", "linear_psnr", "ssim", "method", "warning", "error"):
        value = quality.get(key)
        if value is not None:
            attrs[QUALITY_PREFIX + ("units" if key == "unit" else key)] = value
    if quality.get("checked"):
        attrs[QUALITY_PREFIX + "checked"] = np.array(quality["checked"], dtype=np.int32)
    attrs[QUALITY_PREFIX + "comment"] = (
        "leave-one-out self-check: scans at the input indices in goesvfi_quality_checked were predicted from "
        f"their neighbours with the job's method and compared with the real scans; a {quality.get('bound', '')}"
    )
    return attrs
