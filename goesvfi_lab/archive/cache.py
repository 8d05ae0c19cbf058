"""Remote scans downloaded once into a local cache folder, safely under kills, races and full disks.

Each scan lands at ``<cache>/<bucket>/<key>`` (its NOAA name, so every local tool reads it) through a
hidden ``.part`` sibling that is renamed into place only once it has the listed size: a reader never
sees half a file, and a killed download resumes from the part's length (ranged GETs; NOAA objects are
never rewritten in place, a re-issued scan gets a new key). A per-scan file lock lets two processes
fetch the same key (the second waits, then finds it cached). A SQLite index records sizes and last use,
so listings can tell cached from not-yet-cached scans and the size limit evicts the least recently used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from goesvfi_lab import config
from goesvfi_lab.policy import backoff_delay

from .keys import RemoteScan, remote_scan
from .remote import ArchiveError, filesystem, read_range

INDEX_NAME = "index.sqlite3"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class CacheFullError(ArchiveError):
    """The cache disk (or its size limit) has no room for a scan; nothing was left half-written."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message, transient)


def default_cache_dir() -> Path:
    """``goesvfi.archive.cache``, else ``goesvfi-lab/archive`` in the user cache dir (platformdirs)."""
    configured = config.get("archive.cache")
    if configured:
        return Path(os.path.expanduser(str(configured)))
    import platformdirs

    return Path(platformdirs.user_cache_dir("goesvfi-lab", appauthor=False)) / "archive"


@dataclass
class FetchReport:
    """What a :meth:`Cache.fetch` did. ``paths``: the local files, in the order of the scans given."""

    paths: list[Path] = field(default_factory=list)
    downloaded: int = 0  # scans fetched (fully or the rest of a part) this time
    cached: int = 0  # scans already complete in the cache
    resumed: int = 0  # downloads that continued a part left by a killed run
    refetched: int = 0  # cached files of the wrong size (truncated) fetched again
    retries: int = 0  # chunk requests tried again after a transient error
    bytes: int = 0  # bytes transferred
    seconds: float = 0.0
    evicted: int = 0

    @property
    def rate(self) -> float:
        """Bytes per second over the whole fetch (0 when nothing was transferred)."""
        return self.bytes / self.seconds if self.seconds > 0 else 0.0


