"""Find GOES ABI frames on disk: file filters and duplicate hashing; names (:mod:`.goes_names`) and
sequences (:mod:`.sequences`) are re-exported here, the one import for discovery.

Pure standard library on purpose: discovery runs in the notebook kernel, the CLI and the scheduler
before any heavy dependency is needed, and its tests run in milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from .errors import FrameError
from .goes_names import (  # noqa: F401 (re-exported: discovery's public names)
    SATELLITES,
    SECTORS,
    GoesName,
    format_goes_name,
    natural_sort_key,
    parse_goes_name,
)
from .sequences import (  # noqa: F401
    GAP_FACTOR,
    SPLIT_AFTER_MISSING,
    Sequence,
    check_job_inputs,
    file_size,
    group_sequences,
    newest_per_scan,
)

HASH_BYTES = 1 << 20  # duplicate detection hashes size + the first MiB unless asked for all


# --------------------------------------------------------------------------------------------
# Filtering


DateLike = datetime | date | str | int | float


def _to_datetime(value: DateLike, *, naive_tz: timezone | None, end_of_day: bool) -> datetime:
    """Accept a datetime, a date, an ISO string or epoch seconds; return an aware datetime.

    A bare date means the whole day: its start for a lower bound, its last instant for an upper
    bound, so ``max_date="2024-01-31"`` includes files from that day.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO date or date-time: {value!r}") from None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.max if end_of_day else time.min)
    else:
        raise TypeError(f"expected a datetime, date, ISO string or timestamp, not {type(value).__name__}")
    if moment.tzinfo is None:
        # None: the machine's local zone (how file mtimes are usually read); otherwise the given zone
        moment = moment.astimezone() if naive_tz is None else moment.replace(tzinfo=naive_tz)
    return moment


def _as_set(value: Any) -> Collection[Any] | None:
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return (value,)
    return tuple(value)


def _norm_satellite(value: str | int) -> str:
    text = str(value).upper().replace("GOES", "").strip("-_ ")
    return text if text.startswith("G") else f"G{text}"


def _norm_band(value: str | int) -> int:
    return int(str(value).upper().lstrip("CB"))


_SECTOR_ALIASES = {"CONUS": "C", "FULL": "F", "FD": "F", "FULLDISK": "F", "MESO1": "M1", "MESO2": "M2"}


def _norm_sector(value: str) -> str:
    text = str(value).upper().replace(" ", "").replace("_", "")
    return _SECTOR_ALIASES.get(text, text)


