"""NOAA's GOES-R open-data buckets as plain names: satellites, products, sectors, key prefixes, thinning.

Pure standard library on purpose: which hour folders a time range needs, which satellite was GOES-East
on a date and which listed keys a query keeps are questions the CLI, the notebook and the workers ask
before any network library is loaded, and the answers are checked here without a server.

Layout (``s3://noaa-goes16/…``): ``<product><sector folder>/<year>/<day of year>/<hour>/OR_ABI-….nc``, the
hour being the scan start's; mesoscale ``M1``/``M2`` share the ``…M`` folder and differ in the file name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from goesvfi_lab.discover import GoesName, parse_goes_name

BUCKETS = {"G16": "noaa-goes16", "G17": "noaa-goes17", "G18": "noaa-goes18", "G19": "noaa-goes19"}

# orbital slot -> (switch day, satellite before, satellite from that day on), 00:00 UTC taken as the switch
SLOTS = {
    "GOES-East": (datetime(2025, 4, 7, tzinfo=timezone.utc), "G16", "G19"),
    "GOES-West": (datetime(2023, 1, 4, tzinfo=timezone.utc), "G17", "G18"),
}
_SLOT_ALIASES = {"EAST": "GOES-East", "GOESEAST": "GOES-East", "WEST": "GOES-West", "GOESWEST": "GOES-West"}

# products in the buckets -> whether their files are per band (``-M6C13``) or not (``-M6_G16``)
PRODUCTS = {
    "ABI-L1b-Rad": True,
    "ABI-L2-CMIP": True,
    "ABI-L2-MCMIP": False,
    "ABI-L2-ACHA": False,
    "ABI-L2-ACM": False,
    "ABI-L2-ACTP": False,
    "ABI-L2-ADP": False,
    "ABI-L2-AOD": False,
    "ABI-L2-COD": False,
    "ABI-L2-CPS": False,
    "ABI-L2-CTP": False,
    "ABI-L2-DMW": True,
    "ABI-L2-DSI": False,
    "ABI-L2-DSR": False,
    "ABI-L2-FDC": False,
    "ABI-L2-LST": False,
    "ABI-L2-RRQPE": False,
    "ABI-L2-RSR": False,
    "ABI-L2-SST": False,
    "ABI-L2-TPW": False,
}
SECTORS = ("F", "C", "M1", "M2")
_SECTOR_ALIASES = {"CONUS": "C", "FULL": "F", "FD": "F", "FULLDISK": "F", "MESO1": "M1", "MESO2": "M2"}
# nominal cadence (mode 6) per sector: what ``every`` is compared with
CADENCE = {
    "F": timedelta(minutes=10),
    "C": timedelta(minutes=5),
    "M1": timedelta(minutes=1),
    "M2": timedelta(minutes=1),
}


@dataclass(frozen=True)
class RemoteScan:
    """One object in a bucket, with the fields of its ABI name. ``size`` is the listed size in bytes."""

    bucket: str
    key: str
    size: int
    name: GoesName
    etag: str | None = None

    @property
    def path(self) -> str:
        """``bucket/key``: what fsspec takes."""
        return f"{self.bucket}/{self.key}"

    @property
    def url(self) -> str:
        return f"s3://{self.path}"

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    satellite = property(lambda self: self.name.satellite)
    product = property(lambda self: f"ABI-{self.name.level}-{self.name.product}")
    sector = property(lambda self: self.name.sector)
    mode = property(lambda self: self.name.mode)
    band = property(lambda self: self.name.band)
    start = property(lambda self: self.name.start)
    end = property(lambda self: self.name.end)


def remote_scan(bucket: str, key: str, size: int, etag: str | None = None) -> RemoteScan | None:
    """A listed object as a :class:`RemoteScan`; None when its file name is not an ABI name."""
    name = parse_goes_name(key.rsplit("/", 1)[-1])
    return None if name is None else RemoteScan(bucket, key, int(size), name, etag)


# --------------------------------------------------------------------------------------------------
# Normalising what a user types


def to_utc(value: datetime | date | str, *, end_of_day: bool = False) -> datetime:
    """A datetime, a date or an ISO string as aware UTC (naive values are UTC; a bare date is its whole day)."""
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
        raise TypeError(f"expected a datetime, date or ISO string, not {type(value).__name__}")
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def normalize_satellite(value: str | int) -> str:
    """``"G19"``, ``19``, ``"GOES-19"``, ``"goes19"`` -> ``"G19"``; ``"east"``/``"GOES-West"`` -> the slot name."""
    text = str(value).strip().upper().replace("-", "").replace("_", "").replace(" ", "")
    if text in _SLOT_ALIASES:
        return _SLOT_ALIASES[text]
    sat = "G" + text.removeprefix("GOES").removeprefix("G")
    if sat not in BUCKETS:
        known = ", ".join([*BUCKETS, *SLOTS])
        raise ValueError(f"unknown satellite {value!r}: NOAA's open-data buckets hold {known}")
    return sat


def normalize_product(value: str, sector: str | None = None) -> tuple[str, str | None]:
    """``"ABI-L2-CMIP"``, ``"CMIP"``, ``"L2-CMIP"`` or ``"ABI-L2-CMIPC"`` -> (product, sector or the one given)."""
    text = str(value).strip()
    by_short = {p.rsplit("-", 1)[1].casefold(): p for p in PRODUCTS}
    by_full = {p.casefold(): p for p in PRODUCTS}
    for candidate in (text, "ABI-" + text):
        if candidate.casefold() in by_full:
            return by_full[candidate.casefold()], sector
    if text.casefold() in by_short:
        return by_short[text.casefold()], sector
    for suffix in ("M1", "M2", "C", "F"):  # the folder spelling: product and sector written together
        stem = text[: -len(suffix)]
        if text.upper().endswith(suffix) and stem:
            try:
                product, _ = normalize_product(stem)
            except ValueError:
                continue
            if sector is not None and normalize_sector(sector) != suffix:
                raise ValueError(f"product {value!r} names sector {suffix}, but sector={sector!r} was asked for")
            return product, suffix
    raise ValueError(f"unknown product {value!r}: one of {', '.join(PRODUCTS)}")


def normalize_sector(value: str) -> str:
    """``"C"``, ``"CONUS"``, ``"F"``, ``"full disk"``, ``"M1"``, ``"meso2"`` -> the sector letter(s)."""
    text = str(value).strip().upper().replace(" ", "").replace("_", "").replace("-", "")
    text = _SECTOR_ALIASES.get(text, text)
    if text not in SECTORS:
        raise ValueError(f"unknown sector {value!r}: one of F (full disk), C (CONUS), M1, M2 (mesoscale)")
    return text


def check_band(product: str, band: int | str | None) -> int | None:
    """The band as an int (1..16) for per-band products; None for products holding every band."""
    if not PRODUCTS[product]:
        if band is not None:
            raise ValueError(f"{product} files are not per band (band={band!r}): leave band out")
        return None
    if band is None:
        raise ValueError(f"{product} is written per band: give band=1..16")
    try:
        number = int(str(band).upper().lstrip("CB"))
    except ValueError:
        raise ValueError(f"unknown ABI band {band!r}: 1..16") from None
    if not 1 <= number <= 16:
        raise ValueError(f"unknown ABI band {band!r}: 1..16")
    return number


_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|hours|mins|minutes|seconds)?\s*$", re.IGNORECASE)


def parse_every(value: str | int | float | timedelta | None) -> timedelta | None:
    """``"10min"``, ``"1h"``, ``"90s"``, a number of minutes, or a timedelta; None stays None."""
    if value is None or isinstance(value, timedelta):
        every = value
    elif isinstance(value, (int, float)):
        every = timedelta(minutes=value)
    else:
        m = _EVERY.match(str(value))
        if not m:
            raise ValueError(f"every={value!r}: expected e.g. '10min', '1h', '90s'")
        unit = (m[2] or "min").lower()
        seconds = float(m[1]) * (1 if unit.startswith("s") else 3600 if unit.startswith("h") else 60)
        every = timedelta(seconds=seconds)
    if every is not None and every <= timedelta(0):
        raise ValueError(f"every={value!r} must be positive")
    return every


# --------------------------------------------------------------------------------------------------
# A query: which buckets and hour folders, which keys to keep


@dataclass(frozen=True)
class Segment:
    """One satellite's share of a query: what to list in one bucket."""

    satellite: str
    product: str
    sector: str
    band: int | None
    start: datetime
    end: datetime  # inclusive: scans starting at ``end`` are kept

    @property
    def bucket(self) -> str:
        return BUCKETS[self.satellite]

    @property
    def name_prefix(self) -> str:
        """File-name stem common to this sector's files (the mode digit comes next, so the band cannot join it)."""
        return f"OR_{self.product}{self.sector}-M"

    def hour_prefixes(self) -> list[str]:
        """Every ``product+sector/YYYY/DDD/HH/`` folder a scan starting in [start, end] can sit in, and no other."""
        folder = self.product + ("M" if self.sector.startswith("M") else self.sector)
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        out = []
        while hour <= self.end:
            out.append(f"{folder}/{hour:%Y}/{hour:%j}/{hour:%H}/")
            hour += timedelta(hours=1)
        return out

    def keeps(self, scan: RemoteScan) -> bool:
        """Whether a listed scan is this segment's: satellite, product, sector, band and a start in range."""
        n = scan.name
        return (
            n.satellite == self.satellite
            and f"ABI-{n.level}-{n.product}" == self.product
            and n.sector == self.sector
            and n.band == self.band
            and self.start <= n.start <= self.end
        )


