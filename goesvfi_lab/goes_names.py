"""GOES ABI file names: parsed (:func:`parse_goes_name`) and written (:func:`format_goes_name`), and the
natural sort of other file names. Pure standard library: the filter, the sequences, the job planner and the
NOAA archive's key listing all read names through here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

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


def natural_sort_key(s: str) -> tuple:
    """Sort key where digit runs compare as numbers: "frame2" < "frame10" (case-insensitive)."""
    parts = re.split(r"(\d+)", s)
    # text sits at even indices and numbers at odd ones, so tuples never compare str with int
    return (tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), s)