@dataclass
class FileFilter:
    """Which files to take: file properties plus GOES fields parsed from ABI names.

    ``extensions``: case-insensitive name endings (empty or None: any). ``min_size``/``max_size``:
    bytes, inclusive. ``min_date``/``max_date``: file modification time range (datetime, date, ISO
    string; naive values are local time). ``name_pattern``: regex searched in the file name.
    ``exclude_paths``: files or directory trees to skip. ``exclude_patterns``: regexes searched in
    the absolute path; a directory whose path plus a trailing separator matches is skipped whole.
    GOES fields (``satellite``, ``band``, ``sector``, ``product``, ``mode``, ``level``; each one value
    or a collection) and the scan-start range ``start``/``end`` (naive values are UTC) only pass ABI
    names. ``sector="M"`` means either mesoscale sector. A multi-band ``MCMIP`` file (no band in its name)
    holds every band, so it passes any ``band``.
    """

    extensions: Iterable[str] | None = (".nc", ".png")
    min_size: int | None = None
    max_size: int | None = None
    min_date: DateLike | None = None
    max_date: DateLike | None = None
    name_pattern: str | None = None
    exclude_paths: Iterable[str | os.PathLike[str]] = ()
    exclude_patterns: Iterable[str] = ()
    satellite: str | Collection[str] | None = None
    band: int | str | Collection[int | str] | None = None
    sector: str | Collection[str] | None = None
    product: str | Collection[str] | None = None
    start: DateLike | None = None
    end: DateLike | None = None
    mode: int | Collection[int] | None = None
    level: str | Collection[str] | None = None

    def __post_init__(self) -> None:
        # normalise once so a bad value fails here, at construction, with the field named
        self._exts = tuple((e if e.startswith(".") else "." + e).lower() for e in (self.extensions or ()) if e)
        self._name_re = re.compile(self.name_pattern) if self.name_pattern else None
        self._exclude_res = tuple(re.compile(p) for p in self.exclude_patterns)
        self._exclude_dirs = tuple(os.path.realpath(os.fspath(p)) for p in self.exclude_paths)
        self._mtime_min = (
            None if self.min_date is None else _to_datetime(self.min_date, naive_tz=None, end_of_day=False).timestamp()
        )
        self._mtime_max = (
            None if self.max_date is None else _to_datetime(self.max_date, naive_tz=None, end_of_day=True).timestamp()
        )
        self._start = None if self.start is None else _to_datetime(self.start, naive_tz=timezone.utc, end_of_day=False)
        self._end = None if self.end is None else _to_datetime(self.end, naive_tz=timezone.utc, end_of_day=True)
        sats, bands, sectors = _as_set(self.satellite), _as_set(self.band), _as_set(self.sector)
        products, modes, levels = _as_set(self.product), _as_set(self.mode), _as_set(self.level)
        self._sats = None if sats is None else {_norm_satellite(s) for s in sats}
        self._bands = None if bands is None else {_norm_band(b) for b in bands}
        self._sectors = None if sectors is None else {_norm_sector(s) for s in sectors}
        if self._sectors is not None and "M" in self._sectors:
            self._sectors |= {"M1", "M2"}
        self._products = None if products is None else {p.casefold() for p in products}
        self._modes = None if modes is None else {int(m) for m in modes}
        self._levels = None if levels is None else {lv.casefold() for lv in levels}
        self._uses_goes = any(
            v is not None
            for v in (
                self._sats,
                self._bands,
                self._sectors,
                self._products,
                self._modes,
                self._levels,
                self._start,
                self._end,
            )
        )

    # -- public ---------------------------------------------------------------------------------

    def matches(self, path: str | os.PathLike[str]) -> bool:
        """Whether one file passes every criterion (False if it cannot be stat'ed)."""
        path = os.path.abspath(os.fspath(path))
        if not self._name_ok(path) or self._excluded(path) or self._under_excluded_dir(path):
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and self._stat_ok(st)

    def scan(self, root: str | os.PathLike[str], recursive: bool = True) -> list[str]:
        """Absolute paths of the matching files under ``root``, sorted.

        Symlinked directories are followed, but each real directory is read once, so link loops end.
        Directories that cannot be read are skipped: one unreadable folder should not sink a survey.
        """
        root = os.path.abspath(os.fspath(root))
        if os.path.isfile(root):
            return [root] if self.matches(root) else []
        if not os.path.isdir(root):
            raise FileNotFoundError(f"{root}: no such directory")
        if self._under_excluded_dir(root) or self._excluded(root + os.sep):
            return []
        return sorted(self._walk(root, recursive))

    # -- internals --------------------------------------------------------------------------------

    def _walk(self, root: str, recursive: bool) -> Iterator[str]:
        seen: set[tuple[int, int]] = set()
        pending = [root]
        while pending:
            directory = pending.pop()
            try:
                st = os.stat(directory)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue  # reached again through a link: already read (this is what ends loops)
            seen.add((st.st_dev, st.st_ino))
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError:
                continue
            for entry in entries:
                try:
                    is_dir = entry.is_dir()  # follows symlinks
                except OSError:
                    continue
                if is_dir:
                    if recursive and not self._excluded(entry.path + os.sep) and not self._is_excluded_dir(entry.path):
                        pending.append(entry.path)
                    continue
                if not self._name_ok(entry.path) or self._excluded(entry.path):
                    continue
                if self._exclude_dirs and self._is_excluded_dir(entry.path):
                    continue
                try:
                    st_file = entry.stat()
                except OSError:
                    continue  # dangling link or file removed while we looked
                if stat.S_ISREG(st_file.st_mode) and self._stat_ok(st_file):
                    yield entry.path

    def _name_ok(self, path: str) -> bool:
        """Checks that need only the name: cheap, so they run before any stat call."""
        name = os.path.basename(path)
        if self._exts and not name.lower().endswith(self._exts):
            return False
        if self._name_re is not None and not self._name_re.search(name):
            return False
        if self._uses_goes:
            parsed = parse_goes_name(name)
            return parsed is not None and self._goes_ok(parsed)
        return True

    def _goes_ok(self, g: GoesName) -> bool:
        return (
            (self._sats is None or g.satellite in self._sats)
            and (self._bands is None or g.band in self._bands or (g.band is None and g.product == "MCMIP"))
            and (self._sectors is None or g.sector in self._sectors)
            and (self._products is None or g.product.casefold() in self._products)
            and (self._modes is None or g.mode in self._modes)
            and (self._levels is None or g.level.casefold() in self._levels)
            and (self._start is None or g.start >= self._start)
            and (self._end is None or g.start <= self._end)
        )

    def _stat_ok(self, st: os.stat_result) -> bool:
        return (
            (self.min_size is None or st.st_size >= self.min_size)
            and (self.max_size is None or st.st_size <= self.max_size)
            and (self._mtime_min is None or st.st_mtime >= self._mtime_min)
            and (self._mtime_max is None or st.st_mtime <= self._mtime_max)
        )

    def _excluded(self, path: str) -> bool:
        return any(r.search(path) for r in self._exclude_res)

    def _is_excluded_dir(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == d or real.startswith(d.rstrip(os.sep) + os.sep) for d in self._exclude_dirs)

    def _under_excluded_dir(self, path: str) -> bool:
        return bool(self._exclude_dirs) and self._is_excluded_dir(path)


