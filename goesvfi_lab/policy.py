"""Queue policy as pure functions: ordering, Dask priority encoding, backoff, circuit breaker, ETA maths.

Pure standard library on purpose: the store, the submitter, the widgets and the CLI all ask the same
questions ("what runs next?", "when may this job retry?", "how long is left?"), and the answers are
checked here in milliseconds without a cluster.

Ordering works on :class:`Entry` records (the few columns the store keeps per job) rather than on
whole :class:`~goesvfi_lab.model.BatchJob` objects, so 100,000 pending jobs stay cheap to order.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

POLICIES = ("priority", "fifo", "sjf", "fair")

#: Room for one level of priority in the Dask encoding ``level * 10**9 - sequence``.
LEVEL_SPAN = 10**9


@dataclass(frozen=True)
class Entry:
    """What ordering needs to know about one waiting job.

    ``seq`` is the insertion order (a float so :func:`move_seq` can slot a job between two others);
    ``frames`` is the number of frames the job writes (shortest-job-first); ``owner`` groups jobs for
    the ``fair`` policy.
    """

    id: str
    priority: int
    seq: float
    frames: int = 0
    owner: str = ""


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return policy


def sort_key(policy: str) -> Callable[[Entry], tuple]:
    """The key that orders entries under ``policy`` (``fair`` uses it inside one owner)."""
    check_policy(policy)
    if policy == "fifo":
        return lambda e: (e.seq,)
    if policy == "sjf":  # fewest frames first; priority, then arrival break ties
        return lambda e: (e.frames, -e.priority, e.seq)
    return lambda e: (-e.priority, e.seq)  # priority, and fair inside one owner


def order(entries: Iterable[Entry], policy: str = "priority", active: Mapping[str, int] | None = None) -> list[Entry]:
    """Entries in the order they should start.

    ``priority``: higher level first, FIFO inside a level. ``fifo``: arrival order. ``sjf``: fewest
    frames first. ``fair``: round-robin over owners, where ``active`` (owner → jobs already running)
    lets an owner with running work wait its turn; inside one owner, priority then FIFO.
    """
    key = sort_key(policy)
    if policy != "fair":
        return sorted(entries, key=key)
    by_owner: dict[str, list[Entry]] = {}
    for e in entries:
        by_owner.setdefault(e.owner, []).append(e)
    queues = {owner: deque(sorted(group, key=key)) for owner, group in by_owner.items()}
    counts = dict(active or {})
    # heap of (jobs given to this owner so far, its next job's key, owner): the least-served owner goes next
    heap = [(counts.get(o, 0), key(q[0]), o) for o, q in queues.items()]
    heapq.heapify(heap)
    out: list[Entry] = []
    while heap:
        served, _, owner = heapq.heappop(heap)
        q = queues[owner]
        out.append(q.popleft())
        if q:
            heapq.heappush(heap, (served + 1, key(q[0]), owner))
    return out


def positions(ordered: Sequence[Entry], start: int = 1) -> dict[str, int]:
    """Queue positions: 1 for the next job to start (0 is reserved for running jobs)."""
    return {e.id: i for i, e in enumerate(ordered, start)}


def _same_group(policy: str, a: Entry, b: Entry) -> bool:
    """Whether ``seq`` decides the order between ``a`` and ``b`` under ``policy``."""
    if policy == "fifo":
        return True
    if policy == "sjf":
        return a.frames == b.frames and a.priority == b.priority
    if policy == "fair":
        return a.owner == b.owner and a.priority == b.priority
    return a.priority == b.priority


def move_seq(ordered: Sequence[Entry], job_id: str, position: int, policy: str = "priority") -> tuple[float, int]:
    """New ``(seq, priority)`` that puts ``job_id`` at ``position`` (1-based) of the queued ``ordered`` list.

    Under ``priority`` a job moved across a level boundary takes the level of the neighbour it lands
    next to, because a position the policy would immediately undo is no move at all. Other policies
    keep the job's level: ``sjf`` can only reorder jobs of equal size and ``fair`` only one owner's
    jobs (the policy decides the rest), which :meth:`BatchQueue.move` documents.
    """
    check_policy(policy)
    ids = [e.id for e in ordered]
    if job_id not in ids:
        raise KeyError(job_id)
    job = ordered[ids.index(job_id)]
    rest = [e for e in ordered if e.id != job_id]
    i = min(max(int(position), 1), len(rest) + 1) - 1  # index the job will have in the new list
    before, after = rest[:i], rest[i:]
    priority = job.priority
    if policy == "priority":
        if before and before[-1].priority < priority:
            priority = before[-1].priority
        if after and after[0].priority > priority:
            priority = after[0].priority
    moved = Entry(job.id, priority, job.seq, job.frames, job.owner)
    prev = next((e for e in reversed(before) if _same_group(policy, e, moved)), None)
    nxt = next((e for e in after if _same_group(policy, e, moved)), None)
    if prev is not None and nxt is not None:
        seq = (prev.seq + nxt.seq) / 2.0
    elif prev is not None:
        seq = prev.seq + 1.0
    elif nxt is not None:
        seq = nxt.seq - 1.0
    else:
        seq = job.seq
    return seq, priority


# --- Dask -----------------------------------------------------------------------------------------


def dask_priority(level: int, sequence: int) -> int:
    """Dask ``priority=`` for a task: higher level first and, inside a level, lower sequence first.

    Dask orders not-yet-started tasks by priority alone and is not FIFO among equal priorities, so
    arrival order is folded into the number. ``sequence`` must stay below 10**9.
    """
    if not 0 <= sequence < LEVEL_SPAN:
        raise ValueError(f"sequence must be in [0, 10**9), got {sequence}")
    return int(level) * LEVEL_SPAN - int(sequence)


def window_size(slots: int, factor: float = 2.0, task_seconds: float | None = None,
                seconds: float = 0.0, max_per_slot: float = 64.0) -> int:
    """How many tasks to keep submitted: enough to keep every slot busy, few enough to reorder cheaply.

    ``factor`` tasks per slot, or — when tasks are short (``task_seconds``, a recent mean) — enough
    to cover ``seconds`` of work per slot, so the round trip to refill the window does not leave
    slots idle; never more than ``max_per_slot`` per slot.
    """
    if slots <= 0:
        return 0
    per_slot = float(factor)
    if task_seconds and task_seconds > 0 and seconds > 0:
        per_slot = max(per_slot, min(seconds / task_seconds, max_per_slot))
    return max(1, math.ceil(slots * per_slot))


# --- faults ---------------------------------------------------------------------------------------


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry): ``min(cap, base * 2**attempt)``."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if attempt > 1023:  # 2**attempt would overflow a float; the cap has long taken over
        return float(cap)
    return float(min(cap, base * 2**attempt))


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures so a broken setup stops burning through the queue.

    ``threshold`` of 0 or None disables it. While open, :attr:`reason` says why; :meth:`reset` closes
    it again (the queue does so on ``resume()``).
    """

    def __init__(self, threshold: int | None = 5) -> None:
        self.threshold = int(threshold or 0)
        self.consecutive = 0
        self.reason: str | None = None
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def record_success(self) -> None:
        self.consecutive = 0

    def record_failure(self, error: str = "") -> bool:
        """Count one failure; True when this failure opened the breaker."""
        self.consecutive += 1
        self.last_error = error or self.last_error
        if self.threshold and not self.is_open and self.consecutive >= self.threshold:
            detail = f"; last error: {self.last_error}" if self.last_error else ""
            self.reason = f"circuit breaker opened after {self.consecutive} consecutive failures{detail}"
            return True
        return False

    def reset(self) -> None:
        self.consecutive = 0
        self.reason = None


