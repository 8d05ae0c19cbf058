"""The self-check tasks of a job (issue 16): predict a few input scans from their neighbours, score them.

Two Dask tasks per job, submitted with its assemble task (once its last pairs are submitted), at the job's
priority (:meth:`.submitter.Submitter._submit_check`):

- :func:`self_check` reads only inputs; it waits for the same pairs as the assemble and runs *alongside*
  it (the assemble, submitted first at the same priority, goes first and does not wait for it). It reads
  with the job's :class:`~goesvfi_lab.frames.read.ReadOptions`, predicts with the job's method as resolved
  for the device and input kind (as :func:`.tasks.run_pair` does) and with linear interpolation;
- :func:`record_check` depends on both, so it runs once the outputs are complete: it adds ``quality`` to
  ``job.json`` (rewritten atomically) and to the cube's global attributes (milliseconds).

The job is COMPLETED when its assemble task is done; the score arrives after. Nothing here fails the job:
an error becomes ``quality["error"]``, a note. The maths is :mod:`goesvfi_lab.quality`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from goesvfi_lab import quality as q
from goesvfi_lab.frames.read import ReadOptions

from . import layout

CHECK_PREFIX = "vfiqc-"  # not "vfi-": the metrics plugin and the pair bookkeeping never see these keys
RECORD_PREFIX = "vfiqr-"


def check_key(job_id: str, attempt: int) -> str:
    """The key of :func:`self_check` (the measuring)."""
    return f"{CHECK_PREFIX}{job_id}-a{attempt}"


def record_key(job_id: str, attempt: int) -> str:
    """The key of :func:`record_check`, the one future the queue watches."""
    return f"{RECORD_PREFIX}{job_id}-a{attempt}"


@dataclass(frozen=True)
class CheckSpec:
    """What the self-check of one job needs; small and picklable."""

    job_id: str
    attempt: int
    output_dir: str
    inputs: tuple[str, ...]
    checked: tuple[int, ...]
    method: str
    device: str
    kind: str
    read: ReadOptions
    times: tuple[str | None, ...]
    settings: q.QualitySettings
    cube: str | None = None


def _read(path: str, options: ReadOptions) -> tuple[Any, str | None]:
    """Pixels of one input and the field's units (None for imagery)."""
    from goesvfi_lab.frames import read_frame
    from goesvfi_lab.frames.images import sniff_format
    from goesvfi_lab.frames.read import read_field

    if sniff_format(path) == "netcdf":
        field = read_field(path, options)
        return field.values, field.attrs.get("units")
    return read_frame(path, options=options), None


def _times(spec: CheckSpec) -> list[Any]:
    return [datetime.fromisoformat(t) if t else None for t in spec.times]


def measure(spec: CheckSpec) -> dict[str, Any]:
    """Score every checked scan; the job's ``quality`` summary (:func:`goesvfi_lab.quality.summarize`)."""
    from goesvfi_lab.interp import get_backend, interpolate_times, resolve_method, uses_context
    from goesvfi_lab.interp.kind import input_kind

    inputs = list(spec.inputs)
    if any(p.startswith("s3://") for p in inputs):
        from goesvfi_lab.archive.worker import local_paths

        needed = sorted({j for k in spec.checked for j in (k - 3, k - 1, k, k + 1, k + 3) if 0 <= j < len(inputs)})
        for j, local in zip(needed, local_paths([inputs[j] for j in needed])):
            inputs[j] = local
    times = _times(spec)
    checks, unit, method = [], None, None
    for k in spec.checked:
        (a, _), (truth, unit), (b, _) = (_read(inputs[j], spec.read) for j in (k - 1, k, k + 1))
        kind = input_kind(a.dtype, (inputs[k - 1], inputs[k + 1]), spec.kind)
        method = resolve_method(spec.method, spec.device, kind)
        t = q.fraction(times, k)
        before, after, gaps = None, None, (1.0, 1.0)
        if uses_context(get_backend(method, spec.device, kind)):
            before, after, gaps = _context(inputs, times, k, spec.read)
        pred = interpolate_times(
            a, b, [t], method=method, device=spec.device, kind=kind, before=before, after=after, gaps=gaps
        )[0]
        linear = interpolate_times(a, b, [t], method="linear", device=spec.device, kind=kind)[0]
        checks.append(q.score(k, pred, linear, truth, t))
    return q.summarize(checks, unit, method, spec.settings)


