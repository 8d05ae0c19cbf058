"""The project's page on the Dask dashboard: ``/goesvfi`` (HTML) and ``/goesvfi.json``.

Jobs live in the queue's SQLite store on the client, not on the scheduler, so the client pushes a
snapshot (job rows and :class:`~goesvfi_lab.model.Stats`) to a scheduler plugin that keeps the
latest one per queue and serves it from the scheduler's own HTTP server (the dashboard port).

How a snapshot travels: :class:`DashboardPlugin` adds a scheduler RPC handler when it starts, and
:func:`publish_snapshot` calls it (``client.scheduler.goesvfi_dashboard(...)``). One small msgpack
message per update, no pickled code, and the plugin *replaces* the previous snapshot, so scheduler
memory stays bounded (``scheduler.log_event`` would keep the last 1000 snapshots per topic, and
``client.run_on_scheduler`` ships a pickled function each time). The reply says whether a plugin
received it, so a queue on a scheduler without this package notices instead of failing.

:class:`DashboardPublisher` is the client side a queue runs: a daemon thread that sends a fresh
snapshot after queue events or count changes (and every few seconds), backing off when the store is
so big that building a snapshot gets expensive.

Routes appear whenever a queue attaches (:func:`attach_dashboard` registers the plugin, which adds
the handlers to ``scheduler.http_application`` at start). On an external scheduler with the package
installed they can be there from the start, before any queue connects, either way::

    dask scheduler --preload goesvfi_lab.engine.dashboard

    # or ~/.config/dask/distributed.yaml (the list replaces Dask's default one: keep its entries)
    distributed:
      scheduler:
        http:
          routes:
            - distributed.http.scheduler.prometheus
            - distributed.http.scheduler.info
            - distributed.http.scheduler.json
            - distributed.http.health
            - distributed.http.proxy
            - distributed.http.statics
            - goesvfi_lab.engine.dashboard

The plugin also extends ``/individual-plots.json`` with the page, which is where dask-labextension
reads its list of panes: "GOES-VFI Jobs" then opens from the Dask sidebar like a Dask plot.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.http.utils import RequestHandler

from goesvfi_lab import config
from goesvfi_lab.policy import eta_label, shown_progress

logger = logging.getLogger(__name__)

PLUGIN_NAME = "goesvfi-dashboard"
RPC = "goesvfi_dashboard"  # scheduler handler name (also the op the client calls)
PAGE = "goesvfi"
PAGE_JSON = "goesvfi.json"
PAGE_TITLE = "GOES-VFI Jobs"  # how dask-labextension lists it
JOB_FIELDS = ("id", "name", "status", "priority", "frames_done", "frames_total", "progress", "attempts",
              "error", "position", "method", "factor", "created_at", "started_at", "finished_at")  # fmt: skip
COUNTS = ("total", "pending", "queued", "running", "completed", "failed", "cancelled", "frames_done", "frames_total")


# --- snapshots (client side) -------------------------------------------------------------------


def job_row(job: Any) -> dict[str, Any]:
    """One job as plain JSON values (a BatchJob, or a mapping with the same fields)."""
    get = job.get if isinstance(job, Mapping) else lambda k, d=None: getattr(job, k, d)
    row = {k: get(k) for k in JOB_FIELDS}
    for key in ("status", "priority"):  # enums -> their names
        value = row[key]
        if key == "priority" and hasattr(value, "name"):
            row[key] = value.name
        elif hasattr(value, "value"):
            row[key] = value.value
    row["progress"] = _number(row["progress"])
    if row["error"] is not None:
        row["error"] = str(row["error"])[:1000]
    return row


def _number(value: Any) -> float | None:
    """A finite float or None (NaN/inf are not JSON)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _stats_dict(stats: Any) -> dict[str, Any]:
    data = stats.to_dict() if hasattr(stats, "to_dict") else dict(stats or {})
    return {k: (_number(v) if isinstance(v, float) else v) for k, v in data.items()}


