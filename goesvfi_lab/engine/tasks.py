"""Work that runs on Dask workers: one task per frame pair (or per run of tiny consecutive pairs), then
one assemble task per job.

Tasks receive paths and small specs, read inputs and write outputs themselves (atomically), and
return a small dict, so no frame data travels through the client. The output layout and the job
settings are described in :mod:`goesvfi_lab.engine.layout`.

Stopping: ``Future.cancel`` cannot stop a running task, so each task polls the job attempt's
``distributed.Event`` between frames (at most every ``poll`` seconds per worker process, since
each poll is a scheduler round trip) and raises :class:`JobStopped` when it is set.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from goesvfi_lab.frames.read import ReadOptions
from goesvfi_lab.plan import n_frames

from . import layout


class JobStopped(Exception):
    """A task noticed its job was cancelled or timed out and stopped between frames."""

    def __init__(self, job_id: str, detail: str = "") -> None:
        self.job_id = job_id
        self.detail = detail
        super().__init__(f"job {job_id} stopped{': ' + detail if detail else ''}")

    def __reduce__(self):
        return (type(self), (self.job_id, self.detail))


def stop_event_name(job_id: str, attempt: int) -> str:
    return f"vfi-stop-{job_id}-a{attempt}"


@dataclass(frozen=True)
class PairSpec:
    """Everything one pair task needs; small and picklable."""

    job_id: str
    pair: int
    attempt: int
    in0: str
    in1: str
    output_dir: str
    factor: int
    last: bool
    method: str = "auto"
    device: str = "cpu"  # passed to goesvfi_lab.interp: "cpu", or "auto" on a GPU slot
    kind: str = "auto"  # "video" / "field" / "auto": from the frames' dtype and names (interp/kind.py)
    keep_fields: bool = False
    cmap: str = "ir"
    vmin: float | None = None
    vmax: float | None = None
    stop: str | None = None  # distributed.Event name; None: never stopped (raw benchmark)
    poll: float = 0.1
    read: ReadOptions = ReadOptions()  # which field and pixels of the inputs (one value per job)
    annotate: bool = False  # burn the time label and the colour bar into the PNGs (settings["annotate"])
    times: tuple[str | None, str | None] = (None, None)  # ISO scan starts of in0 and in1, for the labels
    # the scans before in0 and after in1 (None: none, or beyond a gap) and their distances in pair intervals
    # (plan.context_gaps); read only where the method curves trajectories with them (interp.uses_context)
    context: tuple[str | None, str | None] = (None, None)
    gaps: tuple[float, float] = (1.0, 1.0)


@dataclass(frozen=True)
class AssembleSpec:
    job_id: str
    name: str
    attempt: int
    output_dir: str
    inputs: tuple[str, ...]
    factor: int
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    times: tuple[str | None, ...] = ()  # ISO scan start per input, None where unknown
    notes: tuple[str, ...] = ()
    stop: str | None = None
    read: ReadOptions = ReadOptions()


class StopFlag:
    """Cheap repeated checks of one ``distributed.Event``.

    The first check happens ``poll`` seconds into the task (a task of a job cancelled before it
    started was never started: its future was cancelled), later ones every ``poll`` seconds; answers
    are shared by the tasks of one worker process. A short pair therefore costs no round trip at all.
    """

    _cache: dict[str, tuple[float, bool]] = {}

    def __init__(self, name: str | None, job_id: str, poll: float = 0.1) -> None:
        self.name = name
        self.job_id = job_id
        self.poll = poll
        self._last = time.monotonic()

    def is_set(self) -> bool:
        if self.name is None:
            return False
        now = time.monotonic()
        cached = self._cache.get(self.name)
        if cached is not None and (cached[1] or now - cached[0] < self.poll):
            return cached[1]
        if now - self._last < self.poll:
            return False
        from distributed import Event

        value = bool(Event(self.name).is_set())
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[self.name] = (now, value)
        self._last = now
        return value

    def check(self) -> None:
        if self.is_set():
            raise JobStopped(self.job_id, "cancelled or timed out")


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def _frame_ok(output_dir: str, index: int, keep_fields: bool) -> bool:
    """An output frame counts as done if it exists and decodes (and so does its float field)."""
    from goesvfi_lab.errors import FrameError
    from goesvfi_lab.frames import read_frame

    path = layout.frame_path(output_dir, index)
    if not os.path.exists(path):
        return False
    try:
        read_frame(path)
    except FrameError:
        return False
    if keep_fields:
        import numpy as np

        try:
            np.load(layout.field_path(output_dir, index), mmap_mode="r")
        except (OSError, ValueError):
            return False
    return True


def _frame_label(spec: PairSpec, index: int) -> str | None:
    """The annotation label of output frame ``index`` of the pair: its time from :func:`frame_times`
    (as the manifest lists it), marked interpolated between the two scans."""
    from goesvfi_lab.frames.annotate import frame_label as label

    k = index - spec.pair * spec.factor
    times = frame_times(spec.times, spec.factor)
    return label(times[k] if times else None, interpolated=0 < k < spec.factor)


def _save_npy(path: str, array: Any) -> None:
    import numpy as np

    from goesvfi_lab.frames import atomic_path

    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(array, dtype=np.float32))
    except OSError as e:  # full disk etc.: name the file
        from goesvfi_lab.errors import FrameError

        raise FrameError(path, f"cannot write: {e.strerror or e}", transient=True) from e


def _write_frame(spec: PairSpec, index: int, array: Any, confidence: Any = None) -> None:
    from goesvfi_lab.frames import render, write_png
    from goesvfi_lab.frames.annotate import burn_in

    if array.dtype.kind == "f":
        if spec.keep_fields:
            if confidence is not None:  # before the field: a frame whose field exists is done
                _save_npy(layout.confidence_path(spec.output_dir, index), confidence)
            _save_npy(layout.field_path(spec.output_dir, index), array)
        image = render(array, spec.cmap, spec.vmin, spec.vmax)
    else:
        image = array
    if spec.annotate:  # pictures only: the field saved above and the cube stay as computed
        image = burn_in(image, array, spec.cmap, spec.vmin, spec.vmax, _frame_label(spec, index), spec.in0)
    write_png(layout.frame_path(spec.output_dir, index), image)


def _read_context(spec: PairSpec, result: dict[str, Any], frames: dict[str, Any], like: Any) -> list[Any]:
    """The neighbouring scans of the pair, or None for each that is absent or cannot be used (kept in ``frames``).

    A neighbour that does not read (a bad file, fails its own pair with its own error) or differs
    in shape leaves that side of this pair on two scans: it never fails this pair.
    """
    from goesvfi_lab.frames import read_frame

    out = []
    for path in spec.context:
        frame = None
        if path is not None:
            try:
                if path.startswith("s3://"):
                    from goesvfi_lab.archive.worker import local_context

                    path, fetched, seconds = local_context(path)
                    result["fetched_bytes"] += fetched
                    result["fetch_seconds"] += seconds
                frame = frames.get(path)
                if frame is None:
                    frame = frames[path] = read_frame(path, options=spec.read)
                frame = frame if frame.shape == like.shape and frame.dtype == like.dtype else None
            except Exception:  # noqa: BLE001 — see the docstring
                frame = None
        out.append(frame)
    return out


def run_pair(spec: PairSpec, frames: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the frames of one pair (see :func:`layout.pair_targets`), skipping those already done.

    ``frames``: scans already read by this task (path → array), shared by the consecutive pairs of
    :func:`run_pairs` so a scan is read once per task; this pair adds its own.
    """
    from goesvfi_lab.errors import PairError
    from goesvfi_lab.frames import read_frame
    from goesvfi_lab.interp import get_backend, interpolate_times, resolve_method, uses_context
    from goesvfi_lab.interp.api import has_confidence
    from goesvfi_lab.interp.kind import input_kind

    frames = {} if frames is None else frames

    started = time.perf_counter()
    stop = StopFlag(spec.stop, spec.job_id, spec.poll)
    targets = layout.pair_targets(spec.pair, spec.factor, spec.last)
    todo = [(i, t) for i, t in targets if not _frame_ok(spec.output_dir, i, spec.keep_fields)]
    result = {
        "job": spec.job_id,
        "pair": spec.pair,
        "attempt": spec.attempt,
        "frames": len(targets),
        "written": 0,
        "skipped": len(targets) - len(todo),
        "worker": _worker_address(),
        "pid": os.getpid(),
        "method": None,
        "backend_id": None,
        "fetched_bytes": 0,  # inputs from the NOAA archive (s3://) downloaded here, by this worker
        "fetch_seconds": 0.0,
    }
    if todo:
        stop.check()
        if spec.in0.startswith("s3://") or spec.in1.startswith("s3://"):
            from goesvfi_lab.archive.worker import local_inputs

            spec, result["fetched_bytes"], result["fetch_seconds"] = local_inputs(spec)
        frame0 = frames[spec.in0] if spec.in0 in frames else read_frame(spec.in0, options=spec.read)
        frame1 = frames[spec.in1] if spec.in1 in frames else read_frame(spec.in1, options=spec.read)
        for path in [p for p in frames if p not in (spec.in0, spec.in1, *spec.context)]:
            del frames[path]  # keep only what this pair and the next consecutive one can use
        frames[spec.in0], frames[spec.in1] = frame0, frame1
        inner = [t for _, t in todo if 0.0 < t < 1.0]
        generated: dict[float, Any] = {}
        confidence: dict[float, Any] = {}
        if inner:
            kind = input_kind(frame0.dtype, (spec.in0, spec.in1), spec.kind)
            method = resolve_method(spec.method, spec.device, kind)
            backend = get_backend(method, spec.device, kind)
            result["method"], result["backend_id"] = method, id(backend)
            with_conf = spec.keep_fields and has_confidence(backend)  # for the cube's VAR_confidence
            before = after = None
            if uses_context(backend) and spec.context != (None, None):
                before, after = _read_context(spec, result, frames, frame0)
            try:
                times = interpolate_times(
                    frame0,
                    frame1,
                    inner,
                    method=method,
                    device=spec.device,
                    kind=kind,
                    before=before,
                    after=after,
                    gaps=spec.gaps,
                    confidence=with_conf,
                )
            except PairError as e:  # "frame sizes differ" alone does not say which files
                raise PairError(f"{spec.in0} and {spec.in1}: {e}") from e
            if with_conf:
                confidence = {t: c for t, (_, c) in zip(inner, times)}
                times = [y for y, _ in times]
            generated = dict(zip(inner, times))
        for index, t in todo:
            stop.check()
            array = frame0 if t == 0.0 else frame1 if t == 1.0 else generated[t]
            _write_frame(spec, index, array, confidence.get(t))
            result["written"] += 1
    result["seconds"] = time.perf_counter() - started
    return result


