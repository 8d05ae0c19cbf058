"""NOAA's GOES-R open-data buckets as a source: find scans, fetch them once into a local cache.

``gl.archive.find(satellite="G19", product="ABI-L2-CMIP", sector="C", band=13, start=..., end=...)`` lists
the scans (only the hour folders the range needs); ``gl.archive.fetch(scans, cache=None)`` downloads the
ones not cached yet. :mod:`.keys` is pure (names, prefixes, thinning); :mod:`.remote` (s3fs) and
:mod:`.cache` (files, locks, index) load on first use, so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .keys import BUCKETS, PRODUCTS, SECTORS, SLOTS, ArchiveRequest, RemoteScan, is_noaa_url, parse_noaa_url

_LAZY = {
    "find": "remote",
    "sequences": "remote",
    "filesystem": "remote",
    "ArchiveError": "remote",
    "Scans": "remote",
    "fetch": "cache",
    "Cache": "cache",
    "CacheFullError": "cache",
    "FetchReport": "cache",
    "default_cache_dir": "cache",
}

__all__ = [
    "ArchiveError",
    "ArchiveRequest",
    "BUCKETS",
    "Cache",
    "CacheFullError",
    "FetchReport",
    "PRODUCTS",
    "RemoteScan",
    "SECTORS",
    "SLOTS",
    "Scans",
    "default_cache_dir",
    "fetch",
    "filesystem",
    "find",
    "is_noaa_url",
    "parse_noaa_url",
    "sequences",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:
    from .cache import Cache, CacheFullError, FetchReport, default_cache_dir, fetch
    from .remote import ArchiveError, Scans, filesystem, find, sequences
