"""Numbers a user reads (issue 11, items 7-9), against a real BatchQueue on a real LocalCluster.

Throughput and ETA must follow the real speed (not climb while it is steady, decay to 0 once idle),
the notebook panel, the scheduler's ``/goesvfi`` page and ``goesvfi-lab status`` must say the same
(one state word, one throughput, one ETA), and a failed job must not look finished.
"""

from __future__ import annotations

import re
import time

import dask
import pytest
from _engine_scenarios import job as _job
from _engine_scenarios import queue as _queue
from _engine_support import NO_DASHBOARD, make_frames, wait_for
from _widget_wire import install
from distributed import Client, LocalCluster

from goesvfi_lab.engine import dashboard as dash
from goesvfi_lab.model import BatchJob, JobStatus

FAST = {
    "goesvfi.retry.base": 0.2,
    "goesvfi.retry.max-attempts": 2,
    "goesvfi.queue.metrics-interval": 0.1,
    "goesvfi.dashboard.interval": 0.1,
    "distributed.scheduler.worker-saturation": "inf",
}


@pytest.fixture
def client():
    with dask.config.set(FAST), LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as c:
        with Client(c) as cl:
            yield cl


def page_view(client) -> dict:
    """What the scheduler's ``/goesvfi.json`` holds now (read on the scheduler itself)."""
    return client.run_on_scheduler(lambda dask_scheduler: dash.current_view(dask_scheduler))


def page_tile(page: str, key: str) -> str:
    return re.search(rf'data-key="{key}"><span class="muted">[^<]*</span><b>([^<]*)</b>', page).group(1)


def panel_tile(html_text: str, key: str) -> str:
    return re.search(rf'data-key="{key}".*?gvl-tile-value">([^<]*)<', html_text).group(1)


def test_throughput_and_eta_follow_steady_work_after_an_idle_start(client, tmp_path):
    q = _queue(client, tmp_path)
    q.start(preload=["linear"])
    try:
        s = q.stats()
        assert (s.total, s.state, s.eta_seconds) == (0, "ready", None)  # not "0.0 s" before any job exists
        time.sleep(3.0)  # the user picks files in the notebook while the queue waits
        j = _job(tmp_path, "steady", n=48, size=192, factor=4)
        jid = q.add_job(j)
        total = j.frames_total

        def frames() -> int:
            return q.job(jid).frames_done

        f1 = wait_for(lambda: (f := frames()) >= 0.25 * total and f, 120, 0.01, "a quarter of the frames")
        t1 = time.monotonic()
        f2 = wait_for(lambda: (f := frames()) >= 0.6 * total and f, 120, 0.01, "60 % of the frames")
        t2 = time.monotonic()
        s = q.stats()
        speed = (f2 - f1) / (t2 - t1)  # the speed the cluster really had meanwhile
        assert s.state == "running"
        assert 0.5 * speed <= s.throughput <= 2.0 * speed, (s.throughput, speed)
        wait_for(lambda: frames() == total, 120, 0.01, "every frame")
        took = time.monotonic() - t2
        assert s.eta_seconds is not None and 0.4 * took - 0.3 <= s.eta_seconds <= 2.5 * took + 0.3, (
            s.eta_seconds,
            took,
        )
        assert q.wait(60)
    finally:
        q.stop()


