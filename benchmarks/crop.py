"""What a crop saves: ``goesvfi-lab interpolate`` on a full CONUS sequence vs the same with ``--bbox``.

Issue 13: a job cropped to a region must cost about its share of the frame, because frames are cropped as
they are read, before interpolation; only the window's rows and columns are read from each file (its chunks).
The inputs are CONUS scans at the real 2 km size (1500 × 2500, ``goesvfi_lab.sample``); each box becomes
the smallest fixed-grid window that covers it (:func:`goesvfi_lab.geo.bbox_window`).

    python benchmarks/crop.py [--frames 3] [--factor 2] [--method flow] [--rounds 5] [--device cpu]

Prints one row per box: window, area ratio (window / frame), median seconds of the full run and of the
cropped run, and their ratio; then the reads alone: the three files whole vs the window alone. Full and
cropped runs are interleaved round by round and the medians taken, because on a shared host the speed of
the same work drifts between seconds.

Measured (2 shared CPU cores, ``--rounds 5``, flow on CPU), reading only the window: full frame 4.05 s;
Florida 322 × 501 (area 0.043) 0.29 s (0.071 of the full time); central US 545 × 629 (0.091) 0.50 s
(0.124); the reads of the three files 0.167 s whole, 0.042 s / 0.044 s for the windows. The cost is about
0.12 s + area × full time. Before the window was read alone (whole fields decoded, then cut), the same run
gave full 4.33 s, Florida 0.37 s (0.086), central US 0.57 s (0.132): a floor of about 0.2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import tempfile
import time

BOXES = {
    "Florida (-90 25 -80 32)": (-90.0, 25.0, -80.0, 32.0),
    "central US (-100 28 -88 41)": (-100.0, 28.0, -88.0, 41.0),
}


def run_cli(inputs: str, out: str, args: argparse.Namespace, bbox: tuple[float, ...] | None) -> float:
    """Seconds of one in-process ``goesvfi-lab interpolate`` (its progress output swallowed)."""
    from goesvfi_lab.cli import main

    argv = ["interpolate", inputs, "-o", out, "--factor", str(args.factor), "--method", args.method, "--overwrite"]
    argv += ["--device", args.device]
    if bbox is not None:
        argv += ["--bbox", *(str(v) for v in bbox)]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = main(argv)
    seconds = time.perf_counter() - started
    if rc != 0:
        raise SystemExit(f"goesvfi-lab {' '.join(argv)} failed ({rc})")
    return seconds


def read_seconds(paths: list[str], window: tuple[int, int, int, int] | None, rounds: int) -> float:
    """Median seconds of reading every file of ``paths`` as a job does (``window``: only it is read)."""
    from goesvfi_lab.frames import ReadOptions, read_field

    runs = []
    for _ in range(rounds):
        started = time.perf_counter()
        for path in paths:
            read_field(path, ReadOptions(window=window))
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--method", default="flow")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    args = parser.parse_args()
    __import__("_machine").print_machine()  # CPU model, torch capability and threads

    from goesvfi_lab.geo import bbox_window
    from goesvfi_lab.sample import write_sample

    tmp = tempfile.mkdtemp(prefix="goesvfi-crop-bench-")
    try:
        inputs = os.path.join(tmp, "in")
        paths = write_sample(inputs, frames=args.frames, size=(1500, 2500), sector="C", seed=0)
        frame_pixels = 1500 * 2500
        crops = {name: bbox_window(paths[0], box) for name, box in BOXES.items()}
        run_cli(inputs, os.path.join(tmp, "warm"), args, None)  # imports, backend set-up
        full: list[float] = []
        cropped: dict[str, list[float]] = {name: [] for name in BOXES}
        for _ in range(args.rounds):
            full.append(run_cli(inputs, os.path.join(tmp, "full"), args, None))
            for name, box in BOXES.items():
                cropped[name].append(run_cli(inputs, os.path.join(tmp, "crop"), args, box))
        t_full = statistics.median(full)
        print(
            f"CONUS 1500×2500, {args.frames} scans ×{args.factor} ({args.method}, {args.device}), "
            f"median of {args.rounds} interleaved rounds; full frame {t_full:.2f} s"
        )
        print(f"{'box':34} {'window (rows × cols)':>22} {'area':>7} {'full s':>8} {'crop s':>8} {'time':>7}")
        for name, crop in crops.items():
            y0, y1, x0, x1 = crop.window
            t_crop = statistics.median(cropped[name])
            area = crop.pixels / frame_pixels
            print(
                f"{name:34} {f'{y1 - y0} × {x1 - x0}':>22} {area:7.3f} {t_full:8.2f} {t_crop:8.2f} "
                f"{t_crop / t_full:7.3f}"
            )
        whole = read_seconds(paths, None, args.rounds)
        print(f"reads of the {args.frames} files: whole {whole:.3f} s", end="")
        for name, crop in crops.items():
            print(f"; {name.split(' (')[0]} window {read_seconds(paths, crop.window, args.rounds):.3f} s", end="")
        print()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
