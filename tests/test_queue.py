"""The BatchQueue facade without a cluster: adding, ordering, positions, control of waiting jobs, stats."""

from __future__ import annotations

import os
import time

import pytest
from _engine_support import make_frames

from goesvfi_lab.model import BatchJob, JobPriority, JobStatus
from goesvfi_lab.queue import BatchQueue


def _q(tmp_path, **kw) -> BatchQueue:
    return BatchQueue(store=tmp_path / "q.sqlite3", **kw)


def _jobs(specs):
    return [
        BatchJob(
            name=n, inputs=[f"/in/{n}/{k}.png" for k in range(frames)], output_dir=f"/out/{n}", priority=p, owner=o
        )
        for n, p, frames, o in specs
    ]


SPECS = [
    ("a", JobPriority.NORMAL, 5, "ann"),
    ("b", JobPriority.LOW, 2, "bob"),
    ("c", JobPriority.URGENT, 9, "ann"),
    ("d", JobPriority.NORMAL, 3, "bob"),
    ("e", JobPriority.HIGH, 4, "cat"),
]


def names(jobs):
    return [j.name for j in jobs]


def test_positions_follow_the_policy(tmp_path):
    expected = {
        "priority": ["c", "e", "a", "d", "b"],
        "fifo": ["a", "b", "c", "d", "e"],
        "sjf": ["b", "d", "e", "a", "c"],
        "fair": ["c", "e", "d", "a", "b"],
    }
    for pol, order in expected.items():
        q = BatchQueue(store=tmp_path / f"{pol}.sqlite3", policy=pol)
        q.add_jobs(_jobs(SPECS))
        jobs = q.jobs()
        assert names(jobs) == order, pol
        assert [j.position for j in jobs] == [1, 2, 3, 4, 5]
        assert q.job(jobs[2].id).position == 3


@pytest.mark.parametrize("policy", ["priority", "fifo", "sjf", "fair"])
def test_pages_are_slices_of_the_whole_list(tmp_path, policy):
    q = BatchQueue(store=tmp_path / "q.sqlite3", policy=policy)
    specs = [(f"{n}{i}", p, f + i, o) for i in range(4) for n, p, f, o in SPECS]  # 20 jobs, 3 owners
    ids = q.add_jobs(_jobs(specs))
    q.store.update(ids[3], status="running")
    q.store.update(ids[7], status="completed")
    q.store.update(ids[11], status="failed")
    q.store.update(ids[12], status="cancelled")  # 16 waiting, 1 running, 3 finished

    def view(jobs):
        return [(j.id, j.status, j.position) for j in jobs]

    for order in ("queue", "submitted"):
        whole = q.jobs(order=order)
        assert len(whole) == q.count() == 20
        for size in (1, 3, 7, 20, 25):
            pages = [q.jobs(order=order, limit=size, offset=k) for k in range(0, 20, size)]
            assert view([j for page in pages for j in page]) == view(whole), (order, size)
        assert q.jobs(order=order, limit=5, offset=20) == []
    queue_order = q.jobs()
    assert [j.status for j in queue_order[:1]] == ["running"] and queue_order[0].position == 0
    assert [j.position for j in queue_order[1:17]] == list(range(1, 17))
    assert {j.status for j in queue_order[17:]} == {"completed", "failed", "cancelled"}
    submitted = q.jobs(order="submitted")
    assert [j.id for j in submitted] == ids  # the order they were added, whatever their state
    waiting = q.jobs("pending", order="submitted", limit=4, offset=2)
    assert [j.id for j in waiting] == [i for i in ids if i not in (ids[3], ids[7], ids[11], ids[12])][2:6]
    assert q.count("pending") == 16 and q.count(["completed", "failed"]) == 2
    for job in waiting:  # positions of a page agree with the whole queue order
        assert job.position == next(j.position for j in queue_order if j.id == job.id)
    with pytest.raises(ValueError, match="unknown job order"):
        q.jobs(order="random")


def test_move_and_set_priority_reorder_waiting_jobs(tmp_path):
    q = _q(tmp_path)
    ids = dict(zip("abcde", q.add_jobs(_jobs(SPECS))))
    q.move(ids["b"], 1)  # LOW job to the front: it takes the front job's level
    assert names(q.jobs()) == ["b", "c", "e", "a", "d"]
    assert q.job(ids["b"]).priority == JobPriority.URGENT
    q.move(ids["a"], 5)
    assert names(q.jobs()) == ["b", "c", "e", "d", "a"]
    q.set_priority(ids["d"], "background")
    assert names(q.jobs()) == ["b", "c", "e", "a", "d"]
    q.set_priority(ids["d"], JobPriority.HIGH)  # d arrived before e: FIFO inside the new level puts it first
    assert names(q.jobs()) == ["b", "c", "d", "e", "a"]


