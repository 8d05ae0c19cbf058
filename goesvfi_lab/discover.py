"""Find GOES ABI frames on disk: name parsing, file filters, sequence grouping, duplicate hashing.

Pure standard library on purpose: discovery runs in the notebook kernel, the CLI and the scheduler
before any heavy dependency is needed, and its tests run in milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from statistics import median
from typing import Any

from .errors import FrameError

# Defaults of the ``goesvfi.discover.*`` config keys. Importing ``goesvfi_lab.config`` would pull in
# dask, which this pure module must not do: callers that want the configured values pass them in.
GAP_FACTOR = 1.5  # a gap larger than this x cadence counts as missing scans
SPLIT_AFTER_MISSING = 6  # more consecutive missing scans than this start a new sequence
HASH_BYTES = 1 << 20  # duplicate detection hashes size + the first MiB unless asked for all

# Products written for every scan: their nominal scan cadence is authoritative. Other L2 products
# (e.g. hourly radiation) may come less often, so their cadence is inferred from the files.
_PER_SCAN_PRODUCTS = frozenset({"Rad", "CMIP", "MCMIP"})

SATELLITES = ("G16", "G17", "G18", "G19")
SECTORS = ("F", "C", "M1", "M2")

# OR_ABI-L2-CMIPC-M6C13_G16_s20231231200217_e20231231202590_c20231231203044.nc
# The product and the sector are written together ("CMIPC", "RadM1"); the lazy product group takes
# the shortest product that leaves a valid sector before "-M<mode>".
_ABI_NAME = re.compile(
    r"^OR_ABI-(?P<level>L1b|L2)-(?P<product>[A-Za-z0-9]+?)(?P<sector>M1|M2|C|F)"
    r"-M(?P<mode>\d)(?:C(?P<band>\d{2}))?"
    r"_(?P<satellite>G1[6-9])"
    r"_s(?P<start>\d{14})_e(?P<end>\d{14})_c(?P<created>\d{14})"
    r"(?P<ext>(?:\.[A-Za-z0-9]+)*)$"
)


def _parse_abi_time(field: str) -> datetime | None:
    """``YYYYJJJHHMMSSs`` (day of year, tenths of a second) -> aware UTC datetime, None if invalid."""
    year, doy = int(field[0:4]), int(field[4:7])
    hour, minute, second, tenth = int(field[7:9]), int(field[9:11]), int(field[11:13]), int(field[13])
    days_in_year = 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365
    if not (1 <= doy <= days_in_year and hour < 24 and minute < 60 and second <= 60):
        return None
    # timedelta arithmetic also absorbs a leap second (SS == 60) instead of rejecting the file
    return datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(
        days=doy - 1, hours=hour, minutes=minute, seconds=second, milliseconds=100 * tenth
    )


def _format_abi_time(when: datetime) -> str:
    """Inverse of :func:`_parse_abi_time`; naive datetimes are taken as UTC, sub-tenths truncated."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    when = when.astimezone(timezone.utc)
    return f"{when:%Y%j%H%M%S}{when.microsecond // 100_000}"


@dataclass(frozen=True)
class GoesName:
    """The fields of an ABI file name. Times are timezone-aware UTC."""

    satellite: str
    level: str
    product: str
    sector: str
    mode: int
    band: int | None
    start: datetime
    end: datetime
    created: datetime
    ext: str = ".nc"

    @property
    def cadence(self) -> timedelta:
        """Nominal time between scans of this sector in this scan mode.

        Mode 6: full disk 10 min; mode 3: full disk 15 min; mode 4: full disk every 5 min.
        CONUS is 5 min and mesoscale 1 min in every mode that has them.
        """
        if self.sector == "F":
            return timedelta(minutes={3: 15, 4: 5}.get(self.mode, 10))
        if self.sector == "C":
            return timedelta(minutes=5)
        return timedelta(minutes=1)

    @property
    def key(self) -> tuple:
        """What two files must share to belong to one sequence (the extension keeps NetCDF and PNG renders apart)."""
        return (self.satellite, self.level, self.product, self.sector, self.band, self.ext.lower())

    @property
    def filename(self) -> str:
        """The file name these fields spell (``format_goes_name`` round-trips ``parse_goes_name``)."""
        return format_goes_name(
            self.satellite,
            self.product,
            self.sector,
            self.band,
            self.start,
            self.end,
            self.created,
            level=self.level,
            mode=self.mode,
            ext=self.ext,
        )


def parse_goes_name(name_or_path: str | os.PathLike[str]) -> GoesName | None:
    """Parse an ABI file name (a bare name or a path); None for anything that is not one."""
    match = _ABI_NAME.match(os.path.basename(os.fspath(name_or_path)))
    if match is None:
        return None
    start, end, created = (_parse_abi_time(match[f]) for f in ("start", "end", "created"))
    if start is None or end is None or created is None:
        return None
    return GoesName(
        satellite=match["satellite"],
        level=match["level"],
        product=match["product"],
        sector=match["sector"],
        mode=int(match["mode"]),
        band=int(match["band"]) if match["band"] else None,
        start=start,
        end=end,
        created=created,
        ext=match["ext"],
    )


def format_goes_name(
    satellite: str,
    product: str,
    sector: str,
    band: int | None,
    start: datetime,
    end: datetime,
    created: datetime,
    level: str = "L2",
    mode: int = 6,
    ext: str = ".nc",
) -> str:
    """Spell an ABI file name, e.g. for synthetic data that tools should treat like the real thing."""
    if satellite not in SATELLITES:
        raise ValueError(f"satellite must be one of {', '.join(SATELLITES)}, not {satellite!r}")
    if sector not in SECTORS:
        raise ValueError(f"sector must be one of {', '.join(SECTORS)}, not {sector!r}")
    if level not in ("L1b", "L2"):
        raise ValueError(f"level must be 'L1b' or 'L2', not {level!r}")
    if band is not None and not 1 <= int(band) <= 16:
        raise ValueError(f"ABI band must be 1..16 or None, not {band!r}")
    if not re.fullmatch(r"[A-Za-z0-9]+", product):
        raise ValueError(f"product must be alphanumeric, not {product!r}")
    channel = "" if band is None else f"C{int(band):02d}"
    if ext and not ext.startswith("."):
        ext = "." + ext
    return (
        f"OR_ABI-{level}-{product}{sector}-M{int(mode)}{channel}_{satellite}"
        f"_s{_format_abi_time(start)}_e{_format_abi_time(end)}_c{_format_abi_time(created)}{ext}"
    )


# --------------------------------------------------------------------------------------------
# Filtering


def natural_sort_key(s: str) -> tuple:
    """Sort key where digit runs compare as numbers: "frame2" < "frame10" (case-insensitive)."""
    parts = re.split(r"(\d+)", s)
    # text sits at even indices and numbers at odd ones, so tuples never compare str with int
    return (tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), s)


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


def _file_size(path: str) -> int:
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
        seq.size_bytes = sum(_file_size(p) for p in seq.paths)
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
                size_bytes=sum(_file_size(f) for f in files),
            )
        )
    return result


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
        candidates = _split_by_hash([g for g in candidates if _file_size(g[0]) > HASH_BYTES], full=True) + [
            g
            for g in candidates
            if _file_size(g[0]) <= HASH_BYTES  # the first MiB was all of it
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
