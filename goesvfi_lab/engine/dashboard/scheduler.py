"""The dashboard page's scheduler side: holds the latest snapshot of every queue, serves the pages.

:class:`DashboardPlugin` adds the ``goesvfi_dashboard`` RPC handler (what
:func:`~goesvfi_lab.engine.dashboard.client.publish_snapshot` calls) and the ``/goesvfi``,
``/goesvfi.json`` routes on the scheduler's HTTP server; the HTML comes from
:func:`goesvfi_lab.html_page.render_page`. ``routes`` and :func:`dask_setup` are what
``distributed.scheduler.http.routes`` and ``dask scheduler --preload`` load (through the package).
"""

from __future__ import annotations

import json
import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.http.utils import RequestHandler

from goesvfi_lab import config
from goesvfi_lab.html_page import PAGE, PAGE_JSON, PAGE_TITLE, render_page

PLUGIN_NAME = "goesvfi-dashboard"
RPC = "goesvfi_dashboard"  # scheduler handler name (also the op the client calls)
COUNTS = ("total", "pending", "queued", "running", "completed", "failed", "cancelled", "frames_done", "frames_total")


class DashboardPlugin(SchedulerPlugin):
    """Holds the latest snapshot of every attached queue and serves the ``/goesvfi`` pages."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, stale_after: float | None = None, forget_after: float | None = None) -> None:
        self.stale_after = float(config.get("dashboard.stale-after") if stale_after is None else stale_after)
        self.forget_after = float(config.get("dashboard.forget-after") if forget_after is None else forget_after)
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

    def receive(
        self,
        queue: str = "default",
        jobs: list | None = None,
        stats: dict | None = None,
        info: dict | None = None,
        jobs_total: int | None = None,
        closed: bool = False,
    ) -> str:
        """The RPC handler: replace ``queue``'s snapshot."""
        jobs = list(jobs or [])
        self.queues[str(queue)] = {
            "queue": str(queue),
            "jobs": jobs,
            "jobs_total": len(jobs) if jobs_total is None else int(jobs_total),
            "stats": dict(stats or {}),
            "info": dict(info or {}),
            "detached": bool(closed),
            "received": time.time(),
        }
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
        self.write(render_page(current_view(self.server), refresh=float(config.get("dashboard.refresh"))))


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
