"""Behaviours the issue asks to show on both cluster kinds; each takes a connected client.

test_engine_local.py runs them on an in-process LocalCluster, test_engine_cluster.py on ``dask
scheduler`` + two ``dask worker`` processes. ``settings`` lets the caller send the jobs to the
GPU worker (``{"device": "gpu"}``) so the work queues up on one worker.
"""

from __future__ import annotations

import os
import time

import dask
from _engine_support import make_frames, wait_for
from distributed import Event

from goesvfi_lab.engine import layout
from goesvfi_lab.model import BatchJob, JobPriority, JobStatus
from goesvfi_lab.queue import BatchQueue


def queue(client, tmp_path, **kw) -> BatchQueue:
    """A queue on ``client`` with a fresh store, recording every event as (time, name, job, message)."""
    q = BatchQueue(cluster=client, store=tmp_path / "queue.sqlite3", **kw)
    q.events_seen = []
    q.on("*", lambda m: q.events_seen.append((time.monotonic(), m["event"], m.get("job_id"), m)))
    return q


def job(tmp_path, name, n=4, size=32, factor=2, seed=None, **kw) -> BatchJob:
    inputs = make_frames(tmp_path / "in" / name, n, size, seed=sum(map(ord, name)) if seed is None else seed)
    kw.setdefault("method", "linear")
    return BatchJob(name=name, inputs=inputs, output_dir=str(tmp_path / "out" / name), factor=factor, **kw)


def queued_on_workers(client) -> int:
    """Our pair tasks that workers hold, waiting for a thread (or a resource) to run them."""

    def count(dask_worker) -> int:
        return sum(
            1
            for ts in dask_worker.state.tasks.values()
            if str(ts.key).startswith("vfi-") and "-asm-" not in str(ts.key) and ts.state in ("ready", "constrained")
        )

    return sum(client.run(count).values())


def executing(client) -> int:
    """Tasks running on worker threads right now (a cancelled future's task keeps running until it stops)."""
    return sum(client.run(lambda dask_worker: len(dask_worker.state.executing)).values())


def pause_holds_and_resume_continues(client, tmp_path, settings=None) -> None:
    with dask.config.set({"goesvfi.queue.window-seconds": 0}):  # a window of 2 tasks per slot: most jobs wait
        _pause_holds_and_resume_continues(client, tmp_path, settings)


def _pause_holds_and_resume_continues(client, tmp_path, settings=None) -> None:
    q = queue(client, tmp_path)
    ids = [q.add_job(job(tmp_path, f"p{i}", n=3, size=128, factor=8, settings=dict(settings or {}))) for i in range(6)]
    q.start(preload=["linear"])
    try:
        wait_for(lambda: q.stats().completed >= 1, 60, what="a first job")
        q.pause()
        assert q.paused and q.paused_reason == "paused by the user"
        wait_for(lambda: q.inflight == 0, 60, what="submitted pairs to finish")
        held = q.stats()
        assert held.pending >= 1  # nothing lost: the rest waits
        time.sleep(1.0)
        now = q.stats()
        assert (now.completed, now.pending, now.frames_done) == (held.completed, held.pending, held.frames_done), (
            now,
            held,
        )
        q.resume()
        assert q.wait(120)
        assert [q.job(j).status for j in ids] == [JobStatus.COMPLETED] * 6
        assert [e[1] for e in q.events_seen if e[1].startswith("queue_")] == ["queue_paused", "queue_resumed"]
    finally:
        q.stop()


def cancel_pending_and_running(client, tmp_path, settings=None) -> None:
    settings = dict(settings or {})
    q = queue(client, tmp_path, max_concurrent=1)
    long = q.add_job(job(tmp_path, "long", n=2, size=384, factor=96, priority=JobPriority.HIGH, settings=settings))
    waiting = q.add_job(job(tmp_path, "waiting", n=3, priority=JobPriority.LOW, settings=settings))
    q.start(preload=["linear"])
    try:
        out = tmp_path / "out" / "long"
        wait_for(lambda: out.exists() and any(n.endswith(".png") for n in os.listdir(out)), 60, what="first frames")
        assert q.job(waiting).status == JobStatus.PENDING
        assert q.cancel(waiting)  # still pending: it never runs
        t0 = time.monotonic()
        assert q.cancel(long)
        assert q.job(long).status == JobStatus.CANCELLED
        wait_for(lambda: executing(client) == 0, 10, what="the running task to notice the stop")
        assert time.monotonic() - t0 < 2.0  # the pair alone would run for several seconds more
        wait_for(lambda: not out.exists(), 10, what="partial outputs removed")
        time.sleep(0.5)
        assert not out.exists()
        assert not (tmp_path / "out" / "waiting").exists()
        assert q.job(waiting).status == JobStatus.CANCELLED
        assert {e[2] for e in q.events_seen if e[1] == "job_cancelled"} == {long, waiting}
        assert not q.cancel(long)  # already finished
    finally:
        q.stop()


