"""The engine on a real in-process LocalCluster: outputs, resume, control, faults, metrics, plugins.

These use ``LocalCluster(processes=False)``: real scheduler, workers and task execution, without
process start-up cost. The multi-process behaviours are in test_engine_cluster.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time

import _engine_scenarios as scenarios
import dask
import numpy as np
import pytest
from _engine_scenarios import executing as _executing
from _engine_scenarios import job as _job
from _engine_scenarios import queue as _queue
from _engine_support import NO_DASHBOARD, check_outputs, make_frames, wait_for
from distributed import Client, LocalCluster

from goesvfi_lab.engine import layout
from goesvfi_lab.model import BatchJob, JobStatus

FAST = {
    "goesvfi.retry.base": 0.2,
    "goesvfi.retry.cap": 5.0,
    "goesvfi.retry.max-attempts": 3,
    "goesvfi.queue.cleanup-grace": 0.3,
    "goesvfi.queue.metrics-interval": 0.1,
    "goesvfi.queue.lock-retry": 0.3,
    "goesvfi.queue.gpu-wait-retry": 0.3,
}


@pytest.fixture(autouse=True)
def fast_config():
    with dask.config.set(FAST):
        yield


NO_QUEUING = {"distributed.scheduler.worker-saturation": "inf"}  # as the embedded cluster does


@pytest.fixture
def client():
    with (
        dask.config.set(NO_QUEUING),
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, **NO_DASHBOARD) as cluster,
    ):
        with Client(cluster) as c:
            yield c


@pytest.fixture
def client1():
    """One worker, one thread: work queues up behind whatever runs."""
    with (
        dask.config.set(NO_QUEUING),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster,
    ):
        with Client(cluster) as c:
            yield c


def test_jobs_write_the_documented_layout_and_fire_events(client, tmp_path):
    q = _queue(client, tmp_path)
    a = q.add_job(_job(tmp_path, "a", n=4, factor=3, settings={"video": True, "fps": 12}))
    b = q.add_job(_job(tmp_path, "b", n=3, factor=1))
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        frames = check_outputs(str(tmp_path / "out" / "a"), 4, 3)
        assert len(frames) == 10
        check_outputs(str(tmp_path / "out" / "b"), 3, 1)
        # input k is frame k*factor, copied through unchanged
        from goesvfi_lab.frames import count_video_frames, read_frame

        job_a = q.job(a)
        for k, path in enumerate(job_a.inputs):
            assert np.array_equal(read_frame(frames[3 * k]), read_frame(path))
        assert count_video_frames(str(tmp_path / "out" / "a" / "video.mp4")) == 10
        manifest = json.load(open(tmp_path / "out" / "a" / "job.json"))
        assert manifest["inputs"] == job_a.inputs and manifest["video"] == "video.mp4"
        assert not (tmp_path / "out" / "a" / ".goesvfi.lock").exists()  # lock released
        assert job_a.status == JobStatus.COMPLETED and job_a.frames_done == 10 and job_a.error is None
        names = [(e[1], e[2]) for e in q.events_seen]
        for jid in (a, b):
            assert names.index(("job_started", jid)) < names.index(("job_completed", jid))
            assert ("job_progress", jid) in names
        done = {e[2]: e[3]["job"] for e in q.events_seen if e[1] == "job_completed"}
        assert done[a].name == "a" and done[a].status == JobStatus.COMPLETED  # callbacks get the job itself
        s = q.stats()
        assert (s.total, s.completed, s.frames_done, s.frames_total) == (2, 2, 13, 13)
        assert s.progress == 1.0 and s.success_rate == 1.0 and s.eta_seconds == 0.0
        wait_for(lambda: q.stats().throughput > 0, 5, what="a throughput figure")  # from the plugin's summaries
        assert q.callback_errors == [] and q.loop_error is None
    finally:
        q.stop()


def test_netcdf_job_writes_video_and_cube_at_interpolated_times(client, tmp_path):
    import xarray as xr

    from goesvfi_lab.sample import write_sample

    inputs = write_sample(tmp_path / "nc", frames=3, size=(32, 48), fmt="nc", seed=2)
    q = _queue(client, tmp_path)
    jid = q.add_job(
        BatchJob(
            name="nc",
            inputs=inputs,
            output_dir=str(tmp_path / "out"),
            factor=4,
            method="linear",
            settings={"video": True, "cube": True},
        )
    )
    q.start(preload=["linear"])
    try:
        assert q.wait(120)
        job = q.job(jid)
        assert job.status == JobStatus.COMPLETED, job.error
        check_outputs(str(tmp_path / "out"), 3, 4)
        assert not (tmp_path / "out" / layout.FIELDS_DIR).exists()  # float scratch removed after the cube
        with xr.open_dataset(tmp_path / "out" / "cube.nc") as ds:
            assert ds["CMI"].shape == (9, 32, 48)
            times = ds["time"].values
        assert np.all(np.diff(times) > np.timedelta64(0, "s"))
        step = (times[4] - times[0]) / 4  # five minutes between CONUS scans, split in four
        assert abs(step - np.timedelta64(75, "s")) < np.timedelta64(1, "s")
        from goesvfi_lab.frames import read_netcdf

        with xr.open_dataset(tmp_path / "out" / "cube.nc") as ds:
            np.testing.assert_allclose(ds["CMI"].values[4], read_netcdf(inputs[1]).values, rtol=1e-6)
    finally:
        q.stop()


def test_auto_resolves_per_what_the_frames_show(client, tmp_path):
    from goesvfi_lab import interp
    from goesvfi_lab.sample import write_sample

    named = write_sample(tmp_path / "abi", frames=3, size=(32, 40), fmt="png", seed=4)  # 8-bit, ABI names
    plain = []
    for i, p in enumerate(named):  # the same pixels under camera-like names
        os.makedirs(tmp_path / "plain", exist_ok=True)
        plain.append(shutil.copy(p, tmp_path / "plain" / f"frame{i + 1}.png"))
    q = _queue(client, tmp_path)
    ids = {
        name: q.add_job(
            BatchJob(name=name, inputs=inputs, output_dir=str(tmp_path / "out" / name), factor=2, settings=settings)
        )
        for name, inputs, settings in (
            ("abi", named, {}),
            ("plain", plain, {}),
            ("plain-field", plain, {"kind": "field"}),
        )
    }
    q.start()
    try:
        assert q.wait(120)
        used = {}
        for name, jid in ids.items():
            assert q.job(jid).status == JobStatus.COMPLETED, q.job(jid).error
            used[name] = json.load(open(tmp_path / "out" / name / "job.json"))["methods_used"]
    finally:
        q.stop()
    video = interp.resolve_method("auto", "cpu", "video")  # ensemble with the rife extra, else flow
    assert used == {"abi": ["flow"], "plain": [video], "plain-field": ["flow"]}


def test_resume_inside_a_job_recomputes_only_missing_or_broken_frames(client, tmp_path):
    job = _job(tmp_path, "r", n=5, factor=2)
    q = _queue(client, tmp_path)
    q.add_job(job)
    q.start(preload=["linear"])
    assert q.wait(60)
    q.stop()
    out = tmp_path / "out" / "r"
    os.remove(out / "job.json")
    os.remove(out / "000003.png")  # pair 1 lost a frame
    (out / "000006.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")  # pair 3 has a corrupt one
    before = {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out) if n.endswith(".png")}
    time.sleep(0.05)

    again = BatchJob(name="r2", inputs=job.inputs, output_dir=str(out), factor=2, method="linear")
    q2 = _queue(client, tmp_path)
    q2.add_job(again)
    q2.start(preload=["linear"])
    try:
        assert q2.wait(60)
        check_outputs(str(out), 5, 2)
        after = {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out) if n.endswith(".png")}
        changed = sorted(n for n in after if before.get(n) != after[n])
        assert changed == ["000003.png", "000006.png"]
    finally:
        q2.stop()


def test_complete_job_is_skipped_unless_overwrite(client, tmp_path):
    job = _job(tmp_path, "s", n=3)
    q = _queue(client, tmp_path)
    q.add_job(job)
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        out = tmp_path / "out" / "s"
        stamp = os.stat(out / "000001.png").st_mtime_ns
        same = q.add_job(BatchJob(name="s-again", inputs=job.inputs, output_dir=str(out), factor=2, method="linear"))
        assert q.wait(60)
        skipped = q.job(same)
        assert skipped.status == JobStatus.COMPLETED and any(n.startswith("skipped: complete") for n in skipped.notes)
        assert os.stat(out / "000001.png").st_mtime_ns == stamp
        assert [e[3]["skipped"] for e in q.events_seen if e[1] == "job_completed" and e[2] == same] == [True]
        redo = q.add_job(
            BatchJob(
                name="s-redo",
                inputs=job.inputs,
                output_dir=str(out),
                factor=2,
                method="linear",
                settings={"overwrite": True},
            )
        )
        assert q.wait(60)
        assert q.job(redo).status == JobStatus.COMPLETED
        assert os.stat(out / "000001.png").st_mtime_ns != stamp
        check_outputs(str(out), 3, 2)
    finally:
        q.stop()


def test_duplicate_inputs_are_skipped_with_a_note(client, tmp_path):
    inputs = make_frames(tmp_path / "in", 4, 32, seed=3)
    dup = tmp_path / "in" / "copy-of-f001.png"
    dup.write_bytes(open(inputs[1], "rb").read())
    q = _queue(client, tmp_path)
    jid = q.add_job(
        BatchJob(
            name="d",
            inputs=[inputs[0], inputs[1], str(dup), inputs[2], inputs[3]],
            output_dir=str(tmp_path / "out"),
            factor=2,
            method="linear",
        )
    )
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        job = q.job(jid)
        assert job.status == JobStatus.COMPLETED
        assert job.inputs == inputs and job.frames_total == 7
        assert any("duplicate input skipped" in n and "copy-of-f001.png" in n for n in job.notes)
        check_outputs(str(tmp_path / "out"), 4, 2)
    finally:
        q.stop()


def test_pause_holds_and_resume_continues(client1, tmp_path):
    scenarios.pause_holds_and_resume_continues(client1, tmp_path)


def test_cancel_pending_and_running_jobs(client1, tmp_path):
    scenarios.cancel_pending_and_running(client1, tmp_path)


def test_failures_retry_with_growing_backoff_then_fail(client, tmp_path):
    scenarios.failures_retry_with_growing_backoff(client, tmp_path)


def test_timeout_stops_and_fails_the_job(client1, tmp_path):
    scenarios.timeout_stops_and_fails(client1, tmp_path)


def test_backlog_on_one_worker_follows_priority_then_fifo(client1, tmp_path):
    scenarios.backlog_follows_priority_then_fifo(client1, tmp_path)


def test_pause_can_take_back_tasks_not_yet_started(client1, tmp_path):
    with dask.config.set({"goesvfi.queue.window-factor": 20}):
        q = _queue(client1, tmp_path)
        jid = q.add_job(_job(tmp_path, "w", n=12, size=192, factor=16))
        q.start(preload=["linear"])
        try:
            wait_for(lambda: q.job(jid).frames_done > 0, 60, what="first pair")
            q.pause(cancel_queued=True)
            wait_for(lambda: _executing(client1) == 0, 30, what="the running pair to finish")
            time.sleep(0.3)
            assert len(client1.who_has()) <= 1  # at most the finished result is still held
            done = q.job(jid).frames_done
            assert 0 < done < q.job(jid).frames_total
            q.resume()
            assert q.wait(120)
            check_outputs(str(tmp_path / "out" / "w"), 12, 16)
        finally:
            q.stop()


def test_circuit_breaker_pauses_the_queue_and_says_why(client1, tmp_path):
    settings = {"goesvfi.queue.circuit-breaker": 2, "goesvfi.retry.max-attempts": 1, "goesvfi.queue.window-factor": 1}
    with dask.config.set(settings):
        q = _queue(client1, tmp_path, policy="fifo")
        for i in range(2):
            bad = make_frames(tmp_path / f"bad{i}", 2, 32, seed=10 + i)
            open(bad[0], "wb").write(b"nope")
            q.add_job(BatchJob(name=f"bad{i}", inputs=bad, output_dir=str(tmp_path / f"o{i}"), method="linear"))
        good = [q.add_job(_job(tmp_path, f"good{i}", n=2)) for i in range(2)]
        q.start(preload=["linear"])
        try:
            wait_for(lambda: q.paused, 60, what="the breaker")
            assert q.paused_reason.startswith("circuit breaker opened after 2 consecutive failures")
            assert "FrameError" in q.paused_reason and "bad1" in q.paused_reason  # the last error, with its file
            with pytest.raises(RuntimeError, match="circuit breaker"):
                q.wait(5)
            time.sleep(0.5)
            assert [q.job(g).status for g in good] == [JobStatus.PENDING] * 2
            q.resume()
            assert q.wait(60)
            assert [q.job(g).status for g in good] == [JobStatus.COMPLETED] * 2
        finally:
            q.stop()


@contextlib.contextmanager
def running_peak(q):
    """Sample how many jobs the queue runs at once while the block runs; yields the list of samples."""
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak.append(len(q._submitter.live_frames()) if q._submitter else 0)
            time.sleep(0.005)

    t = threading.Thread(target=watch)
    t.start()
    try:
        yield peak
    finally:
        stop.set()
        t.join()


def test_max_concurrent_limits_running_jobs(client, tmp_path):
    q = _queue(client, tmp_path, max_concurrent=1)
    ids = [q.add_job(_job(tmp_path, f"m{i}", n=4, size=64, factor=4)) for i in range(4)]
    q.start(preload=["linear"])
    try:
        with running_peak(q) as peak:
            assert q.wait(60)
    finally:
        q.stop()
    assert max(peak) == 1
    completed = [e[2] for e in q.events_seen if e[1] == "job_completed"]
    assert completed == ids  # one after the other, in order


def test_wait_returns_after_the_completion_callbacks_ran(client, tmp_path):
    """The store says "completed" before the event is fired; wait() must not return in that gap."""
    q = _queue(client, tmp_path)
    seen = []

    def slow(message):
        time.sleep(0.3)
        seen.append(message["job_id"])

    q.on("job_completed", slow)
    ids = [q.add_job(_job(tmp_path, f"w{i}", n=2)) for i in range(2)]
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        assert sorted(seen) == sorted(ids)
    finally:
        q.stop()


def test_max_concurrent_changed_on_a_running_queue_applies(client, tmp_path):
    """The notebook's concurrency box changes the limit of a queue that is already running."""
    q = _queue(client, tmp_path)
    q.start(preload=["linear"])
    q.pause()
    q.max_concurrent = 1
    ids = [q.add_job(_job(tmp_path, f"c{i}", n=4, size=64, factor=4)) for i in range(3)]
    try:
        with running_peak(q) as peak:
            q.resume()
            assert q.wait(60)
    finally:
        q.stop()
    assert max(peak) == 1
    assert [e[2] for e in q.events_seen if e[1] == "job_completed"] == ids
    with pytest.raises(ValueError):
        q.max_concurrent = 0


