"""Where a job's outputs go, and how to tell a complete job from a partial one.

Layout of ``output_dir`` for a job of ``n`` inputs and factor ``f``::

    000000.png 000001.png ...        (n-1)*f+1 frames in time order: input k at index k*f, the
                                     f-1 generated frames between inputs k and k+1 at k*f+1 ... k*f+f-1
    .fields/000000.npy ...           float32 data per frame, only for physical (NetCDF) inputs with
                                     ``settings["cube"]``; removed once the cube is written
    .fields/000001.confidence.npy    the generated frames' confidence (0–1) where the method gives one
                                     (flow): the cube's ``VAR_confidence``
    video.mp4                        ``settings["video"]`` is True (a string names another path)
    cube.nc                          ``settings["cube"]`` is True: CF NetCDF (time, y, x) at the
                                     interpolated times (a string names another path)
    cube.zarr/                       ``settings["cube"]`` is "zarr": the same cube as a Zarr store (a
                                     directory; one frame per chunk, for lazy reads with xr.open_zarr)
    job.json                         the manifest, written last: its presence means "complete"; the
                                     self-check adds ``quality`` to it afterwards (engine/selfcheck.py)
    .goesvfi-job.json                what the job writing here will produce (its result spec), written
                                     before the first frame: partial frames are resumed only by a job
                                     that asks for the same result
    .goesvfi.lock                    while a queue works on the job (see goesvfi_lab.locks)

Inputs are rendered (NetCDF: colour table ``settings["cmap"]``) or copied through as PNG, so the
folder alone is a playable sequence. Frame ``i*f + k`` of pair ``i`` is its time fraction ``k/f``.
Every file is written atomically (a hidden temporary sibling renamed into place), so a reader never
sees half a frame, and a job can resume: frames that exist and decode are not recomputed.

Job settings (``BatchJob.settings``) the engine understands:

``fps``
    video frame rate (default ``goesvfi.video.fps``).
``video``
    False (default), True (``video.mp4`` in the output folder) or a path for the MP4 (relative
    paths are inside the output folder and may not climb out of it; absolute ones are used as given).
``cube``
    False (default), True (``cube.nc``), ``"zarr"`` (``cube.zarr``) or a path (as for ``video``; one
    ending ``.zarr`` is a Zarr store, any other NetCDF-4); needs NetCDF inputs. Either format holds
    ``VAR(time, y, x)`` under the name the field was read as (``CMI``, ``BT``, ``reflectance``…) with its
    units and standard_name, x/y in radians, the grid-mapping variable, ``frame_type`` (0 scan,
    1 interpolated) and CF provenance (``history``, ``source``, ``time_coverage_start/end``).
``latlon``
    False (default); True adds 2-D ``lat``/``lon`` auxiliary coordinates to the cube (pyproj on the
    fixed grid, NaN off the disk; see :func:`goesvfi_lab.geo.lonlat`).
``overwrite``
    False (default): a job whose outputs are complete *with the same result spec* (inputs, factor,
    method, output settings) is skipped, a partial one of the same spec resumed, and a folder that
    holds another result fails the job with a message (nothing is replaced silently);
    True: existing outputs in the folder are removed and everything is recomputed.
``timeout``
    seconds a job may run before it is stopped and failed (default ``goesvfi.queue.timeout``;
    None or 0 for no limit).
``device``
    "auto" (default: a GPU slot when the cluster has GPU workers and the method is not linear),
    "gpu" (needs a worker with ``resources={"GPU": 1}``; computes on that worker's GPU) or "cpu".
``fallback_cpu``
    False (default): a job that needs a GPU waits, with a reason, while no worker offers one;
    True: it runs on CPU workers instead, with a note on the job.
``cmap``, ``vmin``, ``vmax``
    how physical fields are rendered to PNG/MP4 (see :func:`goesvfi_lab.frames.render`).
``crop``
    None (default: whole frames); ``{"bbox": (west, south, east, north)}`` in degrees (NetCDF inputs
    with a fixed grid): the smallest fixed-grid window holding every pixel whose lon/lat is in the box
    (satpy's ``crop(ll_bbox=...)`` convention), resolved once per job on its first input; or
    ``{"window": (y0, y1, x0, x1)}`` in pixels, half-open (any input). Frames are cropped as they are
    read, before interpolation, and the cube's x/y are the window's. A box outside the disk or the
    file's sector fails the job naming the file and the box; off-disk pixels inside the window are
    counted in a note (see :func:`goesvfi_lab.geo.read_options`). A result-changing setting.
``band``
    None (default) or an ABI band 1..16 (``13`` or ``"C13"``): picks ``CMI_C13`` of a multi-band (MCMIP)
    file, where it is required; a one-band file (``CMI``/``Rad``) of another band fails the job naming the
    file. An MCMIP file without the band (or without a band asked) fails the job naming the file and
    listing the bands it holds (see :func:`goesvfi_lab.frames.abi.choose_variable`).
``mask_dqf``
    None (default: the product's rule, L1b "no value" pixels, DQF 3, become NaN; nothing for L2, whose
    fill already is NaN), True (every pixel whose DQF > 1 becomes NaN: out of range, no value, focal plane
    temperature exceeded) or False (no DQF masking). A result-changing setting, like ``band``.
``annotate``
    False (default); True burns a UTC time label and, for physical inputs, the colour bar with its
    units into every PNG frame (and so the MP4): the scan start on scans, the interpolated time with
    ``(interp.)`` on generated frames (see :mod:`goesvfi_lab.frames.annotate`). A result-changing
    setting; the float fields and the cube are never annotated.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from goesvfi_lab.plan import n_frames  # the one frame-count rule (planner, progress, layout)

MANIFEST = "job.json"
STARTED = ".goesvfi-job.json"
FIELDS_DIR = ".fields"
MANIFEST_FORMAT = "goesvfi-lab job manifest"
PHYSICAL_EXTENSIONS = (".nc", ".nc4", ".h5", ".hdf", ".hdf5")

_FRAME = re.compile(r"^\d{6}\.png$")
_TEMP = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[A-Za-z0-9]+)?$")  # frames.atomic.temp_name


def frame_name(index: int) -> str:
    return f"{index:06d}.png"


def is_frame_name(name: str) -> bool:
    """Whether ``name`` is an output frame's file name (``000000.png``…, as :func:`frame_name` writes)."""
    return _FRAME.match(name) is not None