def test_panel_page_and_status_agree_and_idle_throughput_decays_to_zero(client, tmp_path, monkeypatch, capsys):
    from goesvfi_lab.cli import main
    from goesvfi_lab.widgets import QueueApp

    install(monkeypatch)
    with dask.config.set({"goesvfi.queue.throughput-window": 2.0}):
        q = _queue(client, tmp_path)
    q.add_job(_job(tmp_path, "short", n=12, size=96, factor=4))
    app = QueueApp(q, start=False)
    q.start(preload=["linear"])
    try:
        assert q.wait(60)

        def both() -> tuple[dict, str, str]:
            app.refresh()
            view = page_view(client)
            return view, dash.render_page(view), app.stats_panel.summary.value

        view, page, panel = both()
        # the finished queue: "ready" on both (the page said "running" while the panel said "ready")
        assert q.stats().state == "ready" and panel_tile(panel, "state") == "ready"
        wait_for(lambda: page_view(client)["queues"][0]["info"]["state"] == "ready", 5, what="the page's state")
        assert panel_tile(panel, "eta") == "done" and panel_tile(panel, "progress") == "100 %"
        # idle: the throughput decays to 0 within the window, on the panel and on the page alike
        wait_for(lambda: q.stats().throughput == 0.0, 10, what="the throughput to decay")
        view, page, panel = wait_for(
            lambda: (b := both()) and page_tile(b[1], "throughput") == "0.0 frames/s" and b,
            5,
            what="the page to follow the decay",
        )
        assert panel_tile(panel, "throughput") == page_tile(page, "throughput") == "0.0 frames/s"
        assert panel_tile(panel, "eta") == page_tile(page, "ETA") == "done"
        assert panel_tile(panel, "progress") == page_tile(page, "progress") == "100 %"
        assert 'data-state="ready"' in page and view["queues"][0]["stats"]["state"] == "ready"
    finally:
        app.close()
        q.stop()
    with dask.config.set({"goesvfi.queue.throughput-window": 2.0}):  # the store's view: the same window
        assert main(["status", "--store", str(q.store.path)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("queue ")]
    assert line == ["queue idle · progress 100 % · throughput 0.0 frames/s · ETA done"], line


def test_a_failed_job_shows_its_frames_and_failed_everywhere(client, tmp_path, monkeypatch, capsys):
    from goesvfi_lab.cli import main
    from goesvfi_lab.widgets import QueueApp

    install(monkeypatch)
    inputs = make_frames(tmp_path / "in", 8, 48)
    with open(inputs[-1], "wb") as f:
        f.write(b"this is not an image")  # the last pair cannot be made
    q = _queue(client, tmp_path)
    jid = q.add_job(BatchJob(name="bad", inputs=inputs, output_dir=str(tmp_path / "out"), factor=4, method="linear"))
    app = QueueApp(q, start=False)
    q.start(preload=["linear"])
    try:
        assert q.wait(60)
        job = q.job(jid)
        assert job.status == JobStatus.FAILED and job.frames_done < job.frames_total == 29
        done, wanted = job.frames_done, job.frames_total
        pct = f"{100 * done / wanted:.0f} %"
        s = q.stats()
        assert s.progress == pytest.approx(done / wanted) and (s.frames_done, s.frames_total) == (done, wanted)
        assert s.eta_seconds == 0.0 and s.state == "ready"
        app.refresh()
        panel = app.stats_panel.summary.value
        assert (panel_tile(panel, "progress"), panel_tile(panel, "eta"), panel_tile(panel, "frames")) == (
            pct,
            "1 failed",
            f"{done} / {wanted}",
        )  # not "100 %" and "done"
        bar = app.stats_panel.progress
        assert bar.value == pytest.approx(done / wanted) and bar.bar_style == "danger"
        row = next(r.info.value for r in app.queue_panel.rows if f'data-job-id="{jid}"' in r.info.value)
        assert (
            'data-status="failed"' in row and f"{done}/{wanted}" in row and f"width:{100 * done / wanted:.1f}%" in row
        )
        view = wait_for(
            lambda: (v := page_view(client))["queues"] and v["queues"][0]["stats"]["failed"] == 1 and v,
            10,
            what="the page to show the failure",
        )
        page = dash.render_page(view)
        assert (page_tile(page, "progress"), page_tile(page, "ETA"), page_tile(page, "frames")) == (
            pct,
            "1 failed",
            f"{done} / {wanted}",
        )
        prow = re.search(r'<tr class="status-failed".*?</tr>', page).group(0)
        assert '<td class="status">failed</td>' in prow and f"width:{100 * done / wanted:.1f}%" in prow
    finally:
        app.close()
        q.stop()
    assert main(["status", "--store", str(q.store.path)]) == 0
    text = capsys.readouterr().out
    assert f"queue idle · progress {pct} · throughput" in text and "ETA 1 failed" in text, text
