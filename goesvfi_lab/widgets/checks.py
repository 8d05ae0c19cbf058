"""What the preview checks before Confirm: broken input files, and output folders that already hold results.

Both are found here, where they are cheapest (a few bytes per file, two small JSON reads per
folder), instead of by a worker after the batch started. No widgets here: the preview panel runs
these on a background thread and renders :class:`BatchCheck` with :func:`check_html`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..engine import layout
from ..html import esc
from ..model import BatchJob


@dataclass
class BatchCheck:
    """The state of one planned batch: files checked so far, bad ones, and folders in the way."""

    total: int = 0  # input files to check
    checked: int = 0
    bad_files: dict[str, str] = field(default_factory=dict)  # path -> why it cannot be read
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (output folder, what it holds)
    complete: list[str] = field(default_factory=list)  # folders with this very result: skipped
    overwrite: bool = False

    @property
    def done(self) -> bool:
        return self.checked >= self.total

    @property
    def blocking(self) -> bool:
        """Confirm would send jobs that fail at once: the user picks overwrite or a new folder first."""
        return bool(self.conflicts) and not self.overwrite


def check_files(
    paths: Iterable[str], cache: dict[tuple, str | None], progress: Callable[[int], None] | None = None
) -> dict[str, str]:
    """Bad files among ``paths`` (path → reason), cached by (path, size, mtime) across calls.

    Remote inputs (``s3://``) are not read here: the cache checks each against its listed size as it is
    fetched (a short one is fetched again), on the worker that runs the pair."""
    from ..frames.check import check_file

    bad: dict[str, str] = {}
    for i, path in enumerate(paths, 1):
        if str(path).startswith("s3://"):  # NOAA archive scans: checked by size where they are fetched
            continue
        try:
            st = os.stat(path)
            key = (path, st.st_size, st.st_mtime_ns)
        except OSError:
            key = (path, -1, -1)
        if key not in cache:
            cache[key] = check_file(path)
        if cache[key] is not None:
            bad[path] = cache[key]  # type: ignore[assignment]
        if progress is not None and (i % 50 == 0):
            progress(i)
    return bad


def without_bad_inputs(jobs: list[BatchJob], bad: Mapping[str, str]) -> list[BatchJob]:
    """Jobs with the broken files left out (a note on each job says which); jobs left with < 2 inputs dropped."""
    out = []
    for job in jobs:
        dropped = [p for p in job.inputs if p in bad]
        if not dropped:
            out.append(job)
            continue
        inputs = [p for p in job.inputs if p not in bad]
        if len(inputs) < 2:
            continue
        notes = [*job.notes, *(f"input left out: {os.path.basename(p)}: {bad[p]}" for p in dropped)]
        out.append(replace(job, inputs=inputs, notes=notes))
    return out


def check_folders(jobs: Iterable[BatchJob]) -> tuple[list[tuple[str, str]], list[str]]:
    """(folders holding another result with how they differ, folders already holding this very result)."""
    conflicts, complete = [], []
    for job in jobs:
        found = layout.existing_result(
            job.output_dir, layout.result_spec(job.inputs, job.factor, job.method, job.settings)
        )
        if found.state == "other":
            conflicts.append((job.output_dir, found.detail))
        elif found.state == "complete":
            complete.append(job.output_dir)
    return conflicts, complete


def check_html(check: BatchCheck, limit: int = 3) -> str:
    """The preview's check line(s): progress, broken files, folders that will be skipped or are in the way."""
    parts = []
    if not check.done:
        parts.append(f'<span class="gvl-muted">checking files {check.checked}/{check.total}…</span>')
    if check.bad_files:
        n = len(check.bad_files)
        items = "".join(
            f"<li><b>{esc(os.path.basename(p))}</b>: {esc(r)}</li>" for p, r in list(check.bad_files.items())[:limit]
        )
        more = f"<li>… and {n - limit} more</li>" if n > limit else ""
        parts.append(
            f'<div class="gvl-warn gvl-bad-files" data-n="{n}"><b>{n} unreadable file{"s" * (n != 1)}'
            f"</b> will be left out of their sequences:<ul>{items}{more}</ul></div>"
        )
    if check.complete:
        n = len(check.complete)
        parts.append(
            f'<div class="gvl-muted gvl-complete" data-n="{n}">{n} folder{"s" * (n != 1)} already '
            f"hold{'s' * (n == 1)} these results (same settings): skipped"
            f"{', recomputed (overwrite)' if check.overwrite else ''}.</div>"
        )
    if check.conflicts:
        n = len(check.conflicts)
        items = "".join(
            f'<li><span class="gvl-mono">{esc(os.path.basename(d))}</span>: {esc(detail)}</li>'
            for d, detail in check.conflicts[:limit]
        )
        more = f"<li>… and {n - limit} more</li>" if n > limit else ""
        verb = (
            "will be replaced (overwrite is on)"
            if check.overwrite
            else "choose: overwrite them, or write to a new folder"
        )
        parts.append(
            f'<div class="gvl-warn gvl-conflicts" data-n="{n}"><b>{n} folder{"s" * (n != 1)} already '
            f"hold{'s' * (n == 1)} other results</b>: {esc(verb)}<ul>{items}{more}</ul></div>"
        )
    return "".join(parts)
