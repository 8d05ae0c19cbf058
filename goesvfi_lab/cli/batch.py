"""Batch sub-commands: ``run`` (headless queue with a progress bar), ``status``, ``check``, ``missing``, ``locks``.

``goesvfi-lab run ROOT -o OUT`` finds every sequence under ROOT (with the same filters as the
notebook), makes one job per sequence writing to ``OUT/<sequence>``, runs them on an embedded
LocalCluster (or ``--scheduler ADDRESS``) and ends with a summary. Its store defaults to
``OUT/.goesvfi-queue.sqlite3``, so running the same command again resumes: finished jobs are kept,
interrupted ones carry on, failed ones are tried again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

STORE_NAME = ".goesvfi-queue.sqlite3"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="interpolate every sequence under a folder as prioritised jobs on Dask",
                       description=__doc__.split("\n\n")[1])  # fmt: skip
    p.add_argument("root", metavar="ROOT")
    p.add_argument("-o", "--output", dest="out", metavar="OUT", required=True, help="output tree (one folder per job)")
    _filters(p)
    p.add_argument("--factor", type=int, default=2, help="output frames per input interval (default 2)")
    p.add_argument("--method", default="auto", help="auto, linear, flow, rife")
    p.add_argument("--priority", default="normal", help="urgent, high, normal, low, background")
    p.add_argument("--owner", default="", help="owner recorded on the jobs (the 'fair' policy rotates over owners)")
    p.add_argument("--video", action="store_true", help="also write video.mp4 per job")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default from config)")
    p.add_argument("--cube", action="store_true", help="NetCDF inputs: also write cube.nc per job")
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
    p.add_argument("--wait-locked", action="store_true",
                   help="wait for jobs whose output folder another process holds (default: skip them)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)

    p = sub.add_parser("status", help="jobs in a queue store")
    p.add_argument("target", nargs="?", metavar="OUT|STORE", help=f"an output tree (uses OUT/{STORE_NAME}) or a store")
    p.add_argument("--store", help="store path (default: the one run used for OUT, else the user store)")
    p.add_argument("--status", action="append", help="only jobs with this status (repeatable)")
    p.add_argument("--limit", type=int, default=50, help="rows to list, in queue order (default 50; 0: all)")
    p.add_argument("--offset", type=int, default=0, help="rows to skip first (to page through a large store)")
    p.set_defaults(func=status)

    p = sub.add_parser("check", help="verify the output folders under a tree (frames decode, nothing partial)")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--quick", action="store_true", help="check presence and sizes only, do not decode frames")
    p.set_defaults(func=check)

    p = sub.add_parser("missing", help="scans missing from the sequences under a folder")
    p.add_argument("root", metavar="ROOT")
    _filters(p)
    p.set_defaults(func=missing)

    p = sub.add_parser("locks", help="output-folder locks under a tree")
    locks_sub = p.add_subparsers(dest="locks_command", metavar="ACTION")
    locks_sub.required = True
    for name, helptext in (("list", "show every lock and whether it is stale"), ("cleanup", "remove stale locks")):
        q = locks_sub.add_parser(name, help=helptext)
        q.add_argument("out", metavar="OUT")
        q.add_argument("--max-age", type=float, default=None, help="seconds after which an unrefreshed lock is stale")
        q.set_defaults(func=locks)


def _filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters")
    g.add_argument("--pattern", default=None, help="glob on file names, e.g. '*C13*.nc'")
    g.add_argument("--ext", action="append", help="file extension (repeatable; default .nc and .png)")
    g.add_argument("--satellite", action="append", help="G16, G17, G18, G19 (repeatable)")
    g.add_argument("--band", action="append", type=int, help="ABI band (repeatable)")
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
        extensions=args.ext or (".nc", ".png"), min_size=args.min_size, max_size=args.max_size,
        name_pattern=fnmatch.translate(args.pattern) if args.pattern else None,
        exclude_paths=[*args.exclude, *exclude], satellite=args.satellite, band=args.band, sector=args.sector,
        product=args.product, start=args.start, end=args.end,
    )  # fmt: skip


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False)


# --- run -------------------------------------------------------------------------------------------


def _plan_jobs(args: argparse.Namespace, store: Any, out: str) -> tuple[list[str], list[str], set[str]]:
    """Job ids to run (new, or earlier ones for the same folder), notes, and the ids already complete."""
    from goesvfi_lab.discover import group_sequences
    from goesvfi_lab.engine.layout import existing_result, result_spec
    from goesvfi_lab.model import BatchJob, JobStatus
    from goesvfi_lab.queue import _sequence_dirname
    from goesvfi_lab.safety import job_output_dir

    root = os.path.abspath(args.root)
    paths = _file_filter(args, [out]).scan(root)
    settings: dict[str, Any] = {"video": args.video, "cube": args.cube, "device": args.device}
    for key, value in (("fps", args.fps), ("timeout", args.timeout)):
        if value is not None:
            settings[key] = value
    if args.overwrite:
        settings["overwrite"] = True
    if args.fallback_cpu:
        settings["fallback_cpu"] = True
    new, ids, notes, already = [], [], [], set()
    for seq in group_sequences(paths):
        if seq.n_frames < 2:
            notes.append(f"{seq.name}: one frame only, nothing to interpolate")
            continue
        name = _sequence_dirname(seq, root)
        output_dir = job_output_dir(out, name)
        # an earlier job for this folder is resumed (or reported done) only if it asked for this very result;
        # another method, factor or output setting is a new job (the engine refuses to mix two results)
        wanted = result_spec(seq.paths, args.factor, args.method, settings)
        known = [j for j in store.find_output(output_dir)
                 if result_spec(j.inputs, j.factor, j.method, j.settings) == wanted]  # fmt: skip
        if known and not args.overwrite:
            job = known[-1]
            if job.status == JobStatus.COMPLETED and existing_result(output_dir, wanted).state == "complete":
                already.add(job.id)
            elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.COMPLETED):  # done: files gone
                store.update(job.id, status=JobStatus.PENDING, attempts=0, error=None, next_retry_at=None,
                             finished_at=None)  # fmt: skip
            ids.append(job.id)
            continue
        job = BatchJob(name=name, inputs=seq, output_dir=output_dir, factor=args.factor, method=args.method,
                       priority=args.priority, settings=settings, owner=args.owner)  # fmt: skip
        new.append(job)
        ids.append(job.id)
    store.add(new)
    return ids, notes, already


def run(args: argparse.Namespace) -> int:
    from goesvfi_lab.model import JobStatus
    from goesvfi_lab.queue import BatchQueue
    from goesvfi_lab.store import Store

    if args.factor < 1:
        raise ValueError("--factor must be at least 1")
    if not os.path.isdir(args.root):
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
    q = BatchQueue(cluster=cluster, store=store, max_concurrent=args.max_concurrent, policy=args.policy,
                   on_locked="wait" if args.wait_locked else "skip")  # fmt: skip
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
    q.store.close()
    return 1 if failed or any(j.status != JobStatus.COMPLETED and not _locked(j) for j in jobs) else 0


def _locked(job: Any) -> bool:
    return job.status.value == "cancelled" and (job.error or "").startswith("skipped:")


def _progress(q: Any, wanted: set[str], console: Any, quiet: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from goesvfi_lab.engine.dashboard import fmt_eta, fmt_rate

    def unfinished() -> int:
        return sum(1 for j in wanted if q.store.get(j).status.value in ("pending", "queued", "running"))

    # throughput and ETA as the notebook panel and the /goesvfi page show them (policy.pace), not rich's own
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("frames  {task.fields[rate]}  jobs {task.fields[jobs]}  ETA {task.fields[eta]}")]
    with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
        task = bar.add_task("interpolating", total=None, rate="", jobs="", eta="")
        while True:
            s = q.stats()
            bar.update(task, completed=s.frames_done, total=max(s.frames_total, 1), rate=fmt_rate(s.throughput),
                       jobs=f"{s.completed} done, {s.running + s.queued} running, {s.pending} waiting, {s.failed} failed",
                       eta=fmt_eta(s.to_dict()))  # fmt: skip
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


# --- status ----------------------------------------------------------------------------------------


def _store_path(target: str | None, store: str | None) -> str:
    if store:
        return store
    if target:
        if os.path.isdir(target):
            candidate = os.path.join(target, STORE_NAME)
            if not os.path.exists(candidate):
                raise FileNotFoundError(f"{target}: no {STORE_NAME} here (was it the -o of a run?)")
            return candidate
        if os.path.isfile(target):
            return target
        raise FileNotFoundError(f"{target}: no such folder or store")
    from goesvfi_lab.store import default_store_path

    return default_store_path()


def status(args: argparse.Namespace) -> int:
    from rich.table import Table

    from goesvfi_lab.queue import BatchQueue

    path = _store_path(args.target, args.store)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no store yet")
    q = BatchQueue(store=path)
    shown_total = q.count(args.status)
    jobs = q.jobs(args.status, limit=args.limit or None, offset=args.offset)
    table = Table(title=f"{path}", show_header=True)
    for col in ("id", "name", "status", "priority", "pos", "frames", "attempts", "error / notes"):
        table.add_column(col, overflow="fold")
    for j in jobs:
        info = j.error or "; ".join(j.notes)
        table.add_row(j.id, j.name, j.status.value, j.priority.name.lower(), "" if j.position is None else str(j.position),
                      f"{j.frames_done}/{j.frames_total}", str(j.attempts), info)  # fmt: skip
    console = _console()
    console.print(table)
    if len(jobs) < shown_total:
        first = min(args.offset + 1, shown_total)
        console.print(f"rows {first}–{args.offset + len(jobs)} of {shown_total} (--limit / --offset for others)")
    s = store_stats(q)
    rate = "-" if s.success_rate is None else f"{s.success_rate:.0%}"
    console.print(f"{s.total} jobs: {s.pending} pending, {s.queued + s.running} running, {s.completed} completed, "
                  f"{s.failed} failed, {s.cancelled} cancelled; frames {s.frames_done}/{s.frames_total}; "
                  f"success rate {rate}")  # fmt: skip
    console.print(status_line(s))
    q.store.close()
    return 0


def store_stats(q: Any, now: float | None = None) -> Any:
    """``q.stats()`` for a store some other process may be running: the state word and throughput /
    ETA from the jobs' start and end times (``policy.job_work``), through the same ``policy.pace``
    as the notebook panel and the ``/goesvfi`` page. Reads every started job (one pass over the store)."""
    from goesvfi_lab import config, policy
    from goesvfi_lab.model import JobStatus

    s = q.stats()
    now = time.time() if now is None else now
    unfinished = s.pending + s.queued + s.running
    claimed = s.queued + s.running > 0  # a queue (here or elsewhere) holds jobs: it is running
    s.state = policy.queue_state(started=claimed or q.running, paused=q.paused, unfinished=unfinished)
    window = float(config.get("queue.throughput-window", 60))
    started = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED)
    recent = [j for j in q.store.iter_jobs(started) if j.finished_at is None or j.finished_at > now - window]
    c = q.store.counts
    remaining = sum(max(c.frames_total[k] - c.frames_done[k], 0) for k in ("pending", "queued", "running"))
    pace = policy.pace(policy.job_work(recent, now), now, window, remaining, s.total, busy=s.state == "running")
    s.throughput, s.eta_seconds = pace.throughput, pace.eta_seconds
    return s


def status_line(stats: Any) -> str:
    """``queue running · progress 40 % · throughput 2.5 frames/s · ETA 1 min 15 s`` — the panel's words."""
    from goesvfi_lab.engine.dashboard import fmt_eta, fmt_percent, fmt_rate
    from goesvfi_lab.policy import shown_progress

    shown = shown_progress(stats.progress, stats.pending + stats.queued + stats.running)
    return (f"queue {stats.state} · progress {fmt_percent(shown)} · throughput {fmt_rate(stats.throughput)} · "
            f"ETA {fmt_eta(stats.to_dict())}")  # fmt: skip