@dataclass
class Query:
    """A find request made concrete: the segments to list, the thinning, and notes on what was chosen."""

    segments: list[Segment]
    every: timedelta | None = None
    notes: list[str] = field(default_factory=list)

    def listings(self) -> Iterator[tuple[Segment, str]]:
        """(segment, ``bucket/hour folder/name stem``) for each listing request to make."""
        for seg in self.segments:
            for prefix in seg.hour_prefixes():
                yield seg, f"{seg.bucket}/{prefix}{seg.name_prefix}"


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def resolve_satellite(
    satellite: str, start: datetime, end: datetime
) -> tuple[list[tuple[str, datetime, datetime]], list[str]]:
    """A satellite or an orbital slot over [start, end] -> [(satellite, start, end)], notes saying what was chosen."""
    sat = normalize_satellite(satellite)
    if sat not in SLOTS:
        return [(sat, start, end)], []
    switch, before, after = SLOTS[sat]
    if end < switch:
        return [(before, start, end)], [f"{sat} is {before} before {_fmt(switch)}: listing {before}"]
    if start >= switch:
        return [(after, start, end)], [f"{sat} is {after} from {_fmt(switch)}: listing {after}"]
    note = (
        f"the range crosses the {sat} switch ({before} -> {after} at {_fmt(switch)}): listing {before} for "
        f"{_fmt(start)} .. {_fmt(switch)} and {after} from then on (two satellites, so two sequences)"
    )
    return [(before, start, switch - timedelta(microseconds=1)), (after, switch, end)], [note]


