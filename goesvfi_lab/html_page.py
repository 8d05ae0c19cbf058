"""The ``/goesvfi`` dashboard page as HTML, from a view of the queues' snapshots; and where it lives.

Pure (no Dask import): the scheduler renders it (:mod:`goesvfi_lab.engine.dashboard.scheduler`),
the notebook links to it (:func:`dashboard_urls`), and tests check it as a string. The numbers read
as the notebook panel reads them: both print with :mod:`goesvfi_lab.html`. Every value that came
from a job or a queue is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .html import display_progress, esc, fmt_duration, fmt_eta, fmt_percent, fmt_quality, fmt_rate, quality_title

PAGE = "goesvfi"
PAGE_JSON = "goesvfi.json"
PAGE_TITLE = "GOES-VFI Jobs"  # how dask-labextension lists it


def dashboard_urls(dashboard_link: str | None) -> tuple[str | None, str | None]:
    """The Dask dashboard's status page and the project's ``/goesvfi`` page on the same server.

    Works for direct links (``http://host:8787/status``) and for jupyter-server-proxy links
    (``/user/x/proxy/8787/status``) alike: the project page sits beside ``status`` (a query such as
    ``?token=…`` is not carried over).
    """
    if not dashboard_link:
        return None, None
    base = dashboard_link.split("?", 1)[0].rstrip("/").removesuffix("/status")
    return dashboard_link, f"{base}/{PAGE}"


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


CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:18px;margin:0 0 8px} h2{font-size:15px;margin:18px 0 6px} .muted{color:#777}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}
.tile{border:1px solid #ddd;border-radius:4px;padding:4px 10px;min-width:84px}
.tile b{display:block;font-size:16px}
table{border-collapse:collapse;width:100%;margin-top:6px}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:left}
th{font-weight:600;background:#f6f6f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{position:relative;width:140px;height:14px;background:#eee;border-radius:3px;overflow:hidden}
.fill{height:100%;background:#3c8dbc}
.status-completed .fill{background:#2e7d32} .status-failed .fill{background:#c62828}
.status{font-weight:600} .status-failed .status{color:#c62828} .status-completed .status{color:#2e7d32}
.error{color:#c62828;max-width:40em;overflow-wrap:anywhere} .warn{color:#b26a00}
@media (prefers-color-scheme: dark){body{color:#ddd;background:#111} th{background:#222} .tile{border-color:#444}
 td{border-color:#333} .bar{background:#333}}
"""


def stats_tiles(stats: Mapping[str, Any]) -> str:
    """The counts and headline numbers of one queue (a :class:`~goesvfi_lab.model.Stats` dict)."""
    tiles = [
        ("jobs", stats.get("total")),
        ("pending", stats.get("pending")),
        ("running", stats.get("running")),
        ("completed", stats.get("completed")),
        ("failed", stats.get("failed")),
        ("cancelled", stats.get("cancelled")),
        ("progress", fmt_percent(display_progress(stats))),
        ("throughput", fmt_rate(stats.get("throughput"))),
        ("success rate", fmt_percent(stats.get("success_rate"))),
        ("ETA", fmt_eta(stats)),
        ("frames", f"{stats.get('frames_done', 0)} / {stats.get('frames_total', 0)}"),
    ]
    cells = "".join(
        f'<div class="tile" data-key="{esc(k)}"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>'
        for k, v in tiles
    )
    return f'<div class="tiles">{cells}</div>'


def job_table(jobs: list[Mapping[str, Any]]) -> str:
    """The jobs of one snapshot (rows from :func:`goesvfi_lab.engine.dashboard.client.job_row`)."""
    rows = []
    for j in jobs:
        status = str(j.get("status") or "")
        frac = min(max(float(j.get("progress") or 0.0), 0.0), 1.0)
        quality = j.get("quality")
        rows.append(
            f'<tr class="status-{esc(status)}" data-job-id="{esc(j.get("id"))}">'
            f'<td>{esc(j.get("name"))}</td><td class="status">{esc(status_text(j))}</td>'
            f"<td>{esc(str(j.get('priority') or '').lower())}</td>"
            f'<td><div class="bar"><div class="fill" style="width:{100 * frac:.1f}%"></div></div></td>'
            f'<td class="num">{esc(j.get("frames_done"))} / {esc(j.get("frames_total"))}</td>'
            f'<td class="quality" title="{esc(quality_title(quality))}">{esc(fmt_quality(quality))}</td>'
            f'<td class="error">{esc(j.get("error") or "")}</td></tr>'
        )
    head = (
        "<tr><th>job</th><th>status</th><th>priority</th><th>progress</th><th>frames</th>"
        '<th title="leave-one-out self-check: a pessimistic bound (twice the real interval)">quality</th>'
        "<th>error</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _meta(info: Mapping[str, Any], age: Any) -> str:
    parts = [
        f"{label} {esc(info[key])}"
        for key, label in (("host", "host"), ("policy", "policy"), ("store", "store"))
        if info.get(key)
    ]
    if age is not None:
        parts.append(f"updated {esc(fmt_duration(age))} ago")
    return " · ".join(parts)


def render_page(view: Mapping[str, Any], refresh: float = 2.0) -> str:
    """The ``/goesvfi`` HTML for a :meth:`~goesvfi_lab.engine.dashboard.DashboardPlugin.view`."""
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
        parts.append(stats_tiles(snap.get("stats") or {}))
        jobs = snap.get("jobs") or []
        shown = "" if len(jobs) >= int(snap.get("jobs_total") or 0) else f" (first {len(jobs)} of {snap['jobs_total']})"
        parts.append(f'<div class="muted">jobs{esc(shown)}</div>{job_table(jobs)}</section>')
    seconds = max(float(refresh), 0.5)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{seconds:g}">'
        f"<title>{esc(PAGE_TITLE)}</title><style>{CSS}</style></head><body>{''.join(parts)}"
        f'<p class="muted">refreshes every {seconds:g} s · <a href="{PAGE_JSON}">JSON</a></p></body></html>'
    )