def failures_retry_with_growing_backoff(client, tmp_path, settings=None) -> None:
    """A failure that can go away (an input not there yet) is retried with growing waits, then fails."""
    inputs = make_frames(tmp_path / "in", 3, 32)
    os.remove(inputs[1])
    q = queue(client, tmp_path)
    jid = q.add_job(
        BatchJob(
            name="bad", inputs=inputs, output_dir=str(tmp_path / "out"), method="linear", settings=dict(settings or {})
        )
    )
    with dask.config.set({"goesvfi.retry.base": 0.3, "goesvfi.retry.cap": 5.0, "goesvfi.retry.max-attempts": 4}):
        q.start(preload=["linear"])
        try:
            assert q.wait(60)
            j = q.job(jid)
            assert j.status == JobStatus.FAILED and j.attempts == 4
            assert "FrameError" in j.error and "f001.png: no such file" in j.error and "after 4 attempts" in j.error
            retries = [e for e in q.events_seen if e[1] == "job_retrying"]
            assert [r[3]["delay"] for r in retries] == [0.3, 0.6, 1.2]
            failed = [e for e in q.events_seen if e[1] == "job_failed"]
            assert len(failed) == 1
            t = [r[0] for r in retries] + [failed[0][0]]
            gaps = [b - a for a, b in zip(t, t[1:])]
            assert all(g >= d for g, d in zip(gaps, (0.3, 0.6, 1.2))), gaps  # each retry waited its delay
            assert gaps[0] < gaps[2], gaps  # and the waits grew (each gap also holds a run: noisy on a busy host)
        finally:
            q.stop()


def timeout_stops_and_fails(client, tmp_path, settings=None) -> None:
    q = queue(client, tmp_path)
    jid = q.add_job(job(tmp_path, "slow", n=2, size=384, factor=96, settings={"timeout": 1.0, **(settings or {})}))
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        j = q.job(jid)
        assert j.status == JobStatus.FAILED and "timed out after 1 s" in j.error
        assert j.attempts == 1  # a timeout is not retried: it would time out again
        wait_for(lambda: executing(client) == 0, 10, what="the task to stop")
        out = tmp_path / "out" / "slow"
        n = len(os.listdir(out))
        time.sleep(0.5)
        assert len(os.listdir(out)) == n  # nothing written after the stop
        assert n < 97
        assert layout.temporaries(str(out)) == []
    finally:
        q.stop()


PRIORITY_PLAN = [
    ("l1", JobPriority.LOW),
    ("n1", JobPriority.NORMAL),
    ("u1", JobPriority.URGENT),
    ("n2", JobPriority.NORMAL),
    ("b1", JobPriority.BACKGROUND),
    ("u2", JobPriority.URGENT),
    ("h1", JobPriority.HIGH),
    ("n3", JobPriority.NORMAL),
]
PRIORITY_EXPECTED = ["u1", "u2", "h1", "n1", "n2", "n3", "l1", "b1"]


def backlog_follows_priority_then_fifo(client, tmp_path, settings=None, gate_resources=None) -> None:
    """Everything is handed to Dask while the worker is busy; it must pick by the encoded priority."""
    gate_name = f"gate-{os.getpid()}-{time.monotonic_ns()}"
    gate = Event(gate_name, client=client)

    def hold(name):
        from distributed import Event

        Event(name).wait(120)
        return "gate"

    settings = dict(settings or {})
    with dask.config.set({"goesvfi.queue.window-factor": 100}):
        blocker = client.submit(hold, gate_name, priority=10**12, pure=False, resources=gate_resources)
        wait_for(lambda: executing(client) >= 1, 30, what="the gate task to occupy the worker")
        q = queue(client, tmp_path)
        first = {n: q.add_job(job(tmp_path, n, n=2, priority=p, settings=settings)) for n, p in PRIORITY_PLAN[:3]}
        q.start(preload=["linear"])
        try:
            # a pair and an assemble task per job (the assemble waits on the pair inside Dask)
            wait_for(lambda: q.inflight == 6, 30, what="the first jobs to be submitted")
            rest = {n: q.add_job(job(tmp_path, n, n=2, priority=p, settings=settings)) for n, p in PRIORITY_PLAN[3:]}
            wait_for(lambda: q.inflight == 16, 30, what="every job submitted")
            # the futures exist on the client at once; the tasks reach the scheduler and the worker a little
            # later, and the gate opening must not overtake them (it did on a loaded CI machine)
            wait_for(lambda: queued_on_workers(client) == 8, 30, what="every pair waiting on the worker")
            held = client.run(
                lambda dask_worker: sorted(  # for the failure message: what the worker will pick from
                    (ts.priority, ts.key, ts.state)
                    for ts in dask_worker.state.tasks.values()
                    if str(ts.key).startswith("vfi-")
                )
            )
            gate.set()
            assert blocker.result(30) == "gate"
            assert q.wait(60)
            names = {v: k for k, v in {**first, **rest}.items()}
            order = [names[e[2]] for e in q.events_seen if e[1] == "job_completed"]
            assert order == PRIORITY_EXPECTED, (order, names, held)
        finally:
            q.stop()
            gate.clear()
