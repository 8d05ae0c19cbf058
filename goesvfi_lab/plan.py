"""One job planner: sequences → jobs, the same folder names and frame counts wherever jobs are made.

The notebook (``widgets.state.make_jobs``), ``BatchQueue.add_directory`` and ``goesvfi-lab run`` all
plan here, so a batch started in one is found, resumed or skipped as complete by the others: the
output folder is what links a job to the result on disk. Pure standard library plus the pure
``model`` and ``safety`` modules: it runs in the notebook kernel and the CLI before Dask is needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from .model import BatchJob
from .safety import job_output_dir, safe_name


def n_frames(n_inputs: int, factor: int) -> int:
    """Frames a job writes from ``n_inputs`` inputs: ``(n - 1) * factor + 1`` (inputs pass through).

    The one rule for the engine's layout, a job's progress and the notebook's estimate; fewer than
    two inputs leave nothing to interpolate, so they are written as they are.
    """
    return (n_inputs - 1) * factor + 1 if n_inputs >= 2 else n_inputs


def _label(sequence: Any, root: str) -> str:
    """The readable (not yet safe) name: an ABI sequence's own name, else its folder below ``root``.

    Non-ABI folders are named by their path below ``root`` (``x/cam`` → ``x-cam``; files right in
    ``root`` take the root's name), with the extension appended unless it is PNG, so PNG and JPEG
    renders of one folder stay apart.
    """
    if getattr(sequence, "key", None) is not None:
        return str(sequence.name)
    paths = list(getattr(sequence, "paths", sequence))
    folder = os.path.dirname(os.path.abspath(paths[0]))
    root = os.path.abspath(root)
    rel = os.path.relpath(folder, root)
    base = os.path.basename(root.rstrip(os.sep)) if rel == "." else rel.replace(os.sep, "-")
    ext = os.path.splitext(paths[0])[1].lstrip(".").lower()
    return f"{base}-{ext}" if ext and ext != "png" else base


def job_folder(sequence: Any, root: str) -> str:
    """The output folder NAME for ``sequence`` found under ``root``, made safe by :func:`safety.safe_name`.

    Names come from files anyone can write, so they never hold separators, ``..`` or shell/ffmpeg
    metacharacters; distinct unsafe names keep distinct folders (a hash of the original is appended).
    """
    return safe_name(_label(sequence, root), fallback="sequence")


def _common_root(sequences: Iterable[Any]) -> str:
    """The folder holding every non-ABI sequence: the scan root's best stand-in when none is given."""
    folders = [
        os.path.dirname(os.path.abspath(s.paths[0])) for s in sequences if getattr(s, "key", None) is None and s.paths
    ]
    return os.path.commonpath(folders) if folders else os.getcwd()


def jobs_for(
    sequences: Iterable[Any],
    output_dir: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    **fields: Any,
) -> list[BatchJob]:
    """One :class:`BatchJob` per sequence with two or more frames, in ``output_dir/<job_folder>``.

    ``root``: the folder the sequences were found under (names non-ABI folders; default: the folder
    holding them all). ``fields``: further :class:`BatchJob` fields (``factor``, ``method``,
    ``priority``, ``settings``, ``owner``...); each job gets its own copy of ``settings``. Two
    sequences with one folder name get ``-2``, ``-3``... in sequence order, so no two jobs of a
    batch share a folder and the same scan always plans the same folders.
    """
    usable = [s for s in sequences if len(s.paths) >= 2]
    base = os.fspath(root) if root else _common_root(usable)
    settings = fields.pop("settings", None) or {}
    jobs: list[BatchJob] = []
    used: set[str] = set()
    for seq in usable:
        label, folder = _label(seq, base), job_folder(seq, base)
        name, n = label, 2
        while folder in used:
            folder, name = f"{job_folder(seq, base)}-{n}", f"{label}-{n}"
            n += 1
        used.add(folder)
        jobs.append(
            BatchJob(
                name=name,
                inputs=list(seq.paths),
                output_dir=job_output_dir(output_dir, folder),
                settings=dict(settings),
                **fields,
            )
        )
    return jobs


MAX_CONTEXT_GAP = 2.0  # a neighbouring scan further than this × the pair's own interval is not used


def context_gaps(times: Sequence[float | None] | None, pair: int, n: int) -> tuple[float | None, float | None]:
    """Distances from pair ``pair`` (inputs ``pair``, ``pair + 1`` of ``n``) to the scans either side.

    In units of the pair's own interval; None where there is no scan on that side, its time is unknown,
    or it lies more than :data:`MAX_CONTEXT_GAP` intervals away (a gap: that side falls back to two scans).
    With no times at all the inputs are taken as evenly spaced.
    """
    before = pair - 1 if pair >= 1 else None
    after = pair + 2 if pair + 2 < n else None
    if not times:
        return (1.0 if before is not None else None, 1.0 if after is not None else None)
    t0, t1 = times[pair], times[pair + 1]
    if t0 is None or t1 is None or not t1 > t0:
        return None, None
    step = t1 - t0

    def gap(k: int | None, ref: float) -> float | None:
        if k is None or times[k] is None:
            return None
        r = abs(times[k] - ref) / step
        return r if 0 < r <= MAX_CONTEXT_GAP else None

    return gap(before, t0), gap(after, t1)