def frame_path(output_dir: str, index: int) -> str:
    return os.path.join(output_dir, frame_name(index))


def field_path(output_dir: str, index: int) -> str:
    return os.path.join(output_dir, FIELDS_DIR, f"{index:06d}.npy")


def confidence_path(output_dir: str, index: int) -> str:
    """Where a generated frame's confidence map waits for the cube (beside its field)."""
    return os.path.join(output_dir, FIELDS_DIR, f"{index:06d}.confidence.npy")


def pair_targets(pair: int, factor: int, last: bool) -> list[tuple[int, float]]:
    """(frame index, time fraction) a pair task writes: its first input and the frames after it.

    The last pair also writes its second input, so every index is written by exactly one pair.
    """
    first = pair * factor
    targets = [(first + k, k / factor) for k in range(factor)]
    if last:
        targets.append((first + factor, 1.0))
    return targets


def is_physical(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in PHYSICAL_EXTENSIONS


def _extra_path(output_dir: str, value: Any, default: str) -> str | None:
    """True -> ``output_dir/default``; an absolute path as given (the user's explicit choice); a relative
    one inside ``output_dir`` (not the worker's working directory), refused if it climbs out."""
    if not value:
        return None
    if value is True:
        return os.path.join(output_dir, default)
    path = os.fspath(value)
    if os.path.isabs(path):
        return path
    from goesvfi_lab.safety import inside

    inside(output_dir, path)  # raises UnsafePathError for "../x.mp4" and the like
    return os.path.join(output_dir, path)


def video_path(output_dir: str, settings: dict[str, Any]) -> str | None:
    return _extra_path(output_dir, settings.get("video"), "video.mp4")


CUBE_NAMES = ("cube.nc", "cube.zarr")  # the default cube of each format


def cube_path(output_dir: str, settings: dict[str, Any]) -> str | None:
    """Where the job's cube goes: ``cube.nc`` for True, ``cube.zarr`` for "zarr", else the path given."""
    value = settings.get("cube")
    if isinstance(value, str) and value.lower() == "zarr":
        return os.path.join(output_dir, "cube.zarr")
    return _extra_path(output_dir, value, "cube.nc")


def remove_path(path: str) -> bool:
    """Delete an output file or directory (a Zarr cube); False if nothing was there."""
    from goesvfi_lab.frames.atomic import remove_path as remove

    return remove(path)


def output_exists(path: str) -> bool:
    """A finished output: a file, or a Zarr store (a directory renamed into place only once complete)."""
    if path.rstrip(os.sep).lower().endswith(".zarr"):
        return os.path.isdir(path)
    return os.path.isfile(path)


def read_manifest(output_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(output_dir, MANIFEST), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None


# settings that change how a job runs, not what it writes: a rerun that differs only in these is the same result
EXECUTION_SETTINGS = frozenset({"overwrite", "timeout", "device", "fallback_cpu"})
# settings result_spec takes as they take effect (defaults filled in, dropped where they change nothing)
_EFFECTIVE = frozenset({"video", "cube", "latlon", "fps", "cmap", "vmin", "vmax", "kind", "annotate"})


def result_spec(inputs: Iterable[str], factor: int, method: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What a job's outputs are: inputs, factor, method and every setting that changes a written file.

    Settings are taken as they take effect, so two ways of asking for the same files compare equal:
    ``fps`` only with a video (default ``goesvfi.video.fps``), ``latlon`` only with a cube, colours only
    for physical inputs (PNG frames pass through unchanged), ``kind`` only when not ``auto``; how a job runs
    (:data:`EXECUTION_SETTINGS`) is left out. Normalised through JSON (tuples become lists), so it
    compares equal to what a manifest holds.
    """
    from goesvfi_lab import config

    paths = [str(p) for p in inputs]
    physical = bool(paths) and is_physical(paths[0])
    rest = {k: v for k, v in settings.items() if k not in EXECUTION_SETTINGS and k not in _EFFECTIVE}
    effective: dict[str, Any] = {"video": settings.get("video") or False, "cube": settings.get("cube") or False}
    if effective["video"]:
        effective["fps"] = float(settings.get("fps") or config.get("video.fps"))
    if physical:
        effective.update(cmap=settings.get("cmap") or "ir", vmin=settings.get("vmin"), vmax=settings.get("vmax"))
    if (settings.get("kind") or "auto") != "auto":
        effective["kind"] = settings["kind"]
    if settings.get("annotate"):  # labels and colour bar in the frames; False writes what no setting does
        effective["annotate"] = True
    if effective["cube"] and settings.get("latlon"):  # lat/lon are in the cube only
        effective["latlon"] = True
    merged = {**rest, **effective}
    spec = {
        "inputs": paths,
        "factor": int(factor),
        "method": str(method),
        "settings": {k: merged[k] for k in sorted(merged)},
    }
    return json.loads(json.dumps(spec, default=str))


@dataclass(frozen=True)
class Existing:
    """What an output folder already holds, compared with the result a job wants.

    ``state``: ``empty`` (nothing of ours), ``complete`` (this very result, finished), ``partial``
    (this result, unfinished: resume it) or ``other`` (another result, finished or not, or frames of
    unknown origin). ``job_id`` is the job that wrote it, when known; ``detail`` says how it differs.
    """

    state: str
    job_id: str | None = None
    detail: str = ""


def _describe(spec: Mapping[str, Any]) -> str:
    return f"{spec.get('method')} ×{spec.get('factor')}"


def spec_differences(held: Mapping[str, Any], wanted: Mapping[str, Any], methods_used: Iterable[str] = ()) -> list[str]:
    """How the result in a folder differs from the one wanted, one phrase per field; empty if the same.

    A method counts as the same when it is the one the earlier job's ``auto`` resolved to.
    """
    out = []
    if held.get("inputs") != wanted.get("inputs"):
        a, b = held.get("inputs") or [], wanted.get("inputs") or []
        out.append(f"inputs ({len(a)} files there, {len(b)} wanted)" if len(a) != len(b) else "inputs (other files)")
    if held.get("factor") != wanted.get("factor"):
        out.append(f"factor {held.get('factor')} → {wanted.get('factor')}")
    used = sorted(set(methods_used))
    if held.get("method") != wanted.get("method") and used != [wanted.get("method")]:
        out.append(f"method {held.get('method')} → {wanted.get('method')}")
    hs, ws = held.get("settings") or {}, wanted.get("settings") or {}
    for key in sorted(set(hs) | set(ws)):
        if hs.get(key) != ws.get(key):
            out.append(f"{key} {hs.get(key)!r} → {ws.get(key)!r}")
    return out


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def existing_result(output_dir: str, wanted: Mapping[str, Any]) -> Existing:
    """Compare what ``output_dir`` holds with the result spec ``wanted`` (see :func:`result_spec`).

    Cheap on purpose (no decoding, two small JSON reads and a stat per frame): it runs on the client
    for every job before it is submitted, and in the notebook preview before Confirm.
    """
    manifest = read_manifest(output_dir)
    if manifest is not None:
        held = result_spec(
            manifest.get("inputs") or [],
            manifest.get("factor") or 0,
            manifest.get("method") or "",
            manifest.get("settings") or {},
        )
        job_id = manifest.get("job_id")
        diff = spec_differences(held, wanted, manifest.get("methods_used") or ())
        if diff:
            return Existing("other", job_id, f"finished {_describe(held)} from job {job_id}: " + ", ".join(diff))
        total = n_frames(len(wanted["inputs"]), wanted["factor"])
        settings = wanted.get("settings") or {}
        files = [frame_path(output_dir, i) for i in range(total)]
        files += [p for p in (video_path(output_dir, settings), cube_path(output_dir, settings)) if p]
        if manifest.get("frames") == total and all(output_exists(p) for p in files):
            return Existing("complete", job_id, f"complete from job {job_id} (same settings)")
        return Existing("partial", job_id, f"files missing from job {job_id}'s result: recomputed")
    started = _read_json(os.path.join(output_dir, STARTED))
    if started is not None and isinstance(started.get("spec"), dict):
        job_id = started.get("job_id")
        diff = spec_differences(started["spec"], wanted)
        if diff:
            return Existing(
                "other", job_id, f"unfinished {_describe(started['spec'])} from job {job_id}: " + ", ".join(diff)
            )
        return Existing("partial", job_id, f"unfinished, from job {job_id}: resumed")
    frames = [n for n in _listdir(output_dir) if _FRAME.match(n)]
    if frames:
        return Existing("other", None, f"{len(frames)} frames of unknown origin (no {MANIFEST})")
    return Existing("empty")


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def write_started(output_dir: str, job_id: str, spec: Mapping[str, Any]) -> None:
    """Record, before the first frame, which result this folder is becoming (atomically)."""
    from goesvfi_lab.frames.atomic import atomic_path

    os.makedirs(output_dir, exist_ok=True)
    with atomic_path(os.path.join(output_dir, STARTED)) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"format": MANIFEST_FORMAT, "job_id": job_id, "spec": dict(spec)}, fh, indent=1)


def conflict_message(output_dir: str, found: Existing) -> str:
    """The error of a job whose folder holds another result: what is there, and the two ways on."""
    return (
        f"{output_dir} already holds another result ({found.detail}); nothing was replaced. "
        f"Set settings overwrite=True (CLI --overwrite) to replace it, or write to another folder"
    )


def unused_dir(output_dir: str) -> str:
    """``output_dir`` itself if it is missing or empty, else the first free ``output_dir-2``, ``-3`` …"""
    base = output_dir.rstrip(os.sep) or output_dir
    candidate, n = base, 1
    while _listdir(candidate) or os.path.isfile(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def is_complete(
    output_dir: str, inputs: list[str], factor: int, settings: dict[str, Any], method: str | None = None
) -> bool:
    """Whether ``output_dir`` holds this job's finished outputs (manifest, frames, extras).

    Without ``method``, the method in the manifest is taken as wanted (callers that only know the inputs).
    """
    manifest = read_manifest(output_dir)
    if manifest is None:
        return False
    wanted = result_spec(inputs, factor, manifest.get("method", "") if method is None else method, settings)
    return existing_result(output_dir, wanted).state == "complete"


def job_files(output_dir: str) -> list[str]:
    """Files of the layout present in ``output_dir`` (frames, fields, manifest, video, cube, temporaries)."""
    found: list[str] = []
    try:
        names = os.listdir(output_dir)
    except FileNotFoundError:
        return found
    for name in names:
        if _FRAME.match(name) or _TEMP.match(name) or name in (MANIFEST, STARTED, "video.mp4", *CUBE_NAMES):
            found.append(os.path.join(output_dir, name))
    fields = os.path.join(output_dir, FIELDS_DIR)
    if os.path.isdir(fields):
        found.extend(os.path.join(fields, n) for n in os.listdir(fields))
    return sorted(found)


def remove_outputs(output_dir: str, extra: Iterable[str | None] = ()) -> int:
    """Delete the job's layout files (never anything else) and the folder if that leaves it empty."""
    removed = 0
    for path in [*job_files(output_dir), *(p for p in extra if p)]:
        removed += remove_path(path)  # a Zarr cube (and its temporary) is a directory
    shutil.rmtree(os.path.join(output_dir, FIELDS_DIR), ignore_errors=True)
    try:
        os.rmdir(output_dir)  # only if empty: user files and a held lock keep it
    except OSError:
        pass
    return removed


def temporaries(output_dir: str) -> list[str]:
    """Leftover temporaries of interrupted atomic writes (files, or directories of Zarr stores)."""
    return [p for p in job_files(output_dir) if _TEMP.match(os.path.basename(p))]


@dataclass(frozen=True)
class Step:
    """One frame of a finished job, as a player steps through it.

    ``index`` is the frame's position (``path`` its PNG); ``pair`` the input pair it lies in and ``t`` its
    time fraction there (the last input is pair n-2 at t = 1); ``scan`` the frame index of the input scan
    at or before it (``scan // factor`` is that input's number); ``time`` its ISO time, when known.
    """

    index: int
    is_scan: bool
    pair: int
    t: float
    path: str
    scan: int
    factor: int
    time: str | None = None

    @property
    def position(self) -> float:
        """Where the frame lies in units of input scans: 2.25 is a quarter of the way from scan 2 to 3."""
        return self.index / self.factor


def player_steps(output_dir: str) -> list[Step]:
    """Every frame of the finished job in ``output_dir`` in time order, from its manifest.

    Raises ValueError naming the folder when it holds no manifest (the job is not finished, or this is
    not a job's folder). Frames are not opened: a path may be missing if files were removed since.
    """
    manifest = read_manifest(output_dir)
    if manifest is None:
        raise ValueError(
            f"{output_dir}: no {MANIFEST} there, so no finished job to play (not finished, or not a job folder)"
        )
    factor = max(int(manifest.get("factor") or 1), 1)
    inputs = manifest.get("inputs") or []
    total = int(manifest.get("frames") or n_frames(len(inputs), factor))
    times = manifest.get("frame_times") or []
    last_pair = max((total - 1) // factor - 1, 0)
    steps = []
    for i in range(total):
        pair = min(i // factor, last_pair)
        steps.append(
            Step(
                index=i,
                is_scan=i % factor == 0,
                pair=pair,
                t=(i - pair * factor) / factor,
                path=frame_path(output_dir, i),
                scan=(i // factor) * factor,
                factor=factor,
                time=times[i] if i < len(times) and isinstance(times[i], str) else None,
            )
        )
    return steps