def queue_snapshot(queue: Any, limit: int | None = None) -> dict[str, Any]:
    """What the page shows for one :class:`~goesvfi_lab.BatchQueue`: stats, state and its first jobs.

    Jobs come in ``queue.jobs()`` order (running, then waiting in start order, then finished); at
    most ``limit`` (config ``goesvfi.dashboard.max-jobs``) of them, the total is in ``jobs_total``.
    """
    limit = int(config.get("dashboard.max-jobs", 200) if limit is None else limit)
    jobs = queue.jobs(limit=limit)  # read from the store: only the rows shown
    stats = queue.stats()  # its state word is the notebook panel's (policy.queue_state)
    info = {"state": stats.state, "paused_reason": queue.paused_reason, "policy": queue.policy,
            "store": str(queue.store.path), "host": socket.gethostname(), "pid": os.getpid()}  # fmt: skip
    return {"jobs": [job_row(j) for j in jobs], "jobs_total": queue.count(),
            "stats": _stats_dict(stats), "info": info}  # fmt: skip


def publish_snapshot(
    client: Any,
    jobs: Iterable[Any],
    stats: Any,
    *,
    queue_id: str = "default",
    info: Mapping[str, Any] | None = None,
    jobs_total: int | None = None,
    closed: bool = False,
) -> bool:
    """Send one queue's jobs and stats to the dashboard plugin; True if the scheduler took it.

    ``jobs``: BatchJob objects or rows from :func:`job_row`; ``stats``: a Stats or its dict.
    ``closed=True`` tells the page the queue stopped (its last snapshot is kept, marked detached).
    Blocking (one round trip, ~1 ms on a local cluster): call it from a thread, not the event loop.
    """
    rows = [job_row(j) for j in jobs]
    reply = client.sync(
        getattr(client.scheduler, RPC), queue=str(queue_id), jobs=rows, stats=_stats_dict(stats),
        info=dict(info or {}), jobs_total=len(rows) if jobs_total is None else int(jobs_total), closed=bool(closed),
    )  # fmt: skip
    return reply == "OK"


def attach_dashboard(client: Any) -> str | None:
    """Register :class:`DashboardPlugin` on the client's scheduler (idempotent); returns the page URL.

    Raises if the scheduler cannot load the plugin (this package is not installed there).
    """
    client.register_plugin(DashboardPlugin(), name=PLUGIN_NAME)
    return page_url(client)


def page_url(client: Any) -> str | None:
    """``.../goesvfi`` next to the client's dashboard link (None when the scheduler has no dashboard)."""
    link = getattr(client, "dashboard_link", None)
    if not link:
        return None
    base = link.split("?")[0].rstrip("/")
    base = base.removesuffix("/status")
    return f"{base}/{PAGE}"


