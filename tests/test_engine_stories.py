"""Sequences of actions a user follows, through the public API on a real LocalCluster.

Each action passing alone was not enough: cancel then retry hung (the retried tasks reused the
cancelled attempt's keys and its stop event, still set), and a rerun with another method or
factor "completed" on the old frames. These follow the user's whole path.
"""

from __future__ import annotations

import json
import os

import dask
import pytest
from _engine_scenarios import executing
from _engine_scenarios import job as make_job
from _engine_scenarios import queue as make_queue
from _engine_support import NO_DASHBOARD, check_outputs, make_frames, wait_for
from distributed import Client, Event, LocalCluster

from goesvfi_lab.cli import main
from goesvfi_lab.engine import layout
from goesvfi_lab.model import BatchJob, JobStatus

FAST = {
    "goesvfi.retry.base": 0.2,
    "goesvfi.retry.cap": 5.0,
    "goesvfi.retry.max-attempts": 3,
    "goesvfi.queue.cleanup-grace": 0.3,
    "goesvfi.queue.metrics-interval": 0.1,
    "distributed.scheduler.worker-saturation": "inf",
}


@pytest.fixture
def client():
    with dask.config.set(FAST), LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as c:
        with Client(c) as cl:
            yield cl


def _manifest(out) -> dict:
    return json.loads((out / layout.MANIFEST).read_text())


def test_cancel_a_running_job_then_retry_it_finishes(client, tmp_path):
    q = make_queue(client, tmp_path)
    jid = q.add_job(make_job(tmp_path, "long", n=3, size=256, factor=48))
    q.start(preload=["linear"])
    try:
        out = tmp_path / "out" / "long"
        wait_for(lambda: out.exists() and any(n.endswith(".png") for n in os.listdir(out)), 60, what="first frames")
        assert q.cancel(jid)
        wait_for(lambda: executing(client) == 0, 10, what="the cancelled task to stop")
        first_run = q.job(jid).runs
        assert q.retry(jid)
        assert q.wait(60), f"retry after cancel did not finish: {q.job(jid)}"
        job = q.job(jid)
        assert job.status == JobStatus.COMPLETED and job.runs > first_run, (first_run, job.runs)
        check_outputs(str(out), 3, 48)
        # the cancelled attempt's stop flag is still set; the retry ran under a fresh one
        assert Event(f"vfi-stop-{jid}-a{first_run}", client=client).is_set()
        assert not Event(f"vfi-stop-{jid}-a{job.runs}", client=client).is_set()
    finally:
        q.stop()


def test_retry_a_failed_job_after_fixing_its_input(client, tmp_path):
    inputs = make_frames(tmp_path / "in", 5, 256)  # pairs long enough to poll their stop flag
    kept = open(inputs[2], "rb").read()
    os.remove(inputs[2])  # not there yet (a sync still running): a failure that can go away
    q = make_queue(client, tmp_path)
    jid = q.add_job(BatchJob(name="late", inputs=inputs, output_dir=str(tmp_path / "out"), factor=48, method="linear"))
    with dask.config.set({"goesvfi.retry.max-attempts": 2, "goesvfi.retry.base": 0.1}):
        q.start(preload=["linear"])
        try:
            assert q.wait(60)
            assert q.job(jid).status == JobStatus.FAILED and "no such file" in q.job(jid).error
            with open(inputs[2], "wb") as f:
                f.write(kept)
            assert q.retry(jid)
            assert q.wait(60), f"retry of a failed job did not finish: {q.job(jid)}"
            assert q.job(jid).status == JobStatus.COMPLETED
            check_outputs(str(tmp_path / "out"), 5, 48)
        finally:
            q.stop()


