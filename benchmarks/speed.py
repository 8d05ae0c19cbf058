"""Seconds per interpolated frame and peak memory, per backend, frame size and device.

Each measurement runs in its own process so its peak resident memory (and, on CUDA, peak allocated
GPU memory) is its own. Inputs are the sample generator's fields (float32, "field" kind) and the same
rendered to 8-bit RGB ("video" kind). One frame at t=0.5 per pair (factor 2); the model load and a
warm-up call are excluded.

    python benchmarks/speed.py                       # all sizes, backends, devices present
    python benchmarks/speed.py --quick               # 512² and 1024² only
    python benchmarks/speed.py --sizes 5424 --methods flow --kinds field
    python benchmarks/speed.py --scaling --kinds video   # 512², 768×576, 1280×720, 1920×1080

Sizes are ``N`` (N×N) or ``WxH``. Besides wall seconds each row has CPU seconds (the process's user +
system time, all threads) and seconds per megapixel; after the rows a scaling table gives, per method
and kind, the spread of s/MP across the sizes measured (max / min: 1.0 when cost grows exactly with
pixels).

``--rounds N`` measures every cell N times, each round in a rotated order (the host is shared and its
speed drifts; this way drift hits every cell alike), and the tables give the median of the rounds.
Within a round each cell is the fastest of ``--repeats`` calls in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _machine import print_machine

SIZES = ["512", "1024", "2048", "5424"]
SCALING_SIZES = ["512", "768x576", "1280x720", "1920x1080"]  # issue 15: cost grows with pixels, not faster
METHODS = ["linear", "flow", "fast", "rife", "ensemble"]


def parse_size(text: str) -> tuple[int, int]:
    """``"1024"`` → (1024, 1024); ``"1280x720"`` → (720, 1280): (rows, columns)."""
    w, _, h = str(text).lower().replace("×", "x").partition("x")
    return (int(h or w), int(w))


def size_label(hw: tuple[int, int]) -> str:
    return f"{hw[0]}²" if hw[0] == hw[1] else f"{hw[1]}×{hw[0]}"


def _pair(size: tuple[int, int], kind: str):
    import numpy as np

    from goesvfi_lab.sample import Scene

    # full-disk size → the whole disk (space is NaN); smaller → a CONUS-like window
    full = max(size) >= 5424
    scene = Scene(seed=0, size=size, sector="F" if full else "C")
    minutes = 10.0 if full else 5.0
    a, b = scene.field(0.0), scene.field(minutes)
    if kind == "video":
        lo, hi = 190.0, 310.0
        a, b = (
            np.repeat(np.clip(np.nan_to_num((hi - f) / (hi - lo) * 255), 0, 255).astype(np.uint8)[..., None], 3, -1)
            for f in (a, b)
        )
    return a, b


def measure(method: str, size: list[int], device: str, kind: str, repeats: int) -> dict:
    """Run inside a fresh process: time ``interpolate`` and report peak memory."""
    import resource
    import time

    import torch

    from goesvfi_lab import interp

    size = tuple(size)
    a, b = _pair(size, kind)
    dev = interp.select_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cy, cx = size[0] // 2, size[1] // 2
    r = min(128, cy, cx)  # centre crop: the corners of a full disk are space (all NaN)
    crop = (slice(cy - r, cy + r), slice(cx - r, cx + r))
    interp.interpolate(a[crop], b[crop], 0.5, method=method, device=dev)  # model load + warm-up
    times, cpus = [], []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        interp.interpolate(a, b, 0.5, method=method, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    out = {
        "method": method,
        "kind": kind,
        "device": str(dev),
        "size": list(size),
        "megapixels": size[0] * size[1] / 1e6,
        "seconds": min(times),
        "cpu_seconds": min(cpus),
        "threads": torch.get_num_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "input_rss_mb": base_rss,
    }
    if dev.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _devices() -> list[str]:
    import torch

    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    return devs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=SIZES, help="N (N×N) or WxH")
    ap.add_argument("--scaling", action="store_true", help="sizes " + ", ".join(SCALING_SIZES))
    ap.add_argument("--methods", nargs="+", default=None, help="default: every available backend")
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    ap.add_argument("--kinds", nargs="+", default=["field", "video"], choices=["field", "video"])
    ap.add_argument("--repeats", type=int, default=2, help="calls per process; the fastest counts")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the tables give medians")
    ap.add_argument("--quick", action="store_true", help="512² and 1024² only")
    ap.add_argument("--max-seconds", type=float, default=900, help="skip a size once a backend took this long")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--_one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._one:
        print(json.dumps(measure(*json.loads(args._one))))
        return 0

    from goesvfi_lab import interp

    methods = args.methods or [m for m in METHODS if m in interp.available_methods()]
    sizes = [parse_size(s) for s in (SCALING_SIZES if args.scaling else args.sizes)]
    if args.quick:
        sizes = [s for s in sizes if max(s) <= 1024]
    cells = [(d, k, m, s) for d in args.devices or _devices() for k in args.kinds for m in methods for s in sizes]
    print_machine()
    print(HEADER, flush=True)
    measured: dict[tuple, list[dict]] = {}
    too_slow: dict[tuple, int] = {}  # (device, kind, method) → pixels of the first size past --max-seconds
    for rnd in range(args.rounds):
        shift = rnd * len(cells) // args.rounds  # each round starts elsewhere: host drift hits every cell alike
        for device, kind, method, size in cells[shift:] + cells[:shift]:
            pixels, label = size[0] * size[1], f"{method:9} {kind:6} {device:7} {size_label(size):>9}"
            if pixels > too_slow.get((device, kind, method), pixels):
                if rnd == 0:
                    print(f"{label}   skipped (a smaller size exceeded --max-seconds)", flush=True)
                continue
            repeats = 1 if pixels >= 2048 * 2048 else args.repeats
            job = json.dumps([method, size, device, kind, repeats])
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--_one", job], capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                print(f"{label}   FAILED: {proc.stderr.strip()[-300:]}", flush=True)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            measured.setdefault((device, kind, method, size), []).append(r)
            print(format_row(r) + (f"  round {rnd + 1}" if args.rounds > 1 else ""), flush=True)
            if r["seconds"] > args.max_seconds:
                too_slow[(device, kind, method)] = min(pixels, too_slow.get((device, kind, method), pixels))
    rows = [median_row(measured[c]) for c in cells if c in measured]
    if args.rounds > 1:
        print(f"\nmedians over {args.rounds} interleaved rounds\n{HEADER}")
        for r in rows:
            print(format_row(r), flush=True)
    print_scaling(rows)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


HEADER = (
    f"{'method':9} {'kind':6} {'device':7} {'size':>9} {'s/frame':>9} {'cpu s':>8} {'s/MP':>7} {'frames/s':>9}"
    f" {'peak RSS MB':>12} {'GPU MB':>8}"
)


def format_row(r: dict) -> str:
    gpu = f"{r['peak_gpu_mb']:8.0f}" if "peak_gpu_mb" in r else f"{'-':>8}"
    return (
        f"{r['method']:9} {r['kind']:6} {r['device']:7} {size_label(tuple(r['size'])):>9} {r['seconds']:9.3f}"
        f" {r['cpu_seconds']:8.3f} {r['seconds'] / r['megapixels']:7.3f} {1 / r['seconds']:9.2f}"
        f" {r['peak_rss_mb']:12.0f} {gpu}"
    )


def median_row(rounds: list[dict]) -> dict:
    """One cell's rounds → its row with the median wall and CPU seconds (the others from the first round)."""
    out = dict(rounds[0], rounds=len(rounds))
    for key in ("seconds", "cpu_seconds"):
        out[key] = statistics.median(r[key] for r in rounds)
    return out


def print_scaling(rows: list[dict]) -> None:
    """Per method, kind and device: s/MP at each size and its spread (max / min) across the sizes."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["kind"], r["device"]), []).append(r)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return
    print("\nseconds per megapixel-frame (wall) by size, and its spread across sizes (max / min)")
    for (method, kind, device), rs in groups.items():
        per_mp = [r["seconds"] / r["megapixels"] for r in rs]
        cells = "  ".join(f"{size_label(tuple(r['size']))} {v:.3f}" for r, v in zip(rs, per_mp))
        print(f"{method:9} {kind:6} {device:7} {cells}  spread {max(per_mp) / min(per_mp):.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