# --- check -----------------------------------------------------------------------------------------


def check_folder(folder: str, decode: bool = True) -> list[str]:
    """Problems with one job output folder (empty list: fine)."""
    from goesvfi_lab.engine import layout
    from goesvfi_lab.errors import FrameError

    problems: list[str] = []
    names = sorted(n for n in os.listdir(folder) if layout._FRAME.match(n))
    manifest = layout.read_manifest(folder)
    if manifest is None:
        if os.path.exists(os.path.join(folder, layout.MANIFEST)):
            problems.append("job.json is unreadable")
        else:
            problems.append(f"incomplete: no job.json ({len(names)} frames so far)")
    expected = manifest.get("frames") if manifest else None
    indices = [int(n[:6]) for n in names]
    if expected is not None and indices != list(range(expected)):
        missing = sorted(set(range(expected)) - set(indices))
        problems.append(f"{len(missing)} of {expected} frames missing, e.g. {layout.frame_name(missing[0])}"
                        if missing else f"unexpected frames beyond {expected}")  # fmt: skip
    elif expected is None and indices and indices != list(range(len(indices))):
        problems.append("frame numbers have gaps")
    for tmp in layout.temporaries(folder):
        problems.append(f"leftover partial file {os.path.basename(tmp)}")
    for name in names:
        path = os.path.join(folder, name)
        if os.path.getsize(path) == 0:
            problems.append(f"{name}: empty file")
        elif decode:
            from goesvfi_lab.frames import read_frame

            try:
                read_frame(path)
            except FrameError as exc:
                problems.append(f"{name}: {exc.reason}")
    if manifest:
        for key in ("video", "cube"):
            rel = manifest.get(key)
            if rel and not os.path.isfile(os.path.join(folder, rel)):
                problems.append(f"{key} {rel} listed in job.json is missing")
        video = manifest.get("video")
        if decode and video and os.path.isfile(os.path.join(folder, video)) and expected:
            from goesvfi_lab.frames import count_video_frames

            n = count_video_frames(os.path.join(folder, video))
            if n != expected:
                problems.append(f"{video} has {n} frames, expected {expected}")
    return problems


