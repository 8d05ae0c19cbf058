"""Read-only questions about a job store: pages of jobs with their queue places, counts, stats.

What ``goesvfi-lab status`` shows and what :class:`~goesvfi_lab.queue.BatchQueue`'s read methods
(``jobs``, ``count``, ``stats``) answer, as functions of a :class:`~goesvfi_lab.store.Store` — which
can be opened ``readonly=True``, so looking at a store another process may be running writes
nothing (no recovery, no migration)::

    with Store(path, readonly=True) as store:
        page = query.jobs(store, limit=50, policy="priority")
        s = query.stats(store)

Pure Python and sqlite3: no Dask, widgets, arrays or torch are imported.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import policy as _policy
from .model import BatchJob, JobStatus, Stats
from .store import Counts

if TYPE_CHECKING:
    from .store import Store

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
_UNFINISHED = ("pending", "queued", "running")

StatusArg = JobStatus | str | Iterable[JobStatus | str] | None


def statuses(status: StatusArg) -> set[JobStatus] | None:
    """``status`` (one, several or None for all) as a set of :class:`JobStatus`."""
    if status is None:
        return None
    if isinstance(status, (str, JobStatus)):
        status = [status]
    return {JobStatus(s) for s in status}


def count(store: Store, status: StatusArg = None) -> int:
    """How many jobs (with ``status``) the store holds now — for paging through :func:`jobs`."""
    return store.count(statuses(status))


def counts(store: Store) -> Counts:
    """Jobs and frames per status, recounted from the table (another process may have written)."""
    return store.refresh_counts()


def pending_order(store: Store, policy: str) -> list[_policy.Entry]:
    """Pending jobs in the order ``policy`` starts them (``fair`` interleaves owners)."""
    return _policy.order(store.entries(policy), policy, store.active_by_owner())


def positions(store: Store, policy: str, job_ids: Iterable[str]) -> dict[str, int]:
    """1-based queue places of these pending jobs under ``policy`` (jobs not pending are left out)."""
    ids = list(job_ids)
    if policy != "fair":
        return store.ranks(policy, ids)
    wanted = set(ids)
    return {k: v for k, v in _policy.positions(pending_order(store, policy)).items() if k in wanted}


def annotate(store: Store, policy: str, jobs: list[BatchJob], places: dict[str, int] | None = None) -> list[BatchJob]:
    """Set ``position``: 0 for queued / running jobs, the queue place for pending ones (``places``
    where already known, else from the store)."""
    places = dict(places or {})
    unplaced = [j.id for j in jobs if j.status == JobStatus.PENDING and j.id not in places]
    if unplaced:
        places.update(positions(store, policy, unplaced))
    for job in jobs:
        if job.status in ACTIVE:
            job.position = 0
        elif job.status == JobStatus.PENDING:
            job.position = places.get(job.id)
    return jobs


def jobs(
    store: Store,
    status: StatusArg = None,
    *,
    policy: str = "priority",
    order: str = "queue",
    limit: int | None = None,
    offset: int = 0,
) -> list[BatchJob]:
    """Jobs (or those with ``status``), ``position`` set (0 running, 1… waiting, in ``policy`` order).

    ``order="queue"``: running first, then waiting in the order they will start, then finished
    (arrival order). ``order="submitted"``: the order they were added. ``limit``/``offset`` page
    through either order in the store without loading the other jobs.
    """
    _policy.check_policy(policy)
    wanted = statuses(status)
    if order == "submitted":
        return annotate(store, policy, store.jobs(wanted, order="submitted", limit=limit, offset=offset))
    if order != "queue":
        raise ValueError(f"unknown job order {order!r}; choose 'queue' or 'submitted'")
    out: list[BatchJob] = []
    places: dict[str, int] = {}  # queue positions of the waiting jobs in the page, known from the order
    remaining = None if limit is None else max(int(limit), 0)
    skip = max(int(offset), 0)
    for group, key in ((ACTIVE, "seq"), ((JobStatus.PENDING,), policy), (FINISHED, "seq")):
        wanted_here = [s for s in group if wanted is None or s in wanted]
        if not wanted_here or remaining == 0:
            continue
        if key == "fair":  # interleaved by owner: only policy.order knows it
            ids = [e.id for e in pending_order(store, policy)]
            if skip and skip >= len(ids):
                skip -= len(ids)
                continue
            chunk = store.get_many(ids[skip : None if remaining is None else skip + remaining])
        else:
            n = store.count(wanted_here) if skip else 0
            if skip and skip >= n:
                skip -= n
                continue
            chunk = store.jobs(wanted_here, order=key, limit=remaining, offset=skip)
        if key == policy:
            places.update((job.id, skip + i) for i, job in enumerate(chunk, 1))
        skip = 0
        out += chunk
        if remaining is not None:
            remaining -= len(chunk)
    return annotate(store, policy, out, places)


def make_stats(c: Counts, state: str, pace: _policy.Pace) -> Stats:
    """A :class:`~goesvfi_lab.model.Stats` from per-status counts, the state word and the pace.

    Progress is frames done of frames wanted: cancelled jobs are not wanted.
    """
    frames_total = sum(v for s, v in c.frames_total.items() if s != "cancelled")
    frames_done = sum(v for s, v in c.frames_done.items() if s != "cancelled")
    return Stats(
        total=sum(c.jobs.values()),
        pending=c.jobs["pending"],
        queued=c.jobs["queued"],
        running=c.jobs["running"],
        completed=c.jobs["completed"],
        failed=c.jobs["failed"],
        cancelled=c.jobs["cancelled"],
        frames_done=frames_done,
        frames_total=frames_total,
        success_rate=_policy.success_rate(c.jobs["completed"], c.jobs["failed"]),
        throughput=pace.throughput,
        eta_seconds=pace.eta_seconds,
        progress=_policy.progress(frames_done, frames_total),
        state=state,
    )


def stale(store: Store) -> set[str]:
    """Ids of queued / running jobs whose queue is gone (killed): the next queue to open the store
    returns them to pending. Read only: nothing is changed here."""
    return set(store.stale_claims())


def stats(store: Store, *, now: float | None = None, window: float = 60.0, paused: bool = False) -> Stats:
    """Stats of a store some other process may be running, from the table alone.

    Counts are recounted; the state word is ``running`` while a live queue holds jobs (claims of a
    killed queue, :func:`stale`, do not count); throughput and ETA come from the jobs' start and end
    times (:func:`~goesvfi_lab.policy.job_work`) over the last ``window`` seconds, through the same
    :func:`~goesvfi_lab.policy.pace` as the notebook panel and the ``/goesvfi`` page. Reads every
    started job (one pass over the store).
    """
    now = time.time() if now is None else now
    c = counts(store)
    unfinished = sum(c.jobs[s] for s in _UNFINISHED)
    claimed = c.jobs["queued"] + c.jobs["running"]
    live = claimed > 0 and claimed > len(stale(store))  # a queue (here or elsewhere) holds jobs: it is running
    state = _policy.queue_state(started=live, paused=paused, unfinished=unfinished)
    started = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED)
    recent = [j for j in store.iter_jobs(started) if j.finished_at is None or j.finished_at > now - window]
    remaining = sum(max(c.frames_total[k] - c.frames_done[k], 0) for k in _UNFINISHED)
    pace = _policy.pace(
        _policy.job_work(recent, now), now, window, remaining, sum(c.jobs.values()), busy=state == "running"
    )
    return make_stats(c, state, pace)
