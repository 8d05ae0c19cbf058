"""Feed the batch-time model (:mod:`goesvfi_lab.estimates`) from files, the backends and the store.

The model is pure; this adapter is what needs I/O and torch: frame sizes from the first file of each
sequence (a job's ``crop`` resolved on it as the engine will: the window's pixels count), ``auto``
resolved per input kind as the job will, one real pair timed in this process, and the finished jobs of
the store turned into calibration records. The preview, the benchmark and
scripts call :func:`estimate_jobs`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .estimates import (
    COSTS,
    Costs,
    Finished,
    JobWork,
    Prediction,
    batches,
    calibration,
    cold_methods,
    cropped_pixels,
    predict,
    scaled_interp,
)
from .model import BatchJob, JobStatus

_info_cache: dict[tuple[str, int, int], tuple[int, int, str]] = {}
_crop_cache: dict[tuple, tuple[int, int, int, int]] = {}
_lock = threading.Lock()


def frame_info(path: str, read: Callable[[str], Any] | None = None) -> tuple[int, int, str]:
    """(pixels, channels, dtype) of one frame, cached by path, size and modification time."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _lock:
        hit = _info_cache.get(key)
    if hit is not None:
        return hit
    if read is None:
        from .frames import read_frame as read
    array = read(path)
    info = (int(array.shape[0]) * int(array.shape[1]), int(array.shape[2]) if array.ndim == 3 else 1, str(array.dtype))
    with _lock:
        if len(_info_cache) > 4096:
            _info_cache.clear()
        _info_cache[key] = info
    return info


def crop_window(path: str, settings: dict[str, Any] | None) -> tuple[int, int, int, int] | None:
    """The window a job's ``crop`` setting gives on ``path`` (its first input), resolved as the engine resolves
    it at admission (:func:`goesvfi_lab.geo.resolve_crop`) and cached by file and crop; None without a crop.

    FrameError (a ValueError) when the crop gives no window there: that job will fail, so it costs nothing.
    """
    from .frames.read import parse_crop

    crop = parse_crop((settings or {}).get("crop"))
    if crop is None:
        return None
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, crop)
    with _lock:
        hit = _crop_cache.get(key)
    if hit is not None:
        return hit
    from .geo import resolve_crop

    window = resolve_crop(settings, path).window
    with _lock:
        if len(_crop_cache) > 4096:
            _crop_cache.clear()
        _crop_cache[key] = window
    return window


def work_of(
    paths: Sequence[str],
    factor: int,
    method: str,
    settings: dict[str, Any] | None = None,
    device: str = "cpu",
    read: Callable[[str], Any] | None = None,
) -> JobWork:
    """What a job over ``paths`` will do: ``auto`` resolved for this device and the frames' kind, the pixels
    of its ``crop`` window when it has one."""
    from .interp import resolve_method
    from .interp.kind import input_kind

    settings = settings or {}
    pixels, channels, dtype = frame_info(paths[0], read)
    kind = input_kind(dtype, paths[:2], settings.get("kind", "auto"))
    return JobWork(
        inputs=len(paths),
        factor=int(factor),
        pixels=cropped_pixels(pixels, crop_window(paths[0], settings)),
        method=resolve_method(method, device, kind),
        ext=os.path.splitext(paths[0])[1].lower(),
        video=bool(settings.get("video", False)),
        cube=bool(settings.get("cube", False)),
        zarr=_zarr_cube(settings),
        kind=kind,
        channels=channels,
    )


def finished_records(
    jobs: Iterable[BatchJob], device: str = "cpu", limit: int = 50, read: Callable[[str], Any] | None = None
) -> list[Finished]:
    """The latest ``limit`` completed jobs whose inputs are still readable, as calibration records.

    A job that found all its frames on disk did no work: it is left out (no ``started_at``, or it
    wrote nothing: ``frames_done`` 0).
    """
    done = [
        j
        for j in jobs
        if JobStatus(j.status) == JobStatus.COMPLETED
        and j.started_at
        and j.finished_at
        and j.frames_done > 0
        and len(j.inputs) >= 2
    ]
    done.sort(key=lambda j: j.created_at)
    out = []
    for job in done[-limit:]:
        try:
            work = work_of(job.inputs, job.factor, _method_used(job), job.settings, device, read)
        except (OSError, ValueError):
            continue  # inputs moved away or unreadable: nothing to learn from
        out.append(Finished(work, job.created_at, float(job.started_at), float(job.finished_at)))
    return out


def _zarr_cube(settings: dict[str, Any]) -> bool:
    """Whether the job's cube is a Zarr store, by the engine's rule (:func:`.engine.layout.cube_path`)."""
    from .engine.layout import cube_path

    path = cube_path(".", settings)
    return bool(path) and path.rstrip(os.sep).lower().endswith(".zarr")