def test_gpu_job_waits_with_a_reason_or_falls_back_to_cpu(client, tmp_path):
    q = _queue(client, tmp_path)
    needs = q.add_job(_job(tmp_path, "gpu", n=3, settings={"device": "gpu"}))
    falls = q.add_job(_job(tmp_path, "fallback", n=3, settings={"device": "gpu", "fallback_cpu": True}))
    q.start(preload=["linear"])
    try:
        wait_for(lambda: q.job(falls).status == JobStatus.COMPLETED, 60, what="the fallback job")
        assert any("running on CPU" in n for n in q.job(falls).notes)
        time.sleep(1.0)
        job = q.job(needs)
        assert job.status == JobStatus.PENDING
        assert "needs a GPU" in job.error and "GPU=1" in job.error
        assert not q.wait(0.5)
    finally:
        q.stop()


def test_models_load_once_per_worker(client, tmp_path):
    q = _queue(client, tmp_path)
    ids = [q.add_job(_job(tmp_path, f"m{i}", n=4)) for i in range(3)]
    results = []
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        loaded = client.run(lambda dask_worker: getattr(dask_worker, "goesvfi_models", None))
        (models,) = loaded.values()
        assert models["linear/video"]["name"] == "linear"
        # every pair on that worker ran with the very backend instance the plugin built at start-up
        from goesvfi_lab.engine.tasks import PairSpec, run_pair

        job = q.job(ids[0])
        spec = PairSpec(job.id, 0, 9, job.inputs[0], job.inputs[1], str(tmp_path / "probe"), 2, False, "linear", "cpu")
        results = client.submit(run_pair, spec, pure=False).result(30)
        assert results["backend_id"] == models["linear/video"]["backend_id"]
    finally:
        q.stop()


