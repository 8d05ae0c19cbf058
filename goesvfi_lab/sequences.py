"""Sequences: consecutive scans of one satellite/product/sector/band (or one folder of other images),
with their cadence, missing scans and re-issued scans; and the check of one job's inputs.

Pure standard library, like :mod:`goesvfi_lab.discover` (which re-exports these names).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from statistics import median
from typing import Any

from .errors import FrameError
from .goes_names import GoesName, natural_sort_key, parse_goes_name

# Defaults of the ``goesvfi.discover.*`` config keys (callers that want the configured values pass them in).
GAP_FACTOR = 1.5  # a gap larger than this x cadence counts as missing scans
SPLIT_AFTER_MISSING = 6  # more consecutive missing scans than this start a new sequence

# Products written for every scan: their nominal scan cadence is authoritative. Other L2 products
# (e.g. hourly radiation) may come less often, so their cadence is inferred from the files.
_PER_SCAN_PRODUCTS = frozenset({"Rad", "CMIP", "MCMIP"})


# --------------------------------------------------------------------------------------------
# Sequences


@dataclass
class Sequence:
    """Consecutive frames of one satellite/level/product/sector/band (or one folder of non-ABI files).

    ``times`` are scan starts (None for non-ABI names); ``missing`` the expected scan starts absent
    from the files; ``duplicates`` further files with a scan start already in ``paths`` (of a scan NOAA
    re-issued, the newest ``_c`` creation time is kept); ``notes`` say which was kept and why.
    """

    name: str
    key: tuple | None
    paths: list[str]
    times: list[datetime | None]
    cadence: timedelta | None
    missing: list[datetime] = field(default_factory=list)
    size_bytes: int = 0
    duplicates: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        """Input frames (files). What a job writes from them is :func:`goesvfi_lab.plan.n_frames`."""
        return len(self.paths)

    @property
    def start(self) -> datetime | None:
        return self.times[0] if self.times else None

    @property
    def end(self) -> datetime | None:
        return self.times[-1] if self.times else None

    @property
    def span(self) -> timedelta | None:
        start, end = self.start, self.end
        return None if start is None or end is None else end - start

    def describe(self) -> dict[str, Any]:
        """One row for a summary table: plain JSON-able values (times ISO UTC, durations H:MM:SS)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def hms(d: timedelta | None) -> str | None:  # whole seconds: scan starts jitter below that
            return None if d is None else str(timedelta(seconds=round(d.total_seconds())))

        return {
            "name": self.name,
            "frames": self.n_frames,
            "start": iso(self.start),
            "end": iso(self.end),
            "span": hms(self.span),
            "cadence": hms(self.cadence),
            "missing": len(self.missing),
            "duplicates": len(self.duplicates),
            "size_bytes": self.size_bytes,
        }


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # a listed file that vanished adds nothing to the total


def _sequence_cadence(names: list[GoesName]) -> timedelta:
    """Nominal cadence of the most common scan mode; inferred from the files for sparse products."""
    nominal = Counter(g.cadence for g in names).most_common(1)[0][0]
    if names[0].product in _PER_SCAN_PRODUCTS or len(names) < 3:
        return nominal
    gaps = [b.start - a.start for a, b in zip(names, names[1:]) if b.start != a.start]
    if not gaps:
        return nominal
    steps = round(median(gaps) / nominal)
    return nominal * steps if steps >= 2 else nominal


def _sequence_name(g: GoesName, start: datetime) -> str:
    parts = [g.satellite, g.level, g.product, g.sector]
    if g.band is not None:
        parts.append(f"C{g.band:02d}")
    parts.append(f"{start:%Y%m%dT%H%M}")  # ISO basic, calendar date: "2023123" misreads as Dec 3
    name = "-".join(parts)
    ext = g.ext.lower()
    return name if ext == ".nc" else f"{name}-{ext.lstrip('.').replace('.', '-') or 'noext'}"


def newest_per_scan(
    named: list[tuple[GoesName, str]],
) -> tuple[list[tuple[GoesName, str]], list[tuple[GoesName, str, str]]]:
    """One file per scan start, in scan order: of a scan NOAA re-issued (same ``_s``, later ``_c``) the newest,
    of exact copies the first given; and (name, path, note) of the files skipped.

    ``named`` is taken in its order among files of one start (stable), so callers decide what "first" means.
    """
    by_start: dict[datetime, list[tuple[GoesName, str]]] = {}
    for item in sorted(named, key=lambda item: item[0].start):
        by_start.setdefault(item[0].start, []).append(item)
    kept: list[tuple[GoesName, str]] = []
    skipped: list[tuple[GoesName, str, str]] = []
    for group in by_start.values():
        best = max(group, key=lambda item: item[0].created)  # the first of equals on ties
        kept.append(best)
        for item in group:
            if item is best:
                continue
            g, path = item
            if g.created < best[0].created:
                why = f"a re-issue of this scan was created later: kept {best[1]}"
            else:
                why = f"same scan start as {best[1]}"
            skipped.append((g, path, f"duplicate scan skipped: {path} ({why})"))
    return kept, skipped


