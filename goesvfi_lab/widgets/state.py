"""Plain-Python view state: what the panels show, separate from the widgets that show it.

The split follows bqplot's model/view idea: everything a test needs (parsing the filter form, turning
sequences into jobs, ordering the queue table, the throughput history, the worker metrics) lives here
as ordinary dataclasses and functions, so it is checked without a kernel or a browser.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from ..model import BatchJob, JobPriority, JobStatus, Stats
from ..plan import jobs_for, n_frames

ANY = ""  # the "no constraint" choice of the dropdowns

# --------------------------------------------------------------------------------------------- filter


def _split(text: str) -> list[str]:
    """Comma- or newline-separated entries, blanks dropped."""
    return [p.strip() for p in re.split(r"[,\n]", text or "") if p.strip()]


def _megabytes(text: str, label: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{label}: {text!r} is not a number of MB") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"{label}: must be a non-negative number of MB")
    return int(round(value * 1_000_000))


def parse_utc(text: str, label: str) -> datetime | None:
    """ISO date or date-time (``2023-12-31 12:00``); naive values are UTC, as GOES scan times are."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{label}: {text!r} is not a date-time like 2023-12-31 12:00") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


@dataclass
class FilterState:
    """The filter form as typed. :meth:`to_filter` validates it; errors name the field."""

    root: str = ""
    recursive: bool = True
    extensions: str = ".nc, .png"
    min_size_mb: str = ""
    max_size_mb: str = ""
    min_date: date | None = None  # file modification date (local calendar days, inclusive)
    max_date: date | None = None
    name_pattern: str = ""
    exclude_paths: str = ""  # one path per line (or comma separated)
    exclude_patterns: str = ""  # regular expressions searched in the path, comma/newline separated
    satellite: str = ANY
    band: int | None = None
    sector: str = ANY
    product: str = ANY
    start: str = ""  # scan-time range, UTC
    end: str = ""

    def to_filter(self) -> Any:
        """Build a :class:`goesvfi_lab.discover.FileFilter`; raises ``ValueError`` naming the bad field."""
        from ..discover import FileFilter

        if self.name_pattern.strip():
            try:
                re.compile(self.name_pattern.strip())
            except re.error as e:
                raise ValueError(f"name pattern: {e}") from None
        exts = [e if e.startswith(".") else "." + e for e in (x.lower() for x in _split(self.extensions))]
        min_size = _megabytes(self.min_size_mb, "min size")
        max_size = _megabytes(self.max_size_mb, "max size")
        if min_size is not None and max_size is not None and min_size > max_size:
            raise ValueError("size range: min size is larger than max size")
        if self.min_date and self.max_date and self.min_date > self.max_date:
            raise ValueError("modified dates: 'from' is after 'to'")
        start, end = parse_utc(self.start, "scan start"), parse_utc(self.end, "scan end")
        if start and end and start > end:
            raise ValueError("scan times: start is after end")
        return FileFilter(
            extensions=exts or None,
            min_size=min_size,
            max_size=max_size,
            min_date=self.min_date,  # whole local calendar days, as FileFilter reads dates
            max_date=self.max_date,
            name_pattern=self.name_pattern.strip() or None,
            exclude_paths=tuple(_split(self.exclude_paths)),
            exclude_patterns=tuple(_split(self.exclude_patterns)),
            satellite=self.satellite or None,
            band=self.band,
            sector=self.sector or None,
            product=self.product or None,
            start=start,
            end=end,
        )


@dataclass
class ScanResult:
    """What one filter run found (``root``: the folder scanned, absolute; it names non-ABI job folders)."""

    paths: list[str]
    sequences: list[Any]
    size_bytes: int
    seconds: float
    root: str = ""
    remote: dict[str, Any] = field(default_factory=dict)  # NOAA archive: s3:// URL -> RemoteScan (listed size)
    notes: list[str] = field(default_factory=list)  # what an archive query chose (GOES-East by date, ...)
    cached: int = 0  # archive scans already in the local cache


