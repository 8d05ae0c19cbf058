"""Connecting the queue: what ``cluster=`` accepts, the per-GPU LocalCluster spec, adapt, scheduler-side counts."""

from __future__ import annotations

import os

import dask
import pytest
from _engine_scenarios import job, queue
from _engine_support import NO_DASHBOARD
from distributed import Client, LocalCluster

from goesvfi_lab.engine.cluster import cluster_slots, connect, make_local_cluster
from goesvfi_lab.engine.plugins import parse_key, task_key
from goesvfi_lab.queue import BatchQueue


def test_task_keys_round_trip():
    assert task_key("ab12cd34ef56", 7, 2) == "vfi-ab12cd34ef56-7-a2"
    assert parse_key("vfi-ab12cd34ef56-7-a2") == ("ab12cd34ef56", 7, 2)
    assert parse_key(task_key("my-job-with-dashes", "asm", 0)) == ("my-job-with-dashes", "asm", 0)
    for other in ("vfi-x-y", "hold-123", ("vfi-a-1-a0", 0), "vfi-a-1-b0"):
        assert parse_key(other) is None


def test_connect_accepts_client_cluster_and_address():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, **NO_DASHBOARD) as lc:
        with Client(lc) as client:
            c = connect(client)
            assert c.client is client and not c.owns_client
            c.close()
            assert client.status == "running"  # not ours to close
        c = connect(lc)
        assert c.cluster is lc and c.owns_client and not c.owns_cluster
        assert cluster_slots(c.client).threads == 2
        c.close()
        c = connect(lc.scheduler_address)
        assert c.cluster is None and c.owns_client
        c.close()
    with pytest.raises(TypeError, match="not int"):
        connect(42)


@pytest.mark.slow
def test_local_cluster_runs_one_worker_per_gpu_with_its_own_device():
    lc = make_local_cluster(gpus=2, threads_per_worker=1, memory_limit="2GiB")
    try:
        with Client(lc) as client:
            client.wait_for_workers(2, timeout=120)
            slots = cluster_slots(client)
            assert (slots.workers, slots.gpus) == (2, 2)
            devices = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
            assert sorted(devices.values()) == ["0", "1"]
            info = client.scheduler_info()["workers"].values()
            assert all(w["resources"] == {"GPU": 1} for w in info)
            assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == float("inf")
    finally:
        lc.close()


def test_cpu_local_cluster_follows_config():
    with dask.config.set({"goesvfi.cluster.workers": 1, "goesvfi.cluster.threads-per-worker": 3}):
        lc = make_local_cluster(gpus=0, processes=False)
    try:
        with Client(lc) as client:
            assert cluster_slots(client).threads == 3
    finally:
        lc.close()


def test_adapt_scales_the_cluster_with_the_work(tmp_path):
    lc = LocalCluster(n_workers=0, threads_per_worker=1, processes=False, **NO_DASHBOARD)
    adaptive = None
    try:
        q = BatchQueue(cluster=lc, store=tmp_path / "q.sqlite3")
        q.connect()
        adaptive = q.adapt(minimum=1, maximum=2, interval="100ms", wait_count=1)
        q.add_job(job(tmp_path, "a", n=3))
        q.start(preload=["linear"])
        assert q.wait(120)
        assert q.stats().completed == 1
        adaptive.stop()
        lc.scale(1)
        q.stop()
        with BatchQueue(cluster=lc.scheduler_address, store=tmp_path / "b.sqlite3") as by_address:
            with pytest.raises(RuntimeError, match="needs a Cluster"):
                by_address.adapt(1, 2)
    finally:
        if adaptive is not None:
            adaptive.stop()
        lc.close()


def test_metrics_plugin_keeps_per_job_counts_on_the_scheduler(tmp_path):
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, **NO_DASHBOARD) as lc:
        with Client(lc) as client:
            q = queue(client, tmp_path)
            jid = q.add_job(job(tmp_path, "a", n=4))
            q.start(preload=["linear"])
            try:
                assert q.wait(60)
            finally:
                q.stop()
            snap = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["goesvfi-metrics"].snapshot())
            assert snap["jobs"][jid]["done"] == 3 and snap["jobs"][jid]["assembled"]
            assert snap["cluster"]["threads"] == 2 and snap["transitions"] > 0