def test_a_corrupt_input_fails_its_job_at_once_and_the_batch_goes_on(client, tmp_path):
    bad = make_job(tmp_path, "bad", n=3)
    with open(bad.inputs[1], "r+b") as f:  # a truncated PNG: the header is fine, the pixels are cut
        data = f.read()
        f.seek(0)
        f.truncate()
        f.write(data[: len(data) // 2])
    q = make_queue(client, tmp_path)
    bad_id = q.add_job(bad)
    good_id = q.add_job(make_job(tmp_path, "good", n=3))
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        failed = q.job(bad_id)
        assert failed.status == JobStatus.FAILED and failed.attempts == 1, failed
        assert "f001.png" in failed.error and "truncated" in failed.error, failed.error
        assert "after" not in failed.error  # no "(after 3 attempts)": it was never retried
        assert not [e for e in q.events_seen if e[1] == "job_retrying" and e[2] == bad_id]
        assert q.job(good_id).status == JobStatus.COMPLETED
    finally:
        q.stop()


def test_resubmit_with_another_method_and_factor_is_refused_then_overwritten(client, tmp_path):
    first = make_job(tmp_path, "s", n=3, factor=2, method="linear")
    out = tmp_path / "out" / "s"
    q = make_queue(client, tmp_path)
    first_id = q.add_job(first)
    q.start(preload=["linear", "flow"])
    try:
        assert q.wait(60)
        stamp = os.stat(out / "000001.png").st_mtime_ns

        same = q.add_job(
            BatchJob(
                name="s-same",
                inputs=first.inputs,
                output_dir=str(out),
                factor=2,
                method="linear",
                settings={"timeout": 100},
            )
        )  # how it runs, not what it writes
        other = q.add_job(BatchJob(name="s-flow", inputs=first.inputs, output_dir=str(out), factor=4, method="flow"))
        assert q.wait(60)
        assert q.job(same).status == JobStatus.COMPLETED
        assert f"skipped: complete from job {first_id} (same settings)" in q.job(same).notes
        refused = q.job(other)
        assert refused.status == JobStatus.FAILED and refused.attempts == 1
        assert "already holds another result" in refused.error and first_id in refused.error
        assert "factor 2 → 4" in refused.error and "method linear → flow" in refused.error
        assert "overwrite=True" in refused.error
        assert _manifest(out)["job_id"] == first_id and os.stat(out / "000001.png").st_mtime_ns == stamp

        redo = q.add_job(
            BatchJob(
                name="s-flow2",
                inputs=first.inputs,
                output_dir=str(out),
                factor=4,
                method="flow",
                settings={"overwrite": True},
            )
        )
        assert q.wait(60)
        assert q.job(redo).status == JobStatus.COMPLETED
        check_outputs(str(out), 3, 4)
        manifest = _manifest(out)
        assert (manifest["job_id"], manifest["method"], manifest["factor"]) == (redo, "flow", 4)
    finally:
        q.stop()


def test_partial_frames_of_another_result_are_not_resumed(client, tmp_path):
    """A run killed mid-way leaves frames and no manifest; a job asking for something else must not use them."""
    first = make_job(tmp_path, "k", n=3, factor=2, method="linear")
    out = tmp_path / "out" / "k"
    q = make_queue(client, tmp_path)
    q.add_job(first)
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        os.remove(out / layout.MANIFEST)  # as if the process died before the manifest
        os.remove(out / "000003.png")
        again = q.add_job(BatchJob(name="k2", inputs=first.inputs, output_dir=str(out), factor=2, method="linear"))
        other = q.add_job(BatchJob(name="k3", inputs=first.inputs, output_dir=str(out), factor=3, method="linear"))
        assert q.wait(60)
        assert q.job(again).status == JobStatus.COMPLETED  # same result: resumed
        check_outputs(str(out), 3, 2)
        os.remove(out / layout.MANIFEST)
        q.retry(other)
        assert q.wait(60)
        assert q.job(other).status == JobStatus.FAILED and "unfinished linear ×2" in q.job(other).error
    finally:
        q.stop()


@pytest.mark.slow
def test_cli_rerun_with_another_method_and_factor_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")
    make_frames(tmp_path / "data" / "cam", 3, 32, seed=1)
    out = tmp_path / "out"
    base = ["run", str(tmp_path / "data"), "-o", str(out), "--workers", "1", "--threads", "2", "--quiet"]
    assert main([*base, "--method", "linear"]) == 0
    capsys.readouterr()
    assert main([*base, "--method", "flow", "--factor", "4"]) == 1  # not "skipped (complete)" on ×2 frames
    text = capsys.readouterr().out
    assert "already holds another result" in " ".join(text.split()) and "factor 2 → 4" in text
    check_outputs(str(out / "cam"), 3, 2)  # the first result is untouched
    assert main([*base, "--method", "flow", "--factor", "4", "--overwrite"]) == 0
    check_outputs(str(out / "cam"), 3, 4)
    assert json.loads((out / "cam" / layout.MANIFEST).read_text())["method"] == "flow"


def test_tiny_pairs_share_tasks_and_progress_stays_exact(client, tmp_path):
    from distributed import get_task_stream

    with dask.config.set({"goesvfi.queue.task-seconds": 5.0}):  # every pair here is far shorter than that
        q = make_queue(client, tmp_path)
        q.add_job(make_job(tmp_path, "warm", n=3))  # its results measure the pair time
        q.start(preload=["linear"])
        try:
            assert q.wait(60)
            with get_task_stream(client) as stream:
                jid = q.add_job(make_job(tmp_path, "many", n=12, factor=3))
                assert q.wait(60)
            keys = [t["key"] for t in stream.data if str(t["key"]).startswith(f"vfi-{jid}-")]
            pair_tasks = [k for k in keys if "-asm-" not in k]
            assert 1 <= len(pair_tasks) < 11 and any("_" in k for k in pair_tasks), keys
            progress = [e[3]["frames_done"] for e in q.events_seen if e[1] == "job_progress" and e[2] == jid]
            assert progress == sorted(progress) and progress[-1] == 34  # per pair, up to every frame
            assert q.job(jid).frames_done == 34
            check_outputs(str(tmp_path / "out" / "many"), 12, 3)
        finally:
            q.stop()
