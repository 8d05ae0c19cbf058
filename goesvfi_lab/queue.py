"""``BatchQueue``: the one object users hold — jobs in a SQLite store, run on a Dask cluster.

    q = gl.BatchQueue()                       # LocalCluster here; or cluster=Cluster | Client | "tcp://..."
    q.add_job(gl.BatchJob(name="conus", inputs=paths, output_dir="out/conus", factor=4))
    q.start()                                 # returns at once; work runs in the background
    q.stats(), q.jobs(), q.on("job_completed", print), q.pause(), q.cancel(job_id), q.wait()

The store (:mod:`goesvfi_lab.store`) is the source of truth, so a queue reopened on the same store
after a kernel restart shows every job and ``start()`` carries on where the last one stopped. The
engine (:mod:`goesvfi_lab.engine.submitter`) keeps only a small window of tasks on the cluster.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import config
from . import policy as _policy
from . import query as _query
from .events import EventDispatcher
from .model import CLAIMED, UNFINISHED, BatchJob, JobPriority, JobStatus, Stats, new_job_id
from .store import Store, new_claimer


class BatchQueue:
    """Prioritised interpolation jobs on a Dask cluster, persisted in SQLite.

    ``cluster``: None (a LocalCluster sized to this machine, one worker per GPU if torch sees CUDA),
    a Cluster, a Client or a scheduler address. The connection is made by :meth:`start`.
    ``store``: path of the SQLite store (default: config ``goesvfi.queue.store``, else the user data
    dir) or a :class:`~goesvfi_lab.store.Store`. ``max_concurrent``: at most this many jobs running
    at once (None: as many as the window allows). ``policy``: "priority" (default), "fifo", "sjf"
    (fewest frames first) or "fair" (round-robin over job owners). ``on_locked``: what to do with a
    job whose output folder another queue or process holds: "wait" (look again later; it is then
    usually complete and skipped) or "skip" (cancel it with the reason, as ``goesvfi-lab run`` does).
    """

    def __init__(
        self,
        cluster: Any = None,
        store: str | os.PathLike[str] | Store | None = None,
        max_concurrent: int | None = None,
        policy: str | None = None,
        on_locked: str = "wait",
    ) -> None:
        self.store = (
            store if isinstance(store, Store) else Store(store, claim_timeout=config.get("queue.claim-timeout"))
        )
        self.policy = _policy.check_policy(policy or config.get("queue.policy"))
        self._submitter = None
        self.max_concurrent = max_concurrent
        self.on_locked = on_locked
        self.id = new_job_id()
        self.claimer = new_claimer(self.id)
        self.events = EventDispatcher()
        self.recovered = self.store.recover()  # jobs a dead queue left QUEUED/RUNNING are PENDING again
        self.meter = _policy.ThroughputMeter(float(config.get("queue.throughput-window")))
        self.events.on("job_started", self._job_began)  # the meter's span starts when computing does
        self._cluster_arg = cluster
        self._conn = None
        self._dashboard = None  # publishes job snapshots to the scheduler's /goesvfi page
        self._frames_computed: dict[str, int] = {}
        self._fetched: dict[str, Any] = {}  # NOAA archive downloads by the workers (engine/results.py)

    @property
    def max_concurrent(self) -> int | None:
        """At most this many jobs running at once (None: as many as the window allows)."""
        return self._max_concurrent

    @max_concurrent.setter
    def max_concurrent(self, value: int | None) -> None:
        if value is not None and int(value) < 1:
            raise ValueError("max_concurrent must be >= 1 or None")
        self._max_concurrent = None if value is None else int(value)
        if self._submitter is not None:  # a running queue applies it from its next feeding round
            self._submitter.max_concurrent = self._max_concurrent

    # --- connection -------------------------------------------------------------------------

    @property
    def client(self):
        """The Dask client once :meth:`start` has connected (None before)."""
        return None if self._conn is None else self._conn.client

    @property
    def cluster(self):
        return None if self._conn is None else self._conn.cluster

    @property
    def dashboard_link(self) -> str | None:
        client = self.client
        return getattr(client, "dashboard_link", None) if client is not None else None

    def connect(self):
        """Connect to (or start) the cluster now; :meth:`start` does this for you."""
        if self._conn is not None and self._conn.client.status in ("closing", "closed"):
            if not self._conn.owns_client:  # the scheduler went away and the user's client gave up
                raise RuntimeError(
                    "the Dask client this queue was given is closed (its scheduler went away?); "
                    "open a queue with a new one: BatchQueue(cluster=Client(...), store=...)"
                )
            if self._dashboard is not None:
                self._dashboard.stop()
                self._dashboard = None
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None  # ours: connect again below (a new LocalCluster if we had started one)
        if self._conn is None:
            from .engine.cluster import connect
            from .engine.dashboard import DashboardPublisher

            self._conn = connect(self._cluster_arg)
            # the page exists as soon as a queue is attached (gl.lab() shows its link before any start)
            self._dashboard = DashboardPublisher(self).start()
        return self._conn.client

    def adapt(self, minimum: int = 0, maximum: int | None = None, **kwargs: Any) -> Any:
        """Let the cluster scale between ``minimum`` and ``maximum`` workers (Dask adaptive scaling)."""
        self.connect()
        cluster = self.cluster
        if cluster is None or not hasattr(cluster, "adapt"):
            raise RuntimeError("adaptive scaling needs a Cluster object (pass one as cluster=...), not an address")
        return cluster.adapt(minimum=minimum, maximum=maximum, **kwargs)

    # --- adding jobs ------------------------------------------------------------------------

    def add_job(self, job: BatchJob) -> str:
        """Add one job (PENDING); returns its id. Jobs run in policy order once the queue is started."""
        return self.add_jobs([job])[0]

    def add_jobs(self, jobs: Iterable[BatchJob]) -> list[str]:
        """Add many jobs in one transaction (100,000 in a few seconds)."""
        jobs = list(jobs)
        for job in jobs:
            if job.status != JobStatus.PENDING:
                job.status = JobStatus.PENDING
        ids = self.store.add(jobs)
        self._wake()
        return ids

    def add_directory(
        self,
        root: str | os.PathLike[str],
        output_dir: str | os.PathLike[str],
        pattern: str = "*.png",
        recursive: bool = True,
        priority: JobPriority | int | str = JobPriority.NORMAL,
        factor: int = 2,
        method: str = "auto",
        settings: dict[str, Any] | None = None,
        owner: str = "",
        file_filter: Any = None,
    ) -> list[str]:
        """One job per sequence found under ``root`` (files matching the glob ``pattern``).

        Sequences are grouped as :func:`goesvfi_lab.group_sequences` does (ABI names by satellite,
        product, sector and band; other files by folder). Each job writes to
        ``output_dir/<folder>``, named by :func:`goesvfi_lab.plan.job_folder` as the notebook and
        ``goesvfi-lab run`` name it (so each resumes what the others started), made safe: no ``..``,
        separators, shell or ffmpeg metacharacters; always inside ``output_dir``.
        ``file_filter`` (a :class:`FileFilter`) replaces ``pattern``.
        """
        from .discover import FileFilter, group_sequences
        from .plan import jobs_for

        root = os.path.abspath(os.fspath(root))
        output_dir = os.path.abspath(os.fspath(output_dir))
        flt = file_filter or FileFilter(
            extensions=None, name_pattern=fnmatch.translate(pattern), exclude_paths=[output_dir]
        )
        paths = [p for p in flt.scan(root, recursive=recursive) if not p.startswith(output_dir + os.sep)]
        jobs = jobs_for(
            group_sequences(paths),
            output_dir,
            root=root,
            factor=factor,
            method=method,
            priority=priority,
            settings=settings,
            owner=owner,
        )
        return self.add_jobs(jobs)

    # --- running ----------------------------------------------------------------------------

    def start(self, preload: Iterable[str] | None = None) -> BatchQueue:
        """Connect, then run jobs in the background (returns at once). Resumes after :meth:`pause`.

        ``preload``: interpolation methods each worker loads at start-up (default: those of the
        pending jobs), so no pair pays for loading a model. The engine's ``goesvfi.*`` settings are read
        here (:class:`~goesvfi_lab.engine.settings.EngineSettings`): a config change applies from the
        next start() after stop(); :attr:`max_concurrent` applies to a running queue.
        """
        from .engine.settings import EngineSettings
        from .engine.submitter import Submitter

        client = self.connect()
        if self._submitter is None or not self._submitter.alive:
            if preload is None:
                preload = sorted({j.method for j in self.store.iter_jobs(UNFINISHED.values)}) or ["auto"]
            self._submitter = Submitter(
                client,
                self.store,
                self.events,
                claimer=self.claimer,
                policy_name=self.policy,
                max_concurrent=self.max_concurrent,
                meter=self.meter,
                frames_computed=self._frames_computed,
                fetched=self._fetched,
                on_locked=self.on_locked,  # goesvfi.* read now, for this run
                settings=EngineSettings.from_config(),
            )
            self._submitter.start(tuple(preload))
        elif self._submitter.paused_reason is not None:
            self._submitter.resume()
        return self

    def pause(self, cancel_queued: bool = False) -> None:
        """Stop submitting new work; running pairs finish, nothing is lost.

        ``cancel_queued``: also take back tasks already handed to Dask but not started yet.
        """
        if self._submitter is not None:
            self._submitter.pause("paused by the user", cancel_queued=cancel_queued)

    def resume(self) -> None:
        """Carry on after :meth:`pause` (or after the circuit breaker opened, or the scheduler was lost)."""
        if self._submitter is not None and not self._submitter.alive:
            self.start()
        elif self._submitter is not None:
            self._submitter.resume()

    def stop(self) -> None:
        """Stop running: in-flight work is stopped, claimed jobs go back to PENDING, the cluster we
        started is closed. The store keeps everything; a later :meth:`start` carries on."""
        if self._submitter is not None:
            self._submitter.shutdown()
            self._submitter = None
        if self._dashboard is not None:
            self._dashboard.stop()
            self._dashboard = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    close = stop

    def __enter__(self) -> BatchQueue:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._submitter is not None and self._submitter.alive

    @property
    def paused(self) -> bool:
        return self._submitter is not None and self._submitter.paused_reason is not None

    @property
    def paused_reason(self) -> str | None:
        """Why the queue is paused (the user, or the circuit breaker and its last error); None if not."""
        return None if self._submitter is None else self._submitter.paused_reason

    @property
    def inflight(self) -> int:
        """Tasks (pairs and assemble tasks) handed to Dask and not finished yet."""
        sub = self._submitter
        return 0 if sub is None else sub.on_loop(lambda: len(sub.futures))  # between steps: counts are settled

    @property
    def frames_computed(self) -> dict[str, int]:
        """Frames this queue computed per job since it started (frames resumed from disk not counted)."""
        return dict(self._frames_computed)

    @property
    def fetched(self) -> dict[str, Any]:
        """Remote (``s3://``) inputs the workers downloaded since this queue started: ``bytes``, ``seconds``
        (download time, summed over workers), ``rate`` (bytes per second of it) and ``workers`` (bytes each)."""
        got = dict(self._fetched)
        seconds = got.get("seconds", 0.0)
        return {
            "bytes": got.get("bytes", 0),
            "seconds": seconds,
            "rate": got.get("bytes", 0) / seconds if seconds else 0.0,
            "workers": dict(got.get("workers", {})),
        }

    @property
    def callback_errors(self) -> list:
        """Exceptions raised by ``on()`` callbacks (logged, and kept here)."""
        return self.events.errors

    @property
    def loop_error(self) -> BaseException | None:
        return None if self._submitter is None else self._submitter.loop_error

    def _wake(self) -> None:
        if self._submitter is not None:
            self._submitter.wake()

    # --- control ----------------------------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Cancel a job: a pending one never runs; a running one stops between frames and its partial
        outputs are removed. Returns False if the job had already finished."""
        self._require(job_id)
        if self._submitter is not None:
            return self._submitter.cancel(job_id)
        changed = self.store.update(
            job_id, expect=UNFINISHED.values, status=JobStatus.CANCELLED, finished_at=time.time()
        )
        if changed:
            self.events.fire("job_cancelled", job_id=job_id, was="pending")
        return changed

    def cancel_all(self) -> int:
        """Cancel every unfinished job; returns how many."""
        return sum(self.cancel(job.id) for job in self.store.jobs(UNFINISHED.values))

    def retry(self, job_id: str) -> bool:
        """Put a FAILED or CANCELLED job back in the queue (attempts reset)."""
        self._require(job_id)
        changed = self.store.update(
            job_id,
            expect=(JobStatus.FAILED, JobStatus.CANCELLED),
            status=JobStatus.PENDING,
            attempts=0,
            error=None,
            next_retry_at=None,
            finished_at=None,
            started_at=None,
            frames_done=0,
        )
        self._wake()
        return changed

    def retry_failed(self) -> int:
        """Put every FAILED job back in the queue; returns how many (0: nothing had failed)."""
        return sum(self.retry(job.id) for job in self.store.jobs([JobStatus.FAILED]))

    def clear_completed(self, cancelled: bool = False) -> int:
        """Forget COMPLETED jobs (and CANCELLED ones with ``cancelled=True``); their outputs stay on disk.

        Returns how many. Failed jobs are kept: they wait for a retry or a look at their error.
        """
        statuses = [JobStatus.COMPLETED, *([JobStatus.CANCELLED] if cancelled else [])]
        return self.store.delete(statuses)

    def set_priority(self, job_id: str, priority: JobPriority | int | str) -> None:
        """Change the priority of a job that has not started; it keeps its arrival order in the new level."""
        self._require_pending(job_id)
        self.store.update(job_id, expect=(JobStatus.PENDING,), priority=JobPriority.parse(priority))
        self._wake()

    def move(self, job_id: str, position: int) -> None:
        """Move a job that has not started to ``position`` (1 = next to start) among the waiting jobs.

        Under ``priority`` a job moved past jobs of another level takes their level; under ``sjf``
        only jobs of equal size and under ``fair`` only one owner's jobs can be reordered (the
        policy decides the rest).
        """
        self._require_pending(job_id)
        ordered = self._pending_order()
        seq, prio = _policy.move_seq(ordered, job_id, position, self.policy)
        self.store.update(job_id, expect=(JobStatus.PENDING,), seq=seq, priority=prio)
        self._wake()

    def _require(self, job_id: str) -> BatchJob:
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r} in {self.store.path}")
        return job

    def _require_pending(self, job_id: str) -> None:
        job = self._require(job_id)
        if job.status != JobStatus.PENDING:
            raise ValueError(f"job {job_id} is {job.status.value}; only jobs that have not started can be reordered")

    # --- views ------------------------------------------------------------------------------

    def _pending_order(self) -> list:
        return _query.pending_order(self.store, self.policy)

    def jobs(
        self,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        *,
        order: str = "queue",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[BatchJob]:
        """Jobs (or those with ``status``); ``position`` is 0 for running ones, 1… for waiting ones.

        ``order="queue"``: running first, then waiting in the order they will start, then finished
        (arrival order). ``order="submitted"``: the order they were added — the notebook table's, so
        rows do not jump when a job changes state. ``limit``/``offset`` page through either order in
        the store without loading the other jobs (what keeps a 100,000-job table cheap to refresh).
        The same pages as :func:`goesvfi_lab.query.jobs`, plus the live frame counts of running jobs.
        """
        page = _query.jobs(self.store, status, policy=self.policy, order=order, limit=limit, offset=offset)
        return self._live(page)

    def count(self, status: JobStatus | str | Iterable[JobStatus | str] | None = None) -> int:
        """How many jobs (with ``status``) the store holds — for paging through :meth:`jobs`."""
        return _query.count(self.store, status)

    def _annotate(self, jobs: list[BatchJob], places: dict[str, int] | None = None) -> list[BatchJob]:
        """Set ``position`` and the live frame count of running jobs (persisted progress lags a little)."""
        return self._live(_query.annotate(self.store, self.policy, jobs, places))

    def _live(self, jobs: list[BatchJob]) -> list[BatchJob]:
        live = self._submitter.live_frames() if self._submitter is not None else {}
        for job in jobs:
            if job.status in CLAIMED:
                job.frames_done = max(job.frames_done, live.get(job.id, 0))
        return jobs

    def _positions(self, job_ids: list[str]) -> dict[str, int]:
        return _query.positions(self.store, self.policy, job_ids)

    def job(self, job_id: str) -> BatchJob:
        return self._annotate([self._require(job_id)])[0]

    @property
    def state(self) -> str:
        """The queue's state word, the one every view shows (:func:`~goesvfi_lab.policy.queue_state`):
        ``paused``, ``running``, ``ready`` (started, nothing left to do) or ``idle`` (not started, or stopped)."""
        return _policy.queue_state(self.running, self.paused, self.store.counts.unfinished)

    def stats(self) -> Stats:
        """Counts, frames, success rate, state, recent throughput (frames/s), ETA and progress — in microseconds.

        Throughput and ETA come from :func:`goesvfi_lab.policy.pace` and the state word from
        :func:`~goesvfi_lab.policy.queue_state`, as on the ``/goesvfi`` page and in ``goesvfi-lab status``.
        Progress is frames done of frames wanted: a failed job's missing frames are not done.
        """
        c = self.store.counts
        remaining = c.frames_left
        state = _policy.queue_state(self.running, self.paused, c.unfinished)
        self.meter.observe(state == "running")  # idle → running starts a new stretch of measured work
        now = self.meter.clock()
        pace = _policy.pace(
            self.meter.work(now), now, self.meter.window, remaining, sum(c.jobs.values()), busy=state == "running"
        )
        return _query.make_stats(c, state, pace)

    def _job_began(self, message: dict[str, Any]) -> None:
        """``job_started``: tell the meter when the job began computing (its ``started_at``, in the meter's clock)."""
        started = getattr(message.get("job"), "started_at", None)
        ago = min(max(time.time() - started, 0.0), self.meter.window) if started else 0.0
        self.meter.begin(self.meter.clock() - ago)

    def wait(self, timeout: float | None = None, poll: float = 0.25) -> bool:
        """Block until no job is pending, queued or running (True), or ``timeout`` passes (False).

        For scripts: in a notebook, start() and watch ``gl.panel(q)`` instead. Raises RuntimeError if
        the circuit breaker paused the queue, or the scheduler was lost for good (it would otherwise
        wait forever).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = threading.Event()

        def wake(message: dict[str, Any]) -> None:
            finished.set()

        for event in ("job_completed", "job_failed", "job_cancelled", "queue_paused"):
            self.events.on(event, wake)
        try:
            while True:
                finished.clear()
                self.store.refresh_counts()
                c = self.store.counts.jobs
                if c["pending"] + c["queued"] + c["running"] == 0:
                    if self._submitter is not None and self._submitter.alive and self._submitter.checks_pending():
                        # the last scores (goesvfi_lab.quality) arrive after job_completed: a script's "done"
                        # includes them (they cost at most ~10 % of the work; see goesvfi.quality)
                        if deadline is not None and time.monotonic() >= deadline:
                            return False
                        time.sleep(min(poll, 0.05))
                        continue
                    if self._submitter is not None:  # callbacks of the last job_completed have run too
                        self._submitter.events_delivered()
                    return True
                if self._submitter is not None and self._submitter.breaker.is_open:
                    raise RuntimeError(self._submitter.breaker.reason)
                if self._submitter is not None and self._submitter.lost_reason:
                    raise RuntimeError(self._submitter.lost_reason)
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                finished.wait(poll if deadline is None else max(min(poll, deadline - time.monotonic()), 0))
        finally:
            for event in ("job_completed", "job_failed", "job_cancelled", "queue_paused"):
                self.events.on(event, wake, remove=True)

    def on(self, event: str, callback: Callable[[dict[str, Any]], Any], remove: bool = False) -> None:
        """Call ``callback(message)`` on ``event`` (see :data:`goesvfi_lab.events.EVENTS`); ``remove`` unregisters."""
        self.events.on(event, callback, remove=remove)

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"<BatchQueue {s.state} policy={self.policy} jobs={s.total} pending={s.pending} running={s.running}"
            f" completed={s.completed} failed={s.failed} store={self.store.path!r}>"
        )
