"""Remote inputs on the worker that reads them: an ``s3://`` input becomes its cached local copy there.

A pair task calls :func:`local_inputs` before reading its two frames, so downloads happen on the workers
(in parallel, next to the compute) and no frame data passes through the client. Each fetch is its own
retried step (ranged chunks with backoff, :meth:`Cache.fetch`): a flaky network costs a retry of a chunk,
not a failed job. :func:`fetch_stats` says what this process fetched (``client.run(fetch_stats)``: per worker).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from typing import Any

from goesvfi_lab import config
from goesvfi_lab.policy import backoff_delay

from .cache import Cache
from .keys import RemoteScan, remote_scan
from .remote import ArchiveError, filesystem

SCHEME = "s3://"
_LOCK = threading.Lock()
_CACHES: dict[str, Cache] = {}
_STATS = {"files": 0, "cached": 0, "bytes": 0, "seconds": 0.0, "retries": 0}


def is_remote(path: Any) -> bool:
    return str(path).startswith(SCHEME)


def _cache() -> Cache:
    """One :class:`Cache` per process and configured folder (its SQLite handle is shared by the task threads)."""
    root = str(config.get("archive.cache") or "")
    with _LOCK:
        if root not in _CACHES:
            _CACHES[root] = Cache(root or None)
        return _CACHES[root]


def _head(url: str) -> RemoteScan:
    """The object's size and ETag (one HEAD), retried with backoff like a chunk."""
    bucket, _, key = url[len(SCHEME) :].partition("/")
    attempts = int(config.get("archive.retries"))
    base, cap = float(config.get("archive.retry-base")), float(config.get("archive.retry-cap"))
    for attempt in range(attempts):
        try:
            info = filesystem().info(f"{bucket}/{key}")
            break
        except (FileNotFoundError, PermissionError) as exc:
            raise ArchiveError(f"{url}: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # the network: try again
            if attempt + 1 >= attempts:
                raise ArchiveError(
                    f"{url}: not reachable after {attempts} attempts: {type(exc).__name__}: {exc}", transient=True
                ) from exc
            time.sleep(backoff_delay(attempt, base, cap))
    scan = remote_scan(bucket, key, info["size"], (info.get("ETag") or "").strip('"') or None)
    if scan is None:
        raise ArchiveError(f"{url}: not an ABI file name")
    return scan


def local_path(url: str) -> tuple[str, int, float]:
    """The local copy of ``url`` (fetched into this worker's cache if needed), bytes fetched and seconds taken.

    A scan the index knows and whose file is complete costs no request at all.
    """
    if not is_remote(url):
        return url, 0, 0.0
    started = time.perf_counter()
    cache = _cache()
    known = cache.known(url[len(SCHEME) :])
    scan = known if known is not None and cache.lookup(known) is not None else _head(url)
    report = cache.fetch([scan], workers=1)
    seconds = time.perf_counter() - started if report.bytes else 0.0  # download time only: cached costs none
    with _LOCK:
        _STATS["files"] += 1
        _STATS["cached"] += report.cached
        _STATS["bytes"] += report.bytes
        _STATS["seconds"] += seconds
        _STATS["retries"] += report.retries
    return str(report.paths[0]), report.bytes, seconds


def local_paths(paths: Iterable[str]) -> list[str]:
    """:func:`local_path` of each (local paths unchanged)."""
    return [local_path(p)[0] for p in paths]


def local_inputs(spec: Any) -> tuple[Any, int, float]:
    """A pair spec with its remote inputs replaced by local copies, and the bytes and seconds that took."""
    (in0, b0, s0), (in1, b1, s1) = local_path(spec.in0), local_path(spec.in1)
    return dataclasses.replace(spec, in0=in0, in1=in1), b0 + b1, s0 + s1


def local_context(path: str | None) -> tuple[str | None, int, float]:
    """A neighbouring scan of a pair (see ``PairSpec.context``) as a local path; None stays None."""
    if path is None or not path.startswith("s3://"):
        return path, 0, 0.0
    return local_path(path)


def fetch_stats() -> dict[str, Any]:
    """What this process fetched so far: files, of them already cached, bytes, seconds downloading, retries."""
    with _LOCK:
        return dict(_STATS)
