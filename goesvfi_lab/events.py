"""Callbacks for queue events, registered the ipyleaflet way: ``q.on(event, callback, remove=False)``.

Callbacks run on the queue's background thread, so a slow or failing callback must not take the
queue down: an exception is logged and kept in :attr:`EventDispatcher.errors` (the stats panel and
tests can look at it), and the remaining callbacks still run.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

#: Events a BatchQueue fires. Each callback receives one dict: ``{"event", "job_id", "job", ...}`` where
#: ``job`` is the :class:`~goesvfi_lab.model.BatchJob` as the store holds it right after the event.
EVENTS = (
    "job_started",  # first pair of the job began on a worker
    "job_progress",  # frames_done changed (payload: frames_done, frames_total, progress)
    "job_completed",  # outputs complete (also when skipped because they already were)
    "job_failed",  # retries spent, timeout or an error that retrying cannot fix
    "job_cancelled",
    "job_retrying",  # an attempt failed; payload: attempt, delay (seconds until the retry)
    "job_checked",  # the self-check's score arrived, after job_completed (payload: quality; goesvfi_lab.quality)
    "queue_paused",  # payload: reason (user, circuit breaker)
    "queue_resumed",
)


@dataclass
class CallbackError:
    """A callback that raised: which one, for which event, and the traceback."""

    event: str
    callback: str
    error: BaseException
    traceback: str = field(repr=False, default="")


class EventDispatcher:
    """Named events → callbacks. Thread-safe registration; callbacks called in registration order."""

    def __init__(self, events: tuple[str, ...] = EVENTS) -> None:
        self.events = tuple(events)
        self._callbacks: dict[str, list[Callable[[dict[str, Any]], Any]]] = {e: [] for e in self.events}
        self._lock = threading.Lock()
        self.errors: list[CallbackError] = []

    def _check(self, event: str) -> None:
        if event not in self._callbacks:
            raise ValueError(f"unknown event {event!r}; choose one of {', '.join(self.events)}")

    def on(self, event: str, callback: Callable[[dict[str, Any]], Any], remove: bool = False) -> None:
        """Register ``callback`` for ``event`` (``"*"`` for all), or unregister it with ``remove=True``."""
        names = self.events if event == "*" else (event,)
        for name in names:
            self._check(name)
        with self._lock:
            for name in names:
                callbacks = self._callbacks[name]
                if remove:
                    if callback in callbacks:
                        callbacks.remove(callback)
                elif callback not in callbacks:
                    callbacks.append(callback)

    def fire(self, event: str, **payload: Any) -> int:
        """Call every callback of ``event`` with ``{"event": event, **payload}``; returns how many raised."""
        self._check(event)
        with self._lock:
            callbacks = list(self._callbacks[event])
        message = {"event": event, **payload}
        failures = 0
        for callback in callbacks:
            try:
                callback(message)
            except Exception as exc:  # a user's callback must not stop the queue
                failures += 1
                name = getattr(callback, "__qualname__", repr(callback))
                logger.exception("callback %s for %s raised", name, event)
                self.errors.append(CallbackError(event, name, exc, traceback.format_exc()))
        return failures