def run_pairs(specs: tuple[PairSpec, ...]) -> dict[str, Any]:
    """Several consecutive pairs of one job in one task: tiny pairs cost less in scheduler messages
    than in computing. One result dict as :func:`run_pair`'s, with ``pairs`` and summed counts."""
    total: dict[str, Any] = {}
    frames: dict[str, Any] = {}
    for spec in specs:
        result = run_pair(spec, frames)
        if not total:
            total = dict(result, pairs=0)
        else:
            for k in ("frames", "written", "skipped", "seconds", "fetched_bytes", "fetch_seconds"):
                total[k] += result[k]
            total["method"] = total["method"] or result["method"]
        total["pairs"] += 1
    return total


def frame_times(input_times: tuple[str | None, ...], factor: int) -> list[datetime] | None:
    """Time of every output frame, interpolated between input scan starts; None if any is unknown."""
    if not input_times or any(t is None for t in input_times):
        return None
    starts = [datetime.fromisoformat(t) for t in input_times]  # type: ignore[arg-type]
    out: list[datetime] = []
    for a, b in zip(starts, starts[1:]):
        step = (b - a) / factor
        out.extend(a + step * k for k in range(factor))
    out.append(starts[-1])
    return out


def assemble(spec: AssembleSpec, *pairs: Any) -> dict[str, Any]:
    """Check every frame is there, write the MP4 / NetCDF or Zarr cube if asked, then the manifest (last).

    ``pairs`` are the results of the pair tasks it was made to wait for: the manifest lists the
    methods they ran (``auto`` resolved per device and input kind; empty when every frame was on disk).
    """
    import json

    from goesvfi_lab.errors import FrameError
    from goesvfi_lab.frames import atomic_path

    started = time.perf_counter()
    stop = StopFlag(spec.stop, spec.job_id)
    total = n_frames(len(spec.inputs), spec.factor)
    frames = [layout.frame_path(spec.output_dir, i) for i in range(total)]
    missing = [os.path.basename(p) for p in frames if not os.path.isfile(p)]
    if missing:
        raise FrameError(spec.output_dir, f"{len(missing)} frames missing before assembly, e.g. {missing[0]}")
    stop.check()
    times = frame_times(spec.times, spec.factor)
    video = layout.video_path(spec.output_dir, spec.settings)
    if video:
        from goesvfi_lab.frames import write_video

        write_video(video, frames, fps=spec.settings.get("fps"))
    cube = layout.cube_path(spec.output_dir, spec.settings)
    if cube:
        stop.check()
        _write_cube(spec, cube, total, times)
    stop.check()
    for leftover in layout.temporaries(spec.output_dir):  # from writers killed mid-write (SIGKILL, OOM)
        layout.remove_path(leftover)  # a file, or a Zarr store's directory
    manifest = {
        "format": layout.MANIFEST_FORMAT,
        "version": 1,
        "job_id": spec.job_id,
        "name": spec.name,
        "inputs": list(spec.inputs),
        "factor": spec.factor,
        "method": spec.method,
        "methods_used": sorted({p["method"] for p in pairs if isinstance(p, dict) and p.get("method")}),
        "frames": total,
        "frame_times": [t.isoformat() for t in times] if times else None,
        "video": os.path.relpath(video, spec.output_dir) if video else None,
        "cube": os.path.relpath(cube, spec.output_dir) if cube else None,
        "settings": spec.settings,
        "notes": list(spec.notes),
        "written_at": time.time(),
    }
    with atomic_path(os.path.join(spec.output_dir, layout.MANIFEST)) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1, default=str)
    return {
        "job": spec.job_id,
        "frames": total,
        "video": video,
        "cube": cube,
        "seconds": time.perf_counter() - started,
        "worker": _worker_address(),
    }


