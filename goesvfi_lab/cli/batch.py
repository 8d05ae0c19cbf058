"""Batch sub-command ``run``: a headless queue with a progress bar (``status``, ``check``, ``missing``
and ``locks``, which only look, are in :mod:`goesvfi_lab.cli.inspect`).

``goesvfi-lab run ROOT -o OUT`` finds every sequence under ROOT (with the same filters as the
notebook), makes one job per sequence writing to ``OUT/<sequence>``, runs them on an embedded
LocalCluster (or ``--scheduler ADDRESS``) and ends with a summary. Its store defaults to
``OUT/.goesvfi-queue.sqlite3``, so running the same command again resumes: finished jobs are kept,
interrupted ones carry on, failed ones are tried again.

ROOT may also be a NOAA archive query, ``noaa://G19/ABI-L2-CMIPC?band=13&start=…&end=…[&every=10min]``
(quote it in a shell): the scans are listed (nothing downloaded here), planned into the same jobs
as the same scans in a folder, and each worker downloads the scans of the pairs it runs into its
cache (``goesvfi.archive.cache``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from goesvfi_lab.archive.keys import is_noaa_url

from .options import add_cmap_flag, add_read_flags, job_cmap, read_settings

STORE_NAME = ".goesvfi-queue.sqlite3"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="interpolate every sequence under a folder as prioritised jobs on Dask",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument(
        "root",
        metavar="ROOT",
        help="a folder of scans, or noaa://SATELLITE/PRODUCT?band=N&start=ISO&end=ISO[&every=10min] (NOAA's archive)",
    )
    p.add_argument("-o", "--output", dest="out", metavar="OUT", required=True, help="output tree (one folder per job)")
    _filters(p)
    p.add_argument("--factor", type=int, default=2, help="output frames per input interval (default 2)")
    p.add_argument("--method", default="auto", help="auto, linear, flow, rife")
    p.add_argument("--priority", default="normal", help="urgent, high, normal, low, background")
    p.add_argument("--owner", default="", help="owner recorded on the jobs (the 'fair' policy rotates over owners)")
    p.add_argument("--video", action="store_true", help="also write video.mp4 per job")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default from config)")
    p.add_argument(
        "--cube",
        nargs="?",
        const=True,
        default=False,
        type=_cube_format,
        metavar="zarr",
        help="NetCDF inputs: also write cube.nc per job (--cube zarr: cube.zarr, a Zarr store)",
    )
    p.add_argument("--latlon", action="store_true", help="with --cube: add 2-D lat/lon coordinates to each cube")
    add_cmap_flag(p)
    p.add_argument(
        "--annotate",
        action="store_true",
        help="burn the UTC time (generated frames marked '(interp.)') and the colour bar into the frames",
    )
    p.add_argument("--overwrite", action="store_true", help="recompute jobs whose outputs are complete")
    p.add_argument("--timeout", type=float, default=None, help="seconds a job may run before it is failed")
    p.add_argument("--device", default="auto", help="auto, cpu or gpu (a worker with resources GPU=1)")
    p.add_argument("--fallback-cpu", action="store_true", help="run GPU jobs on CPU when no worker has a GPU")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use this Dask scheduler instead of a local cluster")
    p.add_argument("--workers", type=int, default=None, help="local cluster workers (default: sized to the machine)")
    p.add_argument("--threads", type=int, default=None, help="threads per local worker")
    p.add_argument("--store", help=f"queue store (default OUT/{STORE_NAME})")
    p.add_argument("--policy", default=None, choices=("priority", "fifo", "sjf", "fair"))
    p.add_argument("--max-concurrent", type=int, default=None, help="jobs running at once")
    p.add_argument(
        "--wait-locked",
        action="store_true",
        help="wait for jobs whose output folder another process holds (default: skip them)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--endpoint-url",
        default=None,
        help="noaa:// only: S3 endpoint of the archive (default goesvfi.archive.endpoint-url: AWS); local workers "
        "get it too, a --scheduler's workers need it in their own config",
    )
    add_read_flags(p)
    p.set_defaults(func=run)


def _cube_format(value: str) -> str:
    """The one word ``--cube`` takes (bare ``--cube`` is cube.nc)."""
    if value.lower() != "zarr":
        raise argparse.ArgumentTypeError(f"--cube takes no value or 'zarr', not {value!r}")
    return "zarr"


def _filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters")
    g.add_argument("--pattern", default=None, help="glob on file names, e.g. '*C13*.nc'")
    g.add_argument("--ext", action="append", help="file extension (repeatable; default .nc and .png)")
    g.add_argument("--satellite", action="append", help="G16, G17, G18, G19 (repeatable)")
    g.add_argument(
        "--band",
        action="append",
        type=int,
        help="ABI band (repeatable; a single one also picks CMI_CNN of MCMIP files)",
    )
    g.add_argument("--sector", action="append", help="F, C, M1, M2 or M (repeatable)")
    g.add_argument("--product", action="append", help="e.g. CMIP, Rad (repeatable)")
    g.add_argument("--start", help="first scan start (ISO, UTC)")
    g.add_argument("--end", help="last scan start (ISO, UTC)")
    g.add_argument("--min-size", type=int, default=None, help="bytes")
    g.add_argument("--max-size", type=int, default=None, help="bytes")
    g.add_argument("--exclude", action="append", default=[], help="path to leave out (repeatable)")


def _file_filter(args: argparse.Namespace, exclude: list[str] = ()) -> Any:
    import fnmatch

    from goesvfi_lab.discover import FileFilter

    return FileFilter(
        extensions=args.ext or (".nc", ".png"),
        min_size=args.min_size,
        max_size=args.max_size,
        name_pattern=fnmatch.translate(args.pattern) if args.pattern else None,
        exclude_paths=[*args.exclude, *exclude],
        satellite=args.satellite,
        band=args.band,
        sector=args.sector,
        product=args.product,
        start=args.start,
        end=args.end,
    )


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False)


# --- run -------------------------------------------------------------------------------------------


def _plan_jobs(args: argparse.Namespace, store: Any, out: str) -> tuple[list[str], list[str], set[str]]:
    """Job ids to run (new, or earlier ones for the same folder), notes, and the ids already complete."""
    from goesvfi_lab.discover import group_sequences
    from goesvfi_lab.engine.layout import existing_result, result_spec
    from goesvfi_lab.model import JobStatus
    from goesvfi_lab.plan import jobs_for

    remote = is_noaa_url(args.root)
    root = "" if remote else os.path.abspath(args.root)
    settings: dict[str, Any] = {"video": args.video, "cube": args.cube, "device": args.device}
    if args.latlon:
        if not args.cube:
            raise ValueError("--latlon adds lat/lon coordinates to the cubes: it needs --cube")
        settings["latlon"] = True
    for key, value in (("fps", args.fps), ("timeout", args.timeout)):
        if value is not None:
            settings[key] = value
    if args.overwrite:
        settings["overwrite"] = True
    if args.fallback_cpu:
        settings["fallback_cpu"] = True
    if args.annotate:
        settings["annotate"] = True
    settings.update(read_settings(args))
    if remote:
        seqs, notes = _archive_sequences(args)
    else:
        seqs, notes = group_sequences(_file_filter(args, [out]).scan(root)), []
    notes += [f"{s.name}: one frame only, nothing to interpolate" for s in seqs if len(s.paths) < 2]
    new, ids, already = [], [], set()
    # planned as the notebook and BatchQueue.add_directory plan (goesvfi_lab.plan): same folders, same jobs
    for job in jobs_for(
        seqs,
        out,
        root=root or None,
        factor=args.factor,
        method=args.method,
        priority=args.priority,
        settings=settings,
        owner=args.owner,
    ):
        job.settings["cmap"] = job_cmap(args.cmap, job.inputs[0])  # as the notebook: auto resolved per sequence
        # an earlier job for this folder is resumed (or reported done) only if it asked for this very result;
        # another method, factor or output setting is a new job (the engine refuses to mix two results)
        wanted = result_spec(job.inputs, job.factor, job.method, job.settings)
        known = [
            j
            for j in store.find_output(job.output_dir)
            if result_spec(j.inputs, j.factor, j.method, j.settings) == wanted
        ]
        if known and not args.overwrite:
            earlier = known[-1]
            if earlier.status == JobStatus.COMPLETED and existing_result(job.output_dir, wanted).state == "complete":
                already.add(earlier.id)
            elif earlier.status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.COMPLETED):  # done: files gone
                store.update(
                    earlier.id, status=JobStatus.PENDING, attempts=0, error=None, next_retry_at=None, finished_at=None
                )
            ids.append(earlier.id)
            continue
        new.append(job)
        ids.append(job.id)
    store.add(new)
    return ids, notes, already


_LOCAL_ONLY = ("pattern", "ext", "satellite", "sector", "product", "start", "end", "min_size", "max_size")


def _archive_sequences(args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    """The sequences of a ``noaa://`` query (listed, not downloaded: inputs are ``s3://`` URLs) and notes."""
    from goesvfi_lab.archive import find, parse_noaa_url, sequences
    from goesvfi_lab.html import fmt_bytes

    given = [f"--{name.replace('_', '-')}" for name in _LOCAL_ONLY if getattr(args, name, None)]
    if given or args.exclude:
        flags = ", ".join(given + (["--exclude"] if args.exclude else []))
        raise ValueError(f"{flags}: file filters for a folder; a noaa:// query says what it wants in the URL")
    bands = set(args.band or [])
    if len(bands) > 1:
        raise ValueError(f"a noaa:// query reads one band, not {sorted(bands)}")
    request = parse_noaa_url(args.root, band=next(iter(bands), None))
    scans = find(**request.find_kwargs(), endpoint=args.endpoint_url)
    notes = list(scans.notes)
    notes.append(
        f"{request.url}: {len(scans)} scan{'s' * (len(scans) != 1)} ({fmt_bytes(scans.total_bytes)}) in "
        f"{scans.folders} hour folder{'s' * (scans.folders != 1)}, not downloaded here: the workers fetch them"
    )
    seqs = sequences(scans)
    for seq in seqs:
        if seq.missing:
            notes.append(f"{seq.name}: {len(seq.missing)} scan{'s' * (len(seq.missing) != 1)} missing in the archive")
    return seqs, notes