def plan(
    satellite: str,
    product: str,
    sector: str | None,
    band: int | str | None,
    start: datetime | date | str,
    end: datetime | date | str,
    every: str | int | float | timedelta | None = None,
) -> Query:
    """Check a find request and say what to list; ValueError naming the bad field (or an empty range)."""
    product, sector = normalize_product(product, sector)
    if sector is None:
        raise ValueError("give a sector: F (full disk), C (CONUS), M1 or M2 (mesoscale)")
    sector = normalize_sector(sector)
    band = check_band(product, band)
    t0, t1 = to_utc(start), to_utc(end, end_of_day=True)
    if t1 <= t0:
        raise ValueError(f"empty time range: end {_fmt(t1)} is not after start {_fmt(t0)}")
    parts, notes = resolve_satellite(satellite, t0, t1)
    step = parse_every(every)
    if step is not None:
        cadence = CADENCE[sector]
        if step <= cadence:
            notes.append(f"every={_dur(step)} is not coarser than the {_dur(cadence)} cadence: every scan kept")
            step = None
        elif step % cadence:
            notes.append(f"every={_dur(step)} is not a multiple of the {_dur(cadence)} cadence: spacing is uneven")
    segments = [Segment(sat, product, sector, band, a, b) for sat, a, b in parts]
    return Query(segments, step, notes)


