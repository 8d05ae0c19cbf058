"""What Dask reports back, and how an attempt ends: finished futures, their results and errors, the
scheduler's summaries, timeouts, tasks Dask dropped, and a scheduler lost for good.

:class:`ResultHandling` is the feeding loop's half that reacts (mixed into :class:`.submitter.Submitter`,
called on the control thread under its lock); the loop's own module keeps feeding and submitting.
Results come through :class:`ResultFetcher`, a thread of its own: ``client.gather`` is a round trip to
the workers, and on millisecond pairs the control thread would spend its time waiting on it. The loop
frees a window slot as soon as a future is done, without waiting for its result.
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
from collections.abc import Callable
from typing import Any

from goesvfi_lab import policy
from goesvfi_lab.errors import is_transient
from goesvfi_lab.model import JobStatus
from goesvfi_lab.store import Store

from . import layout
from .cluster import Slots
from .metrics import SchedulerMetrics
from .outbox import Outbox
from .plugins import parse_key
from .selfcheck import record_key
from .settings import EngineSettings
from .sizing import TaskSizer
from .stopping import Sweeper, raise_stop_flag
from .tasks import JobStopped
from .transitions import Active, Transitions

logger = logging.getLogger(__name__)


def _gib(n: Any) -> str:
    return f"{n / 2**30:.2f} GiB" if isinstance(n, (int, float)) and n else "unknown"


def describe_error(
    exc: BaseException | None, key: str, memory_kills: dict[str, tuple[Any, Any]], memory_limit: Any = None
) -> str:
    """One line for a failed task; a worker that died is explained (and blamed on memory if it was).

    ``memory_kills``: worker -> (rss, limit) the scheduler plugin reported; ``memory_limit``: the
    configured ``goesvfi.cluster.memory-limit``, named in the advice when the cause is not known.
    """
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        text = str(exc)
        worker = next((w for w in memory_kills if w in text), None)
        if worker is not None:
            rss, limit = memory_kills[worker]
            return (
                f"out of memory: worker {worker} was killed for exceeding its memory limit ({_gib(limit)}; "
                f"it used {_gib(rss)}) while running {key}"
            )
        return (
            f"the workers running {key} died (killed or crashed); if it was memory, raise the worker memory "
            f"limit (goesvfi.cluster.memory-limit: {memory_limit})"
        )
    if exc is None:
        return f"{key} failed and Dask reported no error for it (see the worker's log)"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ResultFetcher:
    """A thread that gathers finished pair futures' results and passes each batch to ``deliver``."""

    def __init__(
        self, client: Any, deliver: Callable[[list[dict[str, Any]]], None], stopped: Callable[[], bool]
    ) -> None:
        self.client = client
        self.deliver = deliver
        self.stopped = stopped  # polled every 0.2 s: True ends the thread
        self._todo: queue_mod.SimpleQueue = queue_mod.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="goesvfi-results", daemon=True)

    def start(self) -> ResultFetcher:
        self.thread.start()
        return self

    def put(self, fut: Any) -> None:
        self._todo.put(fut)

    def _run(self) -> None:
        while not self.stopped():
            try:
                batch = [self._todo.get(timeout=0.2)]
            except queue_mod.Empty:
                continue
            while len(batch) < 1000:
                try:
                    batch.append(self._todo.get_nowait())
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
            self.deliver([r for r in results if r is not None])


def address_of(client: Any) -> str | None:
    """The scheduler address of ``client``, or None where it has none (closed, or not a Client)."""
    return getattr(getattr(client, "scheduler", None), "address", None)


