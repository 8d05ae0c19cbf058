"""The feeding loop: a bounded window of pair tasks, topped up from the store by policy.

Dask holds only about ``window-factor`` × cluster slots of our tasks at a time; the store holds the
rest. That gives five-level priority with FIFO inside a level (Dask's own ``priority=`` is encoded
as ``level * 10**9 - sequence``), cheap cancel and reordering, and pause as "stop topping up".

One control thread owns all job state. It wakes when a future finishes, when the scheduler plugin
publishes, when the user calls a method, or every ``tick`` seconds, and then: handles finished
futures, fires the watchdog (timeouts), sweeps cancelled outputs, and fills the window. With short
tasks it works in batches (finished futures gather for ``batch-delay``; a large window is topped up
a quarter at a time with one ``client.map`` per job): per-task scheduler messages and thread
wake-ups, not the tasks, were the queue's cost on millisecond pairs. Public
methods take the same lock, so they may be called from any thread (a notebook cell, a widget
callback, an event callback). Event callbacks run on the control thread, outside the lock.

Beside it: :mod:`.settings` (the ``goesvfi.*`` values, read once), :mod:`.claims` (taking a pending
job), :mod:`.admission` (may a job run, and what its folder holds), :mod:`.transitions` (every state
change with its event), :mod:`.outbox` (firing those events), :mod:`.sizing` (window and task size),
:mod:`.specs` (what a task is given), :mod:`.results` (results and errors), :mod:`.stopping` (stop
flags, swept outputs), :mod:`.metrics` (the scheduler plugin's summaries).
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
import time
from collections.abc import Callable
from typing import Any

from distributed import Client

from goesvfi_lab import policy
from goesvfi_lab.events import EventDispatcher
from goesvfi_lab.quality import QualitySettings
from goesvfi_lab.store import Store

from . import specs
from .claims import Claims, Refused
from .cluster import Slots, cluster_slots
from .metrics import SchedulerMetrics
from .outbox import Outbox
from .plugins import ASSEMBLE, TOPIC, MetricsPlugin, ModelLoader, parse_key, task_key
from .results import ResultFetcher, ResultHandling, address_of
from .selfcheck import check_key, record_check, record_key, self_check
from .settings import EngineSettings
from .sizing import TaskSizer
from .stopping import Sweeper
from .tasks import PairSpec, assemble, run_pairs
from .transitions import Active, Transitions

logger = logging.getLogger(__name__)

_WAKE = object()


def _executing_keys(dask_worker) -> list:
    return [ts.key for ts in dask_worker.state.executing]


class Submitter(ResultHandling):
    """Runs jobs from ``store`` on ``client``; the engine behind :class:`goesvfi_lab.queue.BatchQueue`.

    ``settings``: read once (:class:`.settings.EngineSettings`; default: dask.config now), so a config
    change does not reach a running queue. ``max_concurrent`` is the one knob applied live (it may be
    set at any time; the next feeding round uses it).
    """

    def __init__(
        self,
        client: Client,
        store: Store,
        events: EventDispatcher,
        *,
        claimer: str,
        policy_name: str = "priority",
        max_concurrent: int | None = None,
        meter: policy.ThroughputMeter | None = None,
        frames_computed: dict[str, int] | None = None,
        fetched: dict[str, Any] | None = None,
        on_locked: str = "wait",
        settings: EngineSettings | None = None,
    ) -> None:
        self.settings = settings = settings or EngineSettings.from_config()
        self.client = client
        self.store = store
        self.events = events
        self.claimer = claimer
        self.policy = policy.check_policy(policy_name)
        self.max_concurrent = max_concurrent
        self.meter = meter or policy.ThroughputMeter(settings.throughput_window)
        self.breaker = policy.CircuitBreaker(settings.circuit_breaker)
        self.sizer = TaskSizer(settings)
        self.quality = QualitySettings.from_config()  # the self-check (issue 16), read once like settings
        self.checks: dict[str, str] = {}  # self-check key in self.futures -> its job
        self.tick = 0.05

        self.active: dict[str, Active] = {}
        self.futures: dict[str, Any] = {}  # key -> Future
        self.sweeper = Sweeper(client, settings.cleanup_grace)
        self.metrics = SchedulerMetrics()
        # job -> frames this queue computed (frames resumed from disk not counted)
        self.frames_computed: dict[str, int] = {} if frames_computed is None else frames_computed
        # NOAA archive inputs the workers downloaded: bytes, seconds and bytes per worker (results.py)
        self.fetched: dict[str, Any] = {} if fetched is None else fetched
        self.paused_reason: str | None = None
        self.slots = Slots()
        self.metrics_from_scheduler = False

        self._lock = threading.RLock()
        self._inbox: queue_mod.SimpleQueue = queue_mod.SimpleQueue()
        self._fetcher: ResultFetcher | None = None
        self._outbox = Outbox(store, events, self._lock)  # events decided here, fired outside the lock
        self.transitions = Transitions(store, self._outbox, self.breaker, settings)
        self.claims = Claims(store, claimer, self.transitions, settings, on_locked)
        self._thread: threading.Thread | None = None
        self._closing = False
        self._last_slots = 0.0
        self._last_heartbeat = 0.0
        self._last_progress = 0.0
        self._idle_until = 0.0  # no ready pending job before this time (unless woken)
        self._last_recount = time.monotonic()
        self.loop_error: BaseException | None = None
        self.scheduler_address: str | None = None
        self.lost_reason: str | None = None  # set when the scheduler is gone for good (see _lost)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, methods: tuple[str, ...] = ()) -> None:
        """Register plugins, subscribe to the metrics topic and start the control thread."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closing = False
            self.scheduler_address = address_of(self.client)  # for messages once the client has closed
            try:
                self.client.register_plugin(MetricsPlugin(self.settings.metrics_interval))
                self.client.subscribe_topic(TOPIC, self._on_topic)
                self.metrics_from_scheduler = True
            except Exception as exc:  # e.g. goesvfi_lab not importable on a remote scheduler
                logger.warning("goesvfi: scheduler metrics plugin unavailable (%s); counting on the client", exc)
                self.metrics_from_scheduler = False
            if methods:
                self.client.register_plugin(ModelLoader(tuple(methods)))
            self.refresh_slots()
            self.meter.reset()
            self._thread = threading.Thread(target=self._run, name="goesvfi-submitter", daemon=True)
            self._thread.start()
            self._fetcher = ResultFetcher(self.client, self._post_results, lambda: self._closing).start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop feeding, stop in-flight work, put claimed jobs back to PENDING, end the thread."""
        with self._lock:
            self._closing = True
            for act in list(self.active.values()):
                self._stop_attempt(act)
                self.transitions.hand_back(act)
            self.active.clear()
            self.sweeper.run_all()
        self.wake()
        for thread in (self._thread, self._fetcher and self._fetcher.thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
        if self.metrics_from_scheduler:
            try:
                self.client.unsubscribe_topic(TOPIC)
            except Exception:  # client already closing
                pass
        self._flush()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._idle_until = 0.0
        self._inbox.put(_WAKE)

    # --- control ----------------------------------------------------------------------------

    def pause(self, reason: str = "paused by the user", cancel_queued: bool = False) -> None:
        with self._lock:
            self.paused_reason = reason
            if cancel_queued:
                self._return_unstarted()
            self._outbox.append(("queue_paused", {"reason": reason}))
        self._flush()

    def resume(self) -> None:
        with self._lock:
            self.paused_reason = None
            self.breaker.reset()
            self._outbox.append(("queue_resumed", {}))
        self.wake()
        self._flush()

    def cancel(self, job_id: str) -> bool:
        """Cancel one job: pending ones never run; running ones stop between frames, outputs removed."""
        with self._lock:
            act = self.active.pop(job_id, None)
            if act is None:
                changed = self.transitions.cancelled_pending(job_id)
            else:
                self._stop_attempt(act)
                self.transitions.cancelled_running(act)
                self.sweeper.cancelled(act)  # swept now and after a grace period, then its lock released
                changed = True
        self._flush()
        return changed

    def _return_unstarted(self) -> None:
        """Cancel submitted tasks that have not started and give their pairs back to their jobs."""
        try:  # what worker threads execute right now ("processing" on the scheduler includes worker backlogs)
            running = self.client.run(_executing_keys)
        except Exception:
            return
        processing = {k for keys in running.values() for k in keys}
        for key, fut in list(self.futures.items()):
            parsed = parse_key(key)
            if parsed is None or key in processing or fut.done():
                continue
            act = self.active.get(parsed[0])
            if act is None or parsed[1] == ASSEMBLE:
                continue
            fut.cancel()
            del self.futures[key]
            act.todo.extendleft(reversed(act.inflight.pop(key)))
            asm = task_key(act.job.id, ASSEMBLE, act.attempt)
            if asm in act.inflight:  # it waited on that pair: submitted again with the last pair
                del act.inflight[asm]
                self.futures.pop(asm).cancel()
                check = record_key(act.job.id, act.attempt)  # and so did its self-check
                if self.checks.pop(check, None) is not None and check in self.futures:
                    self.futures.pop(check).cancel()

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing:
            try:
                self._step()
            except Exception as exc:  # keep the queue alive; the error is visible on the queue
                if self._closing:
                    break
                self.loop_error = exc
                logger.exception("goesvfi: submitter step failed")
                time.sleep(0.5)
            self._flush()

    def _step(self) -> None:
        items = []
        try:
            items.append(self._inbox.get(timeout=self.tick))
            if self.settings.batch_delay > 0 and len(self.futures) > 8:
                # many short tasks in flight: let finished ones gather and handle them together (one wake-up,
                # one store write and one top-up per batch instead of per task, and less GIL ping-pong with
                # the client's event loop); the window holds far more work than this delay
                time.sleep(self.settings.batch_delay)
            while True:
                items.append(self._inbox.get_nowait())
        except queue_mod.Empty:
            pass
        finished = [x for x in items if x is not _WAKE and not isinstance(x, tuple)]
        topics = [x for x in items if isinstance(x, tuple) and x[0] == "topic"]
        results = [r for x in items if isinstance(x, tuple) and x[0] == "results" for r in x[1]]
        with self._lock:
            if self._closing:
                return
            if self.client.status in ("closing", "closed"):
                self._lost()
                return
            for msg in topics:
                self._handle_topic(msg)
            if finished:
                self._handle_finished(finished)
            if results:
                self._handle_results(results)
            now = time.time()
            self._watchdog(now)
            self.sweeper.run_due(time.monotonic())
            self._housekeeping(now)
            if self.paused_reason is None:
                self._fill(now)

    def _flush(self) -> None:
        self._outbox.flush()

    def events_delivered(self, timeout: float = 5.0) -> bool:
        """Wait until every event already decided has reached its callbacks (see :meth:`.Outbox.delivered`)."""
        return self._outbox.delivered(timeout)

    def _housekeeping(self, now: float) -> None:
        mono = time.monotonic()
        if mono - self._last_slots > (1.0 if not self.slots.threads else 10.0 if self.metrics_from_scheduler else 2.0):
            self.refresh_slots()
        if mono - self._last_progress > 0.5 or not self.futures:  # idle (paused, waiting): exact at once
            self._last_progress = mono
            for act in self.active.values():
                if act.frames_dirty:
                    act.frames_dirty = False
                    self.store.update(act.job.id, frames_done=act.frames_done)
        if mono - self._last_heartbeat > 10.0:
            self._last_heartbeat = mono
            if self.active:
                self.store.heartbeat(self.claimer)
                for act in self.active.values():
                    act.lock.touch()
        if mono - self._last_recount > 5.0:
            self._last_recount = mono
            self.store.refresh_counts()

    def refresh_slots(self) -> Slots:
        try:
            self.slots = cluster_slots(self.client)
        except Exception as exc:
            logger.debug("goesvfi: cannot read cluster slots: %s", exc)
        self._last_slots = time.monotonic()
        return self.slots

    # --- feeding ----------------------------------------------------------------------------

    def _pairs_inflight(self, gpu_only: bool = False) -> int:
        """Pair tasks handed to Dask. Assemble tasks do not count: they wait on pairs, so a window
        holding them would starve the workers at every job boundary."""
        jobs = [a for a in self.active.values() if a.gpu or not gpu_only]
        return sum(1 for a in jobs for pairs in a.inflight.values() if pairs)

    def _fill(self, now: float) -> None:
        window = self.sizer.window(self.slots.threads)
        free = window - self._pairs_inflight()
        # a large window (short tasks) is topped up in batches of a quarter, not task by task: each top-up
        # is a scheduler message, and those, not the tasks, were the queue's cost on millisecond pairs
        if free <= 0 or (window > 8 and free < window // 4):
            return
        gpu_free = self.sizer.window(self.slots.gpus) - self._pairs_inflight(gpu_only=True)
        running = [a.entry for a in self.active.values() if a.todo]
        room_for_new = self.max_concurrent is None or len(self.active) < self.max_concurrent
        pending: list[policy.Entry] = []
        if room_for_new and now >= self._idle_until:
            pending = self.store.entries(self.policy, ready_at=now, limit=max(free, 8))
            if not pending:  # nothing ready: do not ask again before a retry falls due (or we are woken)
                # (at most 2 s: another process may add jobs to the same store without waking us)
                self._idle_until = min(self.store.next_retry_at() or float("inf"), now + 2.0)
        if not running and not pending:
            return
        by_owner = {}
        if self.policy == "fair":
            for a in self.active.values():
                by_owner[a.job.owner] = by_owner.get(a.job.owner, 0) + 1
        batch: list[tuple[Active, str, tuple[PairSpec, ...]]] = []
        for entry in policy.order(running + pending, self.policy, by_owner):
            if free <= 0:
                break
            act = self.active.get(entry.id)
            if act is None:
                if self.max_concurrent is not None and len(self.active) >= self.max_concurrent:
                    continue
                act = self._promote(entry.id, now, gpu_room=gpu_free > 0)
                if act is None:
                    continue
            if act.gpu and gpu_free <= 0:
                continue
            n = min(free, gpu_free) if act.gpu else free
            sent = self._next_pairs(act, n, batch)
            free -= sent
            if act.gpu:
                gpu_free -= sent
        self._send(batch)

    def _promote(self, job_id: str, now: float, gpu_room: bool = True) -> Active | None:
        """Claim a pending job and make it active; None if it cannot run now (see :mod:`.claims`)."""
        got = self.claims.take(job_id, now, self.slots.gpus, gpu_room, self.metrics.memory_kills)
        if isinstance(got, Refused):
            self._attempt_failed(got.act, got.error, retry=got.retry)
            return None
        if got is not None:
            self.active[got.job.id] = got
            self.metrics.remember(got.job.id, got.attempt, got.job.factor, len(got.inputs) - 2)
        return got

    def _priority(self, act: Active) -> int:
        return policy.dask_priority(int(act.job.priority), act.sequence % policy.LEVEL_SPAN)

    def _watch(self, fut: Any) -> None:
        self.futures[fut.key] = fut
        fut.add_done_callback(self._inbox.put)

    def _next_pairs(self, act: Active, n: int, batch: list[tuple[Active, str, tuple[PairSpec, ...]]]) -> int:
        """Take up to ``n`` tasks' worth of the job's pairs into ``batch`` (sized by :mod:`.sizing`)."""
        tasks = specs.take_tasks(act, n, self.sizer.pairs_per_task(act.gpu), self.settings.stop_poll)
        batch.extend((act, key, task) for key, task in tasks)
        return len(tasks)

    def _send(self, batch: list[tuple[Active, str, tuple[PairSpec, ...]]]) -> None:
        """Submit the batch with one ``client.map`` per (priority, resources): one scheduler message per
        job rather than per pair, which is most of the queue's own cost on short pairs."""
        groups: dict[tuple[int, bool], list[tuple[Active, str, tuple[PairSpec, ...]]]] = {}
        for item in batch:
            groups.setdefault((self._priority(item[0]), item[0].gpu), []).append(item)
        for (priority, gpu), items in groups.items():
            futures = self.client.map(
                run_pairs,
                [task for _, _, task in items],
                key=[key for _, key, _ in items],
                priority=priority,
                resources={"GPU": 1} if gpu else None,
                pure=False,
                retries=0,
            )
            for fut in futures:
                self._watch(fut)
        for act in {id(a): a for a, _, _ in batch}.values():
            if not act.todo:
                self._submit_assemble(act)

    def _submit_assemble(self, act: Active) -> None:
        """Submit the assemble task as the Dask dependent of the job's pairs still in flight.

        So it becomes runnable the moment the last pair finishes, next to that result, and at the job's
        priority it goes before lower-priority work queued there.
        """
        key = task_key(act.job.id, ASSEMBLE, act.attempt)
        if key in act.inflight:
            return
        deps = [self.futures[k] for k, pairs in act.inflight.items() if pairs and k in self.futures]
        fut = self.client.submit(
            assemble, specs.assemble_spec(act), *deps, key=key, priority=self._priority(act), pure=False, retries=0
        )
        act.inflight[key] = ()
        self._watch(fut)
        self._submit_check(act, fut, deps)

    def _submit_check(self, act: Active, assembled: Any, pairs: list[Any]) -> None:
        """The job's self-check (:mod:`.selfcheck`) at the job's priority: the measuring task waits for the
        same pairs as the assemble (submitted after it, so the assemble goes first) and runs alongside it
        (the assemble does not wait for it); the recording task is the dependent of both, so the score
        arrives after ``job_completed``.

        Only the recording future is kept: the measuring one lives in Dask as its dependency, and is
        released with it when the attempt is stopped."""
        spec = specs.check_spec(act, self.quality)
        if spec is None:
            return
        common = dict(priority=self._priority(act), pure=False, retries=0)
        measured = self.client.submit(
            self_check,
            spec,
            *pairs,
            key=check_key(act.job.id, act.attempt),
            resources={"GPU": 1} if act.gpu else None,
            **common,
        )
        key = record_key(act.job.id, act.attempt)
        fut = self.client.submit(record_check, spec, measured, assembled, key=key, **common)
        self.checks[key] = act.job.id
        self._watch(fut)

    def checks_pending(self) -> int:
        """Self-checks submitted whose score has not been handled yet (``BatchQueue.wait`` waits for them)."""
        with self._lock:
            return len(self.checks)

    # --- views ---------------------------------------------------------------------------------

    def live_frames(self) -> dict[str, int]:
        with self._lock:
            return {jid: a.frames_done for jid, a in self.active.items()}

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` under the control lock (tests and the queue use it for consistent snapshots)."""
        with self._lock:
            return fn()
