"""Predicted vs actual wall time of whole batches: ``make demo``'s batch and a RIFE batch.

On an embedded LocalCluster (started before the first batch: cluster start-up is not batch time), each
batch is predicted the way the notebook preview does: one pair of the first sequence timed in this
process on one thread, as many copies at once as this machine runs slots side by side; the other
sequences' kinds scaled from the cost table; ``goesvfi_lab.estimator.estimate_jobs`` for the model and
the calibration from the jobs that finished on the same store. Then it runs; actual = from the first
job added to the last one finished. The batches run twice, so the second round shows calibration from
a batch of the same method.

    python benchmarks/estimate.py                 # the table (about a minute on 2 cores)
    python benchmarks/estimate.py --components    # the per-part timings behind estimates.Costs
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

BATCHES = (("make demo (auto)", "auto"), ("rife", "rife"))
SETTINGS = {"fps": 24, "video": True}  # make demo's jobs
FACTOR = 4


def run_batches(root: Path, rounds: int) -> list[dict]:
    import goesvfi_lab as gl
    from goesvfi_lab.bands import auto_cmap
    from goesvfi_lab.demo import make_data
    from goesvfi_lab.discover import FileFilter, group_sequences
    from goesvfi_lab.estimator import estimate_jobs, time_interp, work_of

    make_data(root / "data")
    seqs = group_sequences(FileFilter(extensions=[".nc", ".png"]).scan(root / "data"))
    q = gl.BatchQueue(cluster=None, store=root / "queue.sqlite")
    q.start()
    workers = q.client.scheduler_info()["workers"].values()
    slots = sum(int(w["nthreads"]) for w in workers)
    measured: dict = {}
    rows = []
    try:
        for r in range(rounds):
            for label, method in BATCHES:
                inputs = [list(s.paths) for s in seqs]
                first = work_of(inputs[0], FACTOR, method, SETTINGS)  # the preview's selected sequence
                if first.key not in measured:
                    measured[first.key] = time_interp(
                        inputs[0][0],
                        inputs[0][1],
                        first.method,
                        FACTOR,
                        first.kind,
                        threads=1,
                        concurrent=min(slots, os.cpu_count() or 1),
                    )
                est = estimate_jobs(
                    inputs,
                    FACTOR,
                    method,
                    SETTINGS,
                    slots=slots,
                    finished=q.jobs("completed"),
                    measured=measured,
                    measure=False,
                )
                t0 = time.perf_counter()
                for s in seqs:
                    folder = Path(s.paths[0]).parent.name
                    q.add_job(
                        gl.BatchJob(
                            name=f"{folder}-{method}-{r}",
                            inputs=s,
                            factor=FACTOR,
                            method=method,
                            output_dir=root / "out" / f"{method}-{r}" / folder,
                            settings={**SETTINGS, "cmap": auto_cmap(s.paths[0], default="ir")},
                        )
                    )
                q.wait()
                actual = time.perf_counter() - t0
                p = est.prediction
                rows.append(
                    {
                        "batch": f"{label} #{r + 1}",
                        "methods": ", ".join(sorted({w.method for w in est.works})),
                        "frames": sum(w.frames_total for w in est.works),
                        "uncal": p.uncalibrated,
                        "cal": p.seconds if p.factor is not None else None,
                        "factor": p.factor,
                        "actual": actual,
                        "cold": ", ".join(p.cold) or "-",
                    }
                )
                time.sleep(1.0)  # let the host settle between batches
    finally:
        q.stop()
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| batch | methods | frames | predicted, uncalibrated (s) | predicted, calibrated (s) | actual (s) "
        "| actual / predicted |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        best = r["cal"] if r["cal"] is not None else r["uncal"]
        cal = "-" if r["cal"] is None else f"{r['cal']:.1f} (×{r['factor']:.2f})"
        ratio = f"{r['actual'] / best:.2f}" + ("" if r["cal"] is not None else " (uncalibrated)")
        lines.append(
            f"| {r['batch']} | {r['methods']} | {r['frames']} | {r['uncal']:.1f} | {cal} | "
            f"{r['actual']:.1f} | {ratio} |"
        )
    return "\n".join(lines)


def components() -> None:
    """Per-part seconds on one thread (what estimates.Costs holds), at two frame sizes."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from datetime import datetime, timedelta, timezone

    import numpy as np
    import torch

    from goesvfi_lab.frames import read_frame, render, write_cube, write_png, write_video
    from goesvfi_lab.sample import write_sample

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for size in (256, 768):
            d = Path(tmp) / str(size)
            nc = write_sample(d / "nc", frames=4, size=(size, size), fmt="nc")
            png = write_sample(d / "png", frames=4, size=(size, size), fmt="png")
            mp = size * size / 1e6
            read_frame(nc[0]), read_frame(png[0])

            def timed(fn, n):
                t0 = time.perf_counter()
                for i in range(n):
                    fn(i)
                return (time.perf_counter() - t0) / n

            fields = [read_frame(p) for p in nc]
            rn = timed(lambda i: read_frame(nc[i % 4]), 8)
            rp = timed(lambda i: read_frame(png[i % 4]), 8)
            wp = timed(lambda i: write_png(d / f"o{i}.png", render(fields[i % 4], "enhanced")), 8)
            frames = [str(d / f"o{i % 8}.png") for i in range(40)]
            v40 = timed(lambda i: write_video(d / "v.mp4", frames, fps=24), 1)
            v5 = timed(lambda i: write_video(d / "v5.mp4", frames[:5], fps=24), 1)
            times = [datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=i) for i in range(40)]
            c40 = timed(lambda i: write_cube(d / "c.nc", [fields[k % 4] for k in range(40)], times), 1)
            c5 = timed(lambda i: write_cube(d / "c5.nc", [fields[k % 4] for k in range(5)], times[:5]), 1)
            npy = timed(lambda i: np.save(d / f"f{i}.npy", fields[i % 4]), 8)
            print(
                f"{size}²: read nc {rn * 1e3:.1f} ms, png {rp * 1e3:.1f} ms; render+write png {wp / mp:.3f} s/MP; "
                f"npy {npy / mp:.4f} s/MP; mp4 {(v40 - v5) / 35 / mp:.3f} s/MP/frame; "
                f"cube {(c40 - c5) / 35 / mp:.3f} s/MP/frame"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="times to run the pair of batches (default 2)")
    parser.add_argument("--components", action="store_true", help="time the parts of a job instead")
    parser.add_argument("--keep", help="working folder to keep (default: a temporary one)")
    args = parser.parse_args()
    __import__("_machine").print_machine()  # CPU model, torch capability and threads
    if args.components:
        components()
        return 0
    root = Path(args.keep or tempfile.mkdtemp(prefix="goesvfi-estimate-"))
    if root.exists() and args.keep:
        shutil.rmtree(root)
    try:
        rows = run_batches(root, args.rounds)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
