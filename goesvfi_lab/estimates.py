"""How long a batch will take: a cost model of what a job does, calibrated by the jobs that finished.

A batch is more than its interpolated frames: each pair task reads two inputs, each output frame is
rendered and written as PNG (and kept as a float field for a cube), the MP4 and the cube are encoded
after the pairs, every job and every task has start-up costs, and a fresh worker first imports torch
and loads the model. Counting only "interpolated frames × measured cost" said 0.6 s for a batch that
took 11 s (issue 11).

The model adds those parts up in seconds of one worker thread (:class:`Costs`, measured on the
project's 2-core host by ``benchmarks/estimate.py``'s component timings), spreads them over the
slots, and then scales by what finished batches on this store really took against what the same
model predicts for them (:func:`calibration`). That ratio carries what the table cannot know: how
fast this cluster's cores really are when all slots are busy, the disk, the device.

Pure standard library (the preview, the benchmark and the tests share it; tests give plain numbers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median

from .plan import n_frames

MEGA = 1e6
WARM_FOR = 600.0  # s: a worker that finished a job with a method this recently still has it loaded
BATCH_GAP = 2.0  # s: jobs created within this of each other were submitted together (one batch)
RECENT_BATCHES = 3  # calibrate from the median of this many latest batches
FACTOR_LIMITS = (0.1, 20.0)  # a calibration outside this is a broken record, not a slow cluster
PICKUP_CAP = 1.0  # s: a longer wait from submission to the first start is a busy or paused queue

# Seconds per megapixel per interpolated frame on one CPU thread, by method and input kind:
# benchmarks/estimate.py's component timings at 512² (OMP_NUM_THREADS=1, factor 4). The preview
# replaces the entry of the method it times; the rest scale with it (see :func:`scaled_interp`).
INTERP_COST = {
    # fast: one thread, bikes.mp4 640×272 (0.29 s/MP); it runs on the CPU whatever the device
    "cpu": {"linear": 0.01, "fast": 0.3, "flow": {"field": 0.12, "video": 1.7}, "rife": 2.4, "ensemble": 9.4},
    # GPUs: RIFE-class figures, not measured on this project's machines (no GPU)
    "cuda": {"linear": 0.001, "fast": 0.3, "flow": 0.02, "rife": 0.01, "ensemble": 0.04},
    "mps": {"linear": 0.005, "fast": 0.3, "flow": 0.2, "rife": 0.2, "ensemble": 0.8},
}


def interp_cost(method: str, kind: str = "field", device: str = "cpu") -> float:
    """Table seconds per megapixel per interpolated frame for ``method`` on ``device`` (one thread)."""
    table = INTERP_COST.get(device, INTERP_COST["cpu"])
    cost = table.get(method, table["rife"])  # an unknown plug-in: assume RIFE-class
    return float(cost[kind] if isinstance(cost, dict) else cost)


@dataclass(frozen=True)
class Costs:
    """Seconds on one worker thread (CPU); ``*_mp`` terms are per megapixel of the frame.

    Measured with ``benchmarks/estimate.py --components`` on the project's host (synthetic ABI files
    256² and 768²): NetCDF read 12-14 ms, PNG render+write 0.14-0.22 s/MP, MP4 0.04-0.13 s/MP per
    frame, cube 0.08-0.13 s/MP per frame; make demo's batch 0.3-0.5 s slower on a fresh LocalCluster
    than the next time (first calls in new worker processes), RIFE's weights about 0.8 s to load.

    ``interp_in_worker``: the same interpolation runs slower in a Dask worker than when timed in the
    notebook, because the Nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (Dask's
    ``distributed.nanny.pre-spawn-environ``) and torch then returns and re-faults its buffers on every
    call: one thread, 192×256 and 160² frames, RIFE 1.55-1.65× and flow 1.7-2.8× slower with that
    variable set than without.
    """

    job: float = 0.15  # claim, submit, assemble task, manifest, store updates
    pair: float = 0.01  # one Dask task: scheduling, stop flag, result message
    read_nc: float = 0.011
    read_nc_mp: float = 0.02
    read_image: float = 0.001  # PNG / TIFF / JPEG
    read_image_mp: float = 0.02
    write_png: float = 0.0015
    write_png_mp: float = 0.14
    field_mp: float = 0.004  # float field kept for the cube (npy)
    video: float = 0.03  # encoder start
    video_frame: float = 0.002
    video_mp: float = 0.05
    cube: float = 0.05
    cube_mp: float = 0.1  # NetCDF-4 (zlib level 4)
    # Zarr, one frame per chunk: benchmarks/cube.py wrote it in 0.17-0.28 of NetCDF's time (9 frames: 512²
    # 0.0064 vs 0.0227 s/frame, 1500×2500 0.040 vs 0.237 s/frame; the NetCDF write there is 0.06-0.09 s/MP)
    cube_zarr_mp: float = 0.02
    warmup: float = 0.4  # a fresh worker: imports, first calls
    pickup: float = 0.25  # submission to the first start: the submitter's idle poll (0.5 s) on average
    interp_in_worker: float = 1.7  # worker / notebook time of the same interpolation (see above)
    model_load: Mapping[str, float] = field(default_factory=lambda: {"flow": 0.1, "rife": 0.8, "ensemble": 0.8})


COSTS = Costs()


@dataclass(frozen=True)
class JobWork:
    """What one job does, in the units the model counts (``method`` as resolved: never ``auto``)."""

    inputs: int
    factor: int
    pixels: int  # per frame, as the job handles it: a crop's window (see :func:`cropped_pixels`)
    method: str
    ext: str = ".nc"
    video: bool = True
    cube: bool = False
    zarr: bool = False  # the cube is a Zarr store (settings cube="zarr" or a path ending .zarr), not NetCDF
    kind: str = "field"  # "field" or "video" (goesvfi_lab.interp.kind): flow's cost differs by kind
    channels: int = 1  # an RGB render costs more per pixel than a one-band field

    @property
    def key(self) -> tuple[str, str, int]:
        """What the interpolation cost depends on besides the pixel count."""
        return (self.method, self.kind, self.channels)

    @property
    def pairs(self) -> int:
        return max(self.inputs - 1, 0)

    @property
    def frames_total(self) -> int:
        return n_frames(self.inputs, self.factor)

    @property
    def frames_new(self) -> int:
        return self.pairs * max(self.factor - 1, 0)


def cropped_pixels(pixels: int, window: tuple[int, int, int, int] | None) -> int:
    """Pixels of each frame a job handles: its crop window's (y0, y1, x0, x1), else the whole frame's ``pixels``.

    Frames are cropped as they are read (only the window leaves the file), so every per-pixel part of the
    job (reading, interpolation, writing, video, cube) is of the window: a 600² box of a CONUS scan costs
    about a 600² job, and a finished cropped job calibrates the next estimate only when counted so.
    """
    if window is None:
        return int(pixels)
    y0, y1, x0, x1 = window
    return max(int(y1) - int(y0), 0) * max(int(x1) - int(x0), 0)


def job_seconds(job: JobWork, interp_s_mp: float, costs: Costs = COSTS) -> dict[str, float]:
    """One job's work by part (seconds of one worker thread), given the method's s/MP per frame as
    timed in the notebook (or the table)."""
    mp = job.pixels / MEGA
    nc = job.ext.lower() == ".nc"
    read_one = (costs.read_nc + costs.read_nc_mp * mp) if nc else (costs.read_image + costs.read_image_mp * mp)
    total = job.frames_total
    write = total * (costs.write_png + costs.write_png_mp * mp + (costs.field_mp * mp if job.cube else 0.0))
    return {
        "start-up": costs.job + job.pairs * costs.pair,
        "read": 2 * job.pairs * read_one,  # each pair task reads both of its inputs
        "interpolate": job.frames_new * interp_s_mp * mp * costs.interp_in_worker,
        "write": write,
        "video": costs.video + total * (costs.video_frame + costs.video_mp * mp) if job.video else 0.0,
        "cube": costs.cube + total * (costs.cube_zarr_mp if job.zarr else costs.cube_mp) * mp if job.cube else 0.0,
    }


@dataclass(frozen=True)
class Prediction:
    """Wall seconds of a batch. ``seconds`` is the calibrated figure when a calibration exists."""

    uncalibrated: float
    seconds: float
    factor: float | None  # the calibration applied (None: no finished batch to learn from)
    parts: dict[str, float]  # work by part, seconds of one thread, before spreading over slots
    parallel: float  # slots the work was spread over
    cold: tuple[str, ...] = ()  # methods whose start-up (imports, model load) is counted


def warmup_seconds(cold: Iterable[str], any_warm: bool, costs: Costs = COSTS) -> float:
    """Start-up a batch pays before its first frame: imports on fresh workers, then model loads.

    Workers load in parallel, so this is counted once, not per slot.
    """
    cold = list(cold)
    if not cold:
        return 0.0
    return (0.0 if any_warm else costs.warmup) + max(costs.model_load.get(m, 0.0) for m in cold)


def predict(
    jobs: Sequence[JobWork],
    interp: Mapping[tuple[str, str, int], float],
    slots: int = 1,
    costs: Costs = COSTS,
    cold: Iterable[str] = (),
    any_warm: bool = False,
    factor: float | None = None,
) -> Prediction:
    """Batch wall time = pick-up + start-up of cold workers + all jobs' work / slots, × calibration ``factor``.

    ``interp`` maps each job's :attr:`JobWork.key` to seconds per MP per interpolated frame. Work
    spreads over at most as many slots as there are pair tasks.
    """
    parts: dict[str, float] = {}
    for job in jobs:
        for name, value in job_seconds(job, interp[job.key], costs).items():
            parts[name] = parts.get(name, 0.0) + value
    pairs = sum(j.pairs for j in jobs)
    parallel = float(max(1, min(max(int(slots), 1), pairs)))
    cold = tuple(sorted(set(cold) & {j.method for j in jobs}))
    fixed = costs.pickup + warmup_seconds(cold, any_warm, costs)
    seconds = fixed + sum(parts.values()) / parallel if jobs else 0.0
    calibrated = seconds if factor is None else seconds * factor
    return Prediction(seconds, calibrated, factor, parts, parallel, cold)


# ------------------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Finished:
    """A job that completed: its work and when it ran (epoch seconds, as the store keeps them)."""

    work: JobWork
    created_at: float
    started_at: float
    finished_at: float


@dataclass(frozen=True)
class Batch:
    """Jobs submitted together; ``seconds`` from submission to the last finish, as the user waits
    (a first start later than :data:`PICKUP_CAP` after submission counts from the start instead:
    the queue was busy or paused, which says nothing about this batch's speed)."""

    jobs: tuple[Finished, ...]

    @property
    def started(self) -> float:
        first = min(j.started_at for j in self.jobs)
        return max(min(j.created_at for j in self.jobs), first - PICKUP_CAP)

    @property
    def finished(self) -> float:
        return max(j.finished_at for j in self.jobs)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(j.work.method for j in self.jobs)


def batches(history: Iterable[Finished], gap: float = BATCH_GAP) -> list[Batch]:
    """Group finished jobs into the batches they were submitted in (creation times within ``gap``).

    Submission time, not overlap, defines a batch: jobs of one Confirm click are created together,
    while the next batch may start the moment this one ends.
    """
    ordered = sorted((j for j in history if j.finished_at >= j.started_at), key=lambda j: j.created_at)
    groups: list[list[Finished]] = []
    for job in ordered:
        if groups and job.created_at - groups[-1][-1].created_at <= gap:
            groups[-1].append(job)
        else:
            groups.append([job])
    return [Batch(tuple(g)) for g in groups]


def cold_methods(
    methods: Iterable[str], history: Iterable[Finished], at: float, warm_for: float = WARM_FOR
) -> tuple[tuple[str, ...], bool]:
    """Methods no job finished with in the ``warm_for`` seconds before ``at``; and whether any did.

    A LocalCluster's workers keep imports and models between batches; after a while (or a restart)
    assume they start again.
    """
    recent = {j.work.method for j in history if at - warm_for <= j.finished_at <= at}
    return tuple(sorted(set(methods) - recent)), bool(recent)


def calibration(
    history: Iterable[Finished],
    interp: Mapping[tuple[str, str, int], float],
    slots: int = 1,
    methods: Iterable[str] | None = None,
    costs: Costs = COSTS,
    recent: int = RECENT_BATCHES,
) -> float | None:
    """Median of actual / predicted wall time over the latest finished batches; None without any.

    Batches that used the same methods as the one being estimated are preferred (their ratio also
    covers how the method scales on this device); otherwise all recent batches count. Each past batch
    is predicted with the same model, ``interp`` and ``slots`` as the new one, so the ratio is exactly
    the correction the new prediction needs.
    """
    history = list(history)
    done = batches(history)
    if not done:
        return None
    wanted = frozenset(methods) if methods is not None else None
    same = [b for b in done if wanted is not None and b.methods == wanted]
    chosen = (same or done)[-recent:]
    ratios = []
    for b in chosen:
        works = [j.work for j in b.jobs]
        if any(w.key not in interp for w in works):
            continue
        cold, any_warm = cold_methods(
            {w.method for w in works}, [j for j in history if j.finished_at < b.started], b.started
        )
        predicted = predict(works, interp, slots, costs, cold, any_warm).uncalibrated
        if predicted > 0 and b.seconds > 0:
            ratios.append(b.seconds / predicted)
    if not ratios:
        return None
    lo, hi = FACTOR_LIMITS
    return min(max(median(ratios), lo), hi)


def scaled_interp(
    keys: Iterable[tuple[str, str, int]],
    measured: Mapping[tuple[str, str, int], float] | None = None,
    device: str = "cpu",
) -> dict[tuple[str, str, int], float]:
    """Seconds per MP per frame for each cost key: what was timed here, else the table figure times
    the median measured/table ratio (a fast or slow host is fast or slow for every method)."""
    measured = dict(measured or {})
    ratios = [v / interp_cost(k[0], k[1], device) for k, v in measured.items() if v > 0]
    speed = median(ratios) if ratios else 1.0
    out = dict(measured)
    for key in keys:
        if key not in out:
            out[key] = interp_cost(key[0], key[1], device) * speed
    return out


def describe(p: Prediction, batches_used: int | None = None) -> str:
    """A short basis for the figure, e.g. ``calibrated ×2.1 from 3 finished batches``."""
    if p.factor is None or not math.isfinite(p.factor):
        return "uncalibrated: no finished batch on this store yet"
    n = "" if batches_used is None else f" from {batches_used} finished batch{'es' if batches_used != 1 else ''}"
    return f"calibrated ×{p.factor:.2g}{n} (model {p.uncalibrated:.1f} s)"
