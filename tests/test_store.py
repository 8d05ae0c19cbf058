"""The SQLite job store: round trips, reopen semantics, ordering agreeing with the policy, counters."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time

import pytest

from goesvfi_lab import policy
from goesvfi_lab.model import BatchJob, JobPriority, JobStatus
from goesvfi_lab.store import SCHEMA_VERSION, Store, StoreError, default_store_path, new_claimer


def _job(i: int, **kw) -> BatchJob:
    kw.setdefault("priority", JobPriority(i % 5))
    return BatchJob(
        name=f"job-{i}",
        inputs=[f"/data/f{i}_{k}.png" for k in range(2 + i % 4)],
        output_dir=f"/out/job-{i}",
        factor=1 + i % 3,
        owner=["ann", "bob", "cat"][i % 3],
        settings={"fps": 24, "video": bool(i % 2)},
        **kw,
    )


def test_round_trip_keeps_every_field(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    job = _job(7, notes=["hello"])
    job.error = "boom"
    job.attempts = 2
    job.next_retry_at = 123.5
    store.add([job])
    back = store.get(job.id)
    assert back.to_dict() == job.to_dict()
    assert store.get("nope") is None


def test_file_is_wal_with_schema_version(tmp_path):
    path = tmp_path / "q.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_version_1_store_is_upgraded_in_place(tmp_path):
    path = tmp_path / "v1.sqlite3"
    with Store(path) as store:
        ids = store.add([_job(1), _job(2)])
    db = sqlite3.connect(path)  # what a session-1 goesvfi-lab left behind: no submission-order index
    db.execute("DROP INDEX jobs_by_created")
    db.execute("ALTER TABLE jobs DROP COLUMN runs")  # nor the run counter of version 3
    db.execute("ALTER TABLE jobs DROP COLUMN quality")  # nor the self-check's score of version 4
    db.execute("ALTER TABLE jobs DROP COLUMN quality_psnr")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        assert [j.id for j in store.jobs(order="submitted")] == ids
        assert [j.runs for j in store.jobs()] == [0, 0]
        assert [j.quality for j in store.jobs()] == [None, None]
        store.update(ids[1], quality={"psnr": 31.5, "rmse": 0.9})
        store.update(ids[0], quality={"psnr": 22.0, "rmse": 3.1})
        assert store.get(ids[1]).quality == {"psnr": 31.5, "rmse": 0.9}
        assert [j.id for j in store.jobs(order="quality")] == [ids[0], ids[1]]  # worst score first
        assert store.claim(ids[0], "me") and store.get(ids[0]).runs == 1
        plan = " ".join(
            r[-1]
            for r in store._db.execute("EXPLAIN QUERY PLAN SELECT id FROM jobs ORDER BY created_at, rowid LIMIT 10")
        )
        assert "jobs_by_created" in plan and "TEMP B-TREE" not in plan


def test_newer_schema_and_foreign_files_are_refused(tmp_path):
    newer = tmp_path / "newer.sqlite3"
    Store(newer).close()
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(newer)
    other = tmp_path / "other.sqlite3"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a goesvfi-lab store"):
        Store(other)


def test_default_path_is_in_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == str(tmp_path / "xdg" / "goesvfi-lab" / "queue.sqlite3")
    import dask

    with dask.config.set({"goesvfi.queue.store": str(tmp_path / "mine.db")}):
        assert default_store_path() == str(tmp_path / "mine.db")


_CLAIM_AND_DIE = """
import sys
from goesvfi_lab.store import Store, new_claimer
store = Store(sys.argv[1])
me = new_claimer("dying")
for jid in sys.argv[2:]:
    assert store.claim(jid, me)