class DashboardPublisher:
    """Keeps a queue's snapshot on the scheduler fresh: soon after events and count changes.

    A daemon thread (the snapshot reads the store; never on the client's event loop). Every
    ``interval`` s it compares the queue's cached counts (microseconds); it rebuilds and sends the
    snapshot when they changed, when a queue event fired, or every ``heartbeat`` s regardless (so the
    page never calls a live queue stale, and reordered waiting jobs show up). Building it costs about
    25 µs per job in the store (2.5 s for 100,000), so it is sent at most every 10 × that cost.
    Failures are logged once and retried, never raised into the queue.
    """

    def __init__(self, queue: Any, interval: float | None = None, limit: int | None = None,
                 heartbeat: float = 10.0) -> None:  # fmt: skip
        self.queue = queue
        self.interval = float(config.get("dashboard.interval", 1.0) if interval is None else interval)
        self.heartbeat = max(float(heartbeat), self.interval)
        self.limit = limit
        self.url: str | None = None
        self.published = 0
        self.last_error: BaseException | None = None
        self._poked = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_key: tuple | None = None
        self._last_sent = 0.0

    def start(self) -> DashboardPublisher:
        """Connect the queue if needed, attach the page to its scheduler and start publishing."""
        if self._thread is not None and self._thread.is_alive():
            return self
        try:
            self.url = attach_dashboard(self.queue.connect())  # connect() returns the client (idempotent)
        except Exception as exc:  # e.g. the scheduler does not have goesvfi_lab installed
            self.last_error = exc
            logger.warning("goesvfi: dashboard page unavailable on this scheduler: %s", exc)
            return self
        self.queue.on("*", self._poke)
        self._stopping.clear()
        self._poked.set()  # publish at once
        self._thread = threading.Thread(target=self._run, name="goesvfi-dashboard", daemon=True)
        self._thread.start()
        return self

    def _poke(self, message: Any = None) -> None:
        self._poked.set()

    def _key(self) -> tuple:
        """What the page shows, as shown: a throughput decaying while idle or an ETA counting down is
        sent too (within ``interval``), so the page and the notebook panel read the same."""
        s = self.queue.stats()
        return (s.total, s.pending, s.queued, s.running, s.completed, s.failed, s.cancelled, s.frames_done,
                s.state, fmt_rate(s.throughput), fmt_duration(s.eta_seconds))  # fmt: skip

    def publish(self, closed: bool = False) -> bool:
        """Build and send the snapshot now; True if the scheduler took it."""
        key = self._key()
        snap = queue_snapshot(self.queue, self.limit)
        ok = publish_snapshot(self.queue.client, snap["jobs"], snap["stats"], queue_id=self.queue.id,
                              info=snap["info"], jobs_total=snap["jobs_total"], closed=closed)  # fmt: skip
        self._last_key, self._last_sent = key, time.monotonic()
        self.published += 1
        return ok

    def _due(self, poked: bool) -> bool:
        if poked or time.monotonic() - self._last_sent >= self.heartbeat:
            return True
        return self._key() != self._last_key

    def _run(self) -> None:
        wait = self.interval
        while not self._stopping.is_set():
            poked = self._poked.wait(wait)
            if self._stopping.is_set():
                break
            self._poked.clear()
            t0 = time.perf_counter()
            try:
                if self._due(poked):
                    self.publish()
                self.last_error = None
            except Exception as exc:
                if self.last_error is None:
                    logger.warning("goesvfi: could not publish to the dashboard page: %s", exc)
                self.last_error = exc
            wait = max(self.interval, 10 * (time.perf_counter() - t0))
            self._stopping.wait(min(0.25, wait))  # events within 0.25 s coalesce into one update

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and leave a final snapshot marked detached (call before closing the client)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._poked.set()
        self._thread.join(timeout)
        self._thread = None
        self.queue.on("*", self._poke, remove=True)
        try:
            self.publish(closed=True)
        except Exception as exc:  # the cluster may already be gone
            logger.debug("goesvfi: final dashboard snapshot not sent: %s", exc)


# --- the scheduler side --------------------------------------------------------------------------


class DashboardPlugin(SchedulerPlugin):
    """Holds the latest snapshot of every attached queue and serves the ``/goesvfi`` pages."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, stale_after: float | None = None, forget_after: float | None = None) -> None:
        self.stale_after = float(config.get("dashboard.stale-after", 30.0) if stale_after is None else stale_after)
        self.forget_after = float(
            config.get("dashboard.forget-after", 3600.0) if forget_after is None else forget_after
        )
        self.queues: dict[str, dict[str, Any]] = {}
        self.received = 0
        self.scheduler = None

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler
        scheduler.handlers[RPC] = self.receive
        add_routes(scheduler)

    async def close(self) -> None:
        if self.scheduler is not None and self.scheduler.handlers.get(RPC) == self.receive:
            del self.scheduler.handlers[RPC]

    def receive(self, queue: str = "default", jobs: list | None = None, stats: dict | None = None,
                info: dict | None = None, jobs_total: int | None = None, closed: bool = False) -> str:  # fmt: skip
        """The RPC handler: replace ``queue``'s snapshot."""
        jobs = list(jobs or [])
        self.queues[str(queue)] = {
            "queue": str(queue), "jobs": jobs, "jobs_total": len(jobs) if jobs_total is None else int(jobs_total),
            "stats": dict(stats or {}), "info": dict(info or {}), "detached": bool(closed), "received": time.time(),
        }  # fmt: skip
        self.received += 1
        return "OK"

    def view(self, now: float | None = None) -> dict[str, Any]:
        """What ``/goesvfi.json`` returns: every queue's snapshot (newest first) and summed counts."""
        now = time.time() if now is None else now
        for qid in [q for q, s in self.queues.items() if now - s["received"] > self.forget_after]:
            del self.queues[qid]
        queues = []
        for snap in sorted(self.queues.values(), key=lambda s: -s["received"]):
            age = now - snap["received"]
            queues.append({**snap, "age": age, "stale": not snap["detached"] and age > self.stale_after})
        totals = {k: sum(int(q["stats"].get(k) or 0) for q in queues) for k in COUNTS}
        return {"attached": True, "time": now, "queues": queues, "totals": totals}


