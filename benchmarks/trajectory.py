"""Curved trajectories (``goesvfi.interp.curved``) against straight two-scan paths, with the data's own floor.

Flow on fields (``auto`` for NetCDF and ABI renders) can use the scans either side of each pair to
follow accelerating, turning motion (interp/flow.py, ``curved_displacement``). Every row is measured in
the same run on the same keys; seconds are medians of interleaved rounds (two-scan and curved
alternate, so host noise hits both alike).

Datasets (``--quick``: smaller sizes):

- ``sample``: the sample generator's exact CONUS field (5-minute scans): winds vary in space, but
  hardly in time (acceleration ~0.4 km/min per 3 h) — the "uniform in time" case;
- ``vortex``: an independent advection (tests/_interp_textures.vortex): an intensifying, drifting
  Rankine vortex; parcels move on arcs, faster every scan (10° per scan at the radius, +25 % per scan);
- ``translate``: a texture in uniform translation (2, 5 px per scan): nothing to gain, nothing may be lost.

A ``fast`` row (OpenCV DIS on an 8-bit guide, two scans; interp/fast.py) is measured beside them.

Factors 4 and 8 (every 4th / 8th truth frame is a key; the rest are regenerated). The "12-bit floor"
row is the RMSE of the truth at the regenerated times stored as ABI L2 band-13 counts would store it
(scale 0.06145332 K, offset 89.62 K, ../shared/goes/README.md) and decoded: the error no method can
go below. For the unitless textures the floor is 12-bit counts over the sequence's range.

    python benchmarks/trajectory.py            # sample 1000², vortex and translate 512², 5 keys
    python benchmarks/trajectory.py --quick    # 512² / 256², for a quick look

``--end-to-end`` adds what a user waits for: ``goesvfi-lab interpolate`` on sample NetCDF scans (reading
the files included; curved paths read each neighbour once per pair), curved on and off, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from _clips import data_range, psnr, sample_fields  # noqa: E402
from _interp_textures import vortex, waves  # noqa: E402
from _machine import print_machine  # noqa: E402

CMI_SCALE, CMI_OFFSET = 0.06145332, 89.62  # ABI L2 CMIP band 13 packing (K)


def truth_sequence(name: str, size: int, factor: int, n_keys: int) -> tuple[list[np.ndarray], str]:
    n = (n_keys - 1) * factor + 1
    if name == "sample":
        return sample_fields(size, n_keys, factor, "C")[1], "K"
    if name == "vortex":
        return [vortex(size, size, i / factor, radius=size / 8).astype(np.float32) for i in range(n)], ""
    if name == "translate":
        return [waves(size, size, shift=(2.0 * i / factor, 5.0 * i / factor), max_freq=0.15).astype(np.float32)
                for i in range(n)], ""  # fmt: skip
    raise ValueError(name)


def floor_rmse(truth: list[np.ndarray], idx: list[int], unit: str) -> float:
    if unit == "K":
        scale, offset = CMI_SCALE, CMI_OFFSET
    else:
        lo = min(float(np.nanmin(f)) for f in truth)
        scale, offset = (max(float(np.nanmax(f)) for f in truth) - lo) / 4095, lo
    errs = [np.round((truth[i] - offset) / scale) * scale + offset - truth[i] for i in idx]
    return float(np.sqrt(np.nanmean(np.square(errs, dtype=np.float64))))


def run(keys: list[np.ndarray], factor: int, method: str, curved: bool) -> tuple[list[np.ndarray], float]:
    import dask

    from goesvfi_lab import interp

    with dask.config.set({"goesvfi.interp.curved": curved}):
        t0 = time.perf_counter()
        out = interp.interpolate_sequence(keys, factor=factor, method=method, kind="field")
        return out, time.perf_counter() - t0


def end_to_end(size: int, frames: int, factor: int, rounds: int) -> None:
    """Seconds of ``goesvfi-lab interpolate`` on sample NetCDF, two-scan vs curved, medians of interleaved runs."""
    import tempfile

    import dask

    from goesvfi_lab import config  # noqa: F401 — the defaults first: a set() before them would drop them on exit
    from goesvfi_lab.cli import main as cli
    from goesvfi_lab.sample import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        write_sample(os.path.join(tmp, "in"), frames=frames, size=(size, size), fmt="nc", seed=1)
        seconds: dict[bool, list[float]] = {False: [], True: []}
        for r in range(rounds):
            for curved in (False, True) if r % 2 == 0 else (True, False):
                with dask.config.set({"goesvfi.interp.curved": curved}):
                    t0 = time.perf_counter()
                    argv = ["interpolate", os.path.join(tmp, "in"), "-o", os.path.join(tmp, f"out-{curved}")]
                    cli([*argv, "--factor", str(factor), "--method", "flow", "--overwrite"])
                    seconds[curved].append(time.perf_counter() - t0)
    two, cur = (statistics.median(seconds[c]) for c in (False, True))
    print(
        f"\n## goesvfi-lab interpolate, {frames} sample NetCDF scans {size}², factor {factor} (reads and PNGs included)"
    )
    print(f"two scans {two:.2f} s, curved {cur:.2f} s: ×{cur / two:.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--datasets", nargs="*", default=["sample", "vortex", "translate"])
    ap.add_argument("--factors", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--keys", type=int, default=5, help="input scans per sequence")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (medians reported)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--end-to-end", action="store_true", help="also time goesvfi-lab interpolate on NetCDF")
    args = ap.parse_args(argv)
    print_machine()
    if args.end_to_end:
        end_to_end(256 if args.quick else 512, 12, 4, args.rounds)
    from goesvfi_lab import interp

    interp.interpolate(np.zeros((64, 64), np.float32), np.ones((64, 64), np.float32), 0.5, method="flow")  # warm-up
    rows = []
    for name in args.datasets:
        size = {"sample": 512 if args.quick else 1000}.get(name, 256 if args.quick else 512)
        for factor in args.factors:
            truth, unit = truth_sequence(name, size, factor, args.keys)
            keys, peak = truth[::factor], data_range(truth)
            idx = [i for i in range(len(truth)) if i % factor]
            half = [i for i in idx if 2 * (i % factor) == factor]
            print(f"\n## {name} {size}², {args.keys} scans, factor {factor} ({len(idx)} regenerated frames)")
            print(f"{'method':22} {'PSNR dB':>8} {'RMSE':>9} {'RMSE t=½':>9} {'s/frame':>8}", flush=True)
            floor = floor_rmse(truth, idx, unit)
            results: dict[str, list] = {}
            seconds: dict[str, list[float]] = {"linear": [], "fast": [], "flow (two scans)": [], "flow curved": []}
            for r in range(args.rounds):
                order = list(seconds) if r % 2 == 0 else list(reversed(seconds))
                for label in order:
                    method = label if label in ("linear", "fast") else "flow"
                    out, dt = run(keys, factor, method, label == "flow curved")
                    results[label] = out
                    seconds[label].append(dt / len(idx))
            for label, out in results.items():
                err = lambda ids: float(
                    np.sqrt(np.nanmean([np.nanmean((out[i] - truth[i]).astype(np.float64) ** 2) for i in ids]))
                )  # noqa: E731,E501
                p = float(np.mean([psnr(out[i], truth[i], peak) for i in idx]))
                s = statistics.median(seconds[label])
                print(f"{label:22} {p:8.2f} {err(idx):9.4f} {err(half):9.4f} {s:8.3f}", flush=True)
                row = {"dataset": name, "size": size, "factor": factor, "method": label, "unit": unit}
                rows.append(row | {"psnr": p, "rmse": err(idx), "rmse_half": err(half), "seconds_per_frame": s})
            fp = 20 * np.log10(peak / floor)
            print(f"{'12-bit floor':22} {fp:8.2f} {floor:9.4f} {floor:9.4f} {'':>8}", flush=True)
            two = next(r for r in rows[-len(seconds) :] if r["method"] == "flow (two scans)")
            cur = next(r for r in rows[-len(seconds) :] if r["method"] == "flow curved")
            gain, cost = cur["psnr"] - two["psnr"], cur["seconds_per_frame"] / two["seconds_per_frame"]
            print(f"curved − two scans: {gain:+.2f} dB, time ×{cost:.2f}; curved at t=½ / floor: "
                  f"{cur['rmse_half'] / floor:.1f}×", flush=True)  # fmt: skip
            rows.append({"dataset": name, "size": size, "factor": factor, "method": "floor", "rmse": floor})
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