# --- progress, throughput, ETA -------------------------------------------------------------------


class ThroughputMeter:
    """Frames per second over a recent time window.

    A recent window (not the whole run) so the figure follows the cluster scaling up or down and the
    ETA stays honest after a pause. Until a full window has passed, the rate is taken over the time
    since :meth:`reset` (the queue's start).
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError("window must be > 0")
        self.window = float(window)
        self.clock = clock
        self._samples: deque[tuple[float, float]] = deque()
        self._sum = 0.0
        self.started = clock()

    def reset(self, now: float | None = None) -> None:
        self._samples.clear()
        self._sum = 0.0
        self.started = self.clock() if now is None else now

    def add(self, frames: float, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        if frames:
            self._samples.append((now, float(frames)))
            self._sum += frames
        self._trim(now)

    def _trim(self, now: float) -> None:
        edge = now - self.window
        while self._samples and self._samples[0][0] <= edge:
            self._sum -= self._samples.popleft()[1]

    def rate(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        self._trim(now)
        span = min(self.window, now - self.started)
        if span <= 0 or not self._samples:
            return 0.0
        return max(self._sum, 0.0) / span


def eta_seconds(remaining_frames: float, throughput: float) -> float | None:
    """Remaining frames / throughput; None while the rate is unknown (nothing finished recently)."""
    if remaining_frames <= 0:
        return 0.0
    if throughput <= 0:
        return None
    return remaining_frames / throughput


def success_rate(completed: int, failed: int) -> float | None:
    """completed / (completed + failed); None until a job has finished either way."""
    finished = completed + failed
    return completed / finished if finished else None


def progress(done: float, total: float) -> float:
    return min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
