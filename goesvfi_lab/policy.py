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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


def pairs_per_task(pair_seconds: float | None, target: float = 0.05, most: int = 32) -> int:
    """How many consecutive pairs one task carries: enough for ``target`` seconds of work, so that
    millisecond pairs do not cost more in scheduler messages than in computing; one while the pair
    time is unknown, and one for pairs that take ``target`` or longer (GPU work, large frames)."""
    if not pair_seconds or pair_seconds <= 0:
        return 1
    return max(1, min(most, int(target / pair_seconds)))


def window_size(
    slots: int, factor: float = 2.0, task_seconds: float | None = None, seconds: float = 0.0, max_per_slot: float = 64.0
) -> int:
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


Work = tuple[float, float, float]
"""``(start, end, frames)``: ``frames`` finished over ``(start, end]``, spread evenly across it."""


@dataclass(frozen=True)
class Pace:
    """Throughput (frames/s, 0.0 when nothing was measured) and ETA (s; None when unknown)."""

    throughput: float
    eta_seconds: float | None


def throughput(work: Iterable[Work], now: float, window: float, busy: bool = False) -> float:
    """Frames per second over the last ``window`` seconds of measured work.

    The span starts at ``max(now - window, start of the earliest work record)``: never before work
    began, so the time a queue waited for its first job (or for models to load) does not read as a
    slow start that then "speeds up" while the real speed is steady. With no new frames the figure
    falls to 0 within one window (idle decays to 0). While ``busy``, the span always reaches back to
    the start of the newest record, so pairs slower than the window do not read as 0 between results.
    """
    recs = list(work)
    if not recs:
        return 0.0
    lo = max(now - window, min(s for s, _, _ in recs))
    if busy:
        lo = min(lo, max(s for s, _, _ in recs))
    span = now - lo
    if span <= 0:
        return 0.0
    frames = 0.0
    for s, e, n in recs:
        if e <= s:  # an instant: counts when it falls inside the span
            frames += n if lo < e <= now else 0.0
        else:
            frames += n * max(min(e, now) - max(s, lo), 0.0) / (e - s)
    return frames / span


def eta_seconds(remaining_frames: float, throughput: float) -> float | None:
    """Remaining frames / throughput; None while the rate is unknown (nothing finished recently)."""
    if remaining_frames <= 0:
        return 0.0
    if throughput <= 0:
        return None
    return remaining_frames / throughput


def pace(work: Iterable[Work], now: float, window: float, remaining: float, jobs: int, busy: bool = False) -> Pace:
    """The one definition of throughput and ETA that the panel, the ``/goesvfi`` page and the CLI show.

    ``work``: records of frames finished (a :class:`ThroughputMeter`'s, or jobs' start/end from the
    store); ``remaining``: frames the unfinished jobs still have to write; ``jobs``: how many jobs
    there are (none: the ETA is unknown, not 0).
    """
    rate = throughput(work, now, window, busy)
    return Pace(rate, None if jobs <= 0 else eta_seconds(remaining, rate))


def job_work(jobs: Iterable[Any], now: float) -> list[Work]:
    """Work records from jobs as the store keeps them: ``frames_done`` over ``started_at`` to
    ``finished_at`` (``now`` while running). For views with no engine in their process
    (``goesvfi-lab status`` beside a ``goesvfi-lab run``); a live queue uses its meter instead.
    """
    out: list[Work] = []
    for job in jobs:
        start, done = getattr(job, "started_at", None), getattr(job, "frames_done", 0)
        if start is None or not done:  # never computed (waiting, or found complete on disk)
            continue
        end = getattr(job, "finished_at", None)
        out.append((float(start), max(float(now if end is None else end), float(start)), float(done)))
    return out


def queue_state(started: bool, paused: bool, unfinished: int) -> str:
    """The queue's state word, the same on every view: paused | running | ready | idle.

    ``running``: started with jobs left; ``ready``: started, nothing left to do; ``idle``: not
    started (or stopped).
    """
    if paused:
        return "paused"
    if not started:
        return "idle"
    return "running" if unfinished > 0 else "ready"


