"""Every state change of a job the queue has claimed, each with the event it fires.

The feeding loop (:mod:`.submitter`) decides *when*; this module is *how*: the store write, the
output lock, the circuit breaker and the event, together, so no path forgets one of them. A claim
ends in exactly one place, :meth:`Transitions.release` (status set, claim cleared, lock released).
Events are appended to ``outbox`` and fired by the loop outside its lock.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goesvfi_lab import policy
from goesvfi_lab.frames.read import ReadOptions
from goesvfi_lab.locks import OutputLock
from goesvfi_lab.model import CLAIMED, BatchJob, JobStatus
from goesvfi_lab.store import Store

from . import layout
from .admission import Admitted
from .settings import EngineSettings
from .tasks import stop_event_name

if TYPE_CHECKING:
    from .outbox import Outbox


@dataclass
class Active:
    """A job this queue has claimed: what is left to submit, what is in flight, and how to stop it."""

    job: BatchJob
    attempt: int  # the job's run number: names its Dask keys and stop event
    sequence: int
    inputs: list[str]
    times: tuple[str | None, ...]
    todo: deque[int]
    lock: OutputLock
    gpu: bool
    device: str
    claimed_at: float
    timeout: float | None
    inflight: dict[str, tuple[int, ...]] = field(default_factory=dict)  # key -> its pairs (() for assemble)
    frames_done: int = 0
    frames_dirty: bool = False
    running: bool = False
    stop_set: bool = False
    read: ReadOptions = ReadOptions()  # how the job's inputs are read (admission.prepare decides)

    @property
    def stop(self) -> str:
        return stop_event_name(self.job.id, self.attempt)

    @property
    def entry(self) -> policy.Entry:
        return policy.Entry(self.job.id, int(self.job.priority), -1.0, self.job.frames_total, self.job.owner)

    @classmethod
    def unstarted(cls, job: BatchJob, lock: OutputLock, gpu: bool = False, device: str = "cpu") -> Active:
        """A claimed job that failed before anything was submitted (its folder, its inputs)."""
        return cls(job, job.runs, 0, list(job.inputs), (), deque(), lock, gpu, device, time.time(), None)


class Transitions:
    """State changes of claimed jobs: store, lock and event (and the breaker's successes) in one call each."""

    def __init__(self, store: Store, outbox: Outbox, breaker: policy.CircuitBreaker, settings: EngineSettings) -> None:
        self.store = store
        self.outbox = outbox
        self.breaker = breaker  # fed successes here; failures by the loop, which pauses when it opens
        self.settings = settings  # retry budget and backoff, lock and GPU wait intervals

    def _fire(self, event: str, /, **payload: Any) -> None:
        self.outbox.append((event, payload))

    def release(
        self,
        job_id: str,
        lock: OutputLock | None,
        status: JobStatus,
        *,
        expect: tuple[JobStatus, ...] | None = None,
        **fields: Any,
    ) -> bool:
        """End a claim: set ``status`` (and ``fields``), clear the claimer, release the output lock."""
        changed = self.store.update(job_id, expect=expect, status=status, claimed_by=None, heartbeat=None, **fields)
        if lock is not None:
            lock.release()
        return changed

    def hand_back(self, act: Active) -> None:
        """Back to PENDING with its progress (the queue stops, or lost its scheduler): not a failure."""
        self.release(act.job.id, act.lock, JobStatus.PENDING, expect=CLAIMED.values, frames_done=act.frames_done)

    # --- before anything runs ---------------------------------------------------------------

    def waiting_for_gpu(self, job_id: str, reason: str, now: float) -> None:
        self.store.update(job_id, next_retry_at=now + self.settings.gpu_wait_retry, error=reason)

    def locked(self, job: BatchJob, reason: str, now: float, skip: bool) -> None:
        """Another queue or process holds the folder: skip the job (the CLI) or look again later."""
        if skip:
            self.release(job.id, None, JobStatus.CANCELLED, finished_at=now, error=f"skipped: {reason}")
            self._fire("job_cancelled", job_id=job.id, was="locked", reason=reason)
        else:  # when the other holder is done, the outputs will be complete
            self.release(
                job.id,
                None,
                JobStatus.PENDING,
                error=f"waiting: {reason}",
                next_retry_at=now + self.settings.lock_retry,
            )

    def skipped(self, job: BatchJob, lock: OutputLock, admitted: Admitted, now: float) -> None:
        """The folder already holds this very result (and its self-check's score, if it has one)."""
        quality = (layout.read_manifest(job.output_dir) or {}).get("quality")
        self.release(
            job.id,
            lock,
            JobStatus.COMPLETED,
            finished_at=now,
            frames_done=admitted.total,
            error=None,
            next_retry_at=None,
            **({"quality": quality} if quality else {}),
            **admitted.changes,
        )
        self._fire("job_completed", job_id=job.id, skipped=True, frames_done=admitted.total)

    def admitted(self, job: BatchJob, admitted: Admitted) -> None:
        self.store.update(job.id, error=None, next_retry_at=None, **admitted.changes)

    # --- while it runs ----------------------------------------------------------------------

    def started(self, act: Active) -> None:
        act.running = True
        self.store.update(act.job.id, expect=(JobStatus.QUEUED,), status=JobStatus.RUNNING, started_at=time.time())
        self._fire("job_started", job_id=act.job.id, name=act.job.name)

    def progressed(self, act: Active) -> None:
        job = act.job
        self._fire(
            "job_progress",
            job_id=job.id,
            frames_done=act.frames_done,
            frames_total=job.frames_total,
            progress=policy.progress(act.frames_done, job.frames_total),
        )

    # --- how it ends ------------------------------------------------------------------------

    def completed(self, act: Active) -> None:
        job = act.job
        self.release(
            job.id, act.lock, JobStatus.COMPLETED, finished_at=time.time(), frames_done=job.frames_total, error=None
        )
        self.breaker.record_success()
        self._fire(
            "job_completed",
            job_id=job.id,
            skipped=False,
            frames_done=job.frames_total,
            video=layout.video_path(job.output_dir, job.settings),
            cube=layout.cube_path(job.output_dir, job.settings),
        )

    def cancelled_pending(self, job_id: str) -> bool:
        changed = self.store.update(
            job_id, expect=(JobStatus.PENDING,), status=JobStatus.CANCELLED, finished_at=time.time(), next_retry_at=None
        )
        if changed:
            self._fire("job_cancelled", job_id=job_id, was="pending")
        return changed

    def cancelled_running(self, act: Active) -> None:
        """The lock stays held: the sweep of its partial outputs releases it after a grace period."""
        self.release(act.job.id, None, JobStatus.CANCELLED, finished_at=time.time())
        self._fire("job_cancelled", job_id=act.job.id, was="running")

    def interrupted(self, act: Active, reason: str) -> None:
        """Dask dropped the job's tasks: not its fault, so no attempt is counted and the breaker is not fed."""
        job = act.job
        error = f"interrupted ({reason}): runs again from the frames already on disk"
        self.release(
            job.id, act.lock, JobStatus.PENDING, expect=CLAIMED.values, frames_done=act.frames_done, error=error
        )
        self._fire(
            "job_retrying",
            job_id=job.id,
            error=error,
            attempt=job.attempts,
            delay=0.0,
            retry_at=time.time(),
            interrupted=True,
        )

    def failed(self, act: Active, error: str, retry: bool) -> float | None:
        """An attempt failed: back off and retry (returns when it may run again), or FAILED (None).

        ``retry`` False: the cause will not go away (a corrupt input, a timeout) — fail at once.
        """
        job = act.job
        failures = job.attempts + 1
        now = time.time()
        due = None
        if not retry or failures >= self.settings.retry_max_attempts:
            suffix = f" (after {failures} attempts)" if retry and failures > 1 else ""
            self.release(
                job.id,
                act.lock,
                JobStatus.FAILED,
                attempts=failures,
                error=error + suffix,
                finished_at=now,
                next_retry_at=None,
                frames_done=act.frames_done,
            )
            self._fire("job_failed", job_id=job.id, error=error + suffix, attempts=failures)
        else:
            delay = policy.backoff_delay(failures - 1, self.settings.retry_base, self.settings.retry_cap)
            due = now + delay
            self.release(
                job.id,
                act.lock,
                JobStatus.PENDING,
                attempts=failures,
                error=error,
                next_retry_at=due,
                frames_done=act.frames_done,
            )
            self._fire("job_retrying", job_id=job.id, error=error, attempt=failures, delay=delay, retry_at=due)
        return due
