"""Job events decided under the control lock, fired outside it, in order.

Why outside: callbacks are user code (a widget, a notebook print, a call back into the queue); run
under the lock they would stall the feeding loop or deadlock it. Why batched: of several
``job_progress`` events of one job in a step only the latest says anything new, and each event's job
is read from the store once per batch.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from goesvfi_lab.events import EventDispatcher
from goesvfi_lab.store import Store


class Outbox:
    """Events waiting to be fired; :meth:`append` under the control lock, :meth:`flush` outside it."""

    def __init__(self, store: Store, events: EventDispatcher, lock: threading.RLock) -> None:
        self.store = store
        self.events = events
        self._lock = lock  # the control lock: a step changes the store and queues its events under it
        self._items: list[tuple[str, dict[str, Any]]] = []
        self._delivering: list[threading.Thread] = []  # threads in flush, firing callbacks right now

    def append(self, item: tuple[str, dict[str, Any]]) -> None:
        """Queue ``(event name, payload)``; call with the control lock held."""
        self._items.append(item)

    def flush(self) -> None:
        """Fire what is queued (from any thread, not holding the lock); callbacks get the job as it is now."""
        with self._lock:
            out = self._items
            self._items = []
            self._delivering.append(threading.current_thread())
        try:
            latest = {p["job_id"]: i for i, (name, p) in enumerate(out) if name == "job_progress"}
            jobs: dict[str, Any] = {}  # one store read per job per batch
            for i, (name, payload) in enumerate(out):
                job_id = payload.get("job_id")
                if name == "job_progress" and latest[job_id] != i:
                    continue
                if job_id is not None and "job" not in payload:  # the job as it is now (name, error…)
                    if job_id not in jobs:
                        jobs[job_id] = self.store.get(job_id)
                    payload["job"] = jobs[job_id]
                self.events.fire(name, **payload)
        finally:
            with self._lock:
                self._delivering.remove(threading.current_thread())

    def delivered(self, timeout: float = 5.0) -> bool:
        """Wait until every event already decided has reached its callbacks.

        The store changes before the matching event is fired, so a caller that saw a job finish in the
        store (``BatchQueue.wait``) uses this to be sure its ``job_completed`` callbacks have run too.
        """
        if threading.current_thread() in self._delivering:  # called from a callback: it is the delivery
            return True
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:  # also waits for a step that has changed the store but not yet queued its event
                if not self._items and not self._delivering:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
