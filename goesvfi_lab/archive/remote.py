"""The buckets through fsspec/s3fs: anonymous listing of the hour folders a query needs, ranged reads.

The endpoint is ``goesvfi.archive.endpoint-url`` (null: AWS, where NOAA's buckets are public), so the same
code reads a mirror or the S3-compatible server the tests start on 127.0.0.1.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

from goesvfi_lab import config
from goesvfi_lab.discover import Sequence, group_sequences
from goesvfi_lab.errors import GoesVfiError

from .keys import Query, RemoteScan, plan, remote_scan, select

_FILESYSTEMS: dict[tuple, Any] = {}
_FS_LOCK = threading.Lock()


class ArchiveError(GoesVfiError, RuntimeError):
    """A bucket, key or endpoint that could not be read, with the reason.

    ``transient``: the network or a full disk, which can clear by itself (the batch retries the job); a key
    that is not there or is refused fails the same way again.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)

    def __reduce__(self):  # keep ``transient`` across pickling (Dask ships exceptions between processes)
        return (type(self), (str(self), self.transient))


def endpoint_url(value: str | None = None) -> str | None:
    """The endpoint to use: ``value``, else the configured one (None: AWS)."""
    return value if value else (config.get("archive.endpoint-url") or None)


def filesystem(endpoint: str | None = None) -> Any:
    """An anonymous ``s3fs.S3FileSystem`` for ``endpoint`` (one per endpoint and process, no listing cache).

    s3fs's own retries are kept to one extra try: :mod:`goesvfi_lab.archive.cache` retries whole chunks
    with the backoff it is configured with, so a flaky network costs a resumed chunk, not a restart.
    """
    import s3fs

    endpoint = endpoint_url(endpoint)
    timeout = float(config.get("archive.timeout"))
    key = (endpoint, timeout, config.get("archive.region"))
    with _FS_LOCK:
        if key not in _FILESYSTEMS:
            fs = s3fs.S3FileSystem(
                anon=True,
                endpoint_url=endpoint,
                use_listings_cache=False,
                skip_instance_cache=True,
                client_kwargs={"region_name": key[2]},
                config_kwargs={"connect_timeout": timeout, "read_timeout": timeout, "retries": {"max_attempts": 1}},
            )
            fs.retries = 2
            _FILESYSTEMS[key] = fs
        return _FILESYSTEMS[key]


class Scans(list):
    """The scans a :func:`find` kept (sorted by scan start), with what the listing did and chose.

    ``notes``: choices made for the caller (GOES-East resolved by date, a range across a switch, a
    cadence note); ``requests``: listing requests made; ``folders``: hour folders listed.
    """

    def __init__(self, items=(), *, query: Query | None = None, notes=(), requests: int = 0, folders: int = 0):
        super().__init__(items)
        self.query = query
        self.notes = list(notes)
        self.requests = requests
        self.folders = folders

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s in self)


def _list_folder(fs: Any, path: str) -> tuple[list[dict], int]:
    """One hour folder's objects whose names start with the sector's stem; a folder that is not there is empty."""
    bucket, _, rest = path.partition("/")
    folder, _, stem = rest.rpartition("/")
    try:
        found = fs.find(f"{bucket}/{folder}", prefix=stem, detail=True)
    except FileNotFoundError as exc:  # no such bucket (an absent folder is just an empty listing)
        raise ArchiveError(f"s3://{bucket}: bucket not found at {getattr(fs, 'endpoint_url', None) or 'AWS'}") from exc
    except PermissionError as exc:
        raise ArchiveError(f"s3://{path}: listing refused (anonymous access): {exc}") from exc
    except Exception as exc:  # the network (botocore and aiohttp errors are not all OSErrors)
        raise ArchiveError(f"s3://{path}: listing failed: {type(exc).__name__}: {exc}", transient=True) from exc
    # list_objects_v2 pages hold 1000 keys
    return list(found.values()), max(1, -(-len(found) // 1000))


def find(
    satellite: str = "GOES-East",
    product: str = "ABI-L2-CMIP",
    sector: str | None = "C",
    band: int | str | None = 13,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    every: str | int | float | timedelta | None = None,
    *,
    endpoint: str | None = None,
    fs: Any = None,
) -> Scans:
    """The scans in NOAA's buckets matching a query, sorted by scan start, listing only the hour folders needed.

    ``satellite``: ``G16``..``G19`` or ``GOES-East``/``GOES-West`` (resolved by date, see ``.notes``).
    ``start``/``end``: datetime, date or ISO string (naive = UTC; a bare end date includes that day).
    ``every``: keep one scan per slot of this length (``"10min"``), e.g. 10-minute steps from 5-minute CONUS.
    Absent hour folders are not errors; gaps show as missing scans in :func:`sequences`.
    """
    if start is None or end is None:
        raise ValueError("find needs start= and end=")
    query = plan(satellite, product, sector, band, start, end, every)
    fs = fs if fs is not None else filesystem(endpoint)
    listings = list(query.listings())
    workers = max(1, min(int(config.get("archive.list-workers")), len(listings)))
    with ThreadPoolExecutor(workers, thread_name_prefix="goesvfi-list") as pool:
        results = list(pool.map(lambda item: _list_folder(fs, item[1]), listings))
    listed = []
    for entries, _pages in results:
        for info in entries:
            bucket, _, key = info["name"].partition("/")
            scan = remote_scan(bucket, key, info["size"], (info.get("ETag") or "").strip('"') or None)
            if scan is not None:
                listed.append(scan)
    kept = select(query, listed)
    notes = list(query.notes)
    if not kept:
        sats = ", ".join(seg.satellite for seg in query.segments)
        notes.append(f"no {query.segments[0].product}{query.segments[0].sector} scans of {sats} in the range")
    return Scans(kept, query=query, notes=notes, requests=sum(p for _, p in results), folders=len(listings))


def sequences(scans: Scans | list[RemoteScan], *, paths: list[str] | None = None) -> list[Sequence]:
    """:func:`goesvfi_lab.discover.group_sequences` over remote scans: missing scans as for local files.

    ``paths`` (one per scan, e.g. their cache paths) name the frames; default ``s3://bucket/key``. Sizes are
    the listed ones, cached or not. With ``every``, the cadence is the thinned one (not the product's).
    """
    query = getattr(scans, "query", None)
    scans = list(scans)
    names = paths if paths is not None else [s.url for s in scans]
    if len(names) != len(scans):
        raise ValueError(f"{len(names)} paths for {len(scans)} scans")
    every = query.every if isinstance(query, Query) else None
    size_of = dict(zip(names, (s.size for s in scans)))
    result = group_sequences(
        names,
        gap_factor=config.get("discover.gap-factor"),
        split_after_missing=config.get("discover.split-after-missing"),
        cadence=every,
    )
    for seq in result:
        seq.size_bytes = sum(size_of.get(p, 0) for p in seq.paths)
    return result


def read_range(fs: Any, scan: RemoteScan, start: int, end: int) -> bytes:
    """Bytes [start, end) of a scan (one ranged GET)."""
    return fs.cat_file(scan.path, start=start, end=end)
