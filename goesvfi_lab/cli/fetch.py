"""``goesvfi-lab fetch``: ABI scans from NOAA's open-data buckets into a folder, through the local cache.

Files keep their NOAA names (hard links to the cache where the file system allows, else copies), so
``goesvfi-lab run DIR`` takes them as it takes any local scans.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch",
        help="download ABI scans from NOAA's open-data buckets (cached)",
        description="List the scans of one satellite/product/sector/band in a time range in NOAA's buckets "
        "(noaa-goes16..19, anonymous S3), download those not cached yet, and put them in OUT_DIR with their "
        "NOAA names.",
    )
    p.add_argument("--satellite", default="GOES-East", help="G16..G19, or GOES-East / GOES-West (by date)")
    p.add_argument("--product", default="ABI-L2-CMIP", help="e.g. ABI-L2-CMIP, ABI-L1b-Rad, ABI-L2-MCMIP")
    p.add_argument("--sector", default="C", help="F (full disk), C (CONUS), M1, M2")
    p.add_argument("--band", default=None, help="1..16 (per-band products)")
    p.add_argument("--start", required=True, help="scan start from, ISO UTC (2024-07-01T18:00)")
    p.add_argument("--end", required=True, help="scan start up to, ISO UTC (a bare date: that whole day)")
    p.add_argument("--every", default=None, help="one scan per step, e.g. 10min from a 5-min product")
    p.add_argument("-o", "--out", dest="out_dir", metavar="OUT_DIR", help="folder for the scans (not with --list)")
    p.add_argument("--endpoint-url", default=None, help="S3 endpoint (default goesvfi.archive.endpoint-url: AWS)")
    p.add_argument("--cache", default=None, help="cache folder (default goesvfi.archive.cache)")
    p.add_argument("--list", action="store_true", help="only list what matches (count, size, missing scans)")
    p.set_defaults(func=run)


def _deliver(src: Path, dest: Path) -> None:
    """Put a cached file at ``dest``: a hard link (no second copy), else a copy renamed into place."""
    if dest.exists() and dest.stat().st_size == src.stat().st_size:
        return
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from goesvfi_lab.archive import Cache, find, sequences

    if not args.list and not args.out_dir:
        raise ValueError("give -o OUT_DIR (or --list to only see what matches)")
    err = Console(stderr=True)
    scans = find(
        satellite=args.satellite,
        product=args.product,
        sector=args.sector,
        band=args.band,
        start=args.start,
        end=args.end,
        every=args.every,
        endpoint=args.endpoint_url,
    )
    for note in scans.notes:
        print(f"note: {note}")
    print(
        f"found {_n(len(scans), 'scan')} ({_size(scans.total_bytes)}) in {_n(scans.folders, 'hour folder')} "
        f"({_n(scans.requests, 'listing request')})"
    )
    for seq in sequences(scans):
        if seq.missing:
            shown = ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in seq.missing[:5])
            more = f" and {len(seq.missing) - 5} more" if len(seq.missing) > 5 else ""
            print(f"{seq.name}: {_n(len(seq.missing), 'scan')} missing in the archive ({shown}{more})")
    if args.list:
        for scan in scans:
            print(f"{scan.url}\t{scan.size}")
        return 0
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with Cache(args.cache) as cache:
        todo = sum(s.size for s in scans if cache.lookup(s) is None)
        columns = (
            TextColumn("fetch"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        if todo:
            with Progress(*columns, console=err, transient=False) as progress:
                task = progress.add_task("fetch", total=todo)
                report = cache.fetch(scans, endpoint=args.endpoint_url, on_bytes=lambda n: progress.advance(task, n))
        else:  # everything cached: nothing to show progress of
            report = cache.fetch(scans, endpoint=args.endpoint_url)
        for scan, path in zip(scans, report.paths):
            _deliver(path, out / scan.filename)
    extra = []
    if report.resumed:
        extra.append(f"{report.resumed} resumed")
    if report.refetched:
        extra.append(f"{report.refetched} refetched (wrong size in the cache)")
    if report.retries:
        extra.append(f"{report.retries} retries")
    if report.evicted:
        extra.append(f"{report.evicted} evicted from the cache")
    rate = f" at {_size(report.rate)}/s" if report.bytes else ""
    tail = f" ({', '.join(extra)})" if extra else ""
    print(
        f"downloaded {report.downloaded}, {report.cached} already cached{tail}: "
        f"{_size(report.bytes)} in {report.seconds:.1f} s{rate} -> {out}"
    )
    return 0