def eta_label(state: str, unfinished: int, failed: int, total: int) -> str | None:
    """What the ETA shows instead of a duration, or None to show the duration (or "—" when unknown).

    A finished queue with failed jobs says how many failed, never "done".
    """
    if total and not unfinished:
        return f"{failed} failed" if failed else "done"
    if state == "paused":
        return "paused"  # the recent rate says nothing while nothing is handed out
    return None


class ThroughputMeter:
    """Frames finished over time, kept for :func:`throughput` as :data:`Work` records.

    Fed by the engine (:meth:`add` per scheduler summary, :meth:`reset` at start), told by the queue
    when a job began computing (:meth:`begin`) and whether there is work to do (:meth:`observe`).
    A stretch of work starts when the queue goes from idle to busy: what was measured before does
    not count, so an idle gap is not averaged into the next batch's speed. The first result of a
    stretch counts from when its job began, or (not known) only marks the start of the span.
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError("window must be > 0")
        self.window = float(window)
        self.clock = clock
        self._samples: deque[tuple[float, float]] = deque()  # (time, frames); the first only opens the span
        self.busy: bool | None = None  # None: never told
        self._idle_at: float | None = None
        self._lock = threading.Lock()  # fed by the engine's threads, read by whoever shows stats
        self.started = clock()

    def reset(self, now: float | None = None) -> None:
        with self._lock:
            self._samples.clear()
            self.busy = None
            self._idle_at = None
            self.started = self.clock() if now is None else now

    def _new_stretch(self) -> None:
        self._samples.clear()

    def add(self, frames: float, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        if frames <= 0:
            return
        with self._lock:
            if self._samples and not self.busy and now - self._samples[-1][0] > self.window:
                self._new_stretch()  # nobody said the queue was busy and nothing came for a window: a new stretch
            self._samples.append((now, float(frames)))
            self._trim(now)

    def begin(self, when: float) -> None:
        """A job began computing at ``when`` (clock time): the stretch's first result counts from then."""
        with self._lock:
            if self._samples and self._samples[-1][0] < when - self.window and not self.busy:
                self._new_stretch()
            head = self._samples[0] if self._samples else None
            if head is not None and head[1] == 0.0:  # a start is known already: the earlier one wins
                if when < head[0]:
                    self._samples[0] = (when, 0.0)
            elif len(self._samples) <= 1 and (head is None or when < head[0]):
                self._samples.appendleft((when, 0.0))  # before the stretch's first result (or before any)

    def observe(self, busy: bool, now: float | None = None) -> None:
        """Whether the queue has work to do now; idle → busy starts a new stretch."""
        now = self.clock() if now is None else now
        with self._lock:
            if not busy:
                self._idle_at = now
            elif self._idle_at is not None:
                while self._samples and self._samples[0][0] <= self._idle_at:
                    self._samples.popleft()  # measured before the queue was last seen idle: an old stretch
                self._idle_at = None
            self.busy = busy

    def _trim(self, now: float) -> None:
        edge = now - self.window  # keep the newest record (two samples) even when older: see throughput()
        while len(self._samples) > 2 and self._samples[1][0] <= edge:
            self._samples.popleft()

    def work(self, now: float | None = None) -> list[Work]:
        now = self.clock() if now is None else now
        with self._lock:
            self._trim(now)
            s = list(self._samples)
        return [(a[0], b[0], b[1]) for a, b in zip(s, s[1:])]

    def rate(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        return throughput(self.work(now), now, self.window, bool(self.busy))


def success_rate(completed: int, failed: int) -> float | None:
    """completed / (completed + failed); None until a job has finished either way."""
    finished = completed + failed
    return completed / finished if finished else None


def shown_progress(fraction: float | None, unfinished: int) -> float:
    """Overall progress as the views show it: clamped to 0..1 and never 1.0 while a job is unfinished
    (its frames can all exist while the video or the cube is still being written)."""
    p = min(max(float(fraction or 0.0), 0.0), 1.0)
    return min(p, 0.999) if unfinished else p


def progress(done: float, total: float) -> float:
    return min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