def _job_folders(root: str) -> list[str]:
    from goesvfi_lab.engine import layout

    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != layout.FIELDS_DIR]
        if layout.MANIFEST in files or any(layout._FRAME.match(f) for f in files):
            found.append(directory)
    return sorted(found)


def check(args: argparse.Namespace) -> int:
    from rich.table import Table

    if not os.path.isdir(args.out):
        raise FileNotFoundError(f"{args.out}: not a directory")
    folders = _job_folders(args.out)
    table = Table(title=f"check {args.out}", show_header=True)
    table.add_column("folder", overflow="fold")
    table.add_column("result", overflow="fold")
    bad = 0
    for folder in folders:
        problems = check_folder(folder, decode=not args.quick)
        bad += bool(problems)
        table.add_row(os.path.relpath(folder, args.out), "[green]ok[/]" if not problems else "[red]" + "; ".join(problems))
    console = _console()
    console.print(table)
    console.print(f"{len(folders)} job folders, {len(folders) - bad} ok, {bad} with problems")
    return 1 if bad else 0


# --- missing ---------------------------------------------------------------------------------------


def missing(args: argparse.Namespace) -> int:
    from rich.table import Table

    from goesvfi_lab.discover import group_sequences

    if not os.path.isdir(args.root):
        raise FileNotFoundError(f"{args.root}: not a directory")
    seqs = group_sequences(_file_filter(args).scan(args.root))
    table = Table(title=f"missing scans under {args.root}", show_header=True)
    for col in ("sequence", "frames", "cadence", "missing", "first missing"):
        table.add_column(col, overflow="fold")
    total = 0
    for seq in seqs:
        d = seq.describe()
        total += len(seq.missing)
        first = ", ".join(t.strftime("%Y-%m-%d %H:%M") for t in seq.missing[:3]) + (" …" if len(seq.missing) > 3 else "")
        table.add_row(seq.name, str(d["frames"]), d["cadence"] or "-", str(len(seq.missing)), first)
    console = _console()
    console.print(table)
    console.print(f"{len(seqs)} sequences, {total} missing scans")
    return 0