class Cache:
    """A cache folder of remote scans. ``root``/``max_bytes``/``min_free`` default to ``goesvfi.archive.*``."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, max_bytes: int | None = None, min_free=None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.max_bytes = max_bytes if max_bytes is not None else config.get("archive.max-bytes")
        self.min_free = int(min_free if min_free is not None else config.get("archive.min-free"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._db_lock = threading.Lock()
        (self.root / ".locks").mkdir(exist_ok=True)
        # switching to WAL and creating the table take SQLite's exclusive lock, which processes opening the
        # index at the same moment (workers starting together) would get as "database is locked": one at a time
        with FileLock(str(self.root / ".locks" / "index.lock"), timeout=60):
            self._db = sqlite3.connect(
                self.root / INDEX_NAME, timeout=60, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS scans (path TEXT PRIMARY KEY, size INTEGER NOT NULL, etag TEXT, "
                "fetched REAL NOT NULL, used REAL NOT NULL)"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- where things are ------------------------------------------------------------------------

    def path_for(self, scan: RemoteScan) -> Path:
        """Where ``scan`` is (or will be) cached: ``<root>/<bucket>/<key>``."""
        return self.root / scan.bucket / scan.key

    def _part_for(self, scan: RemoteScan) -> Path:
        dest = self.path_for(scan)
        return dest.with_name(f".{dest.name}.part")

    def _lock_for(self, path: str) -> FileLock:
        """The lock of ``bucket/key`` (in ``.locks/``, so evicting a scan leaves no lock file beside the data)."""
        digest = hashlib.sha1(path.encode()).hexdigest()[:20]
        return FileLock(str(self.root / ".locks" / f"{digest}.lock"), timeout=float(config.get("archive.lock-timeout")))

    def lookup(self, scan: RemoteScan) -> Path | None:
        """The cached file of ``scan`` if it is complete (its size is the listed one), else None."""
        dest = self.path_for(scan)
        try:
            return dest if dest.stat().st_size == scan.size else None
        except OSError:
            return None

    def known(self, path: str) -> RemoteScan | None:
        """The indexed scan at ``bucket/key`` (size and ETag as last fetched), None if the index has none."""
        with self._db_lock:
            row = self._db.execute("SELECT size, etag FROM scans WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        bucket, _, key = path.partition("/")
        return remote_scan(bucket, key, row[0], row[1])

    def status(self, scans: Iterable[RemoteScan]) -> list[Path | None]:
        """:meth:`lookup` for each scan: what a listing shows as cached or still remote."""
        return [self.lookup(s) for s in scans]

    # -- the index -------------------------------------------------------------------------------

    def _record(self, scan: RemoteScan, *, fetched: bool) -> None:
        now = time.time()
        with self._db_lock:
            if fetched:
                self._db.execute(
                    "INSERT INTO scans VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size=excluded.size, "
                    "etag=excluded.etag, fetched=excluded.fetched, used=excluded.used",
                    (scan.path, scan.size, scan.etag, now, now),
                )
            else:
                self._db.execute(
                    "INSERT INTO scans VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET used=excluded.used",
                    (scan.path, scan.size, scan.etag, now, now),
                )

    def entries(self) -> list[tuple[str, int, float]]:
        """(``bucket/key``, size, last use) of every indexed scan, least recently used first."""
        with self._db_lock:
            return list(self._db.execute("SELECT path, size, used FROM scans ORDER BY used, path"))

    def total_bytes(self) -> int:
        with self._db_lock:
            return int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM scans").fetchone()[0])

    def evict(self, need: int = 0, protect: Iterable[str] = ()) -> int:
        """Delete least recently used scans until ``need`` more bytes fit under ``max_bytes``; returns how many.

        Scans in ``protect`` (``bucket/key``, e.g. the ones a fetch is delivering) and scans another process
        holds the lock of are left alone.
        """
        if self.max_bytes is None:
            return 0
        keep, removed = set(protect), 0
        total = self.total_bytes()
        for path, size, _used in self.entries():
            if total + need <= self.max_bytes:
                break
            if path in keep:
                continue
            try:
                with self._lock_for(path).acquire(timeout=0):
                    with contextlib.suppress(FileNotFoundError):
                        (self.root / path).unlink()
                    with self._db_lock:
                        self._db.execute("DELETE FROM scans WHERE path = ?", (path,))
            except Timeout:
                continue  # being fetched or read right now
            total -= size
            removed += 1
        return removed

    # -- fetching --------------------------------------------------------------------------------

    def fetch(
        self,
        scans: Iterable[RemoteScan],
        *,
        fs: Any = None,
        endpoint: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
        on_scan: Callable[[RemoteScan, str], None] | None = None,
        workers: int | None = None,
    ) -> FetchReport:
        """Make every scan a complete local file; one :class:`ArchiveError` naming the key if one cannot be.

        ``on_bytes(n)`` is called as bytes arrive (progress bars), ``on_scan(scan, how)`` when a scan is done
        (``how``: "cached", "downloaded", "resumed", "refetched").
        """
        scans = list(scans)
        report = FetchReport(paths=[self.path_for(s) for s in scans])
        if not scans:
            return report
        need = sum(s.size for s in scans if self.lookup(s) is None)
        if self.max_bytes is not None and sum(s.size for s in scans) > self.max_bytes:
            raise CacheFullError(
                f"{self.root}: these {len(scans)} scans take {sum(s.size for s in scans)} bytes, more than the "
                f"cache limit goesvfi.archive.max-bytes = {self.max_bytes}"
            )
        report.evicted = self.evict(need, protect={s.path for s in scans})
        fs = fs if fs is not None else filesystem(endpoint)
        lock = threading.Lock()
        started = time.monotonic()

        def count(n: int) -> None:
            with lock:
                report.bytes += n
            if on_bytes is not None:
                on_bytes(n)

        def one(scan: RemoteScan) -> None:
            how, retries = self._fetch_one(scan, fs, count)
            with lock:
                report.retries += retries
                if how == "cached":
                    report.cached += 1
                else:
                    report.downloaded += 1
                    report.resumed += how == "resumed"
                    report.refetched += how == "refetched"
            if on_scan is not None:
                on_scan(scan, how)

        workers = max(1, min(int(workers or config.get("archive.fetch-workers")), len(scans)))
        pool = ThreadPoolExecutor(workers, thread_name_prefix="goesvfi-fetch")
        try:
            for future in [pool.submit(one, s) for s in scans]:
                future.result()
        except BaseException:  # the first failure (or Ctrl-C): start no more downloads; parts stay resumable
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            report.seconds = time.monotonic() - started
        return report

    def _fetch_one(self, scan: RemoteScan, fs: Any, count: Callable[[int], None]) -> tuple[str, int]:
        """Download one scan under its lock; returns how it was obtained and the retries it took."""
        dest = self.path_for(scan)
        if self.lookup(scan) is not None:
            self._record(scan, fetched=False)
            return "cached", 0
        with self._lock_for(scan.path):
            if self.lookup(scan) is not None:  # another process finished it while we waited
                self._record(scan, fetched=False)
                return "cached", 0
            how = "downloaded"
            if dest.exists():  # the wrong size: truncated or from an older listing
                dest.unlink()
                how = "refetched"
            part = self._part_for(scan)
            offset = part.stat().st_size if part.exists() else 0
            if offset > scan.size:
                part.unlink()
                offset = 0
            elif offset and how == "downloaded":
                how = "resumed"
            self._check_room(scan, scan.size - offset)
            retries = self._download(scan, fs, part, offset, count)
            os.replace(part, dest)
            self._record(scan, fetched=True)
            return how, retries

    def _check_room(self, scan: RemoteScan, need: int) -> None:
        free = shutil.disk_usage(self.root).free
        if free - need < self.min_free:
            raise CacheFullError(
                f"{scan.url}: no room in {self.root}: {need} bytes to write, {free} free, and "
                f"goesvfi.archive.min-free = {self.min_free} must stay free"
            )

    def _download(self, scan: RemoteScan, fs: Any, part: Path, offset: int, count: Callable[[int], None]) -> int:
        """Append the object's bytes from ``offset`` to ``part`` in ranged chunks, retrying with backoff."""
        chunk = int(config.get("archive.chunk-bytes"))
        attempts = int(config.get("archive.retries"))
        base, cap = float(config.get("archive.retry-base")), float(config.get("archive.retry-cap"))
        part.parent.mkdir(parents=True, exist_ok=True)
        failures, last = 0, None
        while True:
            try:
                with open(part, "ab") as out:
                    while offset < scan.size:
                        data = read_range(fs, scan, offset, min(offset + chunk, scan.size))
                        if not data:
                            raise ConnectionError(f"empty read at byte {offset} of {scan.size}")
                        out.write(data)
                        out.flush()
                        offset += len(data)
                        count(len(data))
                    os.fsync(out.fileno())
                size = part.stat().st_size
                if size != scan.size:
                    part.unlink()
                    raise ArchiveError(f"{scan.url}: downloaded {size} bytes, the listing says {scan.size}")
                return failures
            except OSError as exc:
                if exc.errno in _FULL_ERRNOS:
                    with contextlib.suppress(FileNotFoundError):
                        part.unlink()
                    raise CacheFullError(f"{scan.url}: the cache disk at {self.root} is full: {exc}") from exc
                if isinstance(exc, (FileNotFoundError, PermissionError)):
                    raise ArchiveError(f"{scan.url}: {type(exc).__name__}: {exc}") from exc
                last = exc
            except ArchiveError:
                raise
            except Exception as exc:  # botocore/aiohttp errors: the network, not the request
                last = exc
            failures += 1
            if failures >= attempts:
                raise ArchiveError(
                    f"{scan.url}: download failed after {failures} attempts ({offset} of {scan.size} bytes kept in "
                    f"{part.name}; running again resumes): {type(last).__name__}: {last}",
                    transient=True,
                ) from last
            time.sleep(backoff_delay(failures - 1, base, cap))
            offset = part.stat().st_size if part.exists() else 0


def fetch(
    scans: Iterable[RemoteScan],
    cache: Cache | str | os.PathLike[str] | None = None,
    *,
    endpoint: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
    on_scan: Callable[[RemoteScan, str], None] | None = None,
) -> FetchReport:
    """Download ``scans`` into the cache (``goesvfi.archive.cache`` by default) once; see :meth:`Cache.fetch`."""
    if isinstance(cache, Cache):
        return cache.fetch(scans, endpoint=endpoint, on_bytes=on_bytes, on_scan=on_scan)
    with Cache(cache) as c:
        return c.fetch(scans, endpoint=endpoint, on_bytes=on_bytes, on_scan=on_scan)