def _plugin(scheduler: Any) -> DashboardPlugin | None:
    plugin = getattr(scheduler, "plugins", {}).get(PLUGIN_NAME)
    return plugin if isinstance(plugin, DashboardPlugin) else None


def current_view(scheduler: Any) -> dict[str, Any]:
    plugin = _plugin(scheduler)
    if plugin is None:
        return {"attached": False, "time": time.time(), "queues": [], "totals": {k: 0 for k in COUNTS}}
    return plugin.view()


class JobsJSON(RequestHandler):
    """``/goesvfi.json``."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        # "<" as \u003c: still the same JSON, but no markup even if something renders it as HTML
        self.write(json.dumps(current_view(self.server), allow_nan=False).replace("<", "\\u003c"))


class JobsPage(RequestHandler):
    """``/goesvfi``: the same as HTML, reloading itself every ``goesvfi.dashboard.refresh`` s."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.write(render_page(current_view(self.server), refresh=float(config.get("dashboard.refresh", 2.0))))


routes: list[tuple] = [(PAGE, JobsPage, {}), (PAGE_JSON, JobsJSON, {})]


def _individual_plots_handler():
    """distributed's ``/individual-plots.json`` handler, plus this page (what dask-labextension lists)."""
    from distributed.http.scheduler.info import IndividualPlots

    class IndividualPlotsWithJobs(IndividualPlots):
        def write(self, chunk: Any) -> None:
            if isinstance(chunk, dict):
                chunk = {**chunk, PAGE_TITLE: f"{_prefix(self.server)}{PAGE}"}
            super().write(chunk)

    return IndividualPlotsWithJobs


def _prefix(scheduler: Any) -> str:
    """The dashboard's URL prefix (``dask scheduler --dashboard-prefix``), read off its own routes."""
    app = getattr(scheduler, "http_application", None)
    for rule in getattr(getattr(app, "wildcard_router", None), "rules", []):
        pattern = getattr(getattr(rule, "matcher", None), "regex", None)
        pattern = getattr(pattern, "pattern", "")
        if pattern.endswith("individual-plots.json$"):
            return pattern[: -len("individual-plots.json$")].replace("\\", "") or "/"
    return "/"


def add_routes(scheduler: Any) -> bool:
    """Add the pages to a running scheduler's HTTP server (once); False if it has none."""
    app = getattr(scheduler, "http_application", None)
    if app is None or getattr(app, "_goesvfi_dashboard", False):
        return False
    prefix = _prefix(scheduler)
    handlers = [(f"{prefix}{url}", cls, {**kw, "dask_server": scheduler}) for url, cls, kw in routes]
    try:
        handlers.append((f"{prefix}individual-plots.json", _individual_plots_handler(), {"dask_server": scheduler}))
    except ImportError:  # distributed without its info pages
        pass
    app.add_handlers(r".*$", handlers)  # added rules take precedence over the ones the server started with
    app._goesvfi_dashboard = True
    return True


