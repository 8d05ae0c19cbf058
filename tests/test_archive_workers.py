"""Jobs whose inputs are NOAA archive scans (``s3://``): the workers that run the pairs download them.

A real S3-compatible server (moto, server mode) on 127.0.0.1 holds NOAA-structured files under NOAA's keys; the
jobs run on a LocalCluster of worker processes and on ``dask scheduler`` + 2 ``dask worker`` processes. Each
worker reports what it fetched (``client.run(fetch_stats)``): together they fetched every byte once, the
client none.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import dask.config
import distributed  # noqa: F401 (its config defaults loaded before dask.config.set below)
import pytest
from _engine_support import NO_DASHBOARD, SubprocessCluster, check_outputs
from _s3_server import S3Server
from goes_fixtures import make_abi_sequence, require_ncgen

from goesvfi_lab import archive, config  # noqa: F401 (config: defaults loaded before dask.config.set below)
from goesvfi_lab.archive.worker import fetch_stats
from goesvfi_lab.model import BatchJob, JobStatus

START = datetime(2025, 6, 1, 18, 1, 17, 100_000, tzinfo=timezone.utc)
N = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_ncgen()
    work = tmp_path_factory.mktemp("s3w")
    paths = make_abi_sequence(work / "files", n=N, start=START, shape=(60, 100), satellite="G19")
    srv = S3Server(work).start()
    srv.put({f"noaa-goes19/ABI-L2-CMIPC/{START:%Y/%j/%H}/{p.name}": p.read_bytes() for p in paths})
    yield srv
    srv.stop()


@pytest.fixture
def settings(server, tmp_path):
    values = {"endpoint-url": server.url, "cache": str(tmp_path / "cache"), "min-free": 0, "retry-base": 0.05}
    env = {f"DASK_GOESVFI__ARCHIVE__{k.upper().replace('-', '_')}": str(v) for k, v in values.items()}
    fast = {
        "goesvfi.queue.task-seconds": 0,
        "goesvfi.retry.base": 0.2,
        "distributed.scheduler.worker-saturation": "inf",
    }
    with dask.config.set({**{f"goesvfi.archive.{k}": v for k, v in values.items()}, **fast}):
        yield {"env": env, "tmp": tmp_path}


def _run_remote_job(client, tmp_path) -> tuple[BatchJob, list, dict]:
    from goesvfi_lab.queue import BatchQueue

    scans = archive.find(satellite="G19", sector="C", band=13, start="2025-06-01T18:00", end="2025-06-01T18:30")
    assert len(scans) == N
    out = tmp_path / "out" / "remote"
    q = BatchQueue(cluster=client, store=tmp_path / "queue.sqlite3")
    job_id = q.add_job(BatchJob(name="remote", inputs=[s.url for s in scans], output_dir=str(out), method="linear"))
    q.start(preload=["linear"])
    try:
        assert q.wait(180)
        job = q.job(job_id)
        fetched = q.fetched
    finally:
        q.stop()
    assert job.status == JobStatus.COMPLETED, job.error
    check_outputs(str(out), N, 2)
    return job, scans, fetched


def _check_fetched_by_workers(client, scans, batch: dict) -> dict:
    per_worker = client.run(fetch_stats)
    fetched = {w: s["bytes"] for w, s in per_worker.items()}
    assert sum(fetched.values()) == scans.total_bytes, per_worker  # every byte once (one cache, per-key locks)
    assert fetch_stats()["bytes"] == 0  # none through the client
    # the batch knows it too, from the pair results: bytes, per worker, and how fast
    assert batch["bytes"] == scans.total_bytes and batch["rate"] > 0
    assert batch["workers"] == {w: b for w, b in fetched.items() if b}
    print(f"\nbytes fetched per worker: {fetched}; batch: {batch['bytes']} B at {batch['rate'] / 1e6:.1f} MB/s")
    return fetched


@pytest.mark.slow
def test_remote_job_completes_on_a_local_cluster_with_the_workers_downloading(settings):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, **NO_DASHBOARD) as cluster,
        Client(cluster) as client,
    ):
        job, scans, batch = _run_remote_job(client, settings["tmp"])
        _check_fetched_by_workers(client, scans, batch)
    assert job.inputs == [s.url for s in scans]  # the job names the archive, not a worker's cache


@pytest.mark.slow
def test_remote_job_completes_on_dask_scheduler_and_two_dask_workers(settings):
    from distributed import Client

    cluster = SubprocessCluster(settings["tmp"] / "cluster", {"w1": [], "w2": []}, env=settings["env"]).start()
    try:
        with Client(cluster.address) as client:
            _job, scans, batch = _run_remote_job(client, settings["tmp"])
            fetched = _check_fetched_by_workers(client, scans, batch)
            assert len(fetched) == 2
    finally:
        cluster.close()
    assert os.listdir(settings["tmp"] / "cache" / "noaa-goes19")  # the workers' cache, configured by env vars