class ResultHandling:
    """Mixed into :class:`.submitter.Submitter`: how the loop reacts to what Dask reports (its state, below)."""

    client: Any
    store: Store
    settings: EngineSettings
    active: dict[str, Active]
    futures: dict[str, Any]
    transitions: Transitions
    breaker: policy.CircuitBreaker
    metrics: SchedulerMetrics
    meter: policy.ThroughputMeter
    sizer: TaskSizer
    sweeper: Sweeper
    slots: Slots
    frames_computed: dict[str, int]
    metrics_from_scheduler: bool
    paused_reason: str | None
    checks: dict[str, str]
    lost_reason: str | None
    scheduler_address: str | None
    _inbox: queue_mod.SimpleQueue
    _outbox: Outbox
    _fetcher: ResultFetcher | None
    _idle_until: float
    _closing: bool

    def _completed(self, act: Active) -> None:
        del self.active[act.job.id]
        self.transitions.completed(act)

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
            if key in self.checks:
                self._check_finished(fut)
                continue
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
                    self._fetcher.put(fut)
            elif fut.status == "error":
                exc = fut.exception()
                act.inflight.pop(key, None)
                if isinstance(exc, JobStopped):
                    continue
                if exc is None and act.inflight:
                    # a dependent (the assemble) of a pair that failed: Dask may hand it no exception of its
                    # own (seen as "NoneType: None"); the pair's own future, still in flight here, brings it
                    continue
                # a corrupt file or a size mismatch fails the same way every time: retry only what can change
                error = describe_error(exc, key, self.metrics.memory_kills, self.settings.memory_limit)
                self._attempt_failed(act, error, retry=is_transient(exc))
            elif fut.status == "cancelled":  # we forget our own cancels first: this one came from Dask
                reason = getattr(getattr(fut, "_state", None), "exception", None)
                self._interrupted(act, getattr(reason, "reason", None) or "cancelled by Dask")

    def _post_results(self, results: list[dict[str, Any]]) -> None:
        """From the fetcher thread: hand a batch of results to the control thread."""
        self._inbox.put(("results", results))

    def _handle_results(self, results: list[dict[str, Any]]) -> None:
        """What only the results tell: frames actually computed (not resumed) and task durations."""
        written = 0
        for result in results:
            n = self.sizer.observe(result)
            self.frames_computed[result["job"]] = self.frames_computed.get(result["job"], 0) + n
            written += n
            if result.get("fetched_bytes"):  # remote (s3://) inputs this task's worker downloaded
                self.fetched["bytes"] = self.fetched.get("bytes", 0) + result["fetched_bytes"]
                self.fetched["seconds"] = self.fetched.get("seconds", 0.0) + result["fetch_seconds"]
                workers = self.fetched.setdefault("workers", {})
                workers[result.get("worker")] = workers.get(result.get("worker"), 0) + result["fetched_bytes"]
        if written and not self.metrics_from_scheduler:
            self.meter.add(written)

    def _check_finished(self, fut: Any) -> None:
        """A self-check future is done. Its small result is fetched here (one per job, not worth the fetcher's
        batching, and so no score is ever waited for in vain); a task that did not return (its worker died)
        is a note in the job's ``quality``, never a failed job; one cancelled with its job says nothing."""
        from goesvfi_lab.quality import failed

        job_id = self.checks.pop(fut.key)
        if fut.status == "cancelled":
            return
        try:
            quality = fut.result(timeout=5)["quality"] if fut.status == "finished" else None
            error = None if quality is not None else fut.exception(timeout=5)
        except Exception as exc:  # the result died with its worker before we fetched it
            quality, error = None, exc
        if quality is None:
            job = self.store.get(job_id)
            if job is None or job.status != JobStatus.COMPLETED:  # its assemble failed: that is the job's error
                return
            text = describe_error(error, fut.key, self.metrics.memory_kills, self.settings.memory_limit)
            quality = failed(f"self-check failed ({text}); the job's outputs are unaffected")
        self._checked(job_id, quality)

    def _checked(self, job_id: str, quality: dict[str, Any]) -> None:
        """The score of a job's self-check: into the store (its JSON and PSNR columns), and ``job_checked``."""
        self.store.update(job_id, quality=quality)
        self._outbox.append(("job_checked", {"job_id": job_id, "quality": quality}))

    def _pair_done(self, act: Active, pair: int) -> None:
        job = act.job
        act.frames_done += len(layout.pair_targets(pair, job.factor, pair == len(act.inputs) - 2))
        if not act.running:
            self.transitions.started(act)
        act.frames_dirty = True  # persisted in batches by _housekeeping (one SQLite commit per pair is costly)
        self.transitions.progressed(act)

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
        address = address_of(self.client) or self.scheduler_address or "the scheduler"
        self.lost_reason = (
            f"lost the Dask scheduler at {address}: the client could not reconnect and closed. "
            f"Every job is safe in the store {self.store.path}; call start() again (or open a "
            f"queue on the same store) once the scheduler is back"
        )
        for act in list(self.active.values()):
            self.transitions.hand_back(act)
        self.active.clear()
        self.futures.clear()
        self.checks.clear()  # scores not yet in are lost with the scheduler (the outputs are complete)
        self.paused_reason = self.lost_reason
        self._closing = True  # ends this thread and the fetcher; start() makes a new submitter
        self._outbox.append(("queue_paused", {"reason": self.lost_reason}))
        logger.error("goesvfi: %s", self.lost_reason)

    def _stop_attempt(self, act: Active) -> None:
        """Tell running tasks of this attempt to stop and cancel the rest."""
        if act.inflight and not act.stop_set:
            act.stop_set = raise_stop_flag(self.client, act.stop)
        futs = [self.futures.pop(k) for k in list(act.inflight) if k in self.futures]
        check = record_key(act.job.id, act.attempt)
        if self.checks.pop(check, None) is not None and check in self.futures:  # it waited on the assemble
            futs.append(self.futures.pop(check))
        if futs:
            self.client.cancel(futs)
        act.inflight.clear()
        act.todo.clear()
        if act.stop_set:
            self.sweeper.forget_flag(act.stop)

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

    # --- scheduler metrics --------------------------------------------------------------------

    def _on_topic(self, event: tuple[float, Any]) -> None:
        """Runs on the client's IO loop: hand over to the control thread, never block here."""
        self._inbox.put(("topic", event[1]))

    def _handle_topic(self, item: tuple[str, Any]) -> None:
        summary = self.metrics.read(item[1])
        if summary is None:
            return
        self.sizer.seed(summary.task_seconds)
        if summary.slots is not None:
            self.slots = summary.slots
        for job_id, attempt in summary.started:
            act = self.active.get(job_id)
            if act is not None and act.attempt == attempt and not act.running:
                self.transitions.started(act)
        if summary.frames:
            self.meter.add(summary.frames)
