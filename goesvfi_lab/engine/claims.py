"""Claiming one pending job: its placement, the store claim, its output folder's lock, admission.

The feeding loop asks :meth:`Claims.take` for a job the policy picked; the answer is an
:class:`~.transitions.Active` to feed, a :class:`Refused` attempt (claimed, then failed before any
task was submitted: the loop counts it like any failed attempt), or None (not now: another queue
took it, the folder is locked, no GPU is free, or its outputs are already complete).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from goesvfi_lab.errors import is_transient
from goesvfi_lab.locks import OutputLock
from goesvfi_lab.store import Store

from . import admission
from .results import describe_error
from .settings import EngineSettings
from .transitions import Active, Transitions


@dataclass
class Refused:
    """A claimed job that failed before anything ran (its folder cannot be written, its inputs are bad)."""

    act: Active
    error: str
    retry: bool


class Claims:
    """Takes pending jobs for this queue (``claimer``) and numbers them in claim order."""

    def __init__(
        self, store: Store, claimer: str, transitions: Transitions, settings: EngineSettings, on_locked: str
    ) -> None:
        if on_locked not in ("wait", "skip"):
            raise ValueError("on_locked must be 'wait' or 'skip'")
        self.store = store
        self.claimer = claimer
        self.transitions = transitions
        self.settings = settings
        self.on_locked = on_locked
        self.sequence = 0  # claims so far: FIFO order inside a priority level on the workers

    def take(
        self, job_id: str, now: float, gpus: int, gpu_room: bool, memory_kills: dict[str, tuple[Any, Any]]
    ) -> Active | Refused | None:
        """Claim ``job_id``, lock its output folder and admit it (see the module docstring for the answers)."""
        job = self.store.get(job_id)
        if job is None or job.status.value != "pending":
            return None
        placement = admission.placement(job, gpus)
        if isinstance(placement, str):
            self.transitions.waiting_for_gpu(job.id, placement, now)
            return None
        gpu, device = placement
        if gpu and not gpu_room:
            return None  # every GPU slot is busy: leave it pending, CPU jobs may still go
        if not self.store.claim(job.id, self.claimer):
            return None  # another queue on this store took it
        job.runs += 1  # as the claim counted it: this attempt's keys and stop event are new
        lock = OutputLock(job.output_dir, self.settings.lock_max_age)
        try:
            acquired = lock.acquire()
        except OSError as exc:  # under a regular file, read-only or full file system: fail the job, not the loop
            return Refused(
                Active.unstarted(job, lock),
                f"{job.output_dir}: cannot create or write the output folder ({exc.strerror or exc})",
                True,
            )
        if not acquired:
            holder = lock.holder()
            reason = f"output folder {job.output_dir} is locked ({holder.reason if holder else 'locked'})"
            self.transitions.locked(job, reason, now, skip=self.on_locked == "skip")
            return None
        try:
            admitted = admission.prepare(job, gpu)
        except Exception as exc:  # unreadable inputs, a folder holding another result: a failed attempt
            error = describe_error(exc, job.id, memory_kills, self.settings.memory_limit)
            return Refused(Active.unstarted(job, lock, gpu, device), error, is_transient(exc))
        if admitted.skip is not None:
            self.transitions.skipped(job, lock, admitted, now)
            return None
        self.transitions.admitted(job, admitted)
        job.inputs = admitted.inputs
        job.notes = admitted.changes.get("notes", job.notes)
        timeout = job.settings.get("timeout", self.settings.timeout)
        self.sequence += 1
        return Active(
            job=job,
            attempt=job.runs,
            sequence=self.sequence,
            inputs=admitted.inputs,
            times=admitted.times,
            todo=deque(range(len(admitted.inputs) - 1)),
            lock=lock,
            gpu=gpu,
            device=device,
            claimed_at=now,
            timeout=float(timeout) if timeout else None,
            read=admitted.read,
        )
