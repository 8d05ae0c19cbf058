"""The job store: one SQLite file (WAL) that is the source of truth for every job.

Dask only ever holds a small window of submitted work; everything else — what is pending, in which
order, how often a job was tried, when it may retry — lives here, so a kernel restart or a killed
process loses nothing. Reopening a store (new process, new kernel) shows every job; jobs that a dead
queue had QUEUED or RUNNING go back to PENDING, finished ones stay.

Each active job records who claimed it (``host:pid:queue``) and a heartbeat, so a second live
process opening the same store leaves that process's work alone while work of a dead one (same host
and pid gone, or heartbeat older than ``claim_timeout``) is recovered.

``Store(path, readonly=True)`` opens an existing store for reading only (``goesvfi-lab status``,
:mod:`goesvfi_lab.query`): it never creates, migrates or recovers anything, and its writes raise.

The store keeps per-status counters in memory (adjusted by its own writes, recounted on
:meth:`refresh_counts`), which is what lets ``BatchQueue.stats()`` answer in microseconds with
100,000 jobs queued.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

from .model import CLAIMED, BatchJob, JobStatus
from .policy import Entry, check_policy
from .store_schema import (
    COLUMNS,
    MIGRATIONS,
    ORDER_BY,
    ORDERS,
    SCHEMA_VERSION,
    SORT_COLUMNS,
    SPEC_FIELDS,
    UPDATABLE,
    Counts,
    job_row,
    quality_fields,
    row_job,
)


class StoreError(RuntimeError):
    """The store file cannot be used (written by a newer version, not a goesvfi-lab store...)."""


def _open_error(path: str, exc: sqlite3.DatabaseError, busy_timeout: float) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"{path}: the store is locked by another process (still busy after {busy_timeout:g} s: {text}); "
            f"wait for it to finish, or stop the process that holds it"
        )
    return (
        f"{path}: not a usable goesvfi-lab store ({text}): the file is corrupted or is not SQLite; "
        f"move it aside and start a fresh store (jobs whose outputs are complete on disk are found and skipped)"
    )


def default_store_path() -> str:
    """``goesvfi.queue.store`` from config, else ``queue.sqlite3`` in the user data dir (platformdirs)."""
    configured = None
    try:
        from . import config

        configured = config.get("queue.store")
    except ImportError:  # pragma: no cover - dask is a hard dependency
        pass
    if configured:
        return os.path.expanduser(str(configured))
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("goesvfi-lab", appauthor=False), "queue.sqlite3")


# claimers (``host:pid:queue``) of queues alive in this process: a second queue here must not recover
# the jobs of a first one that is still running
LIVE_CLAIMERS: set[str] = set()


def new_claimer(queue_id: str) -> str:
    claimer = f"{socket.gethostname()}:{os.getpid()}:{queue_id}"
    LIVE_CLAIMERS.add(claimer)
    return claimer


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Store:
    """SQLite-backed job table. Thread-safe: one connection, one lock (SQLite serialises writes anyway).

    ``readonly=True``: open an existing store to look at it (SQLite ``mode=ro``): nothing is created,
    migrated or recovered, a missing file is a ``FileNotFoundError`` naming it, an older schema a
    :class:`StoreError`, and every write raises :class:`StoreError`. The database file itself is never
    written. A WAL reader needs the ``-wal`` / ``-shm`` side files: if no other process has the store
    open, SQLite creates them (an empty ``-wal`` and the 32 KiB wal-index ``-shm``) and a read-only
    connection cannot delete them on close; the next read-write open of the store removes them again.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        claim_timeout: float = 120.0,
        busy_timeout: float = 30.0,
        readonly: bool = False,
    ) -> None:
        self.path = os.fspath(path) if path is not None else default_store_path()
        self.claim_timeout = float(claim_timeout)
        self.readonly = bool(readonly)
        self._lock = threading.RLock()
        if self.readonly:
            self._db = self._connect_readonly(busy_timeout)
        else:
            if self.path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            if not self.readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            if self.readonly:
                self._check_version()
            else:
                self._migrate()
            self.counts = Counts.empty()
            self.refresh_counts()
        except sqlite3.DatabaseError as exc:  # sqlite3's own text names neither the file nor what to do
            self._db.close()
            raise StoreError(_open_error(self.path, exc, busy_timeout)) from exc
        except StoreError:
            self._db.close()
            raise

    # --- schema -----------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _connect_readonly(self, busy_timeout: float) -> sqlite3.Connection:
        if self.path == ":memory:":
            raise StoreError(":memory: cannot be opened read-only (it would be a new, empty store)")
        if not os.path.isfile(self.path):
            raise FileNotFoundError(
                f"{self.path}: no such store" if not os.path.exists(self.path) else f"{self.path}: not a store file"
            )
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
        try:
            return sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise StoreError(_open_error(self.path, exc, busy_timeout)) from exc

    def _check_version(self) -> None:
        """What :meth:`_migrate` checks, for a read-only open: the schema must be this version's."""
        version = self.schema_version
        if version == 0:
            raise StoreError(f"{self.path}: not a goesvfi-lab store (no schema version)")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema version {version} is newer than this goesvfi-lab "
                f"understands ({SCHEMA_VERSION}); upgrade goesvfi-lab"
            )
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema version {version} is older than this goesvfi-lab's "
                f"({SCHEMA_VERSION}); open it once read-write (any goesvfi-lab run or BatchQueue) "
                f"to migrate it"
            )

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only; open Store(path) to change jobs")

    def _migrate(self) -> None:
        with self._lock, self._transaction():
            version = self.schema_version
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema version {version} is newer than this goesvfi-lab "
                    f"understands ({SCHEMA_VERSION}); upgrade goesvfi-lab"
                )
            if version == 0:
                tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if tables:
                    raise StoreError(f"{self.path}: not a goesvfi-lab store (tables {sorted(tables)})")
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[v]:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {v}")

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _transaction(self) -> Store._Tx:
        self._writable()
        return Store._Tx(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- writes -----------------------------------------------------------------------------

    def add(self, jobs: Iterable[BatchJob]) -> list[str]:
        """Insert jobs in one transaction, in the given (FIFO) order; returns their ids."""
        jobs = list(jobs)
        with self._lock, self._transaction() as db:
            top = db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()[0]
            start = float(int(top) + 1)
            rows = [job_row(job, start + i) for i, job in enumerate(jobs)]
            db.executemany(f"INSERT INTO jobs ({COLUMNS}) VALUES ({','.join('?' * len(COLUMNS.split(',')))})", rows)
            for job in jobs:
                self.counts.adjust(job.status.value, 1, job.frames_total, job.frames_done)
        return [job.id for job in jobs]

    def update(self, job_id: str, *, expect: Iterable[str] | None = None, **fields: Any) -> bool:
        """Set columns of one job; with ``expect``, only if its status is one of those. True if it changed.

        ``notes``, ``settings`` and the other spec fields are merged into the JSON column.
        """
        spec_changes = {k: fields.pop(k) for k in list(fields) if k in SPEC_FIELDS}
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        for k in ("status", "priority"):
            if k in fields and fields[k] is not None:
                fields[k] = JobStatus(fields[k]).value if k == "status" else int(fields[k])
        if "quality" in fields:  # a dict: its JSON and its PSNR column
            fields.update(quality_fields(fields.pop("quality")))
        with self._lock, self._transaction() as db:
            row = db.execute(
                "SELECT status, frames_total, frames_done, spec FROM jobs WHERE id=?", (job_id,)
            ).fetchone()
            if row is None or (expect is not None and row[0] not in {JobStatus(s).value for s in expect}):
                return False
            status, ftotal, fdone, spec = row
            if spec_changes:
                data = json.loads(spec)
                data.update(spec_changes)
                fields["spec"] = json.dumps(data, separators=(",", ":"))
            if fields:
                sets = ", ".join(f"{k}=?" for k in fields)
                db.execute(f"UPDATE jobs SET {sets} WHERE id=?", (*fields.values(), job_id))
            self.counts.adjust(status, -1, -ftotal, -fdone)
            self.counts.adjust(
                fields.get("status", status), 1, fields.get("frames_total", ftotal), fields.get("frames_done", fdone)
            )
        return True

    def claim(self, job_id: str, claimer: str) -> bool:
        """PENDING → QUEUED for ``claimer`` if nobody else took it first (two queues on one store).

        Counts the run (``runs``): each claim is a new attempt with its own Dask keys and stop event.
        """
        pending, queued = JobStatus.PENDING.value, JobStatus.QUEUED.value
        with self._lock, self._transaction() as db:
            changed = db.execute(
                "UPDATE jobs SET status=?, claimed_by=?, heartbeat=?, runs=runs+1 WHERE id=? AND status=?",
                (queued, claimer, time.time(), job_id, pending),
            ).rowcount
            if changed != 1:
                return False
            ftotal, fdone = db.execute("SELECT frames_total, frames_done FROM jobs WHERE id=?", (job_id,)).fetchone()
            self.counts.adjust(pending, -1, -ftotal, -fdone)
            self.counts.adjust(queued, 1, ftotal, fdone)
        return True

    def heartbeat(self, claimer: str) -> None:
        self._writable()
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET heartbeat=? WHERE claimed_by=? AND status IN (?, ?)",
                (time.time(), claimer, *CLAIMED.values),
            )

    def recover(self, *, claimer: str | None = None) -> list[str]:
        """Return active jobs of dead (or this, ``claimer``) queues to PENDING; returns their ids."""
        self._writable()
        stale = self.stale_claims(claimer=claimer)
        for jid in stale:
            self.update(jid, expect=CLAIMED, status=JobStatus.PENDING, claimed_by=None, heartbeat=None)
        return stale

    def stale_claims(self, *, claimer: str | None = None) -> list[str]:
        """Ids of QUEUED / RUNNING jobs whose queue is gone (what :meth:`recover` would return to PENDING).

        A read: same host and the pid is dead (or is this process and not a live queue here), another
        host and no heartbeat for ``claim_timeout``, no claimer at all, or ``claimer`` itself.
        """
        host = socket.gethostname()
        now = time.time()
        stale: list[str] = []
        with self._lock:
            rows = self._db.execute(
                "SELECT id, claimed_by, heartbeat FROM jobs WHERE status IN (?, ?)", CLAIMED.values
            ).fetchall()
        for jid, claimed_by, hb in rows:
            owner_host, _, rest = (claimed_by or "").partition(":")
            pid_text = rest.partition(":")[0]
            if claimer is not None and claimed_by == claimer:
                stale.append(jid)
            elif not claimed_by or not pid_text.isdigit():
                stale.append(jid)
            elif owner_host == host:
                pid = int(pid_text)
                if pid == os.getpid() and claimed_by not in LIVE_CLAIMERS or not pid_alive(pid):
                    stale.append(jid)
            elif hb is None or now - hb > self.claim_timeout:
                stale.append(jid)
        return stale

    def delete(self, statuses: Iterable[str | JobStatus]) -> int:
        self._writable()
        values = [JobStatus(s).value for s in statuses]
        if not values:
            return 0
        marks = ",".join("?" * len(values))
        with self._lock:
            with self._transaction() as db:
                n = db.execute(f"DELETE FROM jobs WHERE status IN ({marks})", values).rowcount
            self.refresh_counts()
        return n

    # --- reads ------------------------------------------------------------------------------

    def get(self, job_id: str) -> BatchJob | None:
        with self._lock:
            row = self._db.execute(f"SELECT {COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else row_job(row)

    def jobs(
        self,
        statuses: Iterable[str | JobStatus] | None = None,
        *,
        order: str = "seq",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[BatchJob]:
        """Jobs (optionally only those with the given statuses) in ``order`` (a key of ``ORDERS``:
        arrival ``seq`` by default), optionally only ``limit`` of them after skipping ``offset``."""
        return list(self.iter_jobs(statuses, order=order, limit=limit, offset=offset))

    def iter_jobs(
        self,
        statuses: Iterable[str | JobStatus] | None = None,
        *,
        order: str = "seq",
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[BatchJob]:
        if order not in ORDERS:
            raise ValueError(f"unknown job order {order!r}; choose one of {', '.join(ORDERS)}")
        where, args = self._status_filter(statuses)
        page = ""
        if limit is not None or offset:
            page = " LIMIT ? OFFSET ?"
            args = [*args, -1 if limit is None else max(int(limit), 0), max(int(offset), 0)]
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM jobs {where} ORDER BY {ORDERS[order]}{page}", args
            ).fetchall()
        return (row_job(r) for r in rows)

    def get_many(self, job_ids: Iterable[str]) -> list[BatchJob]:
        """The jobs with these ids, in the order given (unknown ids are left out)."""
        ids = list(job_ids)
        found: dict[str, BatchJob] = {}
        with self._lock:
            for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                chunk = ids[i : i + 500]
                rows = self._db.execute(
                    f"SELECT {COLUMNS} FROM jobs WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update((r[0], row_job(r)) for r in rows)
        return [found[i] for i in ids if i in found]

    def count(self, statuses: Iterable[str | JobStatus] | None = None) -> int:
        """How many jobs (with these statuses) the table holds now (not the cached ``counts``)."""
        where, args = self._status_filter(statuses)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0])

    def ranks(self, policy: str, job_ids: Iterable[str]) -> dict[str, int]:
        """1-based places of these pending jobs in ``policy`` order (not ``fair``).

        Each place is 1 + the number of pending jobs that sort before the job, counted on the policy's
        index one sort column at a time (~1.5 ms per job with 100,000 waiting, where ranking them all
        with a window function took 240 ms).
        """
        if policy not in SORT_COLUMNS:
            raise ValueError(f"ranks in SQL need one of {', '.join(SORT_COLUMNS)}, not {policy!r}")
        columns = SORT_COLUMNS[policy]
        names = ", ".join(c for c, _ in columns)
        out: dict[str, int] = {}
        pending = JobStatus.PENDING.value
        with self._lock:
            for job_id in job_ids:
                row = self._db.execute(f"SELECT status, {names} FROM jobs WHERE id=?", (job_id,)).fetchone()
                if row is None or row[0] != pending:
                    continue
                values, before = row[1:], 0
                for k, (column, descending) in enumerate(columns):
                    # ties on the first k sort columns, then strictly before on column k
                    same = "".join(f" AND {c}=?" for c, _ in columns[:k])
                    sql = f"SELECT COUNT(*) FROM jobs WHERE status=?{same} AND {column}{'>' if descending else '<'}?"
                    before += self._db.execute(sql, (pending, *values[:k], values[k])).fetchone()[0]
                out[job_id] = before + 1
        return out

    @staticmethod
    def _status_filter(statuses: Iterable[str | JobStatus] | None) -> tuple[str, list[str]]:
        if statuses is None:
            return "", []
        values = [JobStatus(s).value for s in statuses]
        return f"WHERE status IN ({','.join('?' * len(values))})", values

    def entries(
        self,
        policy: str = "priority",
        *,
        statuses: Iterable[str | JobStatus] = (JobStatus.PENDING,),
        ready_at: float | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """Ordering records of jobs, sorted by ``policy`` (``fair`` comes back grouped by owner).

        ``ready_at``: leave out jobs whose ``next_retry_at`` lies after it (backing off).
        ``limit`` is per owner for ``fair``, so the caller can still interleave owners.
        """
        check_policy(policy)
        values = [JobStatus(s).value for s in statuses]
        where = f"WHERE status IN ({','.join('?' * len(values))})"
        args: list[Any] = list(values)
        if ready_at is not None:
            where += " AND (next_retry_at IS NULL OR next_retry_at <= ?)"
            args.append(ready_at)
        cols = "id, priority, seq, frames_total, owner"
        with self._lock:
            if policy == "fair" and limit is not None:
                owners = [r[0] for r in self._db.execute(f"SELECT DISTINCT owner FROM jobs {where}", args)]
                rows = []
                for owner in owners:
                    rows += self._db.execute(
                        f"SELECT {cols} FROM jobs {where} AND owner=? ORDER BY {ORDER_BY['priority']} LIMIT ?",
                        [*args, owner, limit],
                    ).fetchall()
            else:
                tail = f" LIMIT {int(limit)}" if limit is not None else ""
                rows = self._db.execute(
                    f"SELECT {cols} FROM jobs {where} ORDER BY {ORDER_BY[policy]}{tail}", args
                ).fetchall()
        return [Entry(*r) for r in rows]

    def active_by_owner(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT owner, COUNT(*) FROM jobs WHERE status IN (?, ?) GROUP BY owner", CLAIMED.values
            )
            return dict(rows.fetchall())

    def next_retry_at(self) -> float | None:
        """Earliest time a backing-off pending job becomes ready (so the submitter knows when to look)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_retry_at) FROM jobs WHERE status=? AND next_retry_at IS NOT NULL",
                (JobStatus.PENDING.value,),
            ).fetchone()
        return row[0]

    def find_output(self, output_dir: str, exclude: str | None = None) -> list[BatchJob]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE output_dir=? AND id IS NOT ?", (output_dir, exclude)
            ).fetchall()
        return [row_job(r) for r in rows]

    def refresh_counts(self) -> Counts:
        """Recount from the table (another process may have written); cheap enough every few seconds."""
        counts = Counts.empty()
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*), COALESCE(SUM(frames_total), 0), COALESCE(SUM(frames_done), 0) "
                "FROM jobs GROUP BY status"
            ).fetchall()
            for status, n, ftotal, fdone in rows:
                if status in counts.jobs:
                    counts.adjust(status, n, ftotal, fdone)
            self.counts = counts
        return counts

    def __len__(self) -> int:
        return sum(self.counts.jobs.values())
