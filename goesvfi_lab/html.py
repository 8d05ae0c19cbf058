"""Pure functions that turn state into HTML strings: escaping, numbers, and the panels' pieces.

The one printing of percentages, rates, durations and ETAs, shared by the notebook panels
(:mod:`goesvfi_lab.widgets`), the ``/goesvfi`` dashboard page (:mod:`goesvfi_lab.html_page`, which the
scheduler serves) and the CLI. Free of ipywidgets, Dask, NumPy and torch (only the pure
:mod:`goesvfi_lab.model` and :mod:`goesvfi_lab.policy`), so the scheduler can import it and every
piece of markup is tested as a string (the approach of xarray's ``core/formatting_html.py``).
Anything that came from a user, a file name or an exception goes through :func:`esc`; the panels'
colours come from JupyterLab theme variables in ``widgets/style.css``.
"""

from __future__ import annotations

import html
import math
import ntpath
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from .model import BatchJob, JobPriority, JobStatus, Stats
from .policy import eta_label, shown_progress

DASH = "—"


def esc(value: Any) -> str:
    """HTML-escape ``str(value)`` including quotes (safe inside attributes too); None is ""."""
    return html.escape("" if value is None else str(value), quote=True)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, NaN, inf)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------- numbers


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return DASH
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def fmt_duration(seconds: float | timedelta | None) -> str:
    """Human duration: ``42 s``, ``3 min 05 s``, ``2 h 07 min``; em dash when unknown."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    seconds = _finite(seconds)
    if seconds is None or seconds < 0:
        return DASH
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


def fmt_percent(fraction: float | None) -> str:
    fraction = _finite(fraction)
    if fraction is None:
        return DASH
    pct = 100.0 * fraction
    # never show 100 % before it is: 99.96 % stays "99.9 %"
    if 99.0 <= pct < 100.0:
        return f"{math.floor(pct * 10) / 10:.1f} %"
    return f"{pct:.0f} %"


def fmt_rate(frames_per_s: float | None) -> str:
    r = _finite(frames_per_s)
    if r is None:
        return DASH
    if r >= 100:
        return f"{r:.0f} frames/s"
    if r >= 1 or r == 0:
        return f"{r:.1f} frames/s"
    return f"{r * 60:.1f} frames/min"


def fmt_eta(stats: Stats | Mapping[str, Any], state: str | None = None) -> str:
    """The ETA tile: "done", "N failed", "paused" (:func:`goesvfi_lab.policy.eta_label`) or the duration.

    ``stats``: a :class:`~goesvfi_lab.model.Stats` or its dict (a snapshot's); ``state``: the queue
    word to use instead of ``stats.state`` (text after a ":" is ignored, "paused: reason" reads "paused").
    """
    get = stats.get if isinstance(stats, Mapping) else lambda k: getattr(stats, k, None)
    word = str((get("state") if state is None else state) or "").split(":", 1)[0]
    unfinished = sum(int(get(k) or 0) for k in ("pending", "queued", "running"))
    label = eta_label(word, unfinished, int(get("failed") or 0), int(get("total") or 0))
    return label if label is not None else fmt_duration(get("eta_seconds"))


def fmt_timestamp(ts: float | None, now: float | None = None) -> str:
    """Local clock time; with the date when it is not today."""
    if ts is None:
        return DASH
    when = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    return when.strftime("%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M")


def fmt_utc(when: datetime | None) -> str:
    if when is None:
        return DASH
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------------------------------- pieces


def status_badge(status: JobStatus | str, label: str | None = None) -> str:
    value = JobStatus(status).value
    return f'<span class="gvl-badge gvl-status-{value}">{esc(label or value)}</span>'


def priority_label(priority: JobPriority | int | str) -> str:
    return JobPriority.parse(priority).name.lower()


def progress_bar(fraction: float | None, label: str | None = None, status: JobStatus | str | None = None) -> str:
    """A themable bar; ``fraction`` is clamped to 0..1, the label defaults to the percentage."""
    f = 0.0 if fraction is None or not math.isfinite(fraction) else min(max(fraction, 0.0), 1.0)
    cls = f" gvl-status-{JobStatus(status).value}" if status is not None else ""
    text = fmt_percent(f) if label is None else label
    return (
        f'<div class="gvl-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
        f'aria-valuenow="{100 * f:.1f}"><div class="gvl-bar-fill{cls}" style="width:{100 * f:.1f}%"></div>'
        f'<span class="gvl-bar-label">{esc(text)}</span></div>'
    )


def sparkline(values: Sequence[float], width: int = 180, height: int = 36, unit: str = "frames/s") -> str:
    """An inline SVG line of recent values (e.g. throughput samples), scaled to its own maximum."""
    vals = [v if v is not None and math.isfinite(v) and v > 0 else 0.0 for v in values]
    peak = max(vals, default=0.0)
    title = f"last {len(vals)} samples, peak {peak:.2f} {unit}"
    head = (
        f'<svg class="gvl-spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>'
    )
    if len(vals) < 2:
        return head + f'<text x="2" y="{height - 4}">waiting for data</text></svg>'
    top = peak if peak > 0 else 1.0
    pad = 2
    step = (width - 2 * pad) / (len(vals) - 1)
    pts = [(pad + i * step, height - pad - (height - 2 * pad) * v / top) for i, v in enumerate(vals)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    area = f"{pad:.1f},{height - pad:.1f} {line} {pts[-1][0]:.1f},{height - pad:.1f}"
    return head + f'<polygon points="{area}"/><polyline points="{line}"/></svg>'


def error_box(message: str, detail: str | None = None) -> str:
    """An error the user must not miss; the traceback folds away under it."""
    body = f'<div class="gvl-error" role="alert"><b>{esc(message)}</b>'
    if detail:
        body += f"<details><summary>details</summary><pre>{esc(detail)}</pre></details>"
    return body + "</div>"


def html_note(text: str, cls: str = "gvl-muted") -> str:
    """A line of plain text in a span (muted by default)."""
    return f'<span class="{esc(cls)}">{esc(text)}</span>'


def links(dashboard: str | None, project_page: str | None) -> str:
    parts = []
    if dashboard:
        parts.append(f'<a href="{esc(dashboard)}" target="_blank" rel="noopener">Dask dashboard</a>')
    if project_page:
        parts.append(f'<a href="{esc(project_page)}" target="_blank" rel="noopener">goesvfi jobs page</a>')
    if not parts:
        return '<span class="gvl-links gvl-muted">no dashboard (cluster not started)</span>'
    return '<span class="gvl-links">' + "".join(parts) + "</span>"


# ---------------------------------------------------------------------------------------- filter / preview


def match_summary(n_files: int, n_sequences: int | None, size_bytes: int | None) -> str:
    files = f"{n_files} file" + ("" if n_files == 1 else "s")
    seqs = "" if n_sequences is None else f" in {n_sequences} sequence" + ("" if n_sequences == 1 else "s")
    size = "" if size_bytes is None else f", {fmt_bytes(size_bytes)}"
    return f'<span class="gvl-count" data-count="{n_files}">{files}{seqs}{esc(size)}</span> match'


def remote_summary(n_scans: int, n_sequences: int, size_bytes: int, cached: int = 0, notes: Sequence[str] = ()) -> str:
    """The filter's count for a NOAA archive query: scans listed, their total size, how much is to download."""
    scans = f"{n_scans} scan" + ("" if n_scans == 1 else "s")
    seqs = f" in {n_sequences} sequence" + ("" if n_sequences == 1 else "s")
    if not n_scans:
        tail = ""
    elif cached >= n_scans:
        tail = " · all cached, nothing to download"
    else:
        tail = f" · nothing downloaded yet ({cached} cached)" if cached else " · nothing downloaded yet"
    body = (
        f'<span class="gvl-count" data-count="{n_scans}" data-source="archive" data-bytes="{int(size_bytes)}">'
        f"{scans}{seqs}, {esc(fmt_bytes(size_bytes))}</span> in the archive"
        f'<span class="gvl-muted">{esc(tail)}</span>'
    )
    lines = "".join(f'<div class="gvl-muted gvl-archive-note">{esc(n)}</div>' for n in notes)
    return body + lines


# an ABI file name: what a short name keeps (product+sector, band, satellite, scan start) and what it drops
_ABI_FILE = re.compile(
    r"^(?P<pre>OR_ABI-)(?P<level>L1b-|L2-)(?P<product>[A-Za-z0-9]+?(?:M1|M2|C|F))(?P<mode>-M\d)"
    r"(?P<band>C\d\d)?(?P<sat>_G1[6-9])(?P<start>_s\d{14})(?P<rest>_e\d{14}_c\d{14})(?P<ext>(?:\.\w+)*)$"
)
# a sequence name (sequences._sequence_name): G16-L2-CMIP-C-C13-20240516T1801[-png]
_SEQ_NAME = re.compile(
    r"^(?P<sat>G1[6-9])(?P<level>-L1b|-L2)(?P<product>-[A-Za-z0-9]+)(?P<sector>-(?:M1|M2|C|F))"
    r"(?P<band>-C\d\d)?(?P<start>-\d{8}T\d{4})(?P<ext>-[\w-]+)?$"
)
# which parts go first when a name must be shorter (the kept ones never: satellite, band, sector, time)
_DROP_ORDER = {
    _ABI_FILE: (("rest",), ("ext",), ("pre",), ("level", "mode")),
    _SEQ_NAME: (("ext",), ("level",), ("product",)),
}


def short_name(name: str, limit: int = 28) -> str:
    """``name`` in at most about ``limit`` characters, shortened from the middle: of an ABI file or
    sequence name the parts that tell scans apart (satellite, product and sector, band, scan start)
    stay and the rest becomes "…"; any other name keeps its start and end around one "…".
    Show the whole name on hover (a ``title``)."""
    name = str(name)
    if len(name) <= limit:
        return name
    for pattern, order in _DROP_ORDER.items():
        m = pattern.match(name)
        if m is None:
            continue
        parts = [(k, v) for k, v in m.groupdict().items() if v]
        dropped: set[str] = set()
        text = name
        for step in order:
            dropped.update(step)
            out: list[str] = []
            for key, value in parts:
                if key not in dropped:
                    out.append(value)
                elif not out or out[-1] != "…":
                    out.append("…")
            text = "".join(out)
            if len(text) <= limit:
                return text
        return text  # the kept parts alone: longer than asked, but they are what tells the scans apart
    head = (limit - 1) // 2
    return name[:head] + "…" + name[len(name) - (limit - 1 - head) :]


def short_name_html(name: str, limit: int = 28, cls: str = "gvl-name") -> str:
    """:func:`short_name` in a span whose ``title`` is the whole name."""
    return f'<span class="{esc(cls)}" title="{esc(name)}">{esc(short_name(name, limit))}</span>'


def fmt_scan_range(start: datetime | None, end: datetime | None) -> str:
    """First and last scan in one cell: "2024-05-16 18:01 – 18:56" (UTC), the end's date only when it differs."""
    if start is None or end is None:
        return fmt_utc(start or end)
    s, e = (t.astimezone(timezone.utc) if t.tzinfo is not None else t for t in (start, end))
    tail = e.strftime("%H:%M") if s.date() == e.date() else e.strftime("%Y-%m-%d %H:%M")
    return f"{s:%Y-%m-%d %H:%M} – {tail}"


def thumb_caption(label: str, path: str, limit: int = 30) -> str:
    """A thumbnail's caption: which frame (first, middle, last), then its file name shortened from the
    middle (:func:`short_name`) on a line of its own; the whole path on hover."""
    base = ntpath.basename(str(path)) or str(path)
    return (
        f'<figcaption title="{esc(path)}"><span class="gvl-thumb-label">{esc(label)}</span>'
        f'<br><span class="gvl-thumb-name">{esc(short_name(base, limit))}</span></figcaption>'
    )


def sequences_table(sequences: Sequence[Any], selected: int | None = None) -> str:
    """Name, frames, scan-time span, missing scans and size of each discovered sequence."""
    if not sequences:
        return '<div class="gvl-muted">No sequences: go back and widen the filter.</div>'
    rows = []
    for i, seq in enumerate(sequences):
        missing = len(getattr(seq, "missing", []) or [])
        cls = ' class="gvl-selected"' if i == selected else ""
        cadence = getattr(seq, "cadence", None)
        rows.append(
            f"<tr{cls}><td>{short_name_html(seq.name, 32)}</td>"
            f'<td class="gvl-num">{len(seq.paths)}</td>'
            f"<td>{esc(fmt_scan_range(seq.start, seq.end))}</td>"
            f"<td>{esc(fmt_duration(seq.span))}</td>"
            f"<td>{esc(fmt_duration(cadence))}</td>"
            f'<td class="gvl-num">{missing}</td>'
            f'<td class="gvl-num">{esc(fmt_bytes(seq.size_bytes))}</td></tr>'
        )
    head = (
        '<div class="gvl-scroll"><table class="gvl-table gvl-sequences"><thead><tr><th>sequence</th>'
        '<th class="gvl-num">frames</th>'
        "<th>scans (UTC)</th><th>span</th><th>cadence</th>"
        '<th class="gvl-num">missing</th><th class="gvl-num">size</th></tr></thead><tbody>'
    )
    return head + "".join(rows) + "</tbody></table></div>"


def estimate_summary(jobs: int, frames_total: int, frames_new: int, seconds: float | None, basis: str) -> str:
    secs = DASH if seconds is None else "≈ " + fmt_duration(seconds)
    return (
        f'<span class="gvl-estimate"><b>{jobs}</b> job{"" if jobs == 1 else "s"}, '
        f"<b>{frames_total}</b> frames to write (<b>{frames_new}</b> interpolated), "
        f'time <b>{esc(secs)}</b> <span class="gvl-muted">{esc(basis)}</span></span>'
    )


# ---------------------------------------------------------------------------------------- queue

JOB_COLUMNS = ("name", "status", "priority", "pos", "progress", "created", "duration", "quality")


def fmt_quality(quality: Mapping[str, Any] | None) -> str:
    """A job's self-check score in one line ("38.0 dB, RMSE 1.21 K"; "⚠ …" with a warning; "—" unchecked)."""
    if not quality or quality.get("psnr") is None:
        return DASH
    unit = f" {quality['unit']}" if quality.get("unit") and quality["unit"] != "1" else ""
    text = f"{quality['psnr']:.1f} dB, RMSE {quality['rmse']:.3g}{unit}"
    return ("⚠ " + text) if quality.get("warning") else text


def quality_title(quality: Mapping[str, Any] | None) -> str:
    """The tooltip of the score: which scans, linear's score, the warning, and that it is a pessimistic bound."""
    if not quality:
        return "not checked yet: the self-check's score arrives after the job's outputs"
    if quality.get("error") or quality.get("psnr") is None:
        return str(quality.get("error") or quality.get("note") or "no score")
    scans = ", ".join(str(k) for k in quality.get("checked") or [])
    unit = f" {quality['unit']}" if quality.get("unit") and quality["unit"] != "1" else ""
    lin = quality.get("linear_rmse")
    parts = [
        f"self-check of scans {scans} predicted from their neighbours ({quality.get('method') or 'the method'})",
        f"RMSE {quality['rmse']:.3g}{unit}, PSNR {quality['psnr']:.1f} dB"
        + (f"; linear: RMSE {lin:.3g}{unit}" if lin is not None else ""),
        "a pessimistic bound: twice the real interval between scans",
    ]
    if quality.get("warning"):
        parts.insert(0, "warning: " + str(quality["warning"]))
    return "; ".join(parts)


def quality_cell(quality: Mapping[str, Any] | None) -> str:
    """The job table's quality cell (:func:`fmt_quality`, tooltip :func:`quality_title`)."""
    cls = "gvl-quality gvl-quality-warn" if quality and quality.get("warning") else "gvl-quality"
    return f'<span class="{cls}" title="{esc(quality_title(quality))}">{esc(fmt_quality(quality))}</span>'


def job_header() -> str:
    titles = {"quality": "the self-check: input scans predicted from their neighbours (a pessimistic bound)"}
    cells = "".join(
        f'<span title="{esc(titles[c])}">{c}</span>' if c in titles else f"<span>{c}</span>" for c in JOB_COLUMNS
    )
    return f'<div class="gvl-jobrow gvl-jobhead">{cells}</div>'


def job_row(job: BatchJob, now: float | None = None) -> str:
    """The informational cells of one queue row (the action buttons, and the note of :func:`job_note`
    under the cells, are widgets)."""
    status = JobStatus(job.status)
    # the queue numbers waiting jobs 1, 2, … in the order they will start (running ones are 0)
    pos = str(job.position) if status == JobStatus.PENDING and job.position else DASH
    bar_label = f"{job.frames_done}/{job.frames_total}"
    cells = [
        f'<span class="gvl-jobcell-name" title="{esc(job.name)} → {esc(job.output_dir)}">'
        f"{esc(short_name(job.name, 24))}</span>",
        f"<span>{status_badge(status)}</span>",
        f"<span>{esc(priority_label(job.priority))}</span>",
        f"<span>{esc(pos)}</span>",
        f"<span>{progress_bar(job.progress, bar_label, status)}</span>",
        f"<span>{esc(fmt_timestamp(job.created_at, now))}</span>",
        f"<span>{esc(fmt_duration(job.duration))}</span>",
        quality_cell(job.quality),
    ]
    return (
        f'<div class="gvl-jobrow" data-job-id="{esc(job.id)}" data-status="{status.value}">' + "".join(cells) + "</div>"
    )


# an absolute, home or Windows path: not "frames/s", not "tcp://host:port", not a relative name
_PATH = re.compile(r"(?<![\w/.~:-])(?:~?/|[A-Za-z]:\\)[^\s:;,()'\"\[\]]*")


def short_message(text: str | None) -> str:
    """An error or note as the job table shows it: its first line, each path cut to its file name."""
    first = (text or "").strip().split("\n", 1)[0]

    def name(m: re.Match) -> str:
        path = m.group(0).rstrip("/\\")
        return ntpath.basename(path) or m.group(0)  # ntpath splits on both / and \

    return _PATH.sub(name, first).strip()


def job_note(job: BatchJob) -> tuple[str, str, str]:
    """(kind, short, full) of the line the job table shows under a row.

    ``kind``: "error" for a failed job (its error), "note" for anything else worth reading (a pending
    job's last error or wait, a skipped job's "skipped: complete from job …", other notes), "" for
    nothing. ``short`` is that line (:func:`short_message`), ``full`` the whole text (shown on a click).
    """
    status = JobStatus(job.status)
    if job.error:
        return ("error" if status == JobStatus.FAILED else "note", short_message(job.error), job.error)
    notes = [n for n in (job.notes or []) if n]
    if not notes:
        return ("", "", "")
    headline = next((n for n in reversed(notes) if n.startswith("skipped:")), notes[-1])
    return ("note", short_message(headline), "\n".join(notes))


def note_detail(kind: str, full: str) -> str:
    """The whole error or note, shown under a row when its note is clicked."""
    if not full:
        return ""
    return f'<div class="gvl-note-detail gvl-note-{esc(kind)}">{esc(full)}</div>'


_ACTIONS = {  # what a global button did, when the queue says how many jobs it touched
    "retry_failed": ("Nothing to retry: no job has failed.", "{n} failed job{s} queued again."),
    "clear_completed": (
        "Nothing to clear: no job has completed.",
        "{n} completed job{s} cleared from the table ({its} outputs stay on disk).",
    ),
    "cancel_all": ("Nothing to cancel: every job has finished.", "{n} job{s} cancelled."),
}


def action_note(action: str, count: Any) -> str:
    """The line beside the global buttons after a click: how many jobs it touched, or why none."""
    if action not in _ACTIONS or not isinstance(count, int):
        return ""
    none, some = _ACTIONS[action]
    if count == 0:
        return none
    return some.format(n=count, s="" if count == 1 else "s", its="its" if count == 1 else "their")


def page_label(page: int, pages: int, total: int) -> str:
    return f'<span class="gvl-muted">page {page + 1} of {max(pages, 1)} · {total} job{"" if total == 1 else "s"}</span>'


# ---------------------------------------------------------------------------------------- stats


def display_progress(stats: Stats | Mapping[str, Any]) -> float:
    """Overall progress as shown: frames done, but never 100 % while a job is unfinished (its frames
    can all exist while the video or the cube is still being written). A Stats or its dict."""
    get = stats.get if isinstance(stats, Mapping) else lambda k: getattr(stats, k, None)
    return shown_progress(get("progress"), sum(int(get(k) or 0) for k in ("pending", "queued", "running")))


def _tile(key: str, label: str, value: str) -> str:
    return (
        f'<div class="gvl-tile" data-key="{key}"><div class="gvl-tile-label">{esc(label)}</div>'
        f'<div class="gvl-tile-value">{esc(value)}</div></div>'
    )


def stats_summary(stats: Stats, state: str | None = None) -> str:
    """Headline numbers (throughput, success rate, ETA, frames) and the per-status counts.

    ``state``: the queue label to show (default ``stats.state``); "done", "N failed" or "paused" in
    place of the ETA come from :func:`goesvfi_lab.policy.eta_label`, as on the ``/goesvfi`` page.
    """
    eta = fmt_eta(stats, state)
    state = stats.state if state is None else state
    tiles = [
        _tile("progress", "Progress", fmt_percent(display_progress(stats))),
        _tile("throughput", "Throughput", fmt_rate(stats.throughput)),
        _tile("success_rate", "Success rate", fmt_percent(stats.success_rate)),
        _tile("eta", "ETA", eta),
        _tile("frames", "Frames", f"{stats.frames_done} / {stats.frames_total}"),
    ]
    if state is not None:
        tiles.append(_tile("state", "Queue", state))
    counts = " ".join(
        f'<span data-key="{k}">{k} <b>{getattr(stats, k)}</b></span>'
        for k in ("total", "pending", "queued", "running", "completed", "failed", "cancelled")
    )
    return f'<div class="gvl-tiles">{"".join(tiles)}</div><div class="gvl-counts">{counts}</div>'


def workers_table(rows: Iterable[Any]) -> str:
    """Per-worker CPU, memory and (where a worker reports one) GPU use from the scheduler.

    ``rows``: :class:`goesvfi_lab.widgets.state.WorkerRow` (or anything with its fields).
    """
    rows = list(rows)
    if not rows:
        return '<div class="gvl-muted">No workers connected.</div>'
    has_gpu = any(r.gpu_utilization is not None or r.gpu_memory is not None for r in rows)
    head = (
        '<table class="gvl-table gvl-workers"><thead><tr><th>worker</th><th class="gvl-num">threads</th>'
        '<th class="gvl-num">tasks</th><th class="gvl-num">CPU</th><th>memory</th>'
        + ('<th class="gvl-num">GPU</th><th>GPU memory</th>' if has_gpu else "")
        + "</tr></thead><tbody>"
    )
    body = []
    for r in rows:
        mem_frac = r.memory / r.memory_limit if r.memory_limit else None
        mem = progress_bar(mem_frac, f"{fmt_bytes(r.memory)} / {fmt_bytes(r.memory_limit)}")
        cells = (
            f'<td title="{esc(r.address)}">{esc(r.name)}</td><td class="gvl-num">{r.nthreads}</td>'
            f'<td class="gvl-num">{r.executing}</td><td class="gvl-num">{r.cpu:.0f} %</td>'
            f'<td style="min-width:12em">{mem}</td>'
        )
        if has_gpu:
            util = DASH if r.gpu_utilization is None else f"{r.gpu_utilization:.0f} %"
            gfrac = r.gpu_memory / r.gpu_memory_total if r.gpu_memory and r.gpu_memory_total else None
            gmem = (
                progress_bar(gfrac, f"{fmt_bytes(r.gpu_memory)} / {fmt_bytes(r.gpu_memory_total)}")
                if r.gpu_memory is not None
                else DASH
            )
            cells += f'<td class="gvl-num">{esc(util)}</td><td style="min-width:12em">{gmem}</td>'
        body.append(f"<tr>{cells}</tr>")
    return head + "".join(body) + "</tbody></table>"
