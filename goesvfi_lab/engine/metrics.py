"""The client side of the scheduler plugin (:class:`.plugins.MetricsPlugin`): what its messages mean.

The plugin publishes periodic summaries of our task transitions on the ``goesvfi`` topic; this turns
one message into what the feeding loop needs — cluster slots, the mean task time, jobs whose first
task started, frames finished — without touching Dask or the store, so it is tested with dicts.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .cluster import Slots

logger = logging.getLogger(__name__)


@dataclass
class Summary:
    slots: Slots | None = None
    task_seconds: float | None = None
    started: list[tuple[str, int]] = field(default_factory=list)  # (job, attempt) with a task started
    frames: int = 0  # frames the pairs reported done in this summary wrote


class SchedulerMetrics:
    """Reads topic messages; remembers each recent job's shape so late summaries still count its frames."""

    def __init__(self, history: int = 4096) -> None:
        self.memory_kills: dict[str, tuple[Any, Any]] = {}  # worker -> (rss, limit) at the kill
        # job -> (attempt, factor, last pair): a summary can arrive after its job already finished here
        self.shapes: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
        self.history = history
        self._warned_queuing = False

    def remember(self, job_id: str, attempt: int, factor: int, last_pair: int) -> None:
        self.shapes[job_id] = (attempt, factor, last_pair)
        self.shapes.move_to_end(job_id)
        while len(self.shapes) > self.history:
            self.shapes.popitem(last=False)

    def read(self, msg: Any) -> Summary | None:
        """One topic message → a :class:`Summary` (None for anything but a summary)."""
        if not isinstance(msg, dict):
            return None
        kind = msg.get("type")
        if kind == "memory-kill" and msg.get("worker"):
            self.memory_kills[str(msg["worker"])] = (msg.get("rss"), msg.get("limit"))
        if kind != "summary":
            return None
        out = Summary()
        cluster = msg.get("cluster") or {}
        if cluster.get("root_task_queuing") and not self._warned_queuing:
            self._warned_queuing = True
            logger.warning(
                "goesvfi: the scheduler queues root tasks (distributed.scheduler.worker-saturation is "
                "finite), so tasks already handed to Dask may not run strictly by priority; set it "
                "to inf on the scheduler for that guarantee"
            )
        if cluster.get("task_seconds"):
            out.task_seconds = float(cluster["task_seconds"])
        if cluster:
            out.slots = Slots(
                int(cluster.get("workers", 0)), int(cluster.get("threads", 0)), int(cluster.get("gpus", 0))
            )
        for job_id, delta in (msg.get("jobs") or {}).items():
            shape = self.shapes.get(job_id)
            if shape is None or delta.get("attempt") != shape[0]:
                continue  # another attempt's (or another queue's) tasks
            attempt, factor, last = shape
            if delta.get("started"):
                out.started.append((job_id, attempt))
            out.frames += sum(factor + (1 if pair == last else 0) for pair in delta.get("done", ()))
        return out