# --- locks -----------------------------------------------------------------------------------------


def locks(args: argparse.Namespace) -> int:
    from rich.table import Table

    from goesvfi_lab import config
    from goesvfi_lab.locks import cleanup_locks, find_locks

    max_age = args.max_age if args.max_age is not None else float(config.get("queue.lock-max-age", 600))
    if not os.path.isdir(args.out):
        raise FileNotFoundError(f"{args.out}: not a directory")
    console = _console()
    if args.locks_command == "cleanup":
        removed = cleanup_locks(args.out, max_age)
        for info in removed:
            console.print(f"removed {info.path}: {info.reason}")
        console.print(f"{len(removed)} stale locks removed")
        return 0
    found = find_locks(args.out, max_age)
    table = Table(title=f"locks under {args.out}", show_header=True)
    for col in ("folder", "holder", "age", "state"):
        table.add_column(col, overflow="fold")
    for info in found:
        holder = f"pid {info.pid} on {info.host}" if info.pid else "unknown"
        table.add_row(os.path.relpath(info.output_dir, args.out), holder, f"{info.age:.0f} s",
                      f"[red]stale[/]: {info.reason}" if info.stale else "held")  # fmt: skip
    console.print(table)
    console.print(f"{len(found)} locks, {sum(i.stale for i in found)} stale")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from goesvfi_lab.cli import main

    sys.exit(main(["run", *sys.argv[1:]]))