# --------------------------------------------------------------------------------------------
# Duplicates


def content_hash(path: str | os.PathLike[str], full: bool = False, nbytes: int | None = None) -> str:
    """``"<size>:<sha256>"`` of the first ``nbytes`` (default :data:`HASH_BYTES`) or, if ``full``, all bytes.

    Size plus the first MiB tells distinct satellite files apart almost always at a fraction of the
    I/O; ``full=True`` is for when a false match would cost more than reading everything.
    """
    path = os.fspath(path)
    limit = None if full else (HASH_BYTES if nbytes is None else int(nbytes))
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            remaining = limit
            while remaining is None or remaining > 0:
                chunk = fh.read(1 << 20 if remaining is None else min(1 << 20, remaining))
                if not chunk:
                    break
                digest.update(chunk)
                if remaining is not None:
                    remaining -= len(chunk)
    except OSError as exc:
        raise FrameError(path, f"cannot read for hashing: {exc.strerror or exc}") from exc
    return f"{size}:{digest.hexdigest()}"


def find_duplicates(paths: Iterable[str | os.PathLike[str]], full: bool = False) -> list[list[str]]:
    """Groups (two or more) of files with the same content, each group and the groups in input order.

    Only files that share a size are hashed, and with ``full`` only those that also share their
    first MiB are read to the end. Files that cannot be read are left out: nothing can be said
    about their content.
    """
    ordered = list(dict.fromkeys(os.fspath(p) for p in paths))
    by_size: dict[int, list[str]] = {}
    for path in ordered:
        try:
            by_size.setdefault(os.stat(path).st_size, []).append(path)
        except OSError:
            continue
    candidates = [group for group in by_size.values() if len(group) >= 2]
    candidates = _split_by_hash(candidates, full=False)
    if full:
        candidates = _split_by_hash([g for g in candidates if file_size(g[0]) > HASH_BYTES], full=True) + [
            g
            for g in candidates
            if file_size(g[0]) <= HASH_BYTES  # the first MiB was all of it
        ]
    position = {p: i for i, p in enumerate(ordered)}
    groups = [sorted(g, key=position.__getitem__) for g in candidates]
    return sorted(groups, key=lambda g: position[g[0]])


def _split_by_hash(groups: list[list[str]], full: bool) -> list[list[str]]:
    """Refine candidate groups by content hash, keeping only groups that still have two members."""
    refined: list[list[str]] = []
    for group in groups:
        by_hash: dict[str, list[str]] = {}
        for path in group:
            try:
                by_hash.setdefault(content_hash(path, full=full), []).append(path)
            except FrameError:
                continue
        refined.extend(g for g in by_hash.values() if len(g) >= 2)
    return refined