def _dur(step: timedelta) -> str:
    seconds = int(step.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s"


def thin(scans: Iterable[RemoteScan], every: timedelta | None) -> list[RemoteScan]:
    """Sorted scans, keeping the first of each ``every`` slot (slots counted from 00:00 UTC of each scan's day).

    Anchoring slots to the day, not to the range start, makes two overlapping requests pick the same scans.
    """
    ordered = sorted(scans, key=lambda s: (s.satellite, s.start, s.key))
    if every is None:
        return ordered
    kept: list[RemoteScan] = []
    seen: set[tuple[str, date, int]] = set()
    for scan in ordered:
        midnight = scan.start.replace(hour=0, minute=0, second=0, microsecond=0)
        slot = (scan.satellite, midnight.date(), int((scan.start - midnight) / every))
        if slot not in seen:
            seen.add(slot)
            kept.append(scan)
    return kept


def select(query: Query, listed: Iterable[RemoteScan]) -> list[RemoteScan]:
    """The listed scans the query keeps, thinned and sorted by scan start (then key)."""
    keep = [s for s in listed if any(seg.keeps(s) for seg in query.segments)]
    return sorted(thin(keep, query.every), key=lambda s: (s.start, s.key))


# --------------------------------------------------------------------------------------------------
# noaa:// URLs: one archive query as a single argument (``goesvfi-lab run noaa://…``)

NOAA_SCHEME = "noaa://"
_URL_FIELDS = ("band", "sector", "start", "end", "every")


@dataclass(frozen=True)
class ArchiveRequest:
    """A find request as a user wrote it (checked by :func:`plan`); ``find_kwargs()`` is what ``find`` takes."""

    satellite: str
    product: str
    sector: str
    band: int | None
    start: str
    end: str
    every: str | None = None

    def find_kwargs(self) -> dict[str, object]:
        return {
            "satellite": self.satellite,
            "product": self.product,
            "sector": self.sector,
            "band": self.band,
            "start": self.start,
            "end": self.end,
            "every": self.every,
        }

    @property
    def url(self) -> str:
        """The canonical ``noaa://`` spelling of this request."""
        folder = self.product + self.sector
        parts = [f"band={self.band}"] if self.band is not None else []
        parts += [f"start={self.start}", f"end={self.end}"]
        if self.every:
            parts.append(f"every={self.every}")
        return f"{NOAA_SCHEME}{self.satellite}/{folder}?{'&'.join(parts)}"


def is_noaa_url(text: object) -> bool:
    return str(text).strip().lower().startswith(NOAA_SCHEME)


def parse_noaa_url(url: str, *, band: int | str | None = None) -> ArchiveRequest:
    """``noaa://G19/ABI-L2-CMIPC?band=13&start=2025-06-01T18:00&end=2025-06-01T20:00[&every=10min]``.

    The path is ``<satellite>/<product with or without its sector>`` (``G19``, ``GOES-East``; ``ABI-L2-CMIPC``,
    ``ABI-L2-CMIP`` with ``sector=C``, ``CMIPC``); the query holds ``band``, ``sector``, ``start``, ``end``
    (ISO, UTC) and ``every``. ``band`` (a separate flag) fills in a band the URL leaves out. ``+`` stays a
    plus (``+00:00`` offsets), ``%XX`` escapes are decoded. ValueError naming the part at fault, the range
    and names checked as :func:`plan` checks them.
    """
    from urllib.parse import unquote

    text = str(url).strip()
    if not is_noaa_url(text):
        raise ValueError(f"not a noaa:// URL: {url!r}")
    rest = text[len(NOAA_SCHEME) :]
    path, _, query = rest.partition("?")
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    example = "noaa://G19/ABI-L2-CMIPC?band=13&start=2025-06-01T18:00&end=2025-06-01T20:00"
    if len(parts) != 2:
        raise ValueError(f"{url!r}: expected noaa://SATELLITE/PRODUCT?..., e.g. {example}")
    fields: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        name, eq, value = item.partition("=")
        name = unquote(name).strip().lower()
        if name not in _URL_FIELDS:
            raise ValueError(f"{url!r}: unknown query field {name!r} (known: {', '.join(_URL_FIELDS)})")
        if not eq or not value.strip():
            raise ValueError(f"{url!r}: {name}= has no value")
        if name in fields:
            raise ValueError(f"{url!r}: {name}= given twice")
        fields[name] = unquote(value).strip()
    for name in ("start", "end"):
        if name not in fields:
            raise ValueError(f"{url!r}: give {name}=… (ISO UTC), e.g. {example}")
    given = fields.get("band")
    if given is not None and band is not None and check_band_loose(given) != check_band_loose(band):
        raise ValueError(f"{url!r} asks for band {given}, but band {band} was given as well")
    satellite = normalize_satellite(parts[0])
    product, sector = normalize_product(parts[1], fields.get("sector"))
    if sector is None:
        raise ValueError(f"{url!r}: give the sector in the product (ABI-L2-CMIPC) or as sector=C")
    sector = normalize_sector(sector)
    chosen = check_band(product, given if given is not None else (band if PRODUCTS[product] else None))
    request = ArchiveRequest(satellite, product, sector, chosen, fields["start"], fields["end"], fields.get("every"))
    plan(**request.find_kwargs())  # the range, the names and every= checked now, before any network
    return request


def check_band_loose(value: int | str) -> int | str:
    """A band as a number when it reads as one (``"13"``, ``"C13"``), else as typed: for comparing two spellings."""
    try:
        return int(str(value).strip().upper().lstrip("CB"))
    except ValueError:
        return str(value)
