"""The project's page on the Dask dashboard: ``/goesvfi`` (HTML) and ``/goesvfi.json``.

Jobs live in the queue's SQLite store on the client, not on the scheduler, so the client pushes a
snapshot (job rows and :class:`~goesvfi_lab.model.Stats`) to a scheduler plugin that keeps the
latest one per queue and serves it from the scheduler's own HTTP server (the dashboard port).

Split by the process each part runs in (as distributed's ``http/scheduler/*.py``):

- :mod:`.client`    — in the client, beside the queue: snapshots, :func:`publish_snapshot`, :class:`DashboardPublisher`
- :mod:`.scheduler` — in the scheduler: :class:`DashboardPlugin` and the HTTP routes
- :mod:`goesvfi_lab.html_page` — the page's HTML from a view (pure, numbers from :mod:`goesvfi_lab.html`)

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

This package is what ``--preload`` and the routes config load: it exposes :func:`dask_setup` and
``routes`` from :mod:`.scheduler`.

The plugin also extends ``/individual-plots.json`` with the page, which is where dask-labextension
reads its list of panes: "GOES-VFI Jobs" then opens from the Dask sidebar like a Dask plot.
"""

from __future__ import annotations

from goesvfi_lab.html import fmt_duration, fmt_eta, fmt_percent, fmt_rate
from goesvfi_lab.html_page import PAGE, PAGE_JSON, PAGE_TITLE, render_page, status_text

from .client import (
    JOB_FIELDS,
    DashboardPublisher,
    attach_dashboard,
    job_row,
    page_url,
    publish_snapshot,
    queue_snapshot,
)
from .scheduler import (
    COUNTS,
    PLUGIN_NAME,
    RPC,
    DashboardPlugin,
    JobsJSON,
    JobsPage,
    add_routes,
    current_view,
    dask_setup,
    routes,
)

__all__ = [
    "COUNTS",
    "JOB_FIELDS",
    "PAGE",
    "PAGE_JSON",
    "PAGE_TITLE",
    "PLUGIN_NAME",
    "RPC",
    "DashboardPlugin",
    "DashboardPublisher",
    "JobsJSON",
    "JobsPage",
    "add_routes",
    "attach_dashboard",
    "current_view",
    "dask_setup",
    "fmt_duration",
    "fmt_eta",
    "fmt_percent",
    "fmt_rate",
    "job_row",
    "page_url",
    "publish_snapshot",
    "queue_snapshot",
    "render_page",
    "routes",
    "status_text",
]
