"""Queue and stats panels and the composed apps against a real BatchQueue (in-process LocalCluster).

The widgets talk through a recording comm: the tests click as the browser would and check both what
the queue did and what went over the wire.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from _widget_wire import install

from goesvfi_lab.model import BatchJob, JobPriority, JobStatus
from goesvfi_lab.notebook import lab, panel
from goesvfi_lab.sample import write_sample
from goesvfi_lab.widgets import Lab, QueueApp
from goesvfi_lab.widgets.state import SHOW

pytestmark = pytest.mark.cluster


def wait_for(predicate, timeout=60.0, what=""):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)
    return value


def tile(html_text: str, key: str) -> str:
    return re.search(rf'data-key="{key}".*?gvl-tile-value">([^<]*)<', html_text).group(1)


@pytest.fixture
def wire(monkeypatch):
    return install(monkeypatch)


@pytest.fixture
def cluster():
    from distributed import LocalCluster

    # one worker thread: the netCDF/HDF5 libraries crash when two threads of one process read at once
    # (a frames-layer issue, reported); real LocalClusters use worker processes
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as c:
        yield c


@pytest.fixture
def queue(cluster, tmp_path):
    from goesvfi_lab.queue import BatchQueue

    q = BatchQueue(cluster=cluster, store=tmp_path / "queue.sqlite3")
    yield q
    q.stop()


@pytest.fixture
def frames(tmp_path):
    """Three short NetCDF sequences (two G16 bands, one G18) of tiny scans."""
    root = tmp_path / "data"
    write_sample(root / "a", frames=4, size=(32, 48), fmt="nc", band=13, seed=1)
    write_sample(root / "b", frames=4, size=(32, 48), fmt="nc", band=8, seed=2)
    write_sample(root / "c", frames=4, size=(32, 48), fmt="nc", satellite="G18", seed=3)
    return root


def jobs_for(root, out, n=3, **kw) -> list[BatchJob]:
    from goesvfi_lab.widgets.state import FilterState, JobSettings, make_jobs, scan

    seqs = scan(FilterState(root=str(root))).sequences[:n]
    return make_jobs(seqs, JobSettings(factor=2, method="linear", output_dir=str(out), video=True, **kw))


def rows_shown(app: QueueApp) -> list[tuple[str, str]]:
    """(job id, status) of the visible table rows, read from the HTML sent to the browser."""
    out = []
    for row in app.queue_panel.rows:
        if row.layout.display != "none":
            m = re.search(r'data-job-id="([^"]+)" data-status="([a-z]+)"', row.info.value)
            out.append((m.group(1), m.group(2)))
    return out


def test_state_to_widgets_before_start(wire, queue, frames, tmp_path):
    ids = queue.add_jobs(jobs_for(frames, tmp_path / "out"))
    app = QueueApp(queue, start=False)
    assert rows_shown(app) == [(i, "pending") for i in ids]
    summary = app.stats_panel.summary.value
    assert re.search(r'data-key="pending">pending <b>3</b>', summary) and tile(summary, "state") == "idle"
    assert [
        re.search(r"<span>(\d+|—)</span>", r.info.value.split("</span>", 4)[-1]).group(1)
        for r in app.queue_panel.rows[:3]
    ] == ["1", "2", "3"]  # queue positions
    qp = app.queue_panel
    assert (qp.start.disabled, qp.pause.disabled, qp.resume.disabled) == (False, True, True)
    assert "not connected" in app.stats_panel.workers.value  # no client before start
    wire.clear()
    app.refresh()  # nothing changed: nothing is sent again
    assert [u for u in (wire.updates(r.info) for r in qp.rows) if u] == []
    app.close()


def test_table_pages_and_filters_through_the_store(wire, tmp_path):
    from goesvfi_lab.queue import BatchQueue

    q = BatchQueue(store=tmp_path / "queue.sqlite3")  # no cluster needed to show the table
    ids = q.add_jobs(
        [BatchJob(name=f"j{i:02d}", inputs=["a.png", "b.png"], output_dir=str(tmp_path / f"o{i}")) for i in range(25)]
    )
    for i in (3, 14, 22):
        q.store.update(ids[i], status="completed")
    app = QueueApp(q, start=False)
    qp = app.queue_panel
    shown = lambda: [job_id for job_id, _ in rows_shown(app)]  # noqa: E731
    assert shown() == ids[:10] and qp.prev.disabled and not qp.next.disabled
    wire.click(qp.next)
    assert shown() == ids[10:20] and "page 2 of 3 · 25 jobs" in qp.page_info.value
    wire.click(qp.next)
    assert shown() == ids[20:] and qp.next.disabled
    wire.set(qp.show_only, index=list(SHOW).index("completed"))
    assert rows_shown(app) == [(ids[i], "completed") for i in (3, 14, 22)]
    assert "page 1 of 1 · 3 jobs" in qp.page_info.value
    wire.set(qp.show_only, index=list(SHOW).index("waiting / running"))
    assert shown() == [i for k, i in enumerate(ids) if k not in (3, 14, 22)][:10]
    positions = [re.search(r"<span>(\d+|—)</span>", r.info.value.split("</span>", 4)[-1]).group(1) for r in qp.rows]
    assert positions == [str(k) for k in range(1, 11)]  # queue positions of a page read from the store
    app.close()


def test_row_and_global_clicks_reach_the_queue(wire, queue, frames, tmp_path):
    ids = queue.add_jobs(jobs_for(frames, tmp_path / "out"))
    app = QueueApp(queue, start=False)
    rows = {row.job_id: row for row in app.queue_panel.rows if row.job_id}

    wire.click(rows[ids[2]].up)  # NORMAL → HIGH: now first in line
    assert queue.job(ids[2]).priority == JobPriority.HIGH
    app.refresh()
    assert queue.job(ids[2]).position == 1
    wire.click(rows[ids[2]].down)
    wire.click(rows[ids[2]].down)
    assert queue.job(ids[2]).priority == JobPriority.LOW

    wire.click(rows[ids[1]].cancel)
    assert queue.job(ids[1]).status == JobStatus.CANCELLED
    app.refresh()
    assert dict(rows_shown(app))[ids[1]] == "cancelled"
    assert rows[ids[1]].cancel.disabled and not rows[ids[1]].retry.disabled
    assert wire.sent(rows[ids[1]].retry, "disabled")[-1] is False  # the browser was told
    wire.click(rows[ids[1]].retry)
    assert queue.job(ids[1]).status == JobStatus.PENDING

    wire.set(app.queue_panel.concurrency, value=1)
    assert queue.max_concurrent == 1
    wire.set(app.queue_panel.concurrency, value=0)
    assert queue.max_concurrent is None

    qp = app.queue_panel
    wire.click(qp.retry_failed)  # nothing failed: the panel says so (issue 11.11)
    assert "Nothing to retry: no job has failed." in qp.note.value
    wire.click(qp.cancel_all)
    assert {j.status for j in queue.jobs()} == {JobStatus.CANCELLED}
    assert "3 jobs cancelled." in qp.note.value
    assert "completed" in qp.clear_completed.tooltip and "cancelled" in qp.clear_completed.tooltip
    wire.click(qp.clear_completed)  # "completed" means completed: cancelled jobs stay
    assert {j.status for j in queue.jobs()} == {JobStatus.CANCELLED}
    assert "Nothing to clear: no job has completed." in qp.note.value
    queue.clear_completed(cancelled=True)
    app.refresh()
    assert rows_shown(app) == [] and app.queue_panel.empty.layout.display == "block"
    app.close()


def test_a_failed_row_keeps_its_buttons_and_shows_its_error(wire, tmp_path):
    """Issue 11.4: the line under a failed row shows the file name and the reason, a click the whole
    message; the four actions keep their size. A skipped job says why it did not run."""
    from goesvfi_lab.queue import BatchQueue

    q = BatchQueue(store=tmp_path / "queue.sqlite3")
    error = "FrameError: /tmp/ce8f1a/data/conus/f002.png: truncated PNG (file ends early)"
    bad, skipped, plain = q.add_jobs(
        [BatchJob(name=n, inputs=["a.png", "b.png"], output_dir=str(tmp_path / n)) for n in ("bad", "skipped", "plain")]
    )
    q.store.update(bad, status=JobStatus.FAILED, error=error)
    q.store.update(skipped, status=JobStatus.COMPLETED, notes=["skipped: complete from job 1f2e3d (same settings)"])
    app = QueueApp(q, start=False)
    rows = {r.job_id: r for r in app.queue_panel.rows if r.job_id}
    row = rows[bad]
    assert row.note.description == "FrameError: f002.png: truncated PNG (file ends early)"
    assert row.note.tooltip == error and "gvl-note-error" in row.note._dom_classes
    assert row.detail.layout.display == "none"
    wire.click(row.note)
    assert row.detail.layout.display == "block" and "/tmp/ce8f1a/data/conus/f002.png" in row.detail.value
    app.refresh()  # the next tick keeps it open
    assert row.detail.layout.display == "block"
    wire.click(row.note)
    assert row.detail.layout.display == "none"
    note = rows[skipped].note
    assert note.description == "skipped: complete from job 1f2e3d (same settings)" and not note.disabled
    assert "gvl-note-note" in note._dom_classes and "gvl-note-error" not in note._dom_classes
    assert row.note.layout.display == note.layout.display == "block"
    assert rows[plain].note.disabled and rows[plain].note.layout.display == "none"
    for r in rows.values():  # fixed-size actions; the cells take what is left
        assert all(b.layout.flex == "0 0 auto" for b in (r.cancel, r.retry, r.up, r.down))
        assert r.info.layout.min_width == "0"
    wire.click(row.note)
    wire.set(app.queue_panel.show_only, index=list(SHOW).index("completed"))  # the row now shows another job
    assert row.job_id == skipped and row.detail.layout.display == "none"
    app.close()


def test_errors_from_clicks_and_callbacks_are_shown(wire, queue, frames, tmp_path):
    (job_id,) = queue.add_jobs(jobs_for(frames, tmp_path / "out", n=1))
    app = QueueApp(queue, start=False)
    row = next(r for r in app.queue_panel.rows if r.job_id == job_id)
    queue.store.update(job_id, status=JobStatus.RUNNING)  # started elsewhere since the last refresh
    wire.click(row.up)  # the queue refuses: the reason appears in the panel, not in a hidden log
    assert "Queue action failed: ValueError" in app.errors.value
    assert "only jobs that have not started" in app.errors.value
    queue.store.update(job_id, status=JobStatus.PENDING)

    def broken(message):
        raise RuntimeError("my callback <broke>")

    queue.on("job_completed", broken)
    app.updater.start()
    queue.start()
    wait_for(lambda: queue.stats().completed == 1, what="the job to complete")
    wait_for(lambda: "my callback &lt;broke&gt;" in app.errors.value, 10, "the callback error in the panel")
    assert "A callback for &#x27;job_completed&#x27;" in app.errors.value
    app.close()
    assert not app.updater.running


def test_failed_jobs_show_their_error_and_retry(wire, queue, frames, tmp_path):
    good = jobs_for(frames, tmp_path / "out", n=1)[0]
    bad_input = tmp_path / "bad.nc"
    bad_input.write_bytes(b"not netcdf <at all>")
    bad = BatchJob(
        name="broken <job>",
        inputs=[good.inputs[0], str(bad_input)],
        output_dir=str(tmp_path / "bad"),
        factor=2,
        method="linear",
        settings={"video": False, "timeout": 60},
    )
    queue.add_jobs([good, bad])
    app = QueueApp(queue, interval=0.1)
    queue.start()
    wait_for(lambda: queue.stats().failed == 1 and queue.stats().completed == 1, 90, "one failure, one success")
    wait_for(lambda: tile(app.stats_panel.summary.value, "success_rate") == "50 %", 10, "the success rate")
    row = next(r for r in app.queue_panel.rows if r.job_id == bad.id)
    wait_for(lambda: 'data-status="failed"' in row.info.value, 10, "the failed row")
    assert "broken &lt;job&gt;" in row.info.value and "bad.nc" in row.note.description  # the error names the file
    assert str(tmp_path) not in row.note.description and str(tmp_path) in row.note.tooltip  # not its folder
    assert app.stats_panel.progress.bar_style == "danger"
    wire.click(app.queue_panel.pause)  # so the retried job stays where we can see it
    wire.click(app.queue_panel.retry_failed)
    again = queue.job(bad.id)
    assert (again.status, again.attempts, again.error) == (JobStatus.PENDING, 0, None)
    app.refresh()
    assert 'data-status="pending"' in row.info.value and row.retry.disabled and not row.cancel.disabled
    app.close()


def test_lab_from_files_to_finished_outputs(wire, queue, frames, tmp_path):
    """The whole notebook flow without a browser: filter → preview → confirm → stats reach 100 %."""
    app = lab(root=str(frames), output_dir=str(tmp_path / "out"), queue=queue)
    assert isinstance(app, Lab) and queue.client is not None  # connected at once: workers show
    f = app.filter
    assert f.wait()
    assert 'data-count="12"' in f.count.value
    wire.set(f.satellite, index=[v for _, v in f.satellite.options].index("G16"))
    assert f.wait() and 'data-count="8"' in f.count.value
    wire.click(f.next)
    assert app.steps.selected_index == 1
    p = app.preview
    wire.set(p.method, index=list(p.method.options).index("linear"))
    wire.set(p.cube, value=True)
    assert p.wait(60)
    assert all(bytes(img.value).startswith(b"\x89PNG") for img in p.images)
    wire.click(p.confirm)
    assert app.tabs.selected_index == 1 and "Submitted 2 jobs" in p.status.value
    stats = app.monitor.stats_panel
    wait_for(lambda: tile(stats.summary.value, "progress") == "100 %", 90, "100 % in the stats panel")
    assert tile(stats.summary.value, "success_rate") == "100 %"
    assert stats.progress.value == 1.0 and stats.progress.bar_style == "success"
    assert "worker" in stats.workers.value and "/goesvfi" in stats.links.value
    sent = wire.sent(stats.summary, "value")  # the updater thread pushed progress as it went
    assert len(sent) >= 2
    for job in queue.jobs():
        assert job.status == JobStatus.COMPLETED and job.method == "linear"
        assert {"video.mp4", "cube.nc", "000006.png"} <= set(os.listdir(job.output_dir))

    # pause, submit more, cancel one of the waiting jobs, resume
    wire.click(app.monitor.queue_panel.pause)
    assert queue.state == "paused"
    wire.click(p.back)
    wire.set(f.satellite, index=0)
    assert f.wait()
    wire.click(f.next)
    wire.set(p.output_dir, value=str(tmp_path / "out2"))
    wire.click(p.confirm)
    assert "paused" in p.status.value
    app.monitor.refresh()
    waiting = [jid for jid, st in rows_shown(app.monitor) if st == "pending"]
    assert len(waiting) == 3
    row = next(r for r in app.monitor.queue_panel.rows if r.job_id == waiting[0])
    wire.click(row.cancel)
    wire.click(app.monitor.queue_panel.resume)
    wait_for(lambda: queue.stats().completed == 4, 90, "the second batch")
    s = queue.stats()
    assert (s.cancelled, s.failed, s.success_rate) == (1, 0, 1.0)
    wait_for(
        lambda: (
            tile(stats.summary.value, "success_rate") == "100 %"
            and 'data-key="cancelled">cancelled <b>1</b>' in stats.summary.value
        ),
        10,
        "final stats",
    )
    app.close()
    assert not app.updater.running


def test_panel_of_an_existing_queue(wire, queue):
    app = panel(queue, interval=0.2)
    assert isinstance(app, QueueApp) and app.updater.running
    assert panel(queue, start=False).updater.running is False
    app.close()


def test_two_lab_apps_in_one_notebook_both_live(wire, cluster, frames, tmp_path):
    """A second ``gl.lab()`` cell adds an app beside the first (issue 11.3): both stay live and show
    the same queue (one dispatcher on the store), each with its own view; the queue stops with the last."""
    store = tmp_path / "lab.sqlite3"
    first = lab(root=str(frames), output_dir=str(tmp_path / "out"), cluster=cluster, store=store)
    second = lab(root=str(frames), output_dir=str(tmp_path / "out"), cluster=cluster, store=store)
    other = lab(root=str(frames), output_dir=str(tmp_path / "out"), cluster=cluster, store=tmp_path / "other.sqlite3")
    try:
        assert first.comm is not None and first.updater.running and second.updater.running
        assert second.queue is first.queue and first.queue.client is not None
        assert other.queue is not first.queue  # another store: a queue of its own
        (job_id,) = first.queue.add_jobs(jobs_for(frames, tmp_path / "out", n=1))
        wire.click(second.monitor.queue_panel.start)  # steer from the second app, watch in both
        for app in (first, second):
            wait_for(lambda app=app: (job_id, "completed") in rows_shown(app.monitor), 90, "the job in both tables")
        other.close()
        assert other.queue.client is None and first.queue.client is not None
        first.close()
        assert not first.updater.running
        assert second.updater.running and second.queue.client is not None  # the shared queue outlives a view
    finally:
        second.close()
    assert second.queue.client is None  # the last app lab() made for it stops the queue


def test_running_the_same_cell_again_replaces_its_app(wire, cluster, frames, tmp_path, monkeypatch):
    """Re-running a cell: its old output is gone from the notebook, so its app is closed; the queue stays."""
    import goesvfi_lab.notebook as widgets

    store = tmp_path / "lab.sqlite3"
    monkeypatch.setattr(widgets, "current_cell", lambda: ("cell-a", "run-1"))
    first = lab(root=str(frames), cluster=cluster, store=store)
    monkeypatch.setattr(widgets, "current_cell", lambda: ("cell-b", "run-2"))
    beside = lab(root=str(frames), cluster=cluster, store=store)
    monkeypatch.setattr(widgets, "current_cell", lambda: ("cell-a", "run-3"))
    again = lab(root=str(frames), cluster=cluster, store=store)
    try:
        assert first.comm is None and not first.updater.running  # replaced
        assert beside.updater.running and again.updater.running  # another cell's app stays
        assert again.queue is beside.queue is first.queue and again.queue.client is not None
    finally:
        beside.close()
        again.close()
    assert again.queue.client is None


def test_a_lab_whose_cluster_failed_closes_cleanly(wire, tmp_path):
    """``gl.lab()`` when the cluster cannot start: the error is the cluster's, and the half-built app's
    ``close()`` (ipywidgets calls it from ``__del__``) raises nothing (issue 12.8)."""

    class Unreachable:
        def connect(self):
            raise OSError("Timed out trying to connect to tcp://10.255.255.1:8786")

        def on(self, *args, **kwargs):
            pass

    with pytest.raises(OSError, match="Timed out"):
        Lab(Unreachable(), root=str(tmp_path))
    half = Lab.__new__(Lab)  # what __del__ sees: the constructor stopped before any panel was made
    half.queue = Unreachable()
    half.close()
    app = QueueApp.__new__(QueueApp)
    app.queue = Unreachable()
    app.close()
