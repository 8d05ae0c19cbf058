"""``goesvfi_lab.query`` on a read-only store gives BatchQueue's pages, counts, positions and stats."""

from __future__ import annotations

import random
import time

import pytest

from goesvfi_lab import policy, query
from goesvfi_lab.model import CLAIMED, BatchJob, JobPriority, JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.store import Store


def _make(path, pol: str) -> BatchQueue:
    rng = random.Random(7)
    q = BatchQueue(store=path, policy=pol)
    jobs = [
        BatchJob(
            name=f"j{i:02d}",
            inputs=[f"/in/{i}/{k}.png" for k in range(2 + rng.randrange(6))],
            output_dir=f"/out/j{i:02d}",
            priority=JobPriority(rng.randrange(5)),
            owner=rng.choice(["ann", "bob", "cat"]),
        )
        for i in range(40)
    ]
    q.add_jobs(jobs)
    for job, status in zip(
        rng.sample(jobs, 12),
        [JobStatus.RUNNING] * 2
        + [JobStatus.QUEUED] * 2
        + [JobStatus.COMPLETED] * 4
        + [JobStatus.FAILED] * 2
        + [JobStatus.CANCELLED] * 2,
    ):
        claim = {"claimed_by": q.claimer, "heartbeat": time.time()} if status in CLAIMED else {}
        q.store.update(job.id, status=status, **claim)
    for job in rng.sample(q.store.jobs([JobStatus.PENDING]), 3):
        q.set_priority(job.id, JobPriority.URGENT)
    return q


def _rows(jobs):
    return [(j.id, j.status, j.position) for j in jobs]


@pytest.mark.parametrize("pol", policy.POLICIES)
def test_pages_counts_and_positions_match_the_queue(tmp_path, pol):
    q = _make(tmp_path / "q.sqlite3", pol)
    with Store(tmp_path / "q.sqlite3", readonly=True) as store:
        for status in (None, "pending", ["running", "queued"], [JobStatus.COMPLETED, JobStatus.FAILED]):
            assert query.count(store, status) == q.count(status)
            for order in ("queue", "submitted"):
                for limit, offset in ((None, 0), (5, 0), (7, 3), (10, 25), (4, 100)):
                    got = query.jobs(store, status, policy=pol, order=order, limit=limit, offset=offset)
                    assert _rows(got) == _rows(q.jobs(status, order=order, limit=limit, offset=offset))
        # positions on their own agree with the policy's order of the pending jobs
        ordered = policy.order(store.entries(pol), pol, store.active_by_owner())
        expected = policy.positions(ordered)
        some = [e.id for e in ordered[::3]]
        assert query.positions(store, pol, some) == {i: expected[i] for i in some}
        assert q._positions(some).items() >= {i: expected[i] for i in some}.items()
        waiting = query.jobs(store, "pending", policy=pol)
        assert [j.position for j in waiting] == list(range(1, len(waiting) + 1))
        assert all(j.position == 0 for j in query.jobs(store, ["running", "queued"], policy=pol))


def test_counts_and_stats_match_the_queue(tmp_path):
    q = _make(tmp_path / "q.sqlite3", "priority")
    with Store(tmp_path / "q.sqlite3", readonly=True) as store:
        c = query.counts(store)
        assert c.jobs == q.store.counts.jobs and c.frames_total == q.store.counts.frames_total
        s, expected = query.stats(store), q.stats()
        for field in (
            "total",
            "pending",
            "queued",
            "running",
            "completed",
            "failed",
            "cancelled",
            "frames_done",
            "frames_total",
            "success_rate",
            "progress",
        ):
            assert getattr(s, field) == getattr(expected, field), field
        assert s.state == "running"  # this process's queue holds the queued / running jobs: a live claim
        assert query.stale(store) == set()


def test_stale_claims_are_read_not_recovered(tmp_path):
    path = tmp_path / "q.sqlite3"
    with Store(path) as store:
        job = BatchJob(name="x", inputs=["/a.png", "/b.png"], output_dir="/out/x")
        store.add([job])
        store.update(job.id, status=JobStatus.RUNNING, claimed_by="elsewhere:1:gone", heartbeat=1.0)
    with Store(path, readonly=True) as store:
        assert query.stale(store) == {job.id}
        assert query.stats(store).state == "idle"  # the only claim is a dead queue's
        assert store.get(job.id).status == JobStatus.RUNNING
    with Store(path) as store:
        assert store.recover() == [job.id]  # what the next queue to open it does