def dask_setup(scheduler: Any) -> None:
    """``dask scheduler --preload goesvfi_lab.engine.dashboard``: the page exists before any queue attaches."""
    scheduler.add_plugin(DashboardPlugin(), name=PLUGIN_NAME, idempotent=True)


# --- HTML ---------------------------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


DASH = "—"


# the same strings as goesvfi_lab.widgets.formatting (which imports ipywidgets, so the scheduler
# cannot load it); tests/test_dashboard.py checks that the two agree


def fmt_percent(fraction: Any) -> str:
    if fraction is None or not math.isfinite(float(fraction)):
        return DASH
    pct = 100.0 * float(fraction)
    if 99.0 <= pct < 100.0:  # never show 100 % before it is
        return f"{math.floor(pct * 10) / 10:.1f} %"
    return f"{pct:.0f} %"


def fmt_rate(frames_per_s: Any) -> str:
    if frames_per_s is None or not math.isfinite(float(frames_per_s)):
        return DASH
    r = float(frames_per_s)
    if r >= 100:
        return f"{r:.0f} frames/s"
    if r >= 1 or r == 0:
        return f"{r:.1f} frames/s"
    return f"{r * 60:.1f} frames/min"


def fmt_duration(seconds: Any) -> str:
    if seconds is None or not math.isfinite(float(seconds)) or float(seconds) < 0:
        return DASH
    seconds = float(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600:02d} h"


def fmt_eta(stats: Mapping[str, Any]) -> str:
    """The ETA tile: "done", "N failed", "paused" (:func:`goesvfi_lab.policy.eta_label`) or the duration."""
    unfinished = sum(int(stats.get(k) or 0) for k in ("pending", "queued", "running"))
    word = eta_label(str(stats.get("state") or ""), unfinished, int(stats.get("failed") or 0),
                     int(stats.get("total") or 0))  # fmt: skip
    return word if word is not None else fmt_duration(stats.get("eta_seconds"))


def _shown_progress(stats: Mapping[str, Any]) -> float:
    unfinished = sum(int(stats.get(k) or 0) for k in ("pending", "queued", "running"))
    return shown_progress(stats.get("progress"), unfinished)


def status_text(job: Mapping[str, Any]) -> str:
    """A job's status cell: waiting jobs add their place in the start order and failed tries so far.

    (The page has no "#" and "attempts" columns: they were empty or 0 for most rows.)
    """
    status = str(job.get("status") or "")
    parts = [status]
    if status == "pending" and job.get("position"):
        parts.append(f"#{job['position']}")
    attempts = int(job.get("attempts") or 0)
    if attempts and status in ("pending", "queued", "running"):
        parts.append(f"{attempts} failed {'try' if attempts == 1 else 'tries'}")
    return " · ".join(parts)


_CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:18px;margin:0 0 8px} h2{font-size:15px;margin:18px 0 6px} .muted{color:#777}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}
.tile{border:1px solid #ddd;border-radius:4px;padding:4px 10px;min-width:84px}
.tile b{display:block;font-size:16px}
table{border-collapse:collapse;width:100%;margin-top:6px} th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:left}
th{font-weight:600;background:#f6f6f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{position:relative;width:140px;height:14px;background:#eee;border-radius:3px;overflow:hidden}
.fill{height:100%;background:#3c8dbc} .status-completed .fill{background:#2e7d32} .status-failed .fill{background:#c62828}
.status{font-weight:600} .status-failed .status{color:#c62828} .status-completed .status{color:#2e7d32}
.error{color:#c62828;max-width:40em;overflow-wrap:anywhere} .warn{color:#b26a00}
@media (prefers-color-scheme: dark){body{color:#ddd;background:#111} th{background:#222} .tile{border-color:#444}
 td{border-color:#333} .bar{background:#333}}
"""


def _tiles(stats: Mapping[str, Any]) -> str:
    tiles = [("jobs", stats.get("total")), ("pending", stats.get("pending")), ("running", stats.get("running")),
             ("completed", stats.get("completed")), ("failed", stats.get("failed")),
             ("cancelled", stats.get("cancelled")), ("progress", fmt_percent(_shown_progress(stats))),
             ("throughput", fmt_rate(stats.get("throughput"))),
             ("success rate", fmt_percent(stats.get("success_rate"))), ("ETA", fmt_eta(stats)),
             ("frames", f"{stats.get('frames_done', 0)} / {stats.get('frames_total', 0)}")]  # fmt: skip
    cells = "".join(f'<div class="tile" data-key="{esc(k)}"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>'
                    for k, v in tiles)  # fmt: skip
    return f'<div class="tiles">{cells}</div>'


def _job_rows(jobs: list[Mapping[str, Any]]) -> str:
    rows = []
    for j in jobs:
        status = str(j.get("status") or "")
        frac = min(max(float(j.get("progress") or 0.0), 0.0), 1.0)
        rows.append(
            f'<tr class="status-{esc(status)}" data-job-id="{esc(j.get("id"))}">'
            f'<td>{esc(j.get("name"))}</td><td class="status">{esc(status_text(j))}</td>'
            f"<td>{esc(str(j.get('priority') or '').lower())}</td>"
            f'<td><div class="bar"><div class="fill" style="width:{100 * frac:.1f}%"></div></div></td>'
            f'<td class="num">{esc(j.get("frames_done"))} / {esc(j.get("frames_total"))}</td>'
            f'<td class="error">{esc(j.get("error") or "")}</td></tr>'
        )
    head = ("<tr><th>job</th><th>status</th><th>priority</th><th>progress</th><th>frames</th>"
            "<th>error</th></tr>")  # fmt: skip
    return f"<table>{head}{''.join(rows)}</table>"


def _meta(info: Mapping[str, Any], age: Any) -> str:
    parts = [f"{label} {esc(info[key])}" for key, label in (("host", "host"), ("policy", "policy"), ("store", "store"))
             if info.get(key)]  # fmt: skip
    if age is not None:
        parts.append(f"updated {esc(fmt_duration(age))} ago")
    return " · ".join(parts)


def render_page(view: Mapping[str, Any], refresh: float = 2.0) -> str:
    """The ``/goesvfi`` HTML for a :meth:`DashboardPlugin.view`; every value from a job is escaped."""
    parts = [f"<h1>{esc(PAGE_TITLE)}</h1>"]
    if not view.get("attached"):
        parts.append('<p class="muted">No goesvfi-lab queue has attached to this scheduler yet.</p>')
    elif not view.get("queues"):
        parts.append('<p class="muted">No queue has published yet.</p>')
    for snap in view.get("queues", []):
        info = snap.get("info") or {}
        state = "detached" if snap.get("detached") else str(info.get("state") or "")
        reason = info.get("paused_reason")
        note = ""
        if snap.get("stale"):
            note = f' <span class="warn">no update for {esc(fmt_duration(snap.get("age")))}</span>'
        parts.append(
            f'<section data-queue="{esc(snap.get("queue"))}"><h2>queue {esc(snap.get("queue"))} · '
            f'<span data-state="{esc(state)}">{esc(state)}</span>{": " + esc(reason) if reason else ""}{note}</h2>'
            f'<div class="muted">{_meta(info, snap.get("age"))}</div>'
        )
        parts.append(_tiles(snap.get("stats") or {}))
        jobs = snap.get("jobs") or []
        shown = "" if len(jobs) >= int(snap.get("jobs_total") or 0) else f" (first {len(jobs)} of {snap['jobs_total']})"
        parts.append(f'<div class="muted">jobs{esc(shown)}</div>{_job_rows(jobs)}</section>')
    seconds = max(float(refresh), 0.5)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{seconds:g}">'
        f"<title>{esc(PAGE_TITLE)}</title><style>{_CSS}</style></head><body>{''.join(parts)}"
        f'<p class="muted">refreshes every {seconds:g} s · <a href="{PAGE_JSON}">JSON</a></p></body></html>'
    )
