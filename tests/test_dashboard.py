"""The ``/goesvfi`` dashboard page: served by the scheduler, fed by a real BatchQueue.

The page logic (escaping, totals, stale queues) is checked as strings; the rest against real
schedulers: an in-process LocalCluster with a real queue running real jobs (GET ``/goesvfi.json``
on its dashboard port shows counts that move as jobs finish), and ``dask scheduler`` processes
that load the page through the ``distributed.scheduler.http.routes`` config or ``--preload``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

import dask
import pytest
from _engine_support import make_frames, wait_for
from distributed import Client, LocalCluster

from goesvfi_lab import html, html_page
from goesvfi_lab.engine import dashboard as dash
from goesvfi_lab.model import BatchJob, JobPriority, JobStatus, Stats
from goesvfi_lab.queue import BatchQueue

HOSTILE = "<script>alert('x')</script> & \"quoted\""


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
        return r.status, r.headers.get("Content-Type", ""), body


def get_json(url: str) -> dict:
    return json.loads(get(url)[2])


# --- pure: rows, view, HTML ----------------------------------------------------------------------


def test_job_rows_are_plain_json_values():
    job = BatchJob(
        name="a",
        inputs=["x.png", "y.png", "z.png"],
        output_dir="out",
        factor=4,
        priority=JobPriority.URGENT,
        status=JobStatus.FAILED,
        error=ValueError("boom"),
    )
    row = dash.job_row(job)
    assert row["status"] == "failed" and row["priority"] == "URGENT"
    assert row["frames_total"] == 9 and row["progress"] == 0.0 and row["error"] == "boom"
    assert json.loads(json.dumps(row)) == row
    assert dash.job_row(row) == row  # rows pass through unchanged


def test_view_sums_queues_and_flags_silent_ones():
    plugin = dash.DashboardPlugin(stale_after=10, forget_after=100)
    plugin.receive("a", jobs=[], stats=Stats(total=3, completed=2, pending=1).to_dict())
    plugin.receive("b", jobs=[], stats=Stats(total=1, running=1).to_dict(), closed=True)
    now = time.time()
    view = plugin.view(now)
    assert view["totals"]["total"] == 4 and view["totals"]["completed"] == 2 and view["totals"]["running"] == 1
    assert [q["stale"] for q in view["queues"]] == [False, False]
    view = plugin.view(now + 50)
    stale = {q["queue"]: q["stale"] for q in view["queues"]}
    assert stale == {"a": True, "b": False}  # a detached queue is not "stale": it said goodbye
    assert plugin.view(now + 200)["queues"] == []  # forgotten


def test_page_escapes_every_job_value_and_reloads_itself():
    plugin = dash.DashboardPlugin()
    job = dash.job_row(BatchJob(name=HOSTILE, inputs=["a", "b"], output_dir="o", error=HOSTILE))
    plugin.receive(
        HOSTILE,
        jobs=[job],
        stats=Stats(total=2, failed=1, running=1, throughput=2.5, eta_seconds=125).to_dict(),
        info={"state": "running", "paused_reason": HOSTILE, "store": HOSTILE, "host": HOSTILE},
    )
    page = dash.render_page(plugin.view(), refresh=3)
    assert "<script>" not in page and "alert('x')" not in page and '"quoted"' not in page
    assert page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;") >= 5
    assert '<meta http-equiv="refresh" content="3">' in page
    assert "2.5 frames/s" in page and "2 min 05 s" in page


def _tile(page: str, key: str) -> str:
    return re.search(rf'data-key="{key}"><span class="muted">[^<]*</span><b>([^<]*)</b>', page).group(1)


def test_a_failed_job_reads_failed_with_its_frames_on_the_page():
    job = BatchJob(
        name="j",
        inputs=[f"{i}.png" for i in range(12)],
        output_dir="o",
        factor=4,
        status=JobStatus.FAILED,
        frames_done=8,
        attempts=3,
        error="FrameError: f003.png: truncated",
    )
    stats = Stats(total=1, failed=1, frames_done=8, frames_total=45, progress=8 / 45, eta_seconds=0.0, state="ready")
    plugin = dash.DashboardPlugin()
    plugin.receive("q", jobs=[dash.job_row(job)], stats=stats.to_dict(), info={"state": stats.state})
    page = dash.render_page(plugin.view())
    assert (_tile(page, "progress"), _tile(page, "ETA"), _tile(page, "frames")) == ("18 %", "1 failed", "8 / 45")
    row = re.search(r'<tr class="status-failed".*?</tr>', page).group(0)
    assert '<td class="status">failed</td>' in row and "width:17.8%" in row and "8 / 45" in row


def test_job_table_has_no_empty_columns():
    # item 9: "#" was empty for every job but the waiting ones, "attempts" read 0 for completed jobs;
    # the status cell says what they said where it means something
    assert "<th>#</th>" not in html_page.job_table([]) and "<th>attempts</th>" not in html_page.job_table([])
    assert dash.status_text({"status": "completed", "attempts": 0, "position": None}) == "completed"
    assert dash.status_text({"status": "pending", "attempts": 0, "position": 2}) == "pending · #2"
    assert dash.status_text({"status": "pending", "attempts": 1, "position": 1}) == "pending · #1 · 1 failed try"
    assert dash.status_text({"status": "failed", "attempts": 3, "position": None}) == "failed"  # the error says it


def test_page_numbers_read_as_the_notebook_panel_reads_them():
    # one printing: the page, the panels and the CLI format with goesvfi_lab.html
    for name in ("fmt_rate", "fmt_percent", "fmt_duration", "fmt_eta"):
        assert getattr(dash, name) is getattr(html, name) and getattr(html_page, name) is getattr(html, name)
    for st in (
        Stats(),
        Stats(state="ready"),
        Stats(total=2, completed=2, state="ready"),
        Stats(total=2, completed=1, failed=1, state="ready"),
        Stats(total=2, pending=2, state="paused"),
        Stats(total=3, running=1, completed=2, eta_seconds=75.0, progress=1.0, state="running"),
    ):
        page = html_page.stats_tiles(st.to_dict())
        panel = html.stats_summary(st)
        shown = lambda key, panel=panel: re.search(rf'data-key="{key}".*?gvl-tile-value">([^<]*)<', panel).group(1)
        assert _tile(page, "ETA") == shown("eta") and _tile(page, "progress") == shown("progress"), st


def test_page_without_a_queue_says_so():
    assert "No goesvfi-lab queue has attached" in dash.render_page(dash.current_view(object()))
    assert "No queue has published yet" in dash.render_page(dash.DashboardPlugin().view())


def test_page_url_sits_next_to_the_dashboard_link():
    class C:
        dashboard_link = "http://host:8787/status"

    assert dash.page_url(C()) == "http://host:8787/goesvfi"
    C.dashboard_link = "https://hub/user/me/proxy/8787/status?token=x"
    assert dash.page_url(C()) == "https://hub/user/me/proxy/8787/goesvfi"
    C.dashboard_link = None
    assert dash.page_url(C()) is None
    # the notebook's links come from the same function
    assert html_page.dashboard_urls("http://host:8787/status/") == (
        "http://host:8787/status/",
        "http://host:8787/goesvfi",
    )
    assert html_page.dashboard_urls("/user/me/proxy/8787/status?token=x")[1] == "/user/me/proxy/8787/goesvfi"
    proxied = "/user/me/proxy/8787/status"
    assert html_page.dashboard_urls(proxied) == (proxied, "/user/me/proxy/8787/goesvfi")
    assert html_page.dashboard_urls(None) == (None, None)


# --- a real LocalCluster and a real queue ---------------------------------------------------------


@pytest.fixture
def cluster_client():
    config = {"distributed.scheduler.worker-saturation": "inf", "goesvfi.queue.metrics-interval": 0.1}
    with (
        dask.config.set(config),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0") as c,
        Client(c) as client,
    ):
        yield client


def local_page(client) -> str:
    """The page URL on 127.0.0.1 (the link names the machine's address; the test binds loopback)."""
    return f"http://127.0.0.1:{urlparse(client.dashboard_link).port}/{dash.PAGE}"


def test_live_counts_on_the_dashboard_port_follow_a_real_queue(cluster_client, tmp_path):
    client = cluster_client
    url = local_page(client)
    assert dash.attach_dashboard(client) == dash.page_url(client)
    assert dash.attach_dashboard(client) == dash.page_url(client)  # idempotent: one plugin, one set of routes
    assert list(
        client.run_on_scheduler(lambda dask_scheduler: [n for n in dask_scheduler.plugins if n == dash.PLUGIN_NAME])
    ) == [dash.PLUGIN_NAME]
    view = get_json(url + ".json")
    assert view["attached"] is True and view["queues"] == []

    q = BatchQueue(cluster=client, store=tmp_path / "queue.sqlite3", max_concurrent=1)
    names = [f"job-{i}" for i in range(5)] + [HOSTILE]
    for i, name in enumerate(names):
        frames = make_frames(tmp_path / "in" / str(i), 3, 128, seed=i)
        q.add_job(
            BatchJob(
                name=name,
                inputs=frames,
                output_dir=str(tmp_path / "out" / str(i)),
                factor=8,
                method="linear",
                priority=JobPriority.LOW if i == 0 else JobPriority.NORMAL,
            )
        )
    with dask.config.set({"goesvfi.dashboard.interval": 0.1}):
        q.connect()  # a queue publishes to the page by itself once attached to a cluster
    pub = q._dashboard
    assert pub is not None and pub.url == dash.page_url(client)
    seen: list[tuple[int, int, int]] = []

    def poll() -> dict:
        view = get_json(url + ".json")
        if view["queues"]:
            s = view["queues"][0]["stats"]
            seen.append((s["completed"], s["pending"] + s["queued"] + s["running"], s["frames_done"]))
        return view

    try:
        wait_for(lambda: poll()["queues"], 10, what="a first snapshot")
        assert seen[-1] == (0, 6, 0)  # all waiting before start
        q.start(preload=["linear"])
        wait_for(lambda: poll()["totals"]["completed"] >= 1, 60, 0.02, "a first job done")
        q.pause()  # one job at a time: the page settles on a partial count, however fast the machine
        wait_for(
            lambda: (
                (v := poll())["queues"][0]["info"]["state"] == "paused"
                and v["totals"]["running"] == 0
                and q.inflight == 0
            ),
            60,
            0.02,
            "the page to show the paused queue",
        )
        time.sleep(0.5)
        held = poll()["totals"]
        assert 1 <= held["completed"] < 6 and held["completed"] + held["pending"] == 6
        assert held["completed"] == q.stats().completed
        q.resume()
        wait_for(lambda: poll()["totals"]["completed"] == 6, 120, 0.02, "the page to show every job done")
        view = poll()
    finally:
        q.stop()
    assert q._dashboard is None and pub.published >= 3

    snap = view["queues"][0]
    assert snap["queue"] == q.id and snap["jobs_total"] == 6 and snap["info"]["store"] == str(q.store.path)
    assert {j["name"]: j["status"] for j in snap["jobs"]} == {n: "completed" for n in names}
    assert all(j["frames_done"] == j["frames_total"] == 17 for j in snap["jobs"])
    assert snap["stats"]["success_rate"] == 1.0 and snap["stats"]["progress"] == 1.0
    # live: counts moved through intermediate states, and only forward
    completed = [c for c, _, _ in seen]
    assert completed == sorted(completed)
    assert len({c for c in completed if 0 < c < 6}) >= 1, seen
    assert [f for _, _, f in seen] == sorted(f for _, _, f in seen)
    # the final snapshot marks the queue detached
    assert get_json(url + ".json")["queues"][0]["detached"] is True


def test_html_page_and_labextension_listing_on_the_dashboard_port(cluster_client, tmp_path):
    client = cluster_client
    url = local_page(client)
    dash.attach_dashboard(client)
    job = BatchJob(name=HOSTILE, inputs=["a.png", "b.png"], output_dir=str(tmp_path), error=HOSTILE)
    assert dash.publish_snapshot(client, [job], Stats(total=1, failed=1), queue_id="q1")
    status, ctype, page = get(url)
    assert status == 200 and ctype.startswith("text/html")
    assert "<script>" not in page and 'data-queue="q1"' in page and "&lt;script&gt;" in page
    status, ctype, raw = get(url + ".json")
    assert ctype.startswith("application/json") and "<" not in raw
    assert json.loads(raw)["queues"][0]["jobs"][0]["name"] == HOSTILE
    # dask-labextension's list of panes comes from /individual-plots.json: the page is in it, Dask's are kept
    plots = get_json(url[: -len(dash.PAGE)] + "individual-plots.json")
    assert plots[dash.PAGE_TITLE] == "/goesvfi" and "Individual Task Stream" in plots


def test_publish_without_the_plugin_reports_false(cluster_client):
    assert dash.publish_snapshot(cluster_client, [], Stats()) is False


# --- an external scheduler with the package installed ------------------------------------------------


def start_scheduler(tmp_path, extra_args=(), env=None) -> tuple[subprocess.Popen, dict]:
    sched_file = tmp_path / "scheduler.json"
    with open(tmp_path / "scheduler.log", "wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(sched_file),
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        wait_for(lambda: sched_file.exists() and sched_file.stat().st_size > 0, 60, 0.1, "the scheduler file")
        identity = json.loads(sched_file.read_text())
        port = identity["services"]["dashboard"]
        base = f"http://127.0.0.1:{port}/"
        wait_for(lambda: _answers(base + "health"), 30, 0.1, "the dashboard")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, {"address": identity["address"], "base": base}


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_routes_config_serves_the_page_on_an_external_scheduler(tmp_path):
    routes = [*dask.config.get("distributed.scheduler.http.routes"), "goesvfi_lab.engine.dashboard"]
    proc, s = start_scheduler(tmp_path, env={"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": repr(routes)})
    try:
        view = get_json(s["base"] + "goesvfi.json")  # before any queue: the page is there, and says so
        assert view["attached"] is False and view["queues"] == []
        assert "No goesvfi-lab queue has attached" in get(s["base"] + "goesvfi")[2]
        with Client(s["address"]) as client:
            dash.attach_dashboard(client)
            assert dash.publish_snapshot(client, [], Stats(total=2, pending=2), queue_id="remote")
            view = get_json(s["base"] + "goesvfi.json")
            assert view["attached"] is True and view["totals"]["pending"] == 2
            assert dash.PAGE_TITLE in get_json(s["base"] + "individual-plots.json")
    finally:
        stop(proc)


@pytest.mark.slow
def test_preload_attaches_the_page_at_scheduler_start(tmp_path):
    proc, s = start_scheduler(tmp_path, ["--preload", "goesvfi_lab.engine.dashboard"])
    try:
        assert get_json(s["base"] + "goesvfi.json")["attached"] is True
        assert get_json(s["base"] + "individual-plots.json")[dash.PAGE_TITLE] == "/goesvfi"
        with Client(s["address"]) as client:
            assert dash.publish_snapshot(client, [], Stats(total=1, completed=1), queue_id="x")  # no attach needed
        assert get_json(s["base"] + "goesvfi.json")["totals"]["completed"] == 1
    finally:
        stop(proc)


def test_publisher_sends_on_change_and_heartbeat_not_while_idle(cluster_client, tmp_path):
    q = BatchQueue(cluster=cluster_client, store=tmp_path / "queue.sqlite3")
    url = local_page(cluster_client)
    pub = dash.DashboardPublisher(q, interval=0.05, heartbeat=4.0).start()  # long: a busy host must not hit it
    try:
        wait_for(lambda: pub.published == 1, 10, what="the first snapshot")
        time.sleep(0.6)
        assert pub.published == 1  # nothing changed: nothing rebuilt or sent
        q.add_job(BatchJob(name="new", inputs=["a.png", "b.png"], output_dir=str(tmp_path / "o")))
        wait_for(lambda: get_json(url + ".json")["totals"]["pending"] == 1, 10, what="the new job on the page")
        assert pub.published == 2
        wait_for(lambda: pub.published == 3, 10, what="the heartbeat")
    finally:
        pub.stop()
        q.stop()
    assert get_json(url + ".json")["queues"][0]["detached"] is True