def _context(inputs: list[str], times: list[Any], k: int, read: ReadOptions) -> tuple[Any, Any, tuple[float, float]]:
    """The scans either side of the check's pair (k-1, k+1): k-3 and k+3, as the job's own pairs see theirs.

    Called only where the job's method curves trajectories with them; a side that is missing, beyond a
    gap or unreadable is None (two scans on that side, as at a sequence's ends).
    """
    from goesvfi_lab.plan import context_gaps

    sub = [j for j in (k - 3, k - 1, k + 1, k + 3) if 0 <= j < len(inputs)]
    pair = sub.index(k - 1)
    seconds = None if not times else [None if times[j] is None else times[j].timestamp() for j in sub]
    gb, ga = context_gaps(seconds, pair, len(sub))
    out = []
    for gap, j in ((gb, k - 3), (ga, k + 3)):
        try:
            out.append(_read(inputs[j], read)[0] if gap is not None else None)
        except Exception:  # noqa: BLE001 — a bad neighbour only costs this check its curvature
            out.append(None)
    return out[0], out[1], (gb or 1.0, ga or 1.0)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"self-check failed ({type(exc).__name__}{': ' + text if text else ''}); the job's outputs are unaffected"


def record(output_dir: str, quality: dict[str, Any], cube: str | None) -> dict[str, Any]:
    """Add ``quality`` to job.json (atomically) and to the cube's attributes; a failure there is a note."""
    from goesvfi_lab.frames import atomic_path

    if cube:
        try:
            from goesvfi_lab.frames.cube import update_cube_attrs
            from goesvfi_lab.frames.cube_cf import quality_attrs

            update_cube_attrs(cube, quality_attrs(quality))
        except Exception as exc:  # a reader holding the file open (HDF5 locks), a read-only folder
            quality = dict(quality, cube_note=f"not written to the cube's attributes: {exc}")
    path = os.path.join(output_dir, layout.MANIFEST)
    manifest = layout.read_manifest(output_dir)
    if manifest is None:
        return dict(quality, manifest_note="no job.json to add the score to")
    manifest["quality"] = quality
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1, default=str)
    return quality


def self_check(spec: CheckSpec, *after: Any) -> dict[str, Any]:
    """The measuring task: ``{"quality": …, "seconds": …}``; an error is the score's note, never raised.

    ``after``: the job's last pair results, only so Dask runs this beside the assemble, not before the pairs.
    """
    started = time.perf_counter()
    try:
        quality = measure(spec)
    except Exception as exc:  # a check is advice: never a failed job
        quality = q.failed(_describe(exc), spec.checked)
    return {"quality": quality, "seconds": time.perf_counter() - started}


def record_check(spec: CheckSpec, measured: dict[str, Any], *after: Any) -> dict[str, Any]:
    """The recording task: ``quality`` into job.json and the cube, then ``{"task": "quality", "job", ...}``.

    ``after``: the assemble task's result, only so Dask runs this once the outputs are complete.
    """
    quality = measured["quality"]
    try:
        quality = record(spec.output_dir, quality, spec.cube)
    except Exception as exc:
        quality = dict(quality, manifest_note=f"not written to job.json: {exc}")
    return {
        "task": "quality",
        "job": spec.job_id,
        "attempt": spec.attempt,
        "quality": quality,
        "seconds": measured["seconds"],
    }
