"""The composed apps: :class:`QueueApp` (stats + queue of an existing queue, ``gl.panel(q)``) and
:class:`Lab` (filter → preview → confirm, then the queue app; ``gl.lab()``).

Widgets are made here, on the main thread; one :class:`~.updater.Updater` thread per app then pushes
``q.stats()``, ``q.jobs()`` and the scheduler's worker metrics to them a few times a second, and queue
events wake it early. Cells never block: Confirm submits and returns.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import ipywidgets as W

from ..model import BatchJob
from . import formatting as fmt
from .common import ErrorArea
from .filter_panel import FilterPanel
from .preview_panel import PreviewPanel
from .queue_panel import QueuePanel
from .state import ScanResult, worker_rows
from .stats_panel import StatsPanel
from .updater import Updater

# events after which the job table looks different (job_progress only moves a bar: the next tick shows it)
TABLE_EVENTS = frozenset({"job_started", "job_completed", "job_failed", "job_cancelled", "job_retrying", "job_checked"})


def state_label(queue: Any, state: str, stats: Any) -> str:
    """What the stats panel says about the queue: the state word of ``stats`` (the one the
    ``/goesvfi`` page shows, :func:`goesvfi_lab.policy.queue_state`), and the reason when something
    other than the user paused it (the circuit breaker)."""
    word = getattr(stats, "state", None) or state
    reason = getattr(queue, "paused_reason", None)
    if word == "paused" and reason and "user" not in reason:
        return f"paused: {reason}"
    return word


def recent_completed(queue: Any, limit: int = 50) -> list[BatchJob]:
    """The latest completed jobs of the queue's store (one page: the store may hold 100,000), which
    calibrate the preview's time estimate."""
    if not hasattr(queue, "count"):
        return []
    n = queue.count("completed")
    return queue.jobs("completed", order="submitted", limit=limit, offset=max(n - limit, 0))


def queue_slots(queue: Any) -> int:
    """How many frames-jobs the cluster runs at once (threads over all workers), for estimates."""
    client = getattr(queue, "client", None)
    if client is None:
        return max(int(getattr(queue, "max_concurrent", None) or 1), 1)
    info = client.scheduler_info()
    return max(sum(int(w.get("nthreads") or 0) for w in info.get("workers", {}).values()), 1)


class QueueApp(W.VBox):
    """Live stats and the job table of one queue, refreshed by one background thread.

    The table reads one page from the store; it is still refreshed at most every ``table_cost_factor`` ×
    its last cost (a slow shared disk); the stats (cached counts) every tick.
    """

    def __init__(
        self,
        queue: Any,
        interval: float = 0.3,
        errors: ErrorArea | None = None,
        style: bool = True,
        start: bool = True,
        workers_every: float = 1.0,
        table_cost_factor: float = 10.0,
    ) -> None:
        self.queue = queue
        self.errors = errors or ErrorArea()
        self.stats_panel = StatsPanel()
        self.updater = Updater(self._tick, interval, on_error=self.errors.show, on_recover=self.errors.clear)
        self.queue_panel = QueuePanel(queue, errors=self.errors, on_change=self._poke)
        self.workers_every = workers_every
        self.table_cost_factor = table_cost_factor
        self._table_due = 0.0
        self._workers_due = 0.0
        self._seen_callback_errors = len(getattr(queue, "callback_errors", []) or [])
        self._shown_loop_error: BaseException | None = None
        head = [W.HTML(fmt.style_tag())] if style else []
        if errors is None:
            head.append(self.errors)
        super().__init__(children=[*head, self.stats_panel, self.queue_panel])
        self.add_class("gvl-app")
        # engine events only wake the updater: no widget work on the engine's thread
        queue.on("*", self._on_event)
        self.refresh()
        if start:
            self.updater.start()

    def _on_event(self, message: Any = None) -> None:
        if isinstance(message, dict) and message.get("event") in TABLE_EVENTS:
            self._table_due = 0.0
        self.updater.poke()

    def _poke(self) -> None:
        self._table_due = 0.0  # a click: show its effect at once
        self.updater.poke()

    def refresh(self) -> None:
        """Pull everything from the queue now and push it into the widgets."""
        self._table_due = self._workers_due = 0.0
        self._tick()

    def _tick(self) -> None:
        """One updater step: stats every time, the table and worker metrics when they are due."""
        if self.comm is None:  # closed: nothing to draw into any more
            self.updater.stop(timeout=0)
            return
        q = self.queue
        stats = q.stats()
        state = stats.state
        self.stats_panel.render(stats, state_label(q, state, stats))
        now = time.monotonic()
        if now >= self._table_due:
            t0 = time.perf_counter()
            self.queue_panel.refresh(state)  # widgets only send what changed
            self._table_due = now + (time.perf_counter() - t0) * self.table_cost_factor
        else:
            self.queue_panel.set_state(state)
        if now >= self._workers_due:
            self._workers_due = now + self.workers_every
            self.refresh_workers()
        self._show_engine_errors()

    def _show_engine_errors(self) -> None:
        """Failures in the engine's thread or in ``q.on`` callbacks: shown here, not only logged."""
        loop_error = getattr(self.queue, "loop_error", None)
        if loop_error is not None and loop_error is not self._shown_loop_error:
            self._shown_loop_error = loop_error
            self.errors.show("The queue's engine stopped", loop_error)
        errors = getattr(self.queue, "callback_errors", None) or []
        if len(errors) > self._seen_callback_errors:
            last = errors[-1]
            self._seen_callback_errors = len(errors)
            self.errors.show(f"A callback for '{last.event}' ({last.callback}) raised", last.error)

    def refresh_workers(self) -> None:
        client = getattr(self.queue, "client", None)
        if client is None:
            self.stats_panel.render_no_cluster("not connected (press Start)")
            return
        self.stats_panel.render_workers(worker_rows(client.scheduler_info()), getattr(client, "dashboard_link", None))

    def close(self) -> None:
        updater = getattr(self, "updater", None)  # absent when __init__ failed before it was made
        if updater is not None:
            updater.stop()
            self.queue.on("*", self._on_event, remove=True)
        queue_panel = getattr(self, "queue_panel", None)
        if queue_panel is not None:
            queue_panel.close_player()
        super().close()


