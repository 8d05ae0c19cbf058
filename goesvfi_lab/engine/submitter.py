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

Beside it: :mod:`.admission` (may a job run, and what its folder holds), :mod:`.transitions` (every
state change with its event), :mod:`.metrics` (the scheduler plugin's summaries).
"""

from __future__ import annotations

import logging
import os
import queue as queue_mod
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from distributed import Client, Event

from goesvfi_lab import config, policy
from goesvfi_lab.errors import is_transient
from goesvfi_lab.events import EventDispatcher
from goesvfi_lab.locks import OutputLock
from goesvfi_lab.store import Store

from . import admission, layout
from .cluster import Slots, cluster_slots
from .metrics import SchedulerMetrics
from .plugins import ASSEMBLE, TOPIC, MetricsPlugin, ModelLoader, parse_key, task_key
from .tasks import AssembleSpec, JobStopped, PairSpec, assemble, run_pairs
from .transitions import Active, Transitions

logger = logging.getLogger(__name__)

_WAKE = object()


@dataclass
class Sweep:
    """A cancelled job's outputs, swept again after a grace period (a task may have been mid-write)."""

    due: float
    output_dir: str
    extra: tuple[str | None, ...]
    lock: OutputLock | None
    events: tuple[str, ...]


def _gib(n: Any) -> str:
    return f"{n / 2**30:.2f} GiB" if isinstance(n, (int, float)) and n else "unknown"


def describe_error(exc: BaseException, key: str, memory_kills: dict[str, tuple[Any, Any]]) -> str:
    """One line for a failed task; a worker that died is explained (and blamed on memory if it was)."""
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        text = str(exc)
        worker = next((w for w in memory_kills if w in text), None)
        if worker is not None:
            rss, limit = memory_kills[worker]
            return (f"out of memory: worker {worker} was killed for exceeding its memory limit ({_gib(limit)}; "
                    f"it used {_gib(rss)}) while running {key}")  # fmt: skip
        return (f"the workers running {key} died (killed or crashed); if it was memory, raise the worker memory "
                f"limit (goesvfi.cluster.memory-limit: {config.get('cluster.memory-limit')})")  # fmt: skip
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _executing_keys(dask_worker) -> list:
    return [ts.key for ts in dask_worker.state.executing]


class Submitter:
    """Runs jobs from ``store`` on ``client``; the engine behind :class:`goesvfi_lab.queue.BatchQueue`."""

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
        on_locked: str = "wait",
    ) -> None:
        self.client = client
        self.store = store
        self.events = events
        self.claimer = claimer
        self.policy = policy.check_policy(policy_name)
        self.max_concurrent = max_concurrent
        self.meter = meter or policy.ThroughputMeter(float(config.get("queue.throughput-window")))
        self.breaker = policy.CircuitBreaker(config.get("queue.circuit-breaker"))
        self.window_factor = float(config.get("queue.window-factor"))
        self.window_seconds = float(config.get("queue.window-seconds"))
        self.window_max_per_slot = float(config.get("queue.window-max-per-slot"))
        self.task_seconds: float | None = None  # recent mean duration of a task (one pair or a run of them)
        self.pair_seconds: float | None = None  # recent mean duration of one pair
        self.task_target = float(config.get("queue.task-seconds"))
        if on_locked not in ("wait", "skip"):
            raise ValueError("on_locked must be 'wait' or 'skip'")
        self.on_locked = on_locked
        self.tick = 0.05
        self.batch_delay = float(config.get("queue.batch-delay"))

        self.active: dict[str, Active] = {}
        self.futures: dict[str, Any] = {}  # key -> Future
        self.sweeps: list[Sweep] = []
        self.metrics = SchedulerMetrics()
        # job -> frames this queue computed (frames resumed from disk not counted)
        self.frames_computed: dict[str, int] = {} if frames_computed is None else frames_computed
        self.paused_reason: str | None = None
        self.slots = Slots()
        self.metrics_from_scheduler = False

        self._lock = threading.RLock()
        self._inbox: queue_mod.SimpleQueue = queue_mod.SimpleQueue()
        self._fetch: queue_mod.SimpleQueue = queue_mod.SimpleQueue()
        self._fetcher: threading.Thread | None = None
        self._outbox: list[tuple[str, dict[str, Any]]] = []  # events decided, fired by _flush outside the lock
        self.transitions = Transitions(store, self._outbox, self.breaker)
        self._delivering: list[threading.Thread] = []  # threads in _flush, firing callbacks right now
        self._thread: threading.Thread | None = None
        self._closing = False
        self._sequence = 0
        self._last_slots = 0.0
        self._last_heartbeat = 0.0
        self._last_progress = 0.0
        self._idle_until = 0.0  # no ready pending job before this time (unless woken)
        self._last_recount = time.monotonic()
        self.loop_error: BaseException | None = None
        self.scheduler_address: str | None = None
        self.lost_reason: str | None = None  # set when the scheduler is gone for good (see _lost)
        self._warned_queuing = False

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, methods: tuple[str, ...] = ()) -> None:
        """Register plugins, subscribe to the metrics topic and start the control thread."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closing = False
            self.scheduler_address = _scheduler_address(self.client)  # for messages once the client has closed
            try:
                self.client.register_plugin(MetricsPlugin(float(config.get("queue.metrics-interval"))))
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
            self._fetcher = threading.Thread(target=self._fetch_results, name="goesvfi-results", daemon=True)
            self._fetcher.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop feeding, stop in-flight work, put claimed jobs back to PENDING, end the thread."""
        with self._lock:
            self._closing = True
            for act in list(self.active.values()):
                self._stop_attempt(act)
                self.transitions.hand_back(act)
            self.active.clear()
            for sweep in self.sweeps:
                self._sweep(sweep)
            self.sweeps.clear()
        self.wake()
        for thread in (self._thread, self._fetcher):
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
                extra = (layout.video_path(act.job.output_dir, act.job.settings),
                         layout.cube_path(act.job.output_dir, act.job.settings))  # fmt: skip
                sweep = Sweep(time.monotonic() + float(config.get("queue.cleanup-grace")),
                              act.job.output_dir, extra, act.lock, ())  # fmt: skip
                self._sweep(sweep, final=False)
                self.sweeps.append(sweep)
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
            if self.batch_delay > 0 and len(self.futures) > 8:
                # many short tasks in flight: let finished ones gather and handle them together (one wake-up,
                # one store write and one top-up per batch instead of per task, and less GIL ping-pong with
                # the client's event loop); the window holds far more work than this delay
                time.sleep(self.batch_delay)
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
            self._sweeps(time.monotonic())
            self._housekeeping(now)
            if self.paused_reason is None:
                self._fill(now)

    def _flush(self) -> None:
        with self._lock:
            out = list(self._outbox)
            self._outbox.clear()  # the same list object: Transitions appends to it
            self._delivering.append(threading.current_thread())
        try:
            # of several job_progress events of one job in a batch only the latest says anything new
            latest = {p["job_id"]: i for i, (name, p) in enumerate(out) if name == "job_progress"}
            jobs: dict[str, Any] = {}  # one store read per job per batch
            for i, (name, payload) in enumerate(out):
                job_id = payload.get("job_id")
                if name == "job_progress" and latest[job_id] != i:
                    continue
                if job_id is not None and "job" not in payload:  # callbacks get the job as it is now (name, error…)
                    if job_id not in jobs:
                        jobs[job_id] = self.store.get(job_id)
                    payload["job"] = jobs[job_id]
                self.events.fire(name, **payload)
        finally:
            with self._lock:
                self._delivering.remove(threading.current_thread())

    def events_delivered(self, timeout: float = 5.0) -> bool:
        """Wait until every event already decided has reached its callbacks.

        The store changes before the matching event is fired, so a caller that saw a job finish in the
        store (``BatchQueue.wait``) uses this to be sure its ``job_completed`` callbacks have run too.
        """
        if threading.current_thread() in self._delivering:  # called from a callback: it is the delivery
            return True
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:  # also waits for a step that has changed the store but not yet queued its event
                if not self._outbox and not self._delivering:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

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

    def _window(self, slots: int) -> int:
        return policy.window_size(slots, self.window_factor, self.task_seconds, self.window_seconds,
                                  self.window_max_per_slot)  # fmt: skip

    def _fill(self, now: float) -> None:
        window = self._window(self.slots.threads)
        free = window - self._pairs_inflight()
        # a large window (short tasks) is topped up in batches of a quarter, not task by task: each top-up
        # is a scheduler message, and those, not the tasks, were the queue's cost on millisecond pairs
        if free <= 0 or (window > 8 and free < window // 4):
            return
        gpu_free = self._window(self.slots.gpus) - self._pairs_inflight(gpu_only=True)
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
        batch: list[tuple[Active, str, PairSpec]] = []
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
        """Claim a pending job, take its output folder's lock and admit it; None if it cannot run now."""
        job = self.store.get(job_id)
        if job is None or job.status.value != "pending":
            return None
        placement = admission.placement(job, self.slots.gpus)
        if isinstance(placement, str):
            self.transitions.waiting_for_gpu(job.id, placement, now)
            return None
        gpu, device = placement
        if gpu and not gpu_room:
            return None  # every GPU slot is busy: leave it pending, CPU jobs may still go
        if not self.store.claim(job.id, self.claimer):
            return None  # another queue on this store took it
        job.runs += 1  # as the claim counted it: this attempt's keys and stop event are new
        lock = OutputLock(job.output_dir, float(config.get("queue.lock-max-age")))
        try:
            acquired = lock.acquire()
        except OSError as exc:  # under a regular file, read-only or full file system: fail the job, not the loop
            self._attempt_failed(Active.unstarted(job, lock), f"{job.output_dir}: cannot create or write the "
                                                              f"output folder ({exc.strerror or exc})")  # fmt: skip
            return None
        if not acquired:
            holder = lock.holder()
            reason = f"output folder {job.output_dir} is locked ({holder.reason if holder else 'locked'})"
            self.transitions.locked(job, reason, now, skip=self.on_locked == "skip")
            return None
        try:
            admitted = admission.prepare(job, gpu)
        except Exception as exc:  # unreadable inputs, a folder holding another result: a failed attempt
            self._attempt_failed(Active.unstarted(job, lock, gpu, device),
                                 describe_error(exc, job.id, self.metrics.memory_kills), retry=is_transient(exc))  # fmt: skip
            return None
        if admitted.skip is not None:
            self.transitions.skipped(job, lock, admitted, now)
            return None
        self.transitions.admitted(job, admitted)
        job.inputs = admitted.inputs
        job.notes = admitted.changes.get("notes", job.notes)
        timeout = job.settings.get("timeout", config.get("queue.timeout"))
        self._sequence += 1
        act = Active(
            job=job, attempt=job.runs, sequence=self._sequence, inputs=admitted.inputs, times=admitted.times,
            todo=deque(range(len(admitted.inputs) - 1)), lock=lock, gpu=gpu, device=device, claimed_at=now,
            timeout=float(timeout) if timeout else None,
        )  # fmt: skip
        self.active[job.id] = act
        self.metrics.remember(job.id, act.attempt, job.factor, len(admitted.inputs) - 2)
        return act

    def _priority(self, act: Active) -> int:
        return policy.dask_priority(int(act.job.priority), act.sequence % policy.LEVEL_SPAN)

    def _watch(self, fut: Any) -> None:
        self.futures[fut.key] = fut
        fut.add_done_callback(self._inbox.put)

    def _next_pairs(self, act: Active, n: int, batch: list[tuple[Active, str, tuple[PairSpec, ...]]]) -> int:
        """Take up to ``n`` tasks' worth of pairs off the job's to-do list into ``batch`` (sent by :meth:`_send`).

        Consecutive tiny pairs share a task (:func:`policy.pairs_per_task` of the measured pair time);
        GPU work goes one pair per task, so no GPU slot waits behind a run of pairs.
        """
        job = act.job
        keep_fields = bool(layout.cube_path(job.output_dir, job.settings)) and layout.is_physical(act.inputs[0])
        poll = float(config.get("queue.stop-poll"))
        last = len(act.inputs) - 2
        per_task = 1 if act.gpu else policy.pairs_per_task(self.pair_seconds, self.task_target)
        sent = 0
        while act.todo and sent < n:
            specs: list[PairSpec] = []
            while act.todo and len(specs) < per_task and (not specs or act.todo[0] == specs[-1].pair + 1):
                specs.append(self._pair_spec(act, act.todo.popleft(), last, keep_fields, poll))
            pairs = tuple(spec.pair for spec in specs)
            key = task_key(job.id, pairs, act.attempt)
            act.inflight[key] = pairs
            batch.append((act, key, tuple(specs)))
            sent += 1
        return sent

    def _pair_spec(self, act: Active, pair: int, last: int, keep_fields: bool, poll: float) -> PairSpec:
        job = act.job
        return PairSpec(
            job_id=job.id, pair=pair, attempt=act.attempt, in0=act.inputs[pair], in1=act.inputs[pair + 1],
            output_dir=job.output_dir, factor=job.factor, last=pair == last, method=job.method,
            device=act.device, kind=job.settings.get("kind", "auto"), keep_fields=keep_fields,
            cmap=job.settings.get("cmap", "ir"), vmin=job.settings.get("vmin"), vmax=job.settings.get("vmax"),
            stop=act.stop, poll=poll,
        )  # fmt: skip

    def _send(self, batch: list[tuple[Active, str, tuple[PairSpec, ...]]]) -> None:
        """Submit the batch with one ``client.map`` per (priority, resources): one scheduler message per
        job rather than per pair, which is most of the queue's own cost on short pairs."""
        groups: dict[tuple[int, bool], list[tuple[Active, str, tuple[PairSpec, ...]]]] = {}
        for item in batch:
            groups.setdefault((self._priority(item[0]), item[0].gpu), []).append(item)
        for (priority, gpu), items in groups.items():
            futures = self.client.map(run_pairs, [specs for _, _, specs in items], key=[key for _, key, _ in items],
                                      priority=priority, resources={"GPU": 1} if gpu else None, pure=False,
                                      retries=0)  # fmt: skip
            for fut in futures:
                self._watch(fut)
        for act in {id(a): a for a, _, _ in batch}.values():
            if not act.todo:
                self._submit_assemble(act)

    def _submit_assemble(self, act: Active) -> None:
        """Submit the assemble task as the Dask dependent of the job's pairs still in flight.

        So it becomes runnable the moment the last pair finishes, next to that result, and at the job's
        priority it goes before lower-priority work queued there. (Submitting it from this thread once
        the pairs were done measured ~5 % more throughput on 5 ms pairs, but the GPU-backlog test then
        failed in CI with a later job finishing first; that test had a race of its own, fixed since,
        so the cause is not certain — the dependent design, which never failed it, was kept.)
        """
        key = task_key(act.job.id, ASSEMBLE, act.attempt)
        if key in act.inflight:
            return
        deps = [self.futures[k] for k, pairs in act.inflight.items() if pairs and k in self.futures]
        job = act.job
        spec = AssembleSpec(
            job_id=job.id, name=job.name, attempt=act.attempt, output_dir=job.output_dir,
            inputs=tuple(act.inputs), factor=job.factor, method=job.method, settings=dict(job.settings),
            times=act.times, notes=tuple(job.notes), stop=act.stop,
        )  # fmt: skip
        fut = self.client.submit(assemble, spec, *deps, key=key, priority=self._priority(act), pure=False, retries=0)
        act.inflight[key] = ()
        self._watch(fut)

    # --- results ----------------------------------------------------------------------------

    def _handle_finished(self, finished: list[Any]) -> None:
        """Futures that finished: free their window slots now; fetch pair results off this thread."""
        for fut in finished:
            key = fut.key
            if self.futures.get(key) is not fut:
                continue  # an earlier future under a reused key (cancelled, then resubmitted)
            if fut.status not in ("finished", "error", "cancelled"):
                # finished, then its result died with its worker before we got here ("lost"), or a gather
                # rescheduled it ("pending"): Dask computes it again; handle it when that is done
                fut.add_done_callback(self._inbox.put)
                continue
            del self.futures[key]
            parsed = parse_key(key)
            act = self.active.get(parsed[0]) if parsed else None
            if act is None or parsed[2] != act.attempt or key not in act.inflight:
                continue  # a stopped attempt's leftovers
            if fut.status == "finished":
                pairs = act.inflight.pop(key)
                if not pairs:  # the assemble task
                    self._completed(act)
                else:
                    for pair in pairs:
                        self._pair_done(act, pair)
                    self._fetch.put(fut)
            elif fut.status == "error":
                exc = fut.exception()
                act.inflight.pop(key, None)
                if isinstance(exc, JobStopped):
                    continue
                # a corrupt file or a size mismatch fails the same way every time: retry only what can change
                self._attempt_failed(act, describe_error(exc, key, self.metrics.memory_kills), retry=is_transient(exc))
            elif fut.status == "cancelled":  # we forget our own cancels first: this one came from Dask
                reason = getattr(getattr(fut, "_state", None), "exception", None)
                self._interrupted(act, getattr(reason, "reason", None) or "cancelled by Dask")

    def _fetch_results(self) -> None:
        """Fetcher thread: gather finished pairs' small result dicts in batches, hand them to the loop."""
        while not self._closing:
            try:
                batch = [self._fetch.get(timeout=0.2)]
            except queue_mod.Empty:
                continue
            while len(batch) < 1000:
                try:
                    batch.append(self._fetch.get_nowait())
                except queue_mod.Empty:
                    break
            batch = [f for f in batch if f is not None]
            try:
                results = self.client.gather(batch)
            except Exception:  # one result lost (its worker died): keep the others
                results = []
                for f in batch:
                    try:
                        results.append(self.client.gather(f))
                    except Exception:
                        results.append(None)
            self._inbox.put(("results", [r for r in results if r is not None]))

    def _handle_results(self, results: list[dict[str, Any]]) -> None:
        """What only the results tell: frames actually computed (not resumed) and task durations."""
        written = 0
        for result in results:
            n = int(result.get("written", 0))
            if n:  # resumed pairs say nothing about how long work takes
                secs = float(result.get("seconds", 0.0))
                self.task_seconds = secs if self.task_seconds is None else 0.8 * self.task_seconds + 0.2 * secs
                per_pair = secs / max(int(result.get("pairs", 1)), 1)
                self.pair_seconds = per_pair if self.pair_seconds is None else 0.8 * self.pair_seconds + 0.2 * per_pair
            self.frames_computed[result["job"]] = self.frames_computed.get(result["job"], 0) + n
            written += n
        if written and not self.metrics_from_scheduler:
            self.meter.add(written)

    def _pair_done(self, act: Active, pair: int) -> None:
        job = act.job
        act.frames_done += len(layout.pair_targets(pair, job.factor, pair == len(act.inputs) - 2))
        if not act.running:
            self.transitions.started(act)
        act.frames_dirty = True  # persisted in batches by _housekeeping (one SQLite commit per pair is costly)
        self.transitions.progressed(act)

    def _completed(self, act: Active) -> None:
        del self.active[act.job.id]
        self.transitions.completed(act)

    def _interrupted(self, act: Active, reason: str) -> None:
        """Dask dropped the job's tasks (the scheduler restarted, or the client lost it for a while): the
        job goes back to PENDING and runs again once the client is connected, from the frames on disk."""
        self.active.pop(act.job.id, None)
        futs = [self.futures.pop(k) for k in list(act.inflight) if k in self.futures]
        if futs:
            try:
                self.client.cancel(futs)
            except Exception:  # the client is reconnecting: those futures are gone anyway
                pass
        act.inflight.clear()
        act.todo.clear()
        self.transitions.interrupted(act, reason)

    def _lost(self) -> None:
        """The client gave up reconnecting to the scheduler: hand every claimed job back and stop."""
        address = _scheduler_address(self.client) or self.scheduler_address or "the scheduler"
        self.lost_reason = (f"lost the Dask scheduler at {address}: the client could not reconnect and closed. "
                            f"Every job is safe in the store {self.store.path}; call start() again (or open a "
                            f"queue on the same store) once the scheduler is back")  # fmt: skip
        for act in list(self.active.values()):
            self.transitions.hand_back(act)
        self.active.clear()
        self.futures.clear()
        self.paused_reason = self.lost_reason
        self._closing = True  # ends this thread and the fetcher; start() makes a new submitter
        self._outbox.append(("queue_paused", {"reason": self.lost_reason}))
        logger.error("goesvfi: %s", self.lost_reason)

    def _stop_attempt(self, act: Active) -> None:
        """Tell running tasks of this attempt to stop and cancel the rest."""
        if act.inflight and not act.stop_set:
            try:
                Event(act.stop, client=self.client).set()
                act.stop_set = True
            except Exception as exc:
                logger.warning("goesvfi: could not set %s: %s", act.stop, exc)
        futs = [self.futures.pop(k) for k in list(act.inflight) if k in self.futures]
        if futs:
            self.client.cancel(futs)
        act.inflight.clear()
        act.todo.clear()
        if act.stop_set:  # forget the flag once no task can still be polling it
            self.sweeps.append(Sweep(time.monotonic() + 600.0, "", (), None, (act.stop,)))

    def _attempt_failed(self, act: Active, error: str, *, retry: bool = True) -> None:
        """Stop what is left of the attempt; retry later with backoff (``retry``) or fail the job."""
        self.active.pop(act.job.id, None)
        self._stop_attempt(act)
        due = self.transitions.failed(act, error, retry)
        if due is not None:
            self._idle_until = min(self._idle_until, due)
        if self.breaker.record_failure(error):
            self.paused_reason = self.breaker.reason
            self._outbox.append(("queue_paused", {"reason": self.breaker.reason}))

    def _watchdog(self, now: float) -> None:
        for act in [a for a in self.active.values() if a.timeout and now - a.claimed_at > a.timeout]:
            self._attempt_failed(act, f"timed out after {act.timeout:g} s (settings['timeout'])", retry=False)

    # --- cancelled outputs --------------------------------------------------------------------

    def _sweep(self, sweep: Sweep, final: bool = True) -> None:
        if sweep.output_dir:
            layout.remove_outputs(sweep.output_dir, sweep.extra)
        if final:
            if sweep.lock is not None:
                sweep.lock.release()
                layout.remove_outputs(sweep.output_dir, ())  # drop the folder if only the lock kept it
            for name in sweep.events:
                try:
                    Event(name, client=self.client).clear()
                except Exception:
                    pass

    def _sweeps(self, mono: float) -> None:
        due = [s for s in self.sweeps if s.due <= mono]
        if due:
            self.sweeps = [s for s in self.sweeps if s.due > mono]
            for s in due:
                self._sweep(s)

    # --- scheduler metrics --------------------------------------------------------------------

    def _on_topic(self, event: tuple[float, Any]) -> None:
        """Runs on the client's IO loop: hand over to the control thread, never block here."""
        self._inbox.put(("topic", event[1]))

    def _handle_topic(self, item: tuple[str, Any]) -> None:
        summary = self.metrics.read(item[1])
        if summary is None:
            return
        if summary.task_seconds and self.task_seconds is None:  # the scheduler's mean for our tasks
            self.task_seconds = summary.task_seconds
        if summary.slots is not None:
            self.slots = summary.slots
        for job_id, attempt in summary.started:
            act = self.active.get(job_id)
            if act is not None and act.attempt == attempt and not act.running:
                self.transitions.started(act)
        if summary.frames:
            self.meter.add(summary.frames)

    # --- views ---------------------------------------------------------------------------------

    def live_frames(self) -> dict[str, int]:
        with self._lock:
            return {jid: a.frames_done for jid, a in self.active.items()}

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` under the control lock (tests and the queue use it for consistent snapshots)."""
        with self._lock:
            return fn()


def _scheduler_address(client: Any) -> str | None:
    return getattr(getattr(client, "scheduler", None), "address", None)