def run(args: argparse.Namespace) -> int:
    from goesvfi_lab.model import JobStatus
    from goesvfi_lab.queue import BatchQueue
    from goesvfi_lab.store import Store

    if args.factor < 1:
        raise ValueError("--factor must be at least 1")
    if is_noaa_url(args.root):
        if args.endpoint_url:  # this process lists, and the local workers (a copy of this config) fetch
            import dask.config

            dask.config.set({"goesvfi.archive.endpoint-url": args.endpoint_url})
    elif args.endpoint_url:
        raise ValueError("--endpoint-url is for a noaa:// ROOT (the NOAA archive), not a folder")
    elif not os.path.isdir(args.root):
        raise FileNotFoundError(f"{args.root}: not a directory")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    store = Store(args.store or os.path.join(out, STORE_NAME))
    ids, notes, already = _plan_jobs(args, store, out)
    console = _console()
    for note in notes:
        console.print(f"[yellow]note[/]: {note}")
    if not ids:
        console.print(f"no sequences with two or more frames under {args.root}")
        return 0
    cluster: Any = args.scheduler
    if cluster is None:
        from goesvfi_lab.engine.cluster import make_local_cluster

        cluster = make_local_cluster(n_workers=args.workers, threads_per_worker=args.threads)
    q = BatchQueue(
        cluster=cluster,
        store=store,
        max_concurrent=args.max_concurrent,
        policy=args.policy,
        on_locked="wait" if args.wait_locked else "skip",
    )
    wanted = set(ids)
    try:
        q.start()
        _progress(q, wanted, console, quiet=args.quiet)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: unfinished jobs stay in the store; run the same command to resume")
        raise
    finally:
        q.stop()
        if args.scheduler is None:
            cluster.close()
    jobs = [q.store.get(j) for j in ids]
    failed = _summary(jobs, console, already)
    got = q.fetched  # NOAA archive inputs, downloaded by the workers that ran their pairs
    if got["bytes"]:
        from goesvfi_lab.html import fmt_bytes

        n = len(got["workers"])
        console.print(
            f"fetched from the archive by {n} worker{'s' * (n != 1)}: {fmt_bytes(got['bytes'])} "
            f"at {fmt_bytes(got['rate'])}/s"
        )
    q.store.close()
    return 1 if failed or any(j.status != JobStatus.COMPLETED and not _locked(j) for j in jobs) else 0