def scan(state: FilterState) -> ScanResult:
    """Run the filter and group the matches into sequences (called off the main thread)."""
    from ..discover import group_sequences

    t0 = time.perf_counter()
    root = os.path.expanduser(state.root.strip() or ".")
    if not os.path.isdir(root):
        raise ValueError(f"root folder: {root} is not a directory")
    flt = state.to_filter()
    paths = flt.scan(root, recursive=state.recursive)
    seqs = group_sequences(paths) if paths else []
    size = sum(s.size_bytes for s in seqs)
    return ScanResult(paths, seqs, size, time.perf_counter() - t0, os.path.abspath(root))


def subfolders(root: str, limit: int = 200) -> list[str]:
    """Visible sub-directories of ``root`` (names, sorted) for the small folder browser."""
    try:
        with os.scandir(os.path.expanduser(root or ".")) as it:
            names = [e.name for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=True)]
    except OSError:
        return []
    return sorted(names, key=str.lower)[:limit]


# --------------------------------------------------------------------------------------------- NOAA archive

SOURCES = (("local folder", "local"), ("NOAA archive", "archive"))
ARCHIVE_SATELLITES = ("GOES-East", "GOES-West", "G19", "G18", "G17", "G16")
# (label, value) of the per-band products, which the thumbnails, the estimate and the engine read as they are
ARCHIVE_PRODUCTS = (("ABI-L2-CMIP", "CMIP"), ("ABI-L1b-Rad", "Rad"))
MAX_LIVE_HOURS = 7 * 24  # the longest range the form lists live (168 hour folders, a request each)


def default_range(now: datetime | None = None) -> tuple[str, str]:
    """The last full UTC hour before ``now``, as the form's text: a range the archive has (latency is minutes)."""
    from datetime import timedelta

    now = now or datetime.now(timezone.utc)
    end = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=1)
    return f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}"


@dataclass
class ArchiveState:
    """The archive half of the filter form as typed; :meth:`to_query` checks it (errors name the field)."""

    satellite: str = "GOES-East"
    product: str = "ABI-L2-CMIP"
    sector: str = "C"
    band: int = 13
    start: str = ""  # scan-time range, UTC
    end: str = ""
    every: str = ""  # e.g. "10min": one scan per step (empty: every scan)

    def to_query(self) -> dict[str, Any]:
        """The keyword arguments of :func:`goesvfi_lab.archive.find`; ValueError before any network."""
        from ..archive import keys

        start, end = parse_utc(self.start, "scan start"), parse_utc(self.end, "scan end")
        if start is None or end is None:
            raise ValueError("scan times: give a start and an end (UTC) to list the archive")
        if start >= end:
            raise ValueError("scan times: start is not before end")
        hours = (end - start).total_seconds() / 3600
        if hours > MAX_LIVE_HOURS:  # one listing request per hour folder, on every change of the form
            raise ValueError(
                f"scan times: {hours / 24:.0f} days is more than the {MAX_LIVE_HOURS // 24} days the panel lists "
                "as you type; narrow the range, or use goesvfi-lab fetch (or gl.archive.find) for longer ones"
            )
        try:
            keys.parse_every(self.every.strip() or None)
        except ValueError:
            raise ValueError(f"every: {self.every.strip()!r} is not a step like 10min, 1h or 90s") from None
        query = {
            "satellite": self.satellite,
            "product": self.product,
            "sector": self.sector,
            "band": self.band,
            "start": start,
            "end": end,
            "every": self.every.strip() or None,
        }
        keys.plan(**query)  # names, band and range as find checks them
        return query


def find_scans(state: ArchiveState) -> ScanResult:
    """List the archive for the form (only the hour folders of the range) and group the scans into
    sequences; nothing is downloaded. Called off the main thread, like :func:`scan`."""
    from ..archive import Cache, find, sequences

    t0 = time.perf_counter()
    scans = find(**state.to_query())
    seqs = sequences(scans)
    try:
        with Cache() as cache:  # which are local already (the index and sizes; no request)
            cached = sum(p is not None for p in cache.status(scans))
    except OSError:
        cached = 0
    return ScanResult(
        [s.url for s in scans],
        seqs,
        scans.total_bytes,
        time.perf_counter() - t0,
        remote={s.url: s for s in scans},
        notes=list(scans.notes),
        cached=cached,
    )