store.update(sys.argv[-1], status="running")
print("claimed")
"""


def test_reopen_returns_dead_queues_active_jobs_to_pending(tmp_path):
    path = tmp_path / "q.sqlite3"
    store = Store(path)
    jobs = [_job(i) for i in range(6)]
    store.add(jobs)
    store.update(jobs[0].id, status=JobStatus.COMPLETED, frames_done=jobs[0].frames_total)
    store.update(jobs[1].id, status=JobStatus.FAILED, error="bad")
    store.update(jobs[2].id, status=JobStatus.CANCELLED)
    # another process claims two jobs and exits without releasing them
    out = subprocess.run(
        [sys.executable, "-c", _CLAIM_AND_DIE, str(path), jobs[3].id, jobs[4].id],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "claimed" in out.stdout
    # a live queue in this process holds job 5
    live = new_claimer("live")
    assert store.claim(jobs[5].id, live)
    store.close()

    reopened = Store(path)
    assert {j.id for j in reopened.jobs()} == {j.id for j in jobs}
    before = {j.id: j.status for j in reopened.jobs()}
    assert before[jobs[3].id] == JobStatus.QUEUED and before[jobs[4].id] == JobStatus.RUNNING
    recovered = reopened.recover()
    assert sorted(recovered) == sorted([jobs[3].id, jobs[4].id])
    after = {j.id: j.status for j in reopened.jobs()}
    assert after[jobs[0].id] == JobStatus.COMPLETED
    assert after[jobs[1].id] == JobStatus.FAILED
    assert after[jobs[2].id] == JobStatus.CANCELLED
    assert after[jobs[3].id] == after[jobs[4].id] == JobStatus.PENDING
    assert after[jobs[5].id] == JobStatus.QUEUED  # its queue is alive
    assert reopened.recover(claimer=live) == [jobs[5].id]  # ...until that queue itself says so


def test_claim_is_exclusive(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    other = Store(tmp_path / "q.sqlite3")
    job = _job(1)
    store.add([job])
    assert store.claim(job.id, new_claimer("a"))
    assert not other.claim(job.id, new_claimer("b"))
    with sqlite3.connect(tmp_path / "q.sqlite3") as db:
        (claimer,) = db.execute("SELECT claimed_by FROM jobs WHERE id=?", (job.id,)).fetchone()
    assert claimer.endswith(":a")


@pytest.mark.parametrize("pol", policy.POLICIES)
def test_sql_order_agrees_with_policy(tmp_path, pol):
    store = Store(tmp_path / "q.sqlite3")
    rng = random.Random(5)
    jobs = [_job(i, priority=JobPriority(rng.randrange(5))) for i in range(60)]
    store.add(jobs)
    for j in rng.sample(jobs, 10):  # some moved, some not pending
        store.update(j.id, seq=rng.uniform(0, 70))
    for j in rng.sample(jobs, 10):
        store.update(j.id, status=JobStatus.COMPLETED)
    pending = store.entries(pol)
    assert len(pending) == 50
    assert [e.id for e in policy.order(pending, pol)] == [e.id for e in policy.order(store.entries("fifo"), pol)]
    if pol != "fair":  # SQL already gives the policy order
        assert [e.id for e in pending] == [e.id for e in policy.order(pending, pol)]
        assert [e.id for e in store.entries(pol, limit=7)] == [e.id for e in pending[:7]]
    else:  # per-owner limit still lets the caller interleave the heads of every owner
        limited = store.entries(pol, limit=2)
        assert len(limited) == 6 and {e.owner for e in limited} == {"ann", "bob", "cat"}


def test_backing_off_jobs_wait(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    a, b = _job(1), _job(2)
    store.add([a, b])
    now = time.time()
    store.update(a.id, next_retry_at=now + 60)
    assert [e.id for e in store.entries("fifo", ready_at=now)] == [b.id]
    assert [e.id for e in store.entries("fifo", ready_at=now + 61)] == [a.id, b.id]
    assert store.next_retry_at() == pytest.approx(now + 60)


def test_counters_follow_writes(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    rng = random.Random(9)
    jobs = [_job(i) for i in range(40)]
    store.add(jobs)
    for _ in range(200):
        j = rng.choice(jobs)
        store.update(j.id, status=rng.choice(list(JobStatus)), frames_done=rng.randrange(j.frames_total + 1))
    kept = store.counts
    fresh = Store(tmp_path / "q.sqlite3").counts
    assert kept == fresh
    assert sum(kept.jobs.values()) == 40 == len(store)
    assert store.delete([JobStatus.COMPLETED, JobStatus.CANCELLED]) == fresh.jobs["completed"] + fresh.jobs["cancelled"]
    assert store.counts.jobs["completed"] == 0


def test_counts_know_unfinished_jobs_and_the_frames_they_still_owe(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    jobs = [_job(i) for i in range(4)]
    store.add(jobs)
    store.update(jobs[1].id, status=JobStatus.RUNNING, frames_done=2)
    store.update(jobs[2].id, status=JobStatus.FAILED, frames_done=1)
    store.update(jobs[3].id, status=JobStatus.QUEUED, frames_done=9)  # more than wanted never counts below 0
    assert store.counts.unfinished == 3
    assert store.counts.frames_left == (jobs[0].frames_total - 0) + (jobs[1].frames_total - 2) + 0


def test_update_guards_and_notes(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    job = _job(3)
    store.add([job])
    assert not store.update(job.id, expect=[JobStatus.RUNNING], status=JobStatus.FAILED)
    assert store.get(job.id).status == JobStatus.PENDING
    assert store.update(job.id, notes=["duplicate input skipped: b.png"])  # a spec field, kept in the JSON column
    assert store.get(job.id).notes == ["duplicate input skipped: b.png"]
    with pytest.raises(ValueError):
        store.update(job.id, id="other")


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "q.sqlite3"
    Store(path).close()
    code = (
        "import sys\n"
        "from goesvfi_lab.model import BatchJob\n"
        "from goesvfi_lab.store import Store\n"
        "s = Store(sys.argv[1])\n"
        "for i in range(50):\n"
        "    s.add([BatchJob(name=f'{sys.argv[2]}-{i}', inputs=['a', 'b'], output_dir='o')])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), tag]) for tag in ("x", "y")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert len(Store(path).jobs()) == 100


def test_readonly_open_reads_and_never_writes(tmp_path):
    path = tmp_path / "q.sqlite3"
    writer = Store(path)
    jobs = [_job(i) for i in range(4)]
    writer.add(jobs)
    look = Store(path, readonly=True)
    assert [j.id for j in look.jobs()] == [j.id for j in jobs] and look.counts.jobs["pending"] == 4
    writer.update(jobs[0].id, status=JobStatus.RUNNING, claimed_by="elsewhere:1:q", heartbeat=1.0)
    assert look.get(jobs[0].id).status == JobStatus.RUNNING  # sees a live writer's commits (WAL)
    assert look.stale_claims() == [jobs[0].id]
    for write in (
        lambda: look.add([_job(9)]),
        lambda: look.update(jobs[1].id, priority=4),
        lambda: look.claim(jobs[1].id, "me:1:q"),
        lambda: look.recover(),
        lambda: look.heartbeat("me:1:q"),
        lambda: look.delete([JobStatus.PENDING]),
    ):
        with pytest.raises(StoreError, match="read-only"):
            write()
    assert look.get(jobs[0].id).status == JobStatus.RUNNING and look.count() == 4
    look.close()
    writer.close()


def test_readonly_open_creates_migrates_nothing(tmp_path):
    missing = tmp_path / "nowhere" / "q.sqlite3"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        Store(missing, readonly=True)
    assert not missing.parent.exists()
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:  # a version-2 store: opened read-write it would be migrated
        db.execute("CREATE TABLE jobs (id TEXT)")
        db.execute("PRAGMA user_version = 2")
    before = old.read_bytes()
    with pytest.raises(StoreError, match="older than this"):
        Store(old, readonly=True)
    assert old.read_bytes() == before
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a usable goesvfi-lab store"):
        Store(junk, readonly=True)