def test_scheduler_plugin_publishes_summaries_and_terminal_events(client, tmp_path):
    q = _queue(client, tmp_path)
    jid = q.add_job(_job(tmp_path, "m", n=4))
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        assert q._submitter.metrics_from_scheduler

        def done_pairs():
            msgs = [m for _, m in client.get_events("goesvfi")]
            return sorted(p for m in msgs if m["type"] == "summary" for p in m["jobs"].get(jid, {}).get("done", []))

        wait_for(lambda: len(done_pairs()) >= 3, 10, what="the summaries")  # published every 0.1 s here
        assert done_pairs() == [0, 1, 2]
        msgs = [m for _, m in client.get_events("goesvfi")]
        assert [m["job"] for m in msgs if m["type"] == "job-done"] == [jid]
        assert all(m["cluster"]["threads"] == 2 for m in msgs if m["type"] == "summary")
    finally:
        q.stop()


def test_a_failing_callback_does_not_stop_the_queue(client, tmp_path):
    q = _queue(client, tmp_path)

    def broken(message):
        raise RuntimeError("my widget is gone")

    q.on("job_progress", broken)
    q.add_job(_job(tmp_path, "x", n=3))
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        assert q.stats().completed == 1
        assert q.callback_errors and "my widget is gone" in str(q.callback_errors[0].error)
    finally:
        q.stop()