def local_copies(paths: Sequence[str], remote: Mapping[str, Any]) -> dict[str, str]:
    """Each path's local file: archive scans (``s3://``) fetched into the cache now if they are not there yet,
    local paths as they are. Only the paths asked for are fetched (the preview asks for its thumbnails')."""
    out = {p: p for p in paths}
    wanted = [remote[p] for p in dict.fromkeys(paths) if p in remote]
    if wanted:
        from ..archive import fetch

        report = fetch(wanted)
        out.update({s.url: str(path) for s, path in zip(wanted, report.paths, strict=True)})
    for p in paths:
        if p.startswith("s3://") and p not in remote:  # not from this listing: as a worker fetches it
            from ..archive.worker import local_path

            out[p] = local_path(p)[0]
    return out


def timing_pair(paths: Sequence[str], remote: Mapping[str, Any]) -> tuple[str, str]:
    """The two frames the preview times one interpolation on: the first two; for archive scans the first and
    the next the thumbnails show (middle, or last), so timing downloads nothing the thumbnails do not."""
    if paths[0] not in remote or len(paths) < 3:
        return paths[0], paths[1]
    return paths[0], paths[(len(paths) - 1) // 2]


def estimate_inputs(path_lists: Sequence[Sequence[str]], local: Mapping[str, str], stand_in: str) -> list[list[str]]:
    """Each job's inputs as the estimate reads them (frame size and kind from the first): a remote first frame
    becomes its local copy, or ``stand_in`` (the shown sequence's first, fetched for its thumbnail) when it
    has none: one archive query is one product, sector and band, so one grid."""
    out = []
    for paths in path_lists:
        paths = list(paths)
        if paths and paths[0].startswith("s3://"):
            paths[0] = local.get(paths[0], stand_in)
        out.append(paths)
    return out


# --------------------------------------------------------------------------------------------- preview


@dataclass
class JobSettings:
    factor: int = 4
    method: str = "auto"
    fps: int = 30
    video: bool = True
    cube: bool = False
    cube_format: str = "netcdf"  # "netcdf" (cube.nc) or "zarr" (cube.zarr, a Zarr store for lazy reads)
    priority: JobPriority = JobPriority.NORMAL
    output_dir: str = "goesvfi-output"
    overwrite: bool = False
    cmap: str = "auto"  # colours for physical fields in the video (and the thumbnails)
    annotate: bool = False  # UTC time and colour bar burnt into the frames (settings["annotate"])
    box: str = ""  # crop box "W S E N" in degrees (settings["crop"]); empty: whole frames

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        """The crop box typed in the form; ValueError saying what is expected for anything else."""
        return parse_box(self.box)

    def validate(self) -> None:
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if self.fps < 1:
            raise ValueError("fps must be at least 1")
        if not (self.video or self.cube):
            raise ValueError("choose at least one output: video and/or data cube")
        if self.cube_format not in CUBE_FORMATS:
            raise ValueError(f"cube format must be one of {', '.join(CUBE_FORMATS)}, not {self.cube_format!r}")
        if not self.output_dir.strip():
            raise ValueError("output folder is empty")
        parse_box(self.box)  # a box that does not parse is refused here, before any job

    @property
    def cube_setting(self) -> bool | str:
        """The job's ``cube`` setting (see :mod:`goesvfi_lab.engine.layout`): False, True (cube.nc) or "zarr"."""
        return CUBE_FORMATS[self.cube_format] if self.cube else False


CUBE_FORMATS: dict[str, bool | str] = {"netcdf": True, "zarr": "zarr"}  # form's choice -> settings["cube"]


def auto_cmap(path: str) -> str:
    """The project's one band rule (:func:`goesvfi_lab.bands.auto_cmap`): ``enhanced`` IR for IR-window
    bands, ``wv`` for water vapour, ``vis`` (gamma) for reflective bands, ``grey`` for files without an ABI
    name (stored images pass through unchanged anyway)."""
    from ..bands import auto_cmap as band_cmap

    return band_cmap(path, default="grey")


def make_jobs(sequences: Sequence[Any], settings: JobSettings, root: str | None = None) -> list[BatchJob]:
    """One job per sequence with at least two frames, planned by :func:`goesvfi_lab.plan.jobs_for`.

    The folders are the ones ``goesvfi-lab run`` and ``BatchQueue.add_directory`` choose for the
    same scan, so either resumes (or skips as complete) what the notebook started. ``root``: the
    folder scanned (:attr:`ScanResult.root`; default: the folder holding the sequences). Only the
    mapping of the form's settings onto job settings is the notebook's own.
    """
    settings.validate()
    usable = [s for s in sequences if len(s.paths) >= 2]
    for seq in usable:
        if settings.cube and not all(p.lower().endswith(".nc") for p in seq.paths):
            kind = "Zarr" if settings.cube_format == "zarr" else "NetCDF"
            raise ValueError(f"a {kind} cube needs NetCDF inputs; {seq.name} has other files (untick 'data cube')")
        if settings.bbox and not all(p.lower().endswith(".nc") for p in seq.paths):
            raise ValueError(f"a crop box needs NetCDF inputs (lon/lat); {seq.name} has other files (clear 'Crop box')")
    jobs = jobs_for(
        usable,
        os.path.expanduser(settings.output_dir),
        root=root,
        factor=settings.factor,
        method=settings.method,
        priority=settings.priority,
    )
    for job in jobs:
        job.settings = {
            "fps": settings.fps,
            "video": settings.video,
            "cube": settings.cube_setting,
            "overwrite": settings.overwrite,
            "cmap": auto_cmap(job.inputs[0]) if settings.cmap == "auto" else settings.cmap,
        }
        if settings.annotate:
            job.settings["annotate"] = True
        job.settings.update(crop_setting(settings))
    return jobs


def crop_setting(settings: JobSettings) -> dict[str, Any]:
    """``{"crop": {"bbox": …}}`` for the form's box, as every job gets it (the estimate prices the window);
    {} for no box or one that does not parse (the crop note and Confirm say why)."""
    try:
        bbox = settings.bbox
    except ValueError:
        return {}
    return {"crop": {"bbox": bbox}} if bbox else {}


def parse_box(text: str) -> tuple[float, float, float, float] | None:
    """A crop box typed as "W S E N" (degrees; spaces or commas), None when empty."""
    parts = [p for p in re.split(r"[\s,]+", (text or "").strip()) if p]
    if not parts:
        return None
    from ..geo import check_bbox

    try:
        return check_bbox([float(p) for p in parts] if len(parts) == 4 else parts)
    except ValueError:
        raise ValueError(
            f"crop box: four numbers W S E N in degrees with south < north (e.g. -90 25 -80 32), not {text.strip()!r}"
        ) from None


@dataclass(frozen=True)
class CropView:
    """What the preview says about a crop box on a sequence: the window on its first frame, or why not."""

    window: tuple[int, int, int, int] | None = None  # (y0, y1, x0, x1) on the frame
    text: str = ""  # one line for the panel
    error: str | None = None


def crop_view(path: str, text: str) -> CropView:
    """The window a crop box gives on ``path`` (the sequence's first frame), as the engine will resolve it.

    Reads the file's fixed grid (:func:`goesvfi_lab.geo.bbox_window`): call it off the main thread.
    """
    from ..errors import FrameError
    from ..geo import bbox_window, fixed_grid

    try:
        bbox = parse_box(text)
        if bbox is None:
            return CropView()
        crop = bbox_window(path, bbox)
        rows, cols = fixed_grid(path).shape
    except (FrameError, ValueError) as e:
        return CropView(error=str(e))
    y0, y1, x0, x1 = crop.window
    text = (
        f"crop: rows {y0}:{y1}, columns {x0}:{x1} ({y1 - y0} × {x1 - x0} px, "
        f"{100 * crop.pixels / (rows * cols):.1f}% of the {rows} × {cols} frame)"
    )
    return CropView(crop.window, "; ".join([text, *crop.notes]))


@dataclass
class Estimate:
    jobs: int
    frames_total: int  # frames written, inputs included
    frames_new: int  # interpolated frames
    seconds: float | None  # None until the batch has been predicted


def estimate(sequences: Sequence[Any], factor: int, seconds: float | None = None) -> Estimate:
    """What the preview shows: jobs and frames counted here; the wall time is the batch model's
    (:func:`goesvfi_lab.estimates.predict`: reading, interpolation, writing, video, cube, start-up,
    calibrated by finished jobs), not interpolated frames × one measured cost, which said 0.6 s for
    an 11 s batch."""
    usable = [s for s in sequences if len(s.paths) >= 2]
    total = sum(n_frames(len(s.paths), factor) for s in usable)
    new = total - sum(len(s.paths) for s in usable)  # the inputs pass through
    return Estimate(len(usable), total, new, seconds)


# --------------------------------------------------------------------------------------------- queue

SHOW: dict[str, frozenset[JobStatus] | None] = {
    "all": None,
    "waiting / running": frozenset({JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING}),
    "completed": frozenset({JobStatus.COMPLETED}),
    "failed": frozenset({JobStatus.FAILED}),
    "cancelled": frozenset({JobStatus.CANCELLED}),
}


def clamp_page(page: int, total: int, size: int) -> tuple[int, int]:
    """The page actually shown when ``page`` is asked for (clamped to the last one) and the page count."""
    pages = max(1, math.ceil(total / size))
    return min(max(page, 0), pages - 1), pages


def can_cancel(job: BatchJob) -> bool:
    return not JobStatus(job.status).is_terminal


def can_retry(job: BatchJob) -> bool:
    return JobStatus(job.status) in (JobStatus.FAILED, JobStatus.CANCELLED)


def can_reprioritise(job: BatchJob) -> bool:
    """Only jobs that are still waiting in the store (not yet handed to Dask) can change priority."""
    return JobStatus(job.status) == JobStatus.PENDING


def bumped(priority: JobPriority | int, step: int) -> JobPriority | None:
    """One level up (+1) or down (-1); None at the ends."""
    value = int(priority) + step
    return JobPriority(value) if JobPriority.BACKGROUND <= value <= JobPriority.URGENT else None


# --------------------------------------------------------------------------------------------- stats


class ThroughputHistory:
    """The last ``size`` throughput samples, one per update tick, for the sparkline."""

    def __init__(self, size: int = 60) -> None:
        self.samples: deque[float] = deque(maxlen=size)

    def add(self, stats: Stats) -> None:
        value = stats.throughput
        self.samples.append(float(value) if value is not None and math.isfinite(value) else 0.0)

    def values(self) -> list[float]:
        return list(self.samples)


@dataclass
class WorkerRow:
    name: str
    address: str
    nthreads: int
    executing: int
    cpu: float  # percent of one core, as Dask reports it
    memory: int  # bytes (process RSS)
    memory_limit: int | None
    gpu_utilization: float | None = None  # percent
    gpu_memory: int | None = None  # bytes
    gpu_memory_total: int | None = None
    resources: dict[str, float] = field(default_factory=dict)


def worker_rows(info: Mapping[str, Any] | None) -> list[WorkerRow]:
    """Rows from ``Client.scheduler_info()``; GPU columns filled where NVML metrics are reported."""
    rows = []
    for address, w in sorted(((info or {}).get("workers") or {}).items()):
        m = w.get("metrics") or {}
        gpu_total = m.get("gpu-memory-total") or (w.get("gpu") or {}).get("memory-total")
        rows.append(
            WorkerRow(
                name=str(w.get("name", address)),
                address=address,
                nthreads=int(w.get("nthreads") or 0),
                executing=int((m.get("task_counts") or {}).get("executing", m.get("executing", 0)) or 0),
                cpu=float(m.get("cpu") or 0.0),
                memory=int(m.get("memory") or 0),
                memory_limit=int(w["memory_limit"]) if w.get("memory_limit") else None,
                gpu_utilization=None if m.get("gpu_utilization") is None else float(m["gpu_utilization"]),
                gpu_memory=None if m.get("gpu_memory_used") is None else int(m["gpu_memory_used"]),
                gpu_memory_total=int(gpu_total) if gpu_total and gpu_total > 0 else None,
                resources=dict(w.get("resources") or {}),
            )
        )
    return rows