def test_only_waiting_jobs_can_be_reordered(tmp_path):
    q = _q(tmp_path)
    jid = q.add_job(_jobs(SPECS[:1])[0])
    q.store.update(jid, status=JobStatus.RUNNING)
    with pytest.raises(ValueError, match="only jobs that have not started"):
        q.move(jid, 1)
    with pytest.raises(ValueError):
        q.set_priority(jid, "urgent")
    with pytest.raises(KeyError):
        q.cancel("no-such-job")
    assert q.jobs()[0].position == 0  # running jobs sit at position 0


def test_cancel_retry_and_clear_without_a_cluster(tmp_path):
    q = _q(tmp_path)
    ids = q.add_jobs(_jobs(SPECS))
    seen = []
    q.on("job_cancelled", seen.append)
    assert q.cancel(ids[0]) and not q.cancel(ids[0])
    q.store.update(ids[1], status=JobStatus.FAILED, error="boom", attempts=3)
    q.store.update(ids[2], status=JobStatus.COMPLETED)
    assert [m["job_id"] for m in seen] == [ids[0]]
    assert q.retry_failed() == 1
    retried = q.job(ids[1])
    assert retried.status == JobStatus.PENDING and retried.attempts == 0 and retried.error is None
    assert q.retry(ids[0])  # a cancelled job can be queued again
    assert q.cancel(ids[0])
    assert q.clear_completed() == 1  # what its name says: the cancelled job stays
    assert ids[2] not in [j.id for j in q.jobs()] and ids[0] in [j.id for j in q.jobs()]
    assert q.clear_completed(cancelled=True) == 1
    assert q.retry_failed() == 0  # nothing failed any more: the view says so
    assert q.cancel_all() == 3
    assert q.stats().cancelled == 3


def test_stats_and_reopen(tmp_path):
    q = _q(tmp_path)
    ids = q.add_jobs(_jobs(SPECS))
    q.store.update(ids[0], status=JobStatus.COMPLETED, frames_done=9)
    q.store.update(ids[1], status=JobStatus.FAILED)
    q.store.update(ids[2], status=JobStatus.RUNNING, frames_done=5)
    s = q.stats()
    assert (s.total, s.pending, s.running, s.completed, s.failed) == (5, 2, 1, 1, 1)
    assert s.frames_total == 9 + 3 + 17 + 5 + 7 and s.frames_done == 14
    assert s.success_rate == 0.5
    # frames done of frames wanted: the failed job's 3 missing frames are not done
    assert s.progress == pytest.approx(14 / s.frames_total)
    assert s.eta_seconds is None  # nothing measured yet
    assert s.state == "idle"  # not started
    q.store.close()
    again = _q(tmp_path)  # a new kernel: the running job's queue is gone
    assert len(again.jobs()) == 5 and again.job(ids[2]).status == JobStatus.PENDING
    assert again.recovered == [ids[2]]


def test_an_empty_queue_has_no_eta(tmp_path):
    q = _q(tmp_path)
    s = q.stats()
    assert (s.total, s.eta_seconds, s.throughput, s.progress) == (0, None, 0.0, 0.0)  # not "0.0 s" before any job
    q.store.close()


def test_stats_stay_fast_with_many_jobs(tmp_path):
    q = _q(tmp_path)
    jobs = [BatchJob(name=f"j{i}", inputs=["a.png", "b.png", "c.png"], output_dir=f"o/{i}") for i in range(20_000)]
    t = time.perf_counter()
    q.add_jobs(jobs)
    assert time.perf_counter() - t < 10
    q.stats()
    t = time.perf_counter()
    for _ in range(100):
        s = q.stats()
    assert (time.perf_counter() - t) / 100 < 0.005
    assert s.pending == 20_000 and s.frames_total == 100_000


def test_add_directory_makes_one_job_per_sequence(tmp_path):
    from goesvfi_lab.sample import write_sample

    root = tmp_path / "data"
    make_frames(root / "cam-a", 4, 16, seed=1)
    make_frames(root / "cam-b", 3, 16, seed=2)
    make_frames(root / "single", 1, 16, seed=3)  # one frame: nothing to interpolate, no job
    write_sample(root / "goes", frames=3, size=(16, 16), fmt="png", seed=4)
    q = _q(tmp_path)
    ids = q.add_directory(root, tmp_path / "out", pattern="*.png", factor=3, priority="high", settings={"video": True})
    jobs = {j.name: j for j in (q.job(i) for i in ids)}
    assert set(jobs) == {"cam-a", "cam-b", next(n for n in jobs if n.startswith("G16-"))}
    assert len(jobs["cam-a"].inputs) == 4 and jobs["cam-a"].factor == 3
    assert jobs["cam-a"].output_dir == os.path.join(tmp_path, "out", "cam-a")
    assert all(j.priority == JobPriority.HIGH and j.settings == {"video": True} for j in jobs.values())
    goes = next(j for n, j in jobs.items() if n.startswith("G16-"))
    assert len(goes.inputs) == 3