def _method_used(job: BatchJob) -> str:
    """What ``auto`` became, from the job's manifest when it names one method."""
    if job.method != "auto":
        return job.method
    from .engine.layout import read_manifest

    used = (read_manifest(job.output_dir) or {}).get("methods_used") or []
    return used[0] if len(used) == 1 else job.method


def time_interp(
    path0: str,
    path1: str,
    method: str,
    factor: int,
    kind: str = "auto",
    crop: int = 512,
    threads: int | None = None,
    read: Callable[[str], Any] | None = None,
    concurrent: int = 1,
) -> float:
    """Seconds per megapixel per interpolated frame of one real pair, timed in this process.

    Large frames are timed on a centred ``crop``² window (the backends cost about the same per pixel).
    ``threads``: torch's thread count while timing (a Dask worker runs with its own thread count;
    restored after). ``concurrent`` copies run at once, as the cluster's slots will: on a host whose
    cores are shared (hyper-threads, a busy VM) two single-thread copies each run up to 2× slower
    than one alone, which a lone timing would hide. The second run counts when the first is short
    (model load, warm-up).
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from .interp import interpolate_times
    from .interp.kind import input_kind

    if read is None:
        from .frames import read_frame as read
    f0, f1 = read(path0), read(path1)
    kind = input_kind(f0.dtype, (path0, path1), kind)
    h, w = f0.shape[:2]
    r0, c0 = max((h - crop) // 2, 0), max((w - crop) // 2, 0)
    a, b = f0[r0 : r0 + crop, c0 : c0 + crop], f1[r0 : r0 + crop, c0 : c0 + crop]
    times = [k / factor for k in range(1, factor)] or [0.5]
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))

    def once(_: int = 0) -> float:
        t0 = time.perf_counter()
        interpolate_times(a, b, times, method=method, kind=kind)  # torch releases the GIL: copies overlap
        return time.perf_counter() - t0

    def timed() -> float:
        if concurrent <= 1:
            return once()
        with ThreadPoolExecutor(concurrent) as pool:
            runs = list(pool.map(once, range(concurrent)))
        return sum(runs) / len(runs)

    try:
        first = once()  # with the model load and first-call set-up (start-up, counted elsewhere)
        if concurrent <= 1 and first > 1.0:
            best = first  # slow enough that set-up hardly matters: not paid twice
        else:
            best = timed()
            if best < 1.0:
                best = min(best, timed())
    finally:
        if threads:
            torch.set_num_threads(before)
    return best / len(times) / (a.shape[0] * a.shape[1] / 1e6)


@dataclass(frozen=True)
class BatchEstimate:
    prediction: Prediction
    works: tuple[JobWork, ...]
    measured: dict[tuple[str, str, int], float]
    batches_used: int  # finished batches the calibration saw (0: uncalibrated)


def estimate_jobs(
    inputs: Sequence[Sequence[str]],
    factor: int,
    method: str,
    settings: dict[str, Any] | None = None,
    slots: int = 1,
    finished: Iterable[BatchJob] = (),
    device: str = "cpu",
    measured: dict[tuple[str, str, int], float] | None = None,
    measure: bool = True,
    threads: int | None = None,
    now: float | None = None,
    costs: Costs = COSTS,
    read: Callable[[str], Any] | None = None,
) -> BatchEstimate:
    """Predict the wall time of one job per entry of ``inputs`` (each a list of paths), calibrated by
    the completed jobs in ``finished`` (e.g. ``queue.jobs("completed")``).

    ``measured`` (cost key → s/MP per frame) is filled by timing one pair of the first sequence of each
    cost key not in it yet, unless ``measure`` is False (then the table figures count, scaled by what
    is in ``measured``). Pass the same dict again to reuse timings.
    """
    from .errors import FrameError

    measured = {} if measured is None else measured
    usable, works = [], []
    for paths in (list(p) for p in inputs if len(p) >= 2):
        try:
            works.append(work_of(paths, factor, method, settings, device, read))
        except (FrameError, OSError):  # a broken first file: the preview's file check reports it
            continue
        usable.append(paths)
    if measure:
        for paths, work in zip(usable, works):
            if work.key not in measured and work.frames_new:
                measured[work.key] = time_interp(
                    paths[0], paths[1], work.method, factor, work.kind, threads=threads, read=read
                )
    history = finished_records(finished, device, read=read)
    keys = {w.key for w in works} | {f.work.key for f in history}
    interp = scaled_interp(keys, measured, device)
    methods = {w.method for w in works}
    cold, any_warm = cold_methods(methods, history, time.time() if now is None else now)
    factor_ = calibration(history, interp, slots, methods, costs)
    prediction = predict(works, interp, slots, costs, cold, any_warm, factor_)
    return BatchEstimate(prediction, tuple(works), dict(measured), len(batches(history)) if factor_ else 0)
