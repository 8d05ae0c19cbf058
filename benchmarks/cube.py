"""Cube writing: NetCDF-4 vs Zarr seconds for the same frames, size on disk, and a lazy read of one frame.

The frames are the package's own CONUS-like field (``goesvfi_lab.sample.Scene``) at each size, written
through :func:`goesvfi_lab.frames.write_cube` exactly as jobs write them (float32, one frame streamed at a
time; NetCDF zlib level 4 in 512² chunks, Zarr one frame per chunk), each format timed ``--repeat`` times
(median), into a temporary directory on the same disk.

    python benchmarks/cube.py [--sizes 512 1500x2500] [--frames 9] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np


def _size(text: str) -> tuple[int, int]:
    rows, _, cols = text.partition("x")
    return int(rows), int(cols or rows)


def _disk_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def measure(size: tuple[int, int], frames: int, repeat: int, directory: str) -> list[dict]:
    """One row per format: median write seconds, MB on disk, seconds to open lazily and load one frame."""
    import xarray as xr

    from goesvfi_lab.frames import write_cube
    from goesvfi_lab.sample import Scene

    scene = Scene(size=size, sector="C")
    fields = [scene.field(2.5 * k).astype(np.float32) for k in range(frames)]
    times = [np.datetime64("2024-05-16T18:01:17") + np.timedelta64(150 * k, "s") for k in range(frames)]
    rows = []
    for fmt, name in (("NetCDF", "cube.nc"), ("Zarr", "cube.zarr")):
        path = os.path.join(directory, f"{size[0]}x{size[1]}-{name}")
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            write_cube(path, fields, times, factor=2)
            seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        opener = xr.open_zarr if fmt == "Zarr" else xr.open_dataset
        with opener(path) as ds:
            np.asarray(ds["CMI"][frames // 2].values)
        read = time.perf_counter() - started
        rows.append(
            {
                "size": f"{size[0]}×{size[1]}",
                "format": fmt,
                "write_s": statistics.median(seconds),
                "mb": _disk_bytes(path) / 1e6,
                "read_s": read,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(512, 512), (1500, 2500)])
    parser.add_argument("--frames", type=int, default=9, help="frames per cube (default 9: 5 scans at factor 2)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    __import__("_machine").print_machine()  # CPU model, torch capability and threads
    print(f"{args.frames} float32 frames per cube, median of {args.repeat} writes")
    print(f"{'frame size':>11} {'format':>7} {'write s':>8} {'s/frame':>8} {'MB':>7} {'open+1 frame s':>15}")
    with tempfile.TemporaryDirectory(prefix="goesvfi-cube-bench-") as directory:
        for size in args.sizes:
            for row in measure(size, args.frames, args.repeat, directory):
                print(
                    f"{row['size']:>11} {row['format']:>7} {row['write_s']:8.3f} {row['write_s'] / args.frames:8.4f} "
                    f"{row['mb']:7.1f} {row['read_s']:15.3f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
