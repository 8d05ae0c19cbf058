"""Step 3: the job table with per-job actions, and the queue's global controls.

The rows are a fixed pool of widgets made once on the main thread; the updater thread only rebinds
them to jobs (values, visibility, disabled states). Rows follow submission order, so a row never moves
under the pointer because a job changed state; the position column shows the queue order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from .. import html as fmt
from ..html import html_note
from ..model import BatchJob, JobStatus
from .common import ErrorArea, button, guard
from .state import SHOW, bumped, can_cancel, can_reprioritise, can_retry, clamp_page


def _small(icon: str, tooltip: str, cls: str) -> W.Button:
    # flex 0 0 auto: a long note beside the buttons must never squeeze them to a sliver
    b = W.Button(icon=icon, tooltip=tooltip, layout=W.Layout(width="30px", padding="0", flex="0 0 auto"))
    b.add_class(cls)
    return b


def _limit_text(value: int | None) -> str:
    """What the Max running box means: 0 is no limit (as many as the cluster takes)."""
    return "no limit" if not value else "at once"


# the cells (a grid, style.css) take the line's width less the five fixed-size actions; the same flex for the
# header and every row keeps the columns aligned
CELLS_FLEX = "1 1 0"
ACTIONS = 5  # play, cancel, retry, up, down


def can_play(job: BatchJob) -> bool:
    """A job whose frames are all on disk: the player can step through them."""
    return job.status == JobStatus.COMPLETED


class JobRow(W.VBox):
    """One table row: the cells as HTML, then play (finished jobs only) / cancel / retry / priority up / priority
    down; under them the job's error or note on one line (the file name and the reason), and a click on it opens
    the whole message."""

    def __init__(self, act: Callable[[str, str], None]) -> None:
        self.job_id: str | None = None
        self._lock = threading.Lock()
        self._note: tuple[str, str, str] = ("", "", "")
        self._open_for: str | None = None  # the job whose whole message is shown
        self.info = W.HTML(layout=W.Layout(flex=CELLS_FLEX, min_width="0", overflow="hidden"))
        # at most the row's width less its 1em indent (style.css): a long note ends in an ellipsis, not cut off
        self.note = W.Button(
            layout=W.Layout(display="none", width="auto", max_width="calc(100% - 1em)", align_self="flex-start"),
            disabled=True,
        )
        self.note.add_class("gvl-note")
        self.note.on_click(lambda _b: self.toggle())
        self.play = _small("play", "step through this job's scans and frames (before / after)", "gvl-play")
        self.cancel = _small("times", "cancel this job", "gvl-cancel")
        self.retry = _small("redo", "retry this job", "gvl-retry")
        self.up = _small("arrow-up", "raise priority", "gvl-up")
        self.down = _small("arrow-down", "lower priority", "gvl-down")
        actions = (
            (self.play, "play"),
            (self.cancel, "cancel"),
            (self.retry, "retry"),
            (self.up, "up"),
            (self.down, "down"),
        )
        for b, action in actions:
            b.on_click(lambda _b, action=action: act(action, self.job_id))
        self.detail = W.HTML(layout=W.Layout(display="none"))
        line = W.HBox(
            [self.info, self.play, self.cancel, self.retry, self.up, self.down],
            layout=W.Layout(align_items="center", width="100%"),
        )
        super().__init__([line, self.note, self.detail], layout=W.Layout(display="none", width="100%"))
        self.add_class("gvl-row")

    def bind(self, job: BatchJob | None) -> None:
        with self._lock:
            if job is None:
                self.job_id = self._open_for = None
                self.layout.display = "none"
                return
            self.job_id = job.id
            if self._open_for != job.id:
                self._open_for = None
            self.info.value = fmt.job_row(job)
            self._note = kind, short, full = fmt.job_note(job)
            with self.note.hold_sync():
                self.note.description = short
                self.note.tooltip = full or None
                self.note.disabled = not full
                self.note.layout.display = "block" if full else "none"
                for k in ("error", "note"):
                    (self.note.add_class if k == kind else self.note.remove_class)(f"gvl-note-{k}")
            self._show_detail()
            playable = can_play(job)
            self.play.disabled = not playable
            self.play.layout.visibility = "visible" if playable else "hidden"  # holds its place: columns align
            self.cancel.disabled = not can_cancel(job)
            self.retry.disabled = not can_retry(job)
            self.up.disabled = not can_reprioritise(job) or bumped(job.priority, +1) is None
            self.down.disabled = not can_reprioritise(job) or bumped(job.priority, -1) is None
            self.layout.display = "flex"

    def toggle(self) -> None:
        """The note was clicked: show (or hide again) the whole message under the row."""
        with self._lock:
            self._open_for = None if self._open_for == self.job_id or not self._note[2] else self.job_id
            self._show_detail()

    def _show_detail(self) -> None:
        kind, _short, full = self._note
        shown = self._open_for is not None and self._open_for == self.job_id and bool(full)
        if shown:
            self.detail.value = fmt.note_detail(kind, full)
        self.detail.layout.display = "block" if shown else "none"


class QueuePanel(W.VBox):
    """Global controls, concurrency, the job table with paging and a status filter."""

    def __init__(
        self,
        queue: Any,
        errors: ErrorArea | None = None,
        page_size: int = 10,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.errors = errors or ErrorArea()
        self.page_size = page_size
        self.page = 0
        self.on_change = on_change  # e.g. the updater's poke: show the effect of a click at once
        self._lock = threading.RLock()

        g = guard(self.errors, "Queue action failed")
        self.start = button("Start", "start dispatching jobs to the cluster", "primary", "play")
        self.pause = button("Pause", "stop handing out new work; running jobs finish", "", "pause")
        self.resume = button("Resume", "hand out work again", "", "play")
        self.stop = button("Stop", "stop dispatching; running jobs are cancelled and re-queued", "warning", "stop")
        self.cancel_all = button("Cancel all", "cancel every job that has not finished", "danger", "ban")
        self.retry_failed = button("Retry failed", "queue failed jobs again", "", "redo")
        self.clear_completed = button(
            "Clear completed",
            "remove completed jobs from the table (their outputs stay on disk); failed and cancelled jobs stay",
            "",
            "broom",
        )
        self.note = W.HTML(layout=W.Layout(margin="0 0 0 8px"))  # what the last click did, or why nothing
        self.note.add_class("gvl-action-note")
        actions = {
            self.start: ("start", lambda: self.queue.start()),
            self.pause: ("pause", lambda: self.queue.pause()),
            self.resume: ("resume", lambda: self.queue.resume()),
            self.stop: ("stop", lambda: self.queue.stop()),
            self.cancel_all: ("cancel_all", lambda: self.queue.cancel_all()),
            self.retry_failed: ("retry_failed", lambda: self.queue.retry_failed()),
            self.clear_completed: ("clear_completed", lambda: self.queue.clear_completed()),
        }
        for b, (name, fn) in actions.items():
            b.add_class("gvl-" + b.description.lower().replace(" ", "-"))
            b.on_click(g(lambda _b, name=name, fn=fn: self._did(fn(), name)))
        self.concurrency = W.BoundedIntText(
            value=int(getattr(queue, "max_concurrent", None) or 0),
            min=0,
            max=4096,
            description="Max running",
            tooltip="jobs running at once (0: as many as the cluster takes)",
            style={"description_width": "7em"},
            layout=W.Layout(width="13em"),
        )
        self.concurrency.add_class("gvl-concurrency")
        self.concurrency.observe(g(self._set_concurrency), names="value")
        # 0 reads as "nothing may run": say what it means beside the box
        self.concurrency_note = W.HTML(html_note(_limit_text(self.concurrency.value)))
        self.concurrency_note.add_class("gvl-concurrency-note")
        self.concurrency.observe(
            lambda c: setattr(self.concurrency_note, "value", html_note(_limit_text(c["new"]))), names="value"
        )
        self.show_only = W.Dropdown(
            options=list(SHOW),
            value="all",
            description="Show",
            style={"description_width": "3em"},
            layout=W.Layout(width="14em"),
        )
        self.show_only.observe(g(lambda _c: self._set_page(0)), names="value")
        self.prev = button("", "previous page", "", "chevron-left")
        self.next = button("", "next page", "", "chevron-right")
        self.prev.on_click(g(lambda _b: self._set_page(self.page - 1)))
        self.next.on_click(g(lambda _b: self._set_page(self.page + 1)))
        self.page_info = W.HTML()
        self.empty = W.HTML('<span class="gvl-muted">No jobs yet: confirm a preview to add some.</span>')
        self.rows = [JobRow(g(self._act)) for _ in range(page_size)]
        self.player: Any = None  # the one open JobPlayer, under the table
        self.player_job: str | None = None
        self.player_box = W.VBox(
            layout=W.Layout(
                display="none",
                max_width="100%",
                margin="6px 0 0 0",
                padding="6px 0 0 0",
                border_top="1px solid var(--jp-border-color2, #e0e0e0)",
            )
        )
        self.player_box.add_class("gvl-player-box")

        super().__init__(
            children=[
                W.HTML('<span class="gvl-title">3 · Queue</span>'),
                W.HBox(
                    [
                        self.start,
                        self.pause,
                        self.resume,
                        self.stop,
                        self.cancel_all,
                        self.retry_failed,
                        self.clear_completed,
                        self.note,
                    ],
                    layout=W.Layout(flex_flow="row wrap", align_items="center"),
                ),
                W.HBox(
                    [self.concurrency, self.concurrency_note, self.show_only, self.prev, self.page_info, self.next],
                    layout=W.Layout(align_items="center"),
                ),
                self._header(),
                self.empty,
                *self.rows,
                self.player_box,
            ]
        )
        self.add_class("gvl-queue")

    @staticmethod
    def _header() -> W.HBox:
        """The column titles, laid out as a row is (hidden buttons hold the actions' place)."""
        spacers = [_small("", "", "gvl-spacer") for _ in range(ACTIONS)]
        for b in spacers:
            b.layout.visibility = "hidden"
        cells = W.HTML(fmt.job_header(), layout=W.Layout(flex=CELLS_FLEX, min_width="0", overflow="hidden"))
        return W.HBox([cells, *spacers], layout=W.Layout(align_items="center", width="100%"))

    # ---- clicks → queue
    def _did(self, result: Any = None, action: str | None = None) -> None:
        if action is not None:
            self.note.value = html_note(fmt.action_note(action, result))
        if self.on_change is not None:
            self.on_change()

    def _act(self, action: str, job_id: str | None) -> None:
        if job_id is None:
            return
        q = self.queue
        if action == "play":
            self.toggle_player(job_id)
            return
        if action == "cancel":
            q.cancel(job_id)
        elif action == "retry":
            q.retry(job_id)
        else:
            job = q.job(job_id)
            new = bumped(job.priority, +1 if action == "up" else -1)
            if new is not None:
                q.set_priority(job_id, new)
        self._did()

    def toggle_player(self, job_id: str) -> None:
        """Open the player for ``job_id`` under the table (closing any other); the same job again closes it."""
        with self._lock:
            if self.player_job == job_id:
                self.close_player()
                return
            self.close_player()
            job = self.queue.job(job_id)
            from .player import JobPlayer

            try:
                self.player = JobPlayer(job.output_dir, on_close=self.close_player)
            except ValueError as exc:  # the folder holds no finished job (moved, removed, overwritten)
                self.player = W.HTML(html_note(f"Cannot play {job.name}: {exc}"))
            self.player_job = job_id
            self.player_box.children = (self.player,)
            self.player_box.layout.display = "flex"

    def close_player(self) -> None:
        with self._lock:
            player, self.player, self.player_job = self.player, None, None
            self.player_box.children = ()
            self.player_box.layout.display = "none"
            if player is not None:
                player.close()

    def _set_concurrency(self, change: dict) -> None:
        value = int(change["new"]) or None  # 0 in the box: no limit
        if value != getattr(self.queue, "max_concurrent", None):
            self.queue.max_concurrent = value
            self._did()

    def _set_page(self, page: int) -> None:
        with self._lock:
            self.page = page
        self.refresh()

    # ---- state → widgets (any thread)
    def refresh(self, state: str | None = None) -> None:
        """Read the shown page from the queue (only that page: cheap with 100,000 jobs) and bind the rows."""
        with self._lock:
            wanted = SHOW[self.show_only.value]
            total = self.queue.count(wanted)
            self.page, pages = clamp_page(self.page, total, self.page_size)
            shown = (
                self.queue.jobs(wanted, order="submitted", limit=self.page_size, offset=self.page * self.page_size)
                if total
                else []
            )
            any_jobs = bool(total) or self.queue.count() > 0  # a filter may hide them all
            self.render(shown, total, pages, any_jobs, state)

    def render(self, shown: list[BatchJob], total: int, pages: int, any_jobs: bool, state: str | None = None) -> None:
        """Bind the rows and paging controls to one page of jobs (no queue reads here)."""
        with self._lock:
            for row, job in zip(self.rows, shown + [None] * (self.page_size - len(shown)), strict=True):
                row.bind(job)
            self.page_info.value = fmt.page_label(self.page, pages, total)
            self.prev.disabled = self.page <= 0
            self.next.disabled = self.page >= pages - 1
            self.empty.layout.display = "none" if any_jobs else "block"
            if state is not None:
                self.set_state(state)
            limit = int(getattr(self.queue, "max_concurrent", None) or 0)
            if limit != self.concurrency.value:  # changed from code: show it
                self.concurrency.value = limit

    def set_state(self, state: str) -> None:
        """Enable the global buttons that make sense in ``state`` (the queue's word: idle / running / ready /
        paused; ``ready`` is started with nothing left to do)."""
        started, paused = state in ("running", "ready"), state == "paused"
        self.start.disabled = started or paused
        self.pause.disabled = not started
        self.resume.disabled = not paused
        self.stop.disabled = not (started or paused)
