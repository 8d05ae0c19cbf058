"""Admission: where a pending job may run, and what running it means for its output folder.

No Dask here: :func:`placement` is pure, :func:`prepare` reads the inputs' names (and hashes them for
duplicates) and the output folder's records, so both are tested without a cluster. The feeding loop
(:mod:`.submitter`) asks, then acts on the answer through :mod:`.transitions`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from goesvfi_lab.errors import FrameError, OutputConflict
from goesvfi_lab.frames.read import ReadOptions
from goesvfi_lab.model import BatchJob
from goesvfi_lab.plan import n_frames

from . import layout

GPU_FALLBACK_NOTE = "no GPU worker in the cluster: running on CPU (settings fallback_cpu)"


def placement(job: BatchJob, gpus: int) -> tuple[bool, str] | str:
    """(needs a GPU slot, device for the task), or the reason it cannot run now.

    ``gpus``: GPU slots in the cluster. A job that asks for a GPU where no worker offers one waits
    with a reason (Dask would hold its tasks forever), unless ``settings["fallback_cpu"]``.
    """
    device = str(job.settings.get("device", "auto") or "auto").lower()
    if device == "cpu":
        return False, "cpu"
    wants_gpu = device in ("gpu", "cuda") or device.startswith("cuda:")
    if device == "auto":
        wants_gpu = gpus > 0 and job.method != "linear"
    if not wants_gpu:
        return False, "cpu"
    if gpus > 0:
        return True, "auto"
    if job.settings.get("fallback_cpu"):
        return False, "cpu"
    return (
        f"waiting: the job needs a GPU (settings device={device!r}) but no worker offers resources GPU=1; "
        "start one (dask worker --resources GPU=1) or set settings['fallback_cpu']=True"
    )


@dataclass
class Admitted:
    """What :func:`prepare` decided: run these inputs, or skip (``skip`` holds the note)."""

    inputs: list[str]
    total: int  # frames the job writes
    times: tuple[str | None, ...] = ()  # ISO scan start per input, None where unknown
    changes: dict[str, Any] = field(default_factory=dict)  # store fields to update (inputs, notes…)
    skip: str | None = None
    read: ReadOptions = ReadOptions()  # how every input is read (field, pixels): one value for the job


def _add(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


def prepare(job: BatchJob, gpu: bool) -> Admitted:
    """Check a claimed job's inputs and output folder before any task is submitted.

    Sorts and de-duplicates the inputs (with notes), refuses paths that climb out of the job folder,
    skips a folder that already holds this very result, refuses (:class:`OutputConflict`) one that
    holds another, resolves the ``crop`` setting on the first input (:func:`goesvfi_lab.geo.read_options`)
    and records the result spec in the folder before the first frame. Raises FrameError / ValueError for
    inputs no attempt can use (a crop box outside the file's sector among them).
    """
    from goesvfi_lab.discover import check_job_inputs, find_duplicates, parse_goes_name
    from goesvfi_lab.geo import read_options

    notes = list(job.notes)
    settings = job.settings
    if gpu is False and str(settings.get("device", "auto")).lower() not in ("auto", "cpu"):
        _add(notes, GPU_FALLBACK_NOTE)
    layout.video_path(job.output_dir, settings)  # an MP4 or cube path outside the job folder fails
    layout.cube_path(job.output_dir, settings)  # now, before any frame is computed
    inputs, order_notes = check_job_inputs(job.inputs)  # FrameError for a file of another band etc.
    for note in order_notes:
        _add(notes, note)
    if all(os.path.exists(p) for p in inputs):  # inputs visible here: drop content duplicates
        for group in find_duplicates(inputs):
            for dup in group[1:]:
                inputs.remove(dup)
                _add(notes, f"duplicate input skipped: {dup} (same content as {group[0]})")
    if not inputs:
        raise ValueError(f"job {job.name!r} has no input frames (an empty folder?): it needs at least two")
    if len(inputs) < 2:
        raise FrameError(inputs[0], f"the only distinct input frame of job {job.name!r}: a job needs at least two")
    total = n_frames(len(inputs), job.factor)
    changes: dict[str, Any] = {}
    if inputs != job.inputs:
        changes.update(inputs=inputs, frames_total=total)
    wanted = layout.result_spec(inputs, job.factor, job.method, settings)
    fresh = job.attempts == 0 and job.frames_done == 0
    if settings.get("overwrite") and fresh:
        layout.remove_outputs(
            job.output_dir, (layout.video_path(job.output_dir, settings), layout.cube_path(job.output_dir, settings))
        )
    else:
        found = layout.existing_result(job.output_dir, wanted)
        if found.state == "complete":  # "complete" means this very result, not "frames exist"
            skip = f"skipped: {found.detail}"
            _add(notes, skip)
            if notes != job.notes:
                changes["notes"] = notes
            return Admitted(inputs, total, changes=changes, skip=skip)
        if found.state == "other":  # resuming would mix two results: say so, replace nothing
            raise OutputConflict(layout.conflict_message(job.output_dir, found))
    read, crop_notes = read_options(settings, inputs[0])  # a crop bbox becomes pixels once per job, on input 0
    for note in crop_notes:
        _add(notes, note)
    if notes != job.notes:
        changes["notes"] = notes
    layout.write_started(job.output_dir, job.id, wanted)
    times = []
    for p in inputs:
        g = parse_goes_name(p)
        times.append(g.start.isoformat() if g is not None else None)
    return Admitted(inputs, total, tuple(times), changes, read=read)
