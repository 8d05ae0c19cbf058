"""The job model: plain dataclasses and enums with a JSON round-trip.

Pure Python on purpose (no Dask, torch or widget imports) so the store, the CLI, the widgets and
the tests share one vocabulary and it can be checked in milliseconds.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class JobPriority(enum.IntEnum):
    """Five levels; a higher value runs first. FIFO order holds within a level."""

    BACKGROUND = 0
    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4

    @classmethod
    def parse(cls, value: JobPriority | int | str) -> JobPriority:
        """Accept an enum, its int value or its (case-insensitive) name, e.g. from a CLI flag."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                names = ", ".join(m.name.lower() for m in cls)
                raise ValueError(f"unknown priority {value!r}; choose one of {names}") from None
        return cls(int(value))


class JobStatus(str, enum.Enum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in FINISHED


class StatusGroup(frozenset):
    """A set of :class:`JobStatus` with ``values``: the stored words, in declaration order.

    The words are what SQL parameters and the store's per-status counts use; a fixed order keeps
    queries and their cached plans identical. Membership takes ``JobStatus`` (``JobStatus(word) in``).
    """

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(s.value for s in JobStatus if s in self)


#: not finished yet: waiting in the store, or claimed by a queue (what "N left" and ``q.wait()`` count)
UNFINISHED = StatusGroup({JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING})
#: a queue holds the job (handed to Dask, or computing): shown as running, recovered when its queue died
CLAIMED = StatusGroup({JobStatus.QUEUED, JobStatus.RUNNING})
#: done for good until a retry: completed, failed or cancelled
FINISHED = StatusGroup({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


def new_job_id() -> str:
    """Short, URL- and Dask-key-safe identifier."""
    return uuid.uuid4().hex[:12]


@dataclass
class BatchJob:
    """One interpolation job: a sequence of input frames → an output folder (frames, MP4, cube).

    ``inputs`` accepts paths or a :class:`goesvfi_lab.discover.Sequence`; it is stored as a list
    of path strings so the job survives a trip through SQLite and JSON.
    """

    name: str
    inputs: list[str]
    output_dir: str
    factor: int = 2
    method: str = "auto"
    priority: JobPriority = JobPriority.NORMAL
    settings: dict[str, Any] = field(default_factory=dict)
    owner: str = ""
    id: str = field(default_factory=new_job_id)
    status: JobStatus = JobStatus.PENDING
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    next_retry_at: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    frames_done: int = 0
    position: int | None = None
    runs: int = 0  # times a queue claimed it; names the attempt's Dask keys (``attempts`` counts failures)
    quality: dict[str, Any] | None = None  # the self-check's score once it arrived (goesvfi_lab.quality)

    def __post_init__(self) -> None:
        inputs = getattr(self.inputs, "paths", self.inputs)  # a discover.Sequence carries .paths
        if isinstance(inputs, (str, bytes)):
            raise TypeError("inputs must be a list of paths or a Sequence, not a single string")
        self.inputs = [str(p) for p in inputs]
        self.output_dir = str(self.output_dir)
        self.factor = int(self.factor)
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        self.priority = JobPriority.parse(self.priority)
        self.status = JobStatus(self.status)
        self.settings = dict(self.settings or {})
        self.notes = list(self.notes or [])

    @property
    def pairs(self) -> int:
        return max(len(self.inputs) - 1, 0)

    @property
    def frames_total(self) -> int:
        """Frames the job writes: (n-1)*factor+1 for n inputs (inputs pass through; :func:`plan.n_frames`)."""
        from .plan import n_frames  # plan builds BatchJobs, so it imports this module, not the reverse

        return n_frames(len(self.inputs), self.factor)

    @property
    def progress(self) -> float:
        total = self.frames_total
        return min(self.frames_done / total, 1.0) if total else 0.0

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else time.time()
        return max(end - self.started_at, 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["priority"] = self.priority.name
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchJob:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Stats:
    """A snapshot of the queue, as the stats panel and `goesvfi-lab status` show it."""

    total: int = 0
    pending: int = 0
    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    frames_done: int = 0
    frames_total: int = 0
    success_rate: float | None = None  # completed / (completed + failed); None until something finished
    throughput: float = 0.0  # frames/s over the recent window (policy.pace)
    eta_seconds: float | None = None  # None: unknown (no job yet, or nothing measured)
    progress: float = 0.0  # 0..1: frames done of frames wanted (cancelled jobs are not wanted)
    state: str = "idle"  # policy.queue_state: running | paused | ready | idle
    updated_at: float = field(default_factory=time.time)

    @property
    def unfinished(self) -> int:
        """Jobs not finished yet (:data:`UNFINISHED`): pending, queued and running."""
        return self.pending + self.queued + self.running

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stats:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
