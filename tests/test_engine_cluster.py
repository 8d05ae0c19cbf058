"""The engine against ``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1 (one with GPU=1).

Each scenario of _engine_scenarios runs here too, with the jobs sent to the GPU worker where a
backlog on one worker is the point. Worker death and process restarts are only possible here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import _engine_scenarios as scenarios
import dask
import pytest
from _engine_support import FAULT_CONFIG, SubprocessCluster, check_outputs, make_frames, wait_for
from distributed import Client, get_task_stream

from goesvfi_lab.engine import layout
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

WORKERS = {"cpu": [], "gpu": ["--resources", "GPU=1"]}


@pytest.fixture(autouse=True)
def fast_config():
    with dask.config.set(FAULT_CONFIG):
        yield


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with SubprocessCluster(tmp_path_factory.mktemp("cluster"), WORKERS) as c:
        yield c


@pytest.fixture
def client(cluster):
    with Client(cluster.address, timeout=60) as c:
        yield c


def test_gpu_annotated_tasks_run_only_on_the_gpu_worker(client, tmp_path):
    workers = {w["name"]: addr for addr, w in client.scheduler_info()["workers"].items()}
    q = scenarios.queue(client, tmp_path)
    gpu_jobs = [q.add_job(scenarios.job(tmp_path, f"g{i}", n=5, settings={"device": "gpu"})) for i in range(3)]
    cpu_jobs = [q.add_job(scenarios.job(tmp_path, f"c{i}", n=5, settings={"device": "cpu"})) for i in range(3)]
    with get_task_stream(client) as ts:
        q.start(preload=["linear"])
        try:
            assert q.wait(120)
        finally:
            q.stop()
    ran_on: dict[str, set] = {}
    for task in ts.data:
        if task["key"].startswith("vfi-") and "-asm-" not in task["key"]:
            ran_on.setdefault(task["key"].split("-")[1], set()).add(task["worker"])
    assert {j: ran_on[j] for j in gpu_jobs} == {j: {workers["gpu"]} for j in gpu_jobs}
    assert set().union(*(ran_on[j] for j in cpu_jobs)) <= {workers["cpu"], workers["gpu"]}
    for j in gpu_jobs + cpu_jobs:
        check_outputs(q.job(j).output_dir, 5, 2)


def test_backlog_on_the_gpu_worker_follows_priority_then_fifo(client, tmp_path):
    scenarios.backlog_follows_priority_then_fifo(
        client, tmp_path, settings={"device": "gpu"}, gate_resources={"GPU": 1}
    )


def test_pause_holds_and_resume_continues(client, tmp_path):
    scenarios.pause_holds_and_resume_continues(client, tmp_path, settings={"device": "gpu"})


def test_cancel_pending_and_running_jobs(client, tmp_path):
    scenarios.cancel_pending_and_running(client, tmp_path)


def test_failures_retry_with_growing_backoff(client, tmp_path):
    scenarios.failures_retry_with_growing_backoff(client, tmp_path)


def test_timeout_stops_and_fails(client, tmp_path):
    scenarios.timeout_stops_and_fails(client, tmp_path)


def test_two_queues_on_one_tree_do_each_job_once(client, cluster, tmp_path):
    inputs = {f"s{i}": make_frames(tmp_path / "in" / f"s{i}", 5, 64, seed=i) for i in range(6)}

    def jobs():
        return [
            BatchJob(name=n, inputs=p, output_dir=str(tmp_path / "out" / n), factor=4, method="linear")
            for n, p in inputs.items()
        ]

    with Client(cluster.address, timeout=60) as other:
        qa = BatchQueue(cluster=client, store=tmp_path / "a.sqlite3")
        qb = BatchQueue(cluster=other, store=tmp_path / "b.sqlite3")
        qa.add_jobs(jobs())
        qb.add_jobs(jobs())
        qa.start(preload=["linear"])
        qb.start(preload=["linear"])
        try:
            assert qa.wait(120) and qb.wait(120)
        finally:
            qa.stop()
            qb.stop()
    by_name_a = {j.name: j for j in qa.jobs()}
    by_name_b = {j.name: j for j in qb.jobs()}
    for name in inputs:
        a, b = by_name_a[name], by_name_b[name]
        assert a.status == b.status == JobStatus.COMPLETED
        computed = qa.frames_computed.get(a.id, 0) + qb.frames_computed.get(b.id, 0)
        assert computed == 17, (name, computed)  # every frame computed by exactly one of the queues
        check_outputs(a.output_dir, 5, 4)
    assert not list((tmp_path / "out").rglob(".goesvfi.lock"))


def test_worker_killed_mid_batch_costs_only_its_pairs(tmp_path):
    with SubprocessCluster(tmp_path / "cluster", WORKERS) as cluster, Client(cluster.address, timeout=60) as client:
        q = scenarios.queue(client, tmp_path)
        ids = [
            q.add_job(scenarios.job(tmp_path, f"k{i}", n=6, size=160, factor=8, settings={"device": "cpu"}))
            for i in range(6)
        ]
        q.start(preload=["linear"])
        try:
            wait_for(lambda: q.stats().frames_done > 40, 120, what="work under way")
            assert q.stats().completed < 6
            cluster.kill_worker("cpu")  # SIGKILL; its nanny starts a fresh one
            assert q.wait(180)
            for j in ids:
                job = q.job(j)
                assert job.status == JobStatus.COMPLETED, job.error
                check_outputs(job.output_dir, 6, 8)
            assert not [p for p in (tmp_path / "out").rglob("*") if layout._TEMP.match(p.name)]
        finally:
            q.stop()


_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[3])
    import dask
    from distributed import Client
    from goesvfi_lab.queue import BatchQueue

    dask.config.set({"goesvfi.queue.metrics-interval": 0.1})
    client = Client(sys.argv[1], timeout=60)
    q = BatchQueue(cluster=client, store=sys.argv[2])
    q.on("job_completed", lambda m: print("completed", m["job_id"], flush=True))
    q.start(preload=["linear"])
    time.sleep(600)
    """
)


