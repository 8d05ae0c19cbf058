"""Seconds per interpolated frame and peak memory, per backend, frame size and device.

Each measurement runs in its own process so its peak resident memory (and, on CUDA, peak allocated
GPU memory) is its own. Inputs are the sample generator's fields (float32, "field" kind) and the same
rendered to 8-bit RGB ("video" kind). One frame at t=0.5 per pair (factor 2); the model load and a
warm-up call are excluded.

    python benchmarks/speed.py                       # all sizes, backends, devices present
    python benchmarks/speed.py --quick               # 512² and 1024² only
    python benchmarks/speed.py --sizes 5424 --methods flow --kinds field
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SIZES = [512, 1024, 2048, 5424]
METHODS = ["linear", "flow", "rife", "ensemble"]


def _pair(size: int, kind: str):
    import numpy as np

    from goesvfi_lab.sample import Scene

    # full-disk size → the whole disk (space is NaN); smaller → a CONUS-like window
    scene = Scene(seed=0, size=(size, size), sector="F" if size >= 5424 else "C")
    minutes = 10.0 if size >= 5424 else 5.0
    a, b = scene.field(0.0), scene.field(minutes)
    if kind == "video":
        lo, hi = 190.0, 310.0
        a, b = (
            np.repeat(np.clip(np.nan_to_num((hi - f) / (hi - lo) * 255), 0, 255).astype(np.uint8)[..., None], 3, -1)
            for f in (a, b)
        )
    return a, b


def measure(method: str, size: int, device: str, kind: str, repeats: int) -> dict:
    """Run inside a fresh process: time ``interpolate`` and report peak memory."""
    import resource
    import time

    import torch

    from goesvfi_lab import interp

    a, b = _pair(size, kind)
    dev = interp.select_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c, r = size // 2, min(128, size // 2)  # centre crop: the corners of a full disk are space (all NaN)
    interp.interpolate(
        a[c - r : c + r, c - r : c + r], b[c - r : c + r, c - r : c + r], 0.5, method=method, device=dev
    )  # model load + warm-up
    times = []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        interp.interpolate(a, b, 0.5, method=method, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    out = {
        "method": method,
        "kind": kind,
        "device": str(dev),
        "size": size,
        "seconds": min(times),
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
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--methods", nargs="+", default=None, help="default: every available backend")
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    ap.add_argument("--kinds", nargs="+", default=["field", "video"], choices=["field", "video"])
    ap.add_argument("--repeats", type=int, default=2)
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
    sizes = [s for s in args.sizes if s <= 1024] if args.quick else args.sizes
    rows = []
    print(
        f"{'method':9} {'kind':6} {'device':7} {'size':>6} {'s/frame':>9} {'frames/s':>9} {'peak RSS MB':>12}"
        f" {'GPU MB':>8}",
        flush=True,
    )
    for device in args.devices or _devices():
        for kind in args.kinds:
            for method in methods:
                too_slow = False
                for size in sizes:
                    if too_slow:
                        print(
                            f"{method:9} {kind:6} {device:7} {size:6}   skipped (smaller size exceeded --max-seconds)",
                            flush=True,
                        )
                        continue
                    repeats = 1 if size >= 2048 else args.repeats
                    job = json.dumps([method, size, device, kind, repeats])
                    proc = subprocess.run(
                        [sys.executable, os.path.abspath(__file__), "--_one", job],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if proc.returncode != 0:
                        print(
                            f"{method:9} {kind:6} {device:7} {size:6}   FAILED: {proc.stderr.strip()[-300:]}",
                            flush=True,
                        )
                        continue
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                    rows.append(r)
                    gpu = f"{r['peak_gpu_mb']:8.0f}" if "peak_gpu_mb" in r else f"{'-':>8}"
                    print(
                        f"{method:9} {kind:6} {r['device']:7} {size:6} {r['seconds']:9.3f} {1 / r['seconds']:9.2f}"
                        f" {r['peak_rss_mb']:12.0f} {gpu}",
                        flush=True,
                    )
                    too_slow = r["seconds"] > args.max_seconds
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