class Lab(W.VBox):
    """``gl.lab()``: choose files, preview, confirm; then watch and steer the queue."""

    def __init__(
        self,
        queue: Any,
        root: str | None = None,
        output_dir: str | None = None,
        interval: float = 0.3,
        methods: list[str] | None = None,
        source: str = "local",
    ) -> None:
        self.queue = queue
        if hasattr(queue, "connect"):  # start or reach the cluster now: workers and links show at once
            queue.connect()
        self.errors = ErrorArea()
        self.filter = FilterPanel(root=root, on_next=self._to_preview, errors=self.errors, source=source)
        self.preview = PreviewPanel(
            output_dir=output_dir,
            on_confirm=self._submit,
            on_back=self._to_filter,
            slots=lambda: queue_slots(self.queue),
            methods=methods,
            errors=self.errors,
            history=lambda: recent_completed(self.queue),
        )
        self.steps = W.Stack([self.filter, self.preview], selected_index=0)
        self.monitor = QueueApp(queue, interval=interval, errors=self.errors, style=False)
        self.tabs = W.Tab([self.steps, self.monitor], titles=("Files", "Queue"), selected_index=0)
        header = W.HTML(
            '<span class="gvl-title">goesvfi-lab</span> <span class="gvl-muted">frame interpolation '
            "for GOES imagery · filter → preview → confirm → watch</span>"
        )
        super().__init__(children=[W.HTML(fmt.style_tag()), header, self.errors, self.tabs])
        self.add_class("gvl-app")

    def _to_preview(self, result: ScanResult) -> None:
        self.preview.show(result)
        self.steps.selected_index = 1

    def _to_filter(self) -> None:
        self.steps.selected_index = 0

    def _submit(self, jobs: list[BatchJob]) -> str:
        add_many = getattr(self.queue, "add_jobs", None)
        if add_many is not None:
            add_many(jobs)  # one transaction
        else:
            for job in jobs:
                self.queue.add_job(job)
        state = self.queue.state
        if state == "idle":
            self.queue.start()
            note = "The queue is running."
        else:
            note = "The queue is paused: press Resume to run them." if state == "paused" else ""
        self.monitor.updater.poke()
        self.tabs.selected_index = 1
        return note

    @property
    def updater(self) -> Updater:
        return self.monitor.updater

    share: SharedQueue | None = None  # set by lab() when it made the queue: the last app to close stops it
    cell: tuple[str, str] | None = None  # (cell id, execution) that lab() was called from, when known

    @property
    def owns_queue(self) -> bool:
        return self.share is not None

    def close(self) -> None:
        # also called by ipywidgets' __del__ when __init__ failed half way (say, the cluster did not start)
        for part in ("filter", "preview", "monitor"):
            widget = getattr(self, part, None)
            if widget is not None:
                widget.close()
        super().close()
        if self.share is not None and self.share.leave(self):
            self.queue.stop()


class SharedQueue:
    """A queue that ``gl.lab()`` made, shown by every app made for the same cluster and store.

    Two apps in one notebook then watch and steer one queue (one dispatcher on the store) rather than
    two competing for the same jobs; the queue is stopped when the last of its open apps is closed.
    """

    def __init__(self, queue: Any, key: Any) -> None:
        self.queue = queue
        self.key = key
        self.apps: weakref.WeakSet[Lab] = weakref.WeakSet()

    def open_apps(self) -> list[Lab]:
        return [a for a in self.apps if a.comm is not None]

    def join(self, app: Lab) -> None:
        self.apps.add(app)
        app.share = self

    def leave(self, app: Lab) -> bool:
        """Forget ``app``; True when no open app shows the queue any more (stop it then)."""
        self.apps.discard(app)
        return not self.open_apps()
