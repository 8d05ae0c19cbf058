"""Where a job's outputs go, and how to tell a complete job from a partial one.

Layout of ``output_dir`` for a job of ``n`` inputs and factor ``f``::

    000000.png 000001.png ...        (n-1)*f+1 frames in time order: input k at index k*f, the
                                     f-1 generated frames between inputs k and k+1 at k*f+1 ... k*f+f-1
    .fields/000000.npy ...           float32 data per frame, only for physical (NetCDF) inputs with
                                     ``settings["cube"]``; removed once the cube is written
    video.mp4                        ``settings["video"]`` is True (a string names another path)
    cube.nc                          ``settings["cube"]`` is True: CF NetCDF (time, y, x) at the
                                     interpolated times (a string names another path)
    job.json                         the manifest, written last: its presence means "complete"
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
    False (default), True (``cube.nc``) or a path (as for ``video``); needs NetCDF inputs.
``overwrite``
    False (default): a job whose outputs are complete is skipped (and a partial one resumed);
    True: existing outputs of the job are removed and everything is recomputed.
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
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Iterable

MANIFEST = "job.json"
FIELDS_DIR = ".fields"
MANIFEST_FORMAT = "goesvfi-lab job manifest"
PHYSICAL_EXTENSIONS = (".nc", ".nc4", ".h5", ".hdf", ".hdf5")

_FRAME = re.compile(r"^\d{6}\.png$")
_TEMP = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[A-Za-z0-9]+)?$")  # frames.atomic.temp_name


def frame_name(index: int) -> str:
    return f"{index:06d}.png"


def frame_path(output_dir: str, index: int) -> str:
    return os.path.join(output_dir, frame_name(index))


def field_path(output_dir: str, index: int) -> str:
    return os.path.join(output_dir, FIELDS_DIR, f"{index:06d}.npy")


def n_frames(n_inputs: int, factor: int) -> int:
    return (n_inputs - 1) * factor + 1 if n_inputs >= 2 else n_inputs


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


def cube_path(output_dir: str, settings: dict[str, Any]) -> str | None:
    return _extra_path(output_dir, settings.get("cube"), "cube.nc")


def read_manifest(output_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(output_dir, MANIFEST), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None


def is_complete(output_dir: str, inputs: list[str], factor: int, settings: dict[str, Any]) -> bool:
    """Whether ``output_dir`` already holds this job's finished outputs (manifest, frames, extras).

    Cheap on purpose (no decoding): it runs on the client for every job before it is submitted.
    """
    manifest = read_manifest(output_dir)
    if manifest is None:
        return False
    if manifest.get("inputs") != list(inputs) or manifest.get("factor") != factor:
        return False
    total = n_frames(len(inputs), factor)
    if manifest.get("frames") != total:
        return False
    if not all(os.path.isfile(frame_path(output_dir, i)) for i in range(total)):
        return False
    extras = [video_path(output_dir, settings), cube_path(output_dir, settings)]
    return all(os.path.isfile(p) for p in extras if p)


def job_files(output_dir: str) -> list[str]:
    """Files of the layout present in ``output_dir`` (frames, fields, manifest, video, cube, temporaries)."""
    found: list[str] = []
    try:
        names = os.listdir(output_dir)
    except FileNotFoundError:
        return found
    for name in names:
        if _FRAME.match(name) or _TEMP.match(name) or name in (MANIFEST, "video.mp4", "cube.nc"):
            found.append(os.path.join(output_dir, name))
    fields = os.path.join(output_dir, FIELDS_DIR)
    if os.path.isdir(fields):
        found.extend(os.path.join(fields, n) for n in os.listdir(fields))
    return sorted(found)


def remove_outputs(output_dir: str, extra: Iterable[str | None] = ()) -> int:
    """Delete the job's layout files (never anything else) and the folder if that leaves it empty."""
    removed = 0
    for path in [*job_files(output_dir), *(p for p in extra if p)]:
        try:
            os.remove(path)
            removed += 1
        except FileNotFoundError:
            pass
    shutil.rmtree(os.path.join(output_dir, FIELDS_DIR), ignore_errors=True)
    try:
        os.rmdir(output_dir)  # only if empty: user files and a held lock keep it
    except OSError:
        pass
    return removed


def temporaries(output_dir: str) -> list[str]:
    """Leftover temporary files of interrupted atomic writes."""
    return [p for p in job_files(output_dir) if _TEMP.match(os.path.basename(p))]