def _locked(job: Any) -> bool:
    return job.status.value == "cancelled" and (job.error or "").startswith("skipped:")


def _progress(q: Any, wanted: set[str], console: Any, quiet: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from goesvfi_lab.html import fmt_eta, fmt_rate

    def unfinished() -> int:
        return sum(1 for j in wanted if q.store.get(j).status.value in ("pending", "queued", "running"))

    # throughput and ETA as the notebook panel and the /goesvfi page show them (policy.pace), not rich's own
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames  {task.fields[rate]}  jobs {task.fields[jobs]}  ETA {task.fields[eta]}"),
    ]
    with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
        task = bar.add_task("interpolating", total=None, rate="", jobs="", eta="")
        while True:
            s = q.stats()
            bar.update(
                task,
                completed=s.frames_done,
                total=max(s.frames_total, 1),
                rate=fmt_rate(s.throughput),
                jobs=f"{s.completed} done, {s.running + s.queued} running, {s.pending} waiting, {s.failed} failed",
                eta=fmt_eta(s.to_dict()),
            )
            if q.paused_reason and "circuit breaker" in q.paused_reason:
                console.print(f"[red]stopped[/]: {q.paused_reason}")
                return
            if unfinished() == 0:
                return
            time.sleep(0.25)


def _summary(jobs: list[Any], console: Any, already: set[str]) -> int:
    from rich.table import Table

    def skipped(j: Any) -> bool:  # finished by an earlier run, or found complete on disk
        return j.id in already or any(n.startswith("skipped: complete") for n in j.notes)

    done = [j for j in jobs if j.status.value == "completed" and not skipped(j)]
    complete = [j for j in jobs if j.status.value == "completed" and j not in done]
    locked = [j for j in jobs if _locked(j)]
    failed = [j for j in jobs if j.status.value == "failed"]
    other = [j for j in jobs if j not in done + complete + locked + failed]
    table = Table(title="goesvfi-lab run", show_header=True)
    table.add_column("jobs", justify="right")
    table.add_column("done", justify="right")
    table.add_column("skipped (complete)", justify="right")
    table.add_column("skipped (locked)", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("frames", justify="right")
    frames = sum(j.frames_done for j in done)
    table.add_row(str(len(jobs)), str(len(done)), str(len(complete)), str(len(locked)), str(len(failed)), str(frames))
    console.print(table)
    for j in failed:
        console.print(f"[red]failed[/] {j.name}: {j.error}")
    for j in locked:
        console.print(f"[yellow]locked[/] {j.name}: {j.error}")
    for j in other:
        console.print(f"[yellow]{j.status.value}[/] {j.name}: {j.error or ''}")
    return len(failed)


if __name__ == "__main__":  # pragma: no cover
    from goesvfi_lab.cli import main

    sys.exit(main(["run", *sys.argv[1:]]))