def test_new_process_reopening_the_store_finishes_without_redoing(cluster, tmp_path):
    store_path = tmp_path / "queue.sqlite3"
    seed = BatchQueue(cluster=None, store=store_path)  # never started: just fills the store
    ids = seed.add_jobs([scenarios.job(tmp_path, f"r{i}", n=4, size=160, factor=8) for i in range(8)])
    seed.store.close()
    here = os.path.dirname(__file__)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, cluster.address, str(store_path), here], stdout=subprocess.PIPE, text=True
    )
    done = []
    try:
        deadline = time.monotonic() + 180
        while len(done) < 2 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if line.startswith("completed"):
                done.append(line.split()[1])
        assert len(done) >= 2
    finally:
        child.kill()  # SIGKILL mid-batch: no clean-up of any kind
        child.wait(30)
    with Store(store_path) as peek:  # a bare look: no recovery
        assert {j.status for j in peek.jobs() if j.id not in done} & {JobStatus.QUEUED, JobStatus.RUNNING}
        # when each manifest was written by its assemble (the self-check adds its score to the file after)
        stamps = {j: layout.read_manifest(peek.get(j).output_dir)["written_at"] for j in done}

    with Client(cluster.address, timeout=60) as client:
        q = scenarios.queue(client, tmp_path)
        assert set(q.recovered) and set(q.recovered).isdisjoint(done)  # the dead process's jobs came back
        q.start(preload=["linear"])
        try:
            assert q.wait(180)
        finally:
            q.stop()
    for j in ids:
        job = q.job(j)
        assert job.status == JobStatus.COMPLETED, job.error
        check_outputs(job.output_dir, 4, 8)
    for j in done:  # finished before the kill: not run again
        assert layout.read_manifest(q.job(j).output_dir)["written_at"] == stamps[j]
    started = {e[2] for e in q.events_seen if e[1] == "job_started"}
    assert started.isdisjoint(done)


def test_job_whose_worker_is_killed_for_memory_fails_with_that_reason(tmp_path):
    import numpy as np

    from goesvfi_lab.frames import write_png

    inputs = []
    for i in range(2):  # 8000² px: a few dozen KiB as PNG, far more than the worker may use once decoded
        a = np.zeros((8000, 8000), np.uint8)
        a[::97, :] = 200 + i
        inputs.append(write_png(tmp_path / f"big{i}.png", a))
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}  # Dask's own re-runs are spent at once
    with SubprocessCluster(tmp_path / "cl", {"small": ["--memory-limit", "1GB"]}, env=env) as cluster:
        with (
            Client(cluster.address, timeout=60) as client,
            dask.config.set({"goesvfi.retry.max-attempts": 2, "goesvfi.retry.base": 0.1}),
        ):
            q = scenarios.queue(client, tmp_path)
            jid = q.add_job(
                BatchJob(name="big", inputs=inputs, output_dir=str(tmp_path / "out"), factor=4, method="linear")
            )
            q.start(preload=["linear"])
            try:
                assert q.wait(240)
            finally:
                q.stop()
    job = q.job(jid)
    assert job.status == JobStatus.FAILED and job.attempts == 2
    assert job.error.startswith("out of memory: worker") and "0.93 GiB" in job.error, job.error
    assert "after 2 attempts" in job.error
    assert [e[1] for e in q.events_seen if e[1] in ("job_retrying", "job_failed")] == ["job_retrying", "job_failed"]
