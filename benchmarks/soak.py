"""Soak: many short jobs, injected failures, a worker SIGKILLed mid-run — and nothing may be lost.

A real ``BatchQueue`` on a LocalCluster of worker processes (with nannies). One job in
``1/fail-rate`` has a corrupt input (a deterministic, known set), so it must end FAILED — at its first
attempt, since a corrupt file is not retried; every other job must end COMPLETED with its
frames on disk, decodable, and no temporaries.
When ``--kill-at`` of the jobs are finished, one worker process is SIGKILLed (its nanny starts a new
one). At the end every job is accounted for:

    completed   COMPLETED, outputs verified on disk
    failed      FAILED, and it was one of the injected failures (its error names the corrupt file)
    retried     attempts that failed and were tried again (job_retrying events), interruptions included
    unexpected  a job that should have completed but FAILED (counted, and the run exits 1)
    lost        everything else: not finished, or COMPLETED without valid outputs — must be 0

    python benchmarks/soak.py [--jobs 2000] [--fail-rate 0.05] [--workers 2] [--kill-at 0.3] [--json out.json]

The circuit breaker is off for the run (5 % of jobs failing would, by design, pause a real queue when
a few fail back to back); retries (of the killed worker's jobs) back off from 0.2 s instead of 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time


def make_inputs(root: str, pairs: int, size: int) -> tuple[list[tuple[str, str]], tuple[str, str]]:
    """``pairs`` distinct good frame pairs, and one pair whose second frame is a truncated PNG."""
    import numpy as np

    from goesvfi_lab.frames import write_png

    rng = np.random.default_rng(0)
    good = []
    for k in range(pairs):
        a, b = (os.path.join(root, f"pair{k:03d}", f"f{i}.png") for i in range(2))
        for p in (a, b):
            write_png(p, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        good.append((a, b))
    bad_a = os.path.join(root, "bad", "f0.png")
    bad_b = os.path.join(root, "bad", "f1.png")
    write_png(bad_a, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    write_png(bad_b, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    with open(bad_b, "r+b") as f:
        f.truncate(os.path.getsize(bad_b) // 2)
    return good, (bad_a, bad_b)


def verify(job) -> bool:
    """The job's folder holds exactly its frames, each decodes, the manifest matches, nothing partial."""
    from goesvfi_lab.engine import layout
    from goesvfi_lab.errors import FrameError
    from goesvfi_lab.frames import read_frame

    total = layout.n_frames(len(job.inputs), job.factor)
    try:
        names = sorted(n for n in os.listdir(job.output_dir) if layout.is_frame_name(n))
    except FileNotFoundError:
        return False
    if names != [layout.frame_name(i) for i in range(total)] or layout.temporaries(job.output_dir):
        return False
    manifest = layout.read_manifest(job.output_dir)
    if manifest is None or manifest.get("frames") != total:
        return False
    try:
        for name in names:
            read_frame(os.path.join(job.output_dir, name))
    except FrameError:
        return False
    return not os.path.exists(os.path.join(job.output_dir, ".goesvfi.lock"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--fail-rate", type=float, default=0.05, help="share of jobs with a corrupt input")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (one thread each)")
    ap.add_argument("--kill-at", type=float, default=0.3, help="SIGKILL a worker when this share of jobs is done")
    ap.add_argument("--size", type=int, default=16, help="frame side in pixels")
    ap.add_argument("--factor", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    __import__("_machine").print_machine()  # CPU model, torch capability and threads

    import dask
    from distributed import Client, LocalCluster

    from goesvfi_lab.model import BatchJob, JobStatus
    from goesvfi_lab.queue import BatchQueue

    work = tempfile.mkdtemp(prefix="goesvfi-soak-")
    config = {
        "goesvfi.queue.circuit-breaker": 0,
        "goesvfi.retry.base": 0.2,
        "goesvfi.retry.cap": 2.0,
        "goesvfi.queue.metrics-interval": 0.5,
        "distributed.scheduler.worker-saturation": "inf",
    }
    try:
        good, bad = make_inputs(os.path.join(work, "in"), 50, args.size)
        every = max(round(1 / args.fail_rate), 1) if args.fail_rate > 0 else 0
        jobs, injected = [], set()
        for i in range(args.jobs):
            broken = every and i % every == every - 1
            inputs = bad if broken else good[i % len(good)]
            job = BatchJob(
                name=f"soak-{i:05d}",
                inputs=list(inputs),
                output_dir=os.path.join(work, "out", f"{i:05d}"),
                factor=args.factor,
                method="linear",
            )
            jobs.append(job)
            if broken:
                injected.add(job.id)
        dask.config.set(config)  # for the whole run: retries read it when they happen
        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
        )
        client = Client(cluster)
        try:
            q = BatchQueue(cluster=client, store=os.path.join(work, "queue.sqlite3"))
            retried = [0]
            lock = threading.Lock()

            def on_retry(message: dict) -> None:
                with lock:
                    retried[0] += 1

            q.on("job_retrying", on_retry)
            q.add_jobs(jobs)
            killed = None
            t0 = time.perf_counter()
            q.start(preload=["linear"])
            deadline = time.monotonic() + args.timeout
            shown = time.monotonic()
            while True:
                s = q.stats()
                if time.monotonic() - shown > 15:
                    shown = time.monotonic()
                    print(
                        f"  {time.perf_counter() - t0:6.0f} s: {s.completed} completed, {s.failed} failed, "
                        f"{s.pending} pending, {s.queued + s.running} running",
                        flush=True,
                    )
                if killed is None and s.completed + s.failed >= args.kill_at * args.jobs:
                    pids = client.run(os.getpid)
                    worker, killed = min(pids.items())
                    os.kill(killed, signal.SIGKILL)
                    print(
                        f"  SIGKILLed worker {worker} (pid {killed}) at {s.completed + s.failed} jobs done", flush=True
                    )
                if s.pending + s.queued + s.running == 0:
                    break
                if time.monotonic() > deadline:
                    print(
                        f"  timed out after {args.timeout:g} s: {s.pending} pending, {s.queued + s.running} running; "
                        f"loop error: {q.loop_error!r}",
                        flush=True,
                    )
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - t0
            q.stop()
        finally:
            client.close()
            cluster.close(timeout=60)
        finished = {j.id: j for j in q.store.jobs()}
        completed = failed = unexpected = lost = 0
        for job in jobs:
            got = finished.get(job.id)
            if got is None:
                lost += 1
            elif got.status == JobStatus.COMPLETED and job.id not in injected and verify(got):
                completed += 1
            elif got.status == JobStatus.FAILED and job.id in injected and bad[1] in (got.error or ""):
                failed += 1
            elif got.status == JobStatus.FAILED:
                unexpected += 1
                print(f"  unexpected failure {got.name}: {got.error}", flush=True)
            else:
                lost += 1
                print(f"  lost {got.name}: {got.status.value} {got.error or ''}", flush=True)
        frames = sum(f.frames_total for f in finished.values() if f.status == JobStatus.COMPLETED)
        figures = {
            "jobs": args.jobs,
            "injected_failures": len(injected),
            "completed": completed,
            "failed": failed,
            "retried": retried[0],
            "unexpected_failures": unexpected,
            "lost": lost,
            "worker_killed": killed is not None,
            "seconds": round(elapsed, 1),
            "jobs_per_s": round(args.jobs / elapsed, 1),
            "frames": frames,
            "workers": args.workers,
            "frame_size": args.size,
            "factor": args.factor,
        }
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:>{width}}  {value}")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(figures, fh, indent=1)
        ok = lost == 0 and unexpected == 0 and completed + failed == args.jobs
        print("OK: nothing lost" if ok else "FAILED: jobs lost or failed unexpectedly", flush=True)
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"working folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
