"""Stopping an attempt's running tasks, and cleaning up after it.

``Future.cancel`` cannot stop a running task, so each attempt has a ``distributed.Event`` its tasks
poll between frames (:class:`.tasks.StopFlag`); :func:`raise_stop_flag` sets it. A cancelled job's
partial outputs are swept at once and again after ``cleanup-grace`` seconds, because a task may have
been mid-write; its output lock is released only then. A raised flag is cleared after ten minutes,
once no task can still be polling it (a retry runs under a new attempt's flag).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from distributed import Event

from goesvfi_lab.locks import OutputLock

from . import layout
from .transitions import Active

logger = logging.getLogger(__name__)

FLAG_LIFETIME = 600.0  # seconds a raised stop flag is kept before it is cleared


def raise_stop_flag(client: Any, name: str) -> bool:
    """Set the stop flag ``name``; False (logged) if the scheduler could not be told."""
    try:
        Event(name, client=client).set()
        return True
    except Exception as exc:
        logger.warning("goesvfi: could not set %s: %s", name, exc)
        return False


@dataclass
class Sweep:
    """Outputs to remove (and a lock to release, flags to clear) once ``due`` (time.monotonic) has come."""

    due: float
    output_dir: str
    extra: tuple[str | None, ...]
    lock: OutputLock | None
    events: tuple[str, ...]


class Sweeper:
    """Sweeps that are not due yet; the loop calls :meth:`run_due` every step, shutdown :meth:`run_all`."""

    def __init__(self, client: Any, grace: float) -> None:
        self.client = client
        self.grace = grace
        self.pending: list[Sweep] = []

    def cancelled(self, act: Active) -> None:
        """A running job was cancelled: remove its outputs now and again after the grace period."""
        job = act.job
        extra = (layout.video_path(job.output_dir, job.settings), layout.cube_path(job.output_dir, job.settings))
        sweep = Sweep(time.monotonic() + self.grace, job.output_dir, extra, act.lock, ())
        self._sweep(sweep, final=False)
        self.pending.append(sweep)

    def forget_flag(self, name: str) -> None:
        """Clear a raised stop flag once no task of its attempt can still be polling it."""
        self.pending.append(Sweep(time.monotonic() + FLAG_LIFETIME, "", (), None, (name,)))

    def run_due(self, mono: float) -> None:
        due = [s for s in self.pending if s.due <= mono]
        if due:
            self.pending = [s for s in self.pending if s.due > mono]
            for s in due:
                self._sweep(s)

    def run_all(self) -> None:
        for sweep in self.pending:
            self._sweep(sweep)
        self.pending.clear()

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