def _confidence_maps(output_dir: str, total: int, factor: int) -> list[Any] | None:
    """Every generated frame's confidence (None at the scans), or None unless all of them have one
    (a method without confidence, or frames written before the method had it: no variable rather
    than a partial one)."""
    paths = [layout.confidence_path(output_dir, i) if i % factor else None for i in range(total)]
    if not any(paths) or not all(os.path.exists(p) for p in paths if p):
        return None
    return paths


def _write_cube(spec: AssembleSpec, path: str, total: int, times: list[datetime] | None) -> None:
    import numpy as np

    from goesvfi_lab.frames import write_interpolated_cube

    fields = [np.load(layout.field_path(spec.output_dir, i), mmap_mode="r") for i in range(total)]
    confidence = _confidence_maps(spec.output_dir, total, spec.factor)
    inputs = list(spec.inputs)
    if any(p.startswith("s3://") for p in inputs):  # the cube reads its grid from the inputs: local copies
        from goesvfi_lab.archive.worker import local_paths

        inputs = local_paths(inputs)
    write_interpolated_cube(
        path,
        fields,
        times or [None] * total,
        inputs,
        spec.factor,
        spec.method,
        options=spec.read,
        latlon=bool(spec.settings.get("latlon")),
        confidence=confidence,
    )
    import shutil

    shutil.rmtree(os.path.join(spec.output_dir, layout.FIELDS_DIR), ignore_errors=True)
