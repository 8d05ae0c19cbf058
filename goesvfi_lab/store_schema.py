"""The job store's table: its schema and migrations, SQL orders, rows <-> jobs, per-status counters.

What a stored job *is* in SQLite, apart from how :class:`goesvfi_lab.store.Store` opens, locks and
writes the file: so the schema, the orders that must agree with :mod:`goesvfi_lab.policy`, and the row
layout are read in one place. Pure standard library plus the pure model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .model import UNFINISHED, BatchJob, JobPriority, JobStatus

SCHEMA_VERSION = 4
STATUSES = tuple(s.value for s in JobStatus)

# schema version -> statements that bring the previous version to it
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            seq REAL NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            priority INTEGER NOT NULL,
            owner TEXT NOT NULL DEFAULT '',
            output_dir TEXT NOT NULL,
            frames_total INTEGER NOT NULL,
            frames_done INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_retry_at REAL,
            error TEXT,
            claimed_by TEXT,
            heartbeat REAL,
            spec TEXT NOT NULL
        )""",
        "CREATE INDEX jobs_by_priority ON jobs(status, priority DESC, seq)",
        "CREATE INDEX jobs_by_seq ON jobs(status, seq)",
        "CREATE INDEX jobs_by_size ON jobs(status, frames_total, priority DESC, seq)",
        "CREATE INDEX jobs_by_owner ON jobs(status, owner, priority DESC, seq)",
        "CREATE INDEX jobs_by_output ON jobs(output_dir)",
    ],
    # the notebook table pages in submission order: 100,000 jobs, 470 ms a page without it, ~1 ms with it
    2: ["CREATE INDEX jobs_by_created ON jobs(created_at)"],
    # how often a job was claimed: a retried job's Dask keys and stop event must be new ones (the old
    # attempt's stop event stays set, and tasks cache it), and ``attempts`` is reset by a retry
    3: ["ALTER TABLE jobs ADD COLUMN runs INTEGER NOT NULL DEFAULT 0"],
    # the self-check's score (JSON, goesvfi_lab.quality) and its PSNR in dB, what the job table sorts by
    4: ["ALTER TABLE jobs ADD COLUMN quality TEXT", "ALTER TABLE jobs ADD COLUMN quality_psnr REAL"],
}

# SQL ORDER BY for each policy; must agree with policy.sort_key (a test checks they do)
ORDER_BY = {
    "priority": "priority DESC, seq",
    "fifo": "seq",
    "sjf": "frames_total, priority DESC, seq",
    "fair": "owner, priority DESC, seq",
}

# (column, descending) of each SQL-sortable policy, matching ORDER_BY and policy.sort_key
SORT_COLUMNS = {
    "priority": (("priority", True), ("seq", False)),
    "fifo": (("seq", False),),
    "sjf": (("frames_total", False), ("priority", True), ("seq", False)),
}

# orders ``Store.jobs`` can page through in SQL (``fair`` interleaves owners: only policy.order can do it)
ORDERS = {
    "seq": "seq",
    "submitted": "created_at, rowid",  # rowid: insertion order, for jobs made in the same clock tick
    "priority": ORDER_BY["priority"],
    "fifo": ORDER_BY["fifo"],
    "sjf": ORDER_BY["sjf"],
    "quality": "quality_psnr IS NULL, quality_psnr, created_at, rowid",  # worst score first, unchecked last
}

COLUMNS = (
    "id, seq, name, status, priority, owner, output_dir, frames_total, frames_done, created_at, "
    "started_at, finished_at, attempts, next_retry_at, error, claimed_by, heartbeat, spec, runs, quality"
)
# BatchJob fields kept in the JSON ``spec`` column rather than in their own column
SPEC_FIELDS = ("inputs", "factor", "method", "settings", "notes")
UPDATABLE = {
    "name",
    "status",
    "priority",
    "owner",
    "output_dir",
    "frames_done",
    "started_at",
    "finished_at",
    "attempts",
    "next_retry_at",
    "error",
    "claimed_by",
    "heartbeat",
    "seq",
    "frames_total",
    "quality",  # a dict: stored as JSON, its PSNR beside it (quality_fields)
}


def job_row(job: BatchJob, seq: float) -> tuple:
    """The ``jobs`` table row of ``job`` (in :data:`COLUMNS` order); claims start empty."""
    spec = json.dumps({k: getattr(job, k) for k in SPEC_FIELDS}, separators=(",", ":"))
    return (
        job.id,
        seq,
        job.name,
        job.status.value,
        int(job.priority),
        job.owner,
        job.output_dir,
        job.frames_total,
        job.frames_done,
        job.created_at,
        job.started_at,
        job.finished_at,
        job.attempts,
        job.next_retry_at,
        job.error,
        None,
        None,
        spec,
        job.runs,
        json.dumps(job.quality) if job.quality is not None else None,
    )


def row_job(row: tuple) -> BatchJob:
    """The job of a ``jobs`` row selected with :data:`COLUMNS`."""
    (
        jid,
        _seq,
        name,
        status,
        priority,
        owner,
        output_dir,
        _ftotal,
        fdone,
        created,
        started,
        finished,
        attempts,
        next_retry,
        error,
        _claimed,
        _hb,
        spec,
        runs,
        quality,
    ) = row
    data = json.loads(spec)
    return BatchJob(
        name=name,
        inputs=data["inputs"],
        output_dir=output_dir,
        factor=data["factor"],
        method=data["method"],
        priority=JobPriority(priority),
        settings=data["settings"],
        owner=owner,
        id=jid,
        status=JobStatus(status),
        created_at=created,
        started_at=started,
        finished_at=finished,
        attempts=attempts,
        next_retry_at=next_retry,
        error=error,
        notes=data["notes"],
        frames_done=fdone,
        runs=runs,
        quality=json.loads(quality) if quality else None,
    )


def quality_fields(quality: dict | None) -> dict:
    """The columns a job's ``quality`` dict is stored in: the JSON and its PSNR (dB, None if not finite)."""
    psnr = (quality or {}).get("psnr")
    ok = isinstance(psnr, (int, float)) and psnr == psnr and abs(psnr) != float("inf")
    return {"quality": json.dumps(quality) if quality is not None else None, "quality_psnr": psnr if ok else None}


@dataclass
class Counts:
    """Jobs and frames per status."""

    jobs: dict[str, int]
    frames_total: dict[str, int]
    frames_done: dict[str, int]

    @classmethod
    def empty(cls) -> Counts:
        return cls({s: 0 for s in STATUSES}, {s: 0 for s in STATUSES}, {s: 0 for s in STATUSES})

    def adjust(self, status: str, jobs: int, frames_total: int, frames_done: int) -> None:
        self.jobs[status] += jobs
        self.frames_total[status] += frames_total
        self.frames_done[status] += frames_done

    @property
    def unfinished(self) -> int:
        """Jobs pending, queued or running (:data:`~goesvfi_lab.model.UNFINISHED`)."""
        return sum(self.jobs[s] for s in UNFINISHED.values)

    @property
    def frames_left(self) -> int:
        """Frames unfinished jobs still have to write: what an ETA divides by the throughput."""
        return sum(max(self.frames_total[s] - self.frames_done[s], 0) for s in UNFINISHED.values)
