"""Sub-commands that only look: ``status`` (jobs in a queue store), ``check`` (output folders),
``missing`` (scans absent from the sequences under a folder), ``locks`` (output-folder locks).

``status`` opens the store read-only (:mod:`goesvfi_lab.query`): it works beside a running
``goesvfi-lab run`` and changes nothing — jobs a killed queue left running are shown as such (and
marked), and go back to pending only when a queue next opens the store. ``locks cleanup`` is the one
action here: it removes stale lock files, never a job.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from goesvfi_lab.cli.batch import STORE_NAME, _console, _file_filter, _filters

STALE_NOTE = "its queue is gone: pending again when a queue next opens this store"


def register(sub: argparse._SubParsersAction) -> None:
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

    from goesvfi_lab import config, query
    from goesvfi_lab.html import fmt_quality
    from goesvfi_lab.quality import BOUND
    from goesvfi_lab.store import Store

    path = _store_path(args.target, args.store)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no store yet")
    # read only: a queue may be running on this store, and a look must not recover or migrate anything
    with Store(path, readonly=True, claim_timeout=config.get("queue.claim-timeout")) as store:
        policy = config.get("queue.policy")
        shown_total = query.count(store, args.status)
        jobs = query.jobs(store, args.status, policy=policy, limit=args.limit or None, offset=args.offset)
        stale = query.stale(store)
        s = store_stats(store)
    table = Table(title=f"{path}", show_header=True)
    for col in ("id", "name", "status", "priority", "pos", "frames", "attempts", "quality*", "error / notes"):
        table.add_column(col, overflow="fold")
    for j in jobs:
        info = j.error or "; ".join(j.notes)
        if j.quality and (j.quality.get("warning") or j.quality.get("error")):
            info = "; ".join(filter(None, [info, j.quality.get("warning") or j.quality.get("error")]))
        if j.id in stale:
            info = "; ".join(filter(None, [STALE_NOTE, info]))
        table.add_row(
            j.id,
            j.name,
            j.status.value,
            j.priority.name.lower(),
            "" if j.position is None else str(j.position),
            f"{j.frames_done}/{j.frames_total}",
            str(j.attempts),
            fmt_quality(j.quality),
            info,
        )
    console = _console()
    console.print(table)
    console.print(f"* quality: the self-check's PSNR and RMSE ({BOUND})")
    if len(jobs) < shown_total:
        first = min(args.offset + 1, shown_total)
        console.print(f"rows {first}–{args.offset + len(jobs)} of {shown_total} (--limit / --offset for others)")
    rate = "-" if s.success_rate is None else f"{s.success_rate:.0%}"
    gone = f" ({len(stale)} of a queue that is gone)" if stale else ""
    console.print(
        f"{s.total} jobs: {s.pending} pending, {s.queued + s.running} running{gone}, {s.completed} completed, "
        f"{s.failed} failed, {s.cancelled} cancelled; frames {s.frames_done}/{s.frames_total}; "
        f"success rate {rate}"
    )
    console.print(status_line(s))
    return 0


def store_stats(store: Any, now: float | None = None) -> Any:
    """:func:`goesvfi_lab.query.stats` of a store some other process may be running, over the
    configured ``goesvfi.queue.throughput-window``: the state word, and throughput / ETA from the
    jobs' start and end times through the same ``policy.pace`` as the notebook panel and ``/goesvfi``."""
    from goesvfi_lab import config, query

    return query.stats(store, now=now, window=float(config.get("queue.throughput-window")))


def status_line(stats: Any) -> str:
    """``queue running · progress 40 % · throughput 2.5 frames/s · ETA 1 min 15 s`` — the panel's words."""
    from goesvfi_lab.html import fmt_eta, fmt_percent, fmt_rate
    from goesvfi_lab.policy import shown_progress

    shown = shown_progress(stats.progress, stats.pending + stats.queued + stats.running)
    return (
        f"queue {stats.state} · progress {fmt_percent(shown)} · throughput {fmt_rate(stats.throughput)} · "
        f"ETA {fmt_eta(stats.to_dict())}"
    )


# --- check -----------------------------------------------------------------------------------------


def check_folder(folder: str, decode: bool = True) -> list[str]:
    """Problems with one job output folder (empty list: fine)."""
    from goesvfi_lab.engine import layout
    from goesvfi_lab.errors import FrameError

    problems: list[str] = []
    names = sorted(n for n in os.listdir(folder) if layout.is_frame_name(n))
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
        problems.append(
            f"{len(missing)} of {expected} frames missing, e.g. {layout.frame_name(missing[0])}"
            if missing
            else f"unexpected frames beyond {expected}"
        )
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
            if rel and not layout.output_exists(os.path.join(folder, rel)):  # a Zarr cube is a directory
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
        if layout.MANIFEST in files or any(layout.is_frame_name(f) for f in files):
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
        table.add_row(
            os.path.relpath(folder, args.out), "[green]ok[/]" if not problems else "[red]" + "; ".join(problems)
        )
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
        first = ", ".join(t.strftime("%Y-%m-%d %H:%M") for t in seq.missing[:3]) + (
            " …" if len(seq.missing) > 3 else ""
        )
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

    max_age = args.max_age if args.max_age is not None else float(config.get("queue.lock-max-age"))
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
        table.add_row(
            os.path.relpath(info.output_dir, args.out),
            holder,
            f"{info.age:.0f} s",
            f"[red]stale[/]: {info.reason}" if info.stale else "held",
        )
    console.print(table)
    console.print(f"{len(found)} locks, {sum(i.stale for i in found)} stale")
    return 0
