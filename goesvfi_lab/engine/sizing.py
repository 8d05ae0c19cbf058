"""How big the window is and how many pairs share a task, both from measured durations.

Why measured: a 5 ms pair and a 5 s pair need different shapes. Short tasks need a deeper window
(``policy.window_size``) so the round trip to top it up does not leave slots idle, and tiny
consecutive pairs share one task (``policy.pairs_per_task``) so scheduler messages do not cost more
than the work. GPU work goes one pair per task, so no GPU slot waits behind a run of pairs.
"""

from __future__ import annotations

from typing import Any

from goesvfi_lab import policy

from .settings import EngineSettings


class TaskSizer:
    """Recent mean task and pair durations (moving averages), and the sizes that follow from them."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.task_seconds: float | None = None  # recent mean duration of a task (one pair or a run of them)
        self.pair_seconds: float | None = None  # recent mean duration of one pair

    def seed(self, task_seconds: float | None) -> None:
        """The scheduler's mean for our tasks, used until our own results say otherwise."""
        if task_seconds and self.task_seconds is None:
            self.task_seconds = task_seconds

    def observe(self, result: dict[str, Any]) -> int:
        """One pair task's result; returns the frames it wrote (resumed pairs say nothing about time)."""
        n = int(result.get("written", 0))
        if n:
            secs = float(result.get("seconds", 0.0))
            self.task_seconds = secs if self.task_seconds is None else 0.8 * self.task_seconds + 0.2 * secs
            per_pair = secs / max(int(result.get("pairs", 1)), 1)
            self.pair_seconds = per_pair if self.pair_seconds is None else 0.8 * self.pair_seconds + 0.2 * per_pair
        return n

    def window(self, slots: int) -> int:
        """Pair tasks to keep handed to Dask for ``slots`` worker threads (or GPU slots)."""
        s = self.settings
        return policy.window_size(slots, s.window_factor, self.task_seconds, s.window_seconds, s.window_max_per_slot)

    def pairs_per_task(self, gpu: bool) -> int:
        return 1 if gpu else policy.pairs_per_task(self.pair_seconds, self.settings.task_seconds)