def _abi_sequences(
    named: list[tuple[GoesName, str]], gap_factor: float, split_after_missing: int, cadence: timedelta | None = None
) -> list[Sequence]:
    named.sort(key=lambda item: (item[0].start, natural_sort_key(item[1])))
    named, skipped = newest_per_scan(named)
    skipped_at: dict[datetime, list[tuple[str, str]]] = {}  # scan start -> (path, note) of the files left out
    for g, path, note in skipped:
        skipped_at.setdefault(g.start, []).append((path, note))
    cadence = cadence or _sequence_cadence([g for g, _ in named])
    runs: list[Sequence] = []
    current: Sequence | None = None
    for g, path in named:
        if current is not None:
            gap = g.start - current.times[-1]
            if gap > cadence * gap_factor:
                absent = max(round(gap / cadence) - 1, 1)
                if absent > split_after_missing:
                    current = None  # a long outage: what follows is a new sequence
                else:
                    last = current.times[-1]
                    current.missing.extend(last + cadence * k for k in range(1, absent + 1))
        if current is None:
            current = Sequence(_sequence_name(g, g.start), g.key, [], [], cadence)
            runs.append(current)
        current.paths.append(path)
        current.times.append(g.start)
        for dup, note in skipped_at.get(g.start, ()):
            current.duplicates.append(dup)
            current.notes.append(note)
    for seq in runs:
        seq.size_bytes = sum(file_size(p) for p in seq.paths)
    return runs


def group_sequences(
    paths: Iterable[str | os.PathLike[str]],
    *,
    gap_factor: float | None = None,
    split_after_missing: int | None = None,
    cadence: timedelta | None = None,
) -> list[Sequence]:
    """Group files into time-ordered sequences.

    ABI names group by satellite/level/product/sector/band (and extension) wherever they sit on
    disk, sorted by scan start. A gap larger than ``gap_factor`` x cadence is reported as missing
    scans; more than ``split_after_missing`` consecutive missing scans start a new sequence. Other
    names group by directory and extension, in natural order ("frame2" before "frame10").
    Defaults: :data:`GAP_FACTOR`, :data:`SPLIT_AFTER_MISSING` (config ``discover.*`` mirrors them).
    ``cadence`` replaces the product's nominal one (scans thinned to a coarser step, e.g. a NOAA archive query).
    """
    gap_factor = GAP_FACTOR if gap_factor is None else float(gap_factor)
    split_after_missing = SPLIT_AFTER_MISSING if split_after_missing is None else int(split_after_missing)
    if gap_factor < 1:
        raise ValueError(f"gap_factor must be >= 1, not {gap_factor}")
    if split_after_missing < 0:
        raise ValueError(f"split_after_missing must be >= 0, not {split_after_missing}")

    abi: dict[tuple, list[tuple[GoesName, str]]] = {}
    other: dict[tuple[str, str], list[str]] = {}
    for p in paths:
        path = os.fspath(p)
        g = parse_goes_name(path)
        if g is not None:
            abi.setdefault(g.key, []).append((g, path))
        else:
            directory, name = os.path.split(path)
            other.setdefault((directory, os.path.splitext(name)[1].lower()), []).append(path)

    result: list[Sequence] = []
    for key in sorted(abi, key=lambda k: tuple("" if v is None else str(v).zfill(2) for v in k)):
        result.extend(_abi_sequences(abi[key], gap_factor, split_after_missing, cadence))
    for directory, ext in sorted(other, key=lambda k: (natural_sort_key(k[0]), k[1])):
        files = sorted(other[(directory, ext)], key=lambda p: natural_sort_key(os.path.basename(p)))
        label = os.path.basename(directory.rstrip(os.sep)) or directory or "."
        result.append(
            Sequence(
                name=f"{label}/*{ext}",
                key=None,
                paths=files,
                times=[None] * len(files),
                cadence=None,
                size_bytes=sum(file_size(f) for f in files),
            )
        )
    return result


# --------------------------------------------------------------------------------------------
# One job's inputs


def _key_text(g: GoesName) -> str:
    band = f" band {g.band}" if g.band is not None else ""
    return f"{g.satellite} {g.level}-{g.product} sector {g.sector}{band} ({g.ext})"


def check_job_inputs(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[str]]:
    """A job's inputs in scan order, with notes on what was changed; FrameError for a file that does not belong.

    Jobs built by hand (or edited) can mix what :func:`group_sequences` would keep apart. When
    every input is an ABI name: a file of another satellite/product/sector/band is an error naming
    it (interpolating band 13 into band 14 is meaningless), inputs out of scan order are sorted, and
    of several files of one scan start only one is kept (the newest re-issue, else the first given:
    :func:`newest_per_scan`, as ``group_sequences`` does). Other names are taken in the order given
    (nothing to sort them by).
    """
    paths = [os.fspath(p) for p in paths]
    names = [parse_goes_name(p) for p in paths]
    if len(paths) < 2 or any(g is None for g in names):
        return paths, []
    main = Counter(g.key for g in names).most_common(1)[0][0]  # type: ignore[union-attr]
    reference = next(g for g in names if g.key == main)  # type: ignore[union-attr]
    for path, g in zip(paths, names):
        if g.key != main:  # type: ignore[union-attr]
            raise FrameError(
                path,
                f"is {_key_text(g)}, in a sequence of {_key_text(reference)}: "  # type: ignore[arg-type]
                "inputs of one job must be one satellite, product, sector and band",
            )
    notes = []
    order = sorted(range(len(paths)), key=lambda i: names[i].start)  # type: ignore[union-attr]
    if order != list(range(len(paths))):
        notes.append("inputs were not in scan order: sorted by scan start time")
    kept, skipped = newest_per_scan(list(zip(names, paths)))  # type: ignore[arg-type]
    notes.extend(note for _, _, note in skipped)
    return [path for _, path in kept], notes
