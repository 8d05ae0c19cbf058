"""``make demo``: the main job on sample data, end to end, on an embedded LocalCluster.

1. writes synthetic GOES-like sequences (three satellites/sectors, one scan deliberately missing);
2. prints what discovery finds (sequences, span, missing scans, sizes);
3. queues one interpolation job per sequence with mixed priorities on a LocalCluster, waits, and prints
   a summary (jobs, frames, throughput, success rate) with the MP4s written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console(width=None if Console().is_terminal else 140)  # logs and CI: no truncated names

# (sub-folder, generator arguments, priority name): small enough for a 2-core laptop in about a minute
SCENES = (
    ("conus-g16", dict(frames=10, size=(192, 256), fmt="nc", sector="C", satellite="G16", seed=1), "HIGH"),
    ("meso-g18", dict(frames=10, size=(160, 160), fmt="png", sector="M1", satellite="G18", seed=2), "URGENT"),
    ("fulldisk-g19", dict(frames=6, size=(192, 192), fmt="nc", sector="F", satellite="G19", seed=3), "LOW"),
)


def make_data(root: Path) -> list[str]:
    from goesvfi_lab.sample import write_sample

    paths: list[str] = []
    for folder, kwargs, _ in SCENES:
        paths += write_sample(root / folder, **kwargs)
    # Drop one CONUS scan so discovery has a gap to report.
    conus = sorted(p for p in paths if "conus-g16" in p)
    os.remove(conus[4])
    paths.remove(conus[4])
    return paths


def discovery_table(root: Path) -> list:
    from goesvfi_lab.discover import FileFilter, group_sequences

    found = FileFilter(extensions=[".nc", ".png"]).scan(root)
    seqs = group_sequences(found)
    table = Table(title=f"Discovery: {len(found)} files under {root}")
    for col in ("sequence", "frames", "start (UTC)", "span", "cadence", "missing", "size"):
        left = col in ("sequence", "start (UTC)")
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    for s in seqs:
        d = s.describe()
        table.add_row(
            d["name"],
            str(d["frames"]),
            d["start"] or "-",
            d["span"] or "-",
            d["cadence"] or "-",
            str(d["missing"]),
            _size(d["size_bytes"]),
        )
    console.print(table)
    return seqs


def run_batch(root: Path, seqs: list, method: str) -> int:
    """One job per sequence, mixed priorities, on an embedded LocalCluster; prints the summary."""
    import goesvfi_lab as gl
    from goesvfi_lab.bands import auto_cmap

    priority_of = {folder: prio for folder, _, prio in SCENES}
    q = gl.BatchQueue(cluster=None, store=root / "queue.sqlite")
    for seq in seqs:
        folder = Path(seq.paths[0]).parent.name
        q.add_job(
            gl.BatchJob(
                name=folder,
                inputs=seq,
                output_dir=root / "out" / folder,
                factor=4,
                method=method,
                priority=priority_of[folder],
                settings={"fps": 24, "video": True, "cmap": auto_cmap(seq.paths[0], default="ir")},
            )
        )
    order: list[str] = []
    q.on("job_completed", lambda event: order.append(event["job"].name))
    q.on("job_failed", lambda event: console.print(f"[red]failed[/] {event['job'].name}: {event['job'].error}"))
    t0 = time.perf_counter()
    q.start()
    console.print(f"[bold]cluster[/] {q.dashboard_link or 'no dashboard'}; {len(seqs)} jobs queued, method {method}")
    q.wait()
    wall = time.perf_counter() - t0
    stats = q.stats()
    jobs = q.jobs()
    q.stop()

    table = Table(title="Batch")
    for col in ("job", "priority", "status", "frames", "seconds", "method", "video"):
        table.add_column(col)
    for job in jobs:
        video = Path(job.output_dir) / "video.mp4"
        table.add_row(
            job.name,
            job.priority.name,
            job.status.value,
            f"{job.frames_done}/{job.frames_total}",
            f"{job.duration or 0:.1f}",
            _methods_used(job.output_dir),
            str(video) if video.exists() else "-",
        )
    console.print(table)
    rate = "-" if stats.success_rate is None else f"{100 * stats.success_rate:.0f} %"
    console.print(
        f"[bold]summary[/] jobs {stats.total}, completed {stats.completed}, failed {stats.failed}; "
        f"frames {stats.frames_done}/{stats.frames_total}; {stats.frames_done / wall:.2f} frames/s over "
        f"{wall:.1f} s; success rate {rate}; completion order {', '.join(order)}"
    )
    return 0 if stats.failed == 0 and stats.completed == len(seqs) else 1


def _methods_used(output_dir: str) -> str:
    """What ``auto`` became for a finished job, from its manifest ("-" before it has one)."""
    try:
        with open(Path(output_dir) / "job.json", encoding="utf-8") as fh:
            return ", ".join(json.load(fh).get("methods_used") or []) or "-"
    except (OSError, ValueError):
        return "-"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output", help="working folder (recreated)")
    parser.add_argument("--method", default="auto", help="interpolation method (default auto)")
    args = parser.parse_args(argv)
    root = Path(args.out).resolve()
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    make_data(root / "data")
    console.print(f"[bold]sample data[/] written to {root / 'data'} in {time.perf_counter() - t0:.1f} s")
    seqs = discovery_table(root / "data")
    return run_batch(root, seqs, args.method)


if __name__ == "__main__":
    raise SystemExit(main())
