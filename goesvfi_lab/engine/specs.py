"""What each Dask task of a claimed job is given: runs of pairs cut from its to-do list, its assemble spec.

Specs carry paths and small settings only (no frame data); their keys name job, pairs and attempt
(:func:`.plugins.task_key`), which is how results, metrics and stale leftovers are told apart.
"""

from __future__ import annotations

from datetime import datetime

from goesvfi_lab import quality
from goesvfi_lab.plan import context_gaps

from . import layout
from .plugins import task_key
from .selfcheck import CheckSpec
from .tasks import AssembleSpec, PairSpec
from .transitions import Active

Task = tuple[str, tuple[PairSpec, ...]]  # (key, the consecutive pairs it runs)


def take_tasks(act: Active, n: int, per_task: int, poll: float) -> list[Task]:
    """Take up to ``n`` tasks of at most ``per_task`` consecutive pairs off ``act.todo`` (now in flight)."""
    job = act.job
    keep_fields = bool(layout.cube_path(job.output_dir, job.settings)) and layout.is_physical(act.inputs[0])
    last = len(act.inputs) - 2
    tasks: list[Task] = []
    while act.todo and len(tasks) < n:
        specs: list[PairSpec] = []
        while act.todo and len(specs) < per_task and (not specs or act.todo[0] == specs[-1].pair + 1):
            specs.append(pair_spec(act, act.todo.popleft(), last, keep_fields, poll))
        pairs = tuple(spec.pair for spec in specs)
        key = task_key(job.id, pairs, act.attempt)
        act.inflight[key] = pairs
        tasks.append((key, tuple(specs)))
    return tasks


def _seconds(times: tuple[str | None, ...], n: int) -> list[float | None] | None:
    """Scan starts as POSIX seconds (None where unknown); None when the job has no times at all."""
    if len(times) != n or all(t is None for t in times):
        return None
    return [None if t is None else datetime.fromisoformat(t).timestamp() for t in times]


def pair_spec(act: Active, pair: int, last: int, keep_fields: bool, poll: float) -> PairSpec:
    job = act.job
    n = len(act.inputs)
    gap_before, gap_after = context_gaps(_seconds(act.times, n), pair, n)
    return PairSpec(
        job_id=job.id,
        pair=pair,
        attempt=act.attempt,
        in0=act.inputs[pair],
        in1=act.inputs[pair + 1],
        output_dir=job.output_dir,
        factor=job.factor,
        last=pair == last,
        method=job.method,
        device=act.device,
        kind=job.settings.get("kind", "auto"),
        keep_fields=keep_fields,
        cmap=job.settings.get("cmap", "ir"),
        vmin=job.settings.get("vmin"),
        vmax=job.settings.get("vmax"),
        stop=act.stop,
        poll=poll,
        read=act.read,
        annotate=bool(job.settings.get("annotate")),
        times=(act.times[pair], act.times[pair + 1]) if len(act.times) > pair + 1 else (None, None),
        context=(
            act.inputs[pair - 1] if gap_before is not None else None,
            act.inputs[pair + 2] if gap_after is not None else None,
        ),
        gaps=(gap_before or 1.0, gap_after or 1.0),
    )


def assemble_spec(act: Active) -> AssembleSpec:
    job = act.job
    return AssembleSpec(
        job_id=job.id,
        name=job.name,
        attempt=act.attempt,
        output_dir=job.output_dir,
        inputs=tuple(act.inputs),
        factor=job.factor,
        method=job.method,
        settings=dict(job.settings),
        times=act.times,
        notes=tuple(job.notes),
        stop=act.stop,
        read=act.read,
    )


def check_spec(act: Active, settings: quality.QualitySettings) -> CheckSpec | None:
    """The job's self-check (:mod:`.selfcheck`), or None where there is no scan to check."""
    job = act.job
    checked = quality.checked_scans(len(act.inputs), job.factor, settings)
    if not checked:
        return None
    return CheckSpec(
        job_id=job.id,
        attempt=act.attempt,
        output_dir=job.output_dir,
        inputs=tuple(act.inputs),
        checked=tuple(checked),
        method=job.method,
        device=act.device,
        kind=job.settings.get("kind", "auto"),
        read=act.read,
        times=tuple(act.times) if len(act.times) == len(act.inputs) else (),
        settings=settings,
        cube=layout.cube_path(job.output_dir, job.settings),
    )