def test_stop_returns_work_and_a_new_queue_finishes_it(client1, tmp_path):
    q = _queue(client1, tmp_path)
    ids = [q.add_job(_job(tmp_path, f"j{i}", n=3, size=128, factor=8)) for i in range(5)]
    q.start(preload=["linear"])
    wait_for(lambda: q.stats().completed >= 2, 60, what="two jobs")
    q.stop()
    done_before = {j.id for j in q.jobs() if j.status == JobStatus.COMPLETED}
    # when each assemble wrote its manifest (the self-check may add its score to the file after)
    stamps = {j: layout.read_manifest(q.job(j).output_dir)["written_at"] for j in done_before}
    assert all(j.status in (JobStatus.PENDING, JobStatus.COMPLETED) for j in q.jobs())
    q.store.close()

    q2 = _queue(client1, tmp_path)
    q2.start(preload=["linear"])
    try:
        assert q2.wait(60)
        assert all(q2.job(j).status == JobStatus.COMPLETED for j in ids)
        for j in done_before:  # finished jobs were not redone
            assert layout.read_manifest(q2.job(j).output_dir)["written_at"] == stamps[j]
        started = {e[2] for e in q2.events_seen if e[1] == "job_started"}
        assert started.isdisjoint(done_before)
    finally:
        q2.stop()
