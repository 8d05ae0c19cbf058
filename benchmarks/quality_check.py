"""What the self-check (issue 16, goesvfi.quality) costs on ``make demo``'s batch: wall time with and without.

The batch is the demo's (goesvfi_lab/demo.py: its three sample sequences, one job each, factor 4, MP4,
mixed priorities, method auto) on one embedded LocalCluster made as the demo's queue makes it
(``make_local_cluster``), reused by every round so cluster start-up is not in the figure. Each round runs
the batch twice on fresh output folders, once with ``goesvfi.quality.enabled`` false and once true, in
alternating order (the shared 2-core host drifts); the table gives medians of the rounds.

- ``outputs``: start() to the last job_completed (every frame, MP4 written): what the check must not delay;
- ``wall``: start() to ``wait()`` returning, which also waits for the scores: the figure for the target;
- ``check share``: worker seconds of the check tasks over those of the job's own tasks (Dask's task stream):
  the compute the check costs, which the host's drift does not blur.

Target: wall overhead ≤ 10 %.

    python benchmarks/quality_check.py [--rounds 5] [--method auto]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def run_batch(cluster, root: Path, seqs: list, method: str, checked: bool, tag: str) -> tuple[float, float, int, float]:
    """(seconds to the last job's outputs, seconds to wait() returning, jobs scored, check's compute share)."""
    import dask
    from distributed import get_task_stream

    import goesvfi_lab as gl
    from goesvfi_lab.bands import auto_cmap
    from goesvfi_lab.demo import SCENES

    priority_of = {folder: prio for folder, _, prio in SCENES}
    with dask.config.set({"goesvfi.quality.enabled": checked}):
        q = gl.BatchQueue(cluster=cluster, store=root / f"{tag}.sqlite3")
        for seq in seqs:
            folder = Path(seq.paths[0]).parent.name
            q.add_job(
                gl.BatchJob(
                    name=folder,
                    inputs=seq,
                    output_dir=root / tag / folder,
                    factor=4,
                    method=method,
                    priority=priority_of[folder],
                    settings={"fps": 24, "video": True, "cmap": auto_cmap(seq.paths[0], default="ir")},
                )
            )
        done: list[float] = []
        q.on("job_completed", lambda event: done.append(time.perf_counter()))
        t0 = time.perf_counter()
        q.start()
        with get_task_stream(q.client) as stream:
            q.wait()
        wall = time.perf_counter() - t0
        jobs = q.jobs()
        q.stop()
    spent = {"job": 0.0, "check": 0.0}
    for task in stream.data:
        seconds = sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
        spent["check" if task["key"].startswith(("vfiqc-", "vfiqr-")) else "job"] += seconds
    if len(done) != len(seqs) or any(j.status.value != "completed" for j in jobs):
        raise RuntimeError(f"{tag}: not every job completed: {[(j.name, j.status.value, j.error) for j in jobs]}")
    scored = sum(1 for j in jobs if j.quality and j.quality.get("psnr") is not None)
    return max(done) - t0, wall, scored, spent["check"] / spent["job"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--method", default="auto")
    args = parser.parse_args(argv)
    __import__("_machine").print_machine()  # CPU model, torch capability and threads

    from goesvfi_lab.demo import make_data
    from goesvfi_lab.discover import FileFilter, group_sequences
    from goesvfi_lab.engine.cluster import make_local_cluster

    with tempfile.TemporaryDirectory(prefix="gvl-quality-bench-") as tmp:
        root = Path(tmp)
        make_data(root / "data")
        seqs = group_sequences(FileFilter(extensions=[".nc", ".png"]).scan(root / "data"))
        figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        scored, shares = 0, []
        with make_local_cluster() as cluster:
            run_batch(cluster, root, seqs, args.method, True, "warm-up")  # imports, models, first reads
            for r in range(args.rounds):
                for checked in (False, True) if r % 2 == 0 else (True, False):
                    tag = f"r{r}-{int(checked)}"
                    outputs, wall, n, share = run_batch(cluster, root, seqs, args.method, checked, tag)
                    figures[checked].append((outputs, wall))
                    if checked:
                        scored, shares = max(scored, n), [*shares, share]
                    print(
                        f"round {r}: check {'on ' if checked else 'off'} outputs {outputs:.2f} s, wall {wall:.2f} s"
                        + (f", check share {100 * share:.1f} %" if checked else "")
                    )
        med = {c: (statistics.median(o for o, _ in v), statistics.median(w for _, w in v)) for c, v in figures.items()}
        ratios = [on[1] / off[1] for off, on in zip(figures[False], figures[True])]
        print()
        print(f"demo batch: {len(seqs)} jobs, method {args.method}, {args.rounds} interleaved rounds, medians")
        print(f"{'self-check':<12}{'outputs (s)':>13}{'wall (s)':>11}{'jobs scored':>13}")
        print(f"{'off':<12}{med[False][0]:>13.2f}{med[False][1]:>11.2f}{0:>13}")
        print(f"{'on':<12}{med[True][0]:>13.2f}{med[True][1]:>11.2f}{scored:>13}")
        overhead = med[True][1] / med[False][1] - 1
        per_round = statistics.median(ratios) - 1
        outputs = statistics.median(on[0] / off[0] for off, on in zip(figures[False], figures[True])) - 1
        print(  # the per-round ratio is the figure: the host's load moves whole rounds between speeds
            f"wall overhead {100 * per_round:+.1f} % (median of per-round ratios; target <= +10 %; ratio of the"
            f" medians {100 * overhead:+.1f} %); outputs {100 * outputs:+.1f} %;"
            f" check share of worker time {100 * statistics.median(shares):.1f} %"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
