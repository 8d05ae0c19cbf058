"""Dask plugins: models loaded once per worker, and live metrics counted on the scheduler.

:class:`ModelLoader` (a ``WorkerPlugin``) builds the interpolation backends when a worker starts —
also on workers that join later — so the first pair on a worker does not pay for loading a network
and later pairs reuse the same instance (the backend registry caches per process).

:class:`MetricsPlugin` (a ``SchedulerPlugin``) watches transitions of our task keys
(``vfi-{job}-{pair}-a{attempt}``, ``vfi-{job}-{first}_{last}-a{attempt}`` for a task carrying
several consecutive pairs; measured cost a few µs per transition) and publishes on the topic
``goesvfi``: a periodic ``summary`` (per-job pairs started / done / erred since the last summary,
plus cluster slots) and immediate per-job events (``job-done`` when the assemble task finished,
``pair-erred``, ``memory-kill``). Clients receive them with ``client.subscribe_topic``. Publishing
periodically keeps the topic well under the scheduler's 1000-event history cap per topic.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

logger = logging.getLogger(__name__)

TOPIC = "goesvfi"
KEY_PREFIX = "vfi-"
ASSEMBLE = "asm"


def task_key(job_id: str, part: int | str | tuple[int, ...], attempt: int) -> str:
    """``vfi-{job}-{pair}-a{attempt}``; ``{first}_{last}`` for consecutive pairs in one task; ``asm`` for
    the assemble task."""
    if isinstance(part, tuple):
        part = str(part[0]) if len(part) == 1 else f"{part[0]}_{part[-1]}"
    return f"{KEY_PREFIX}{job_id}-{part}-a{attempt}"


def key_pairs(part: int | str | tuple[int, int]) -> list[int]:
    """The pairs a parsed key's part stands for (none for the assemble task)."""
    if isinstance(part, tuple):
        return list(range(part[0], part[1] + 1))
    return [] if part == ASSEMBLE else [int(part)]


def parse_key(key: Any) -> tuple[str, int | str | tuple[int, int], int] | None:
    """(job, pair / (first, last) pairs / "asm", attempt) of one of our keys, None for anything else."""
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX):
        return None
    try:
        job, part, attempt = key[len(KEY_PREFIX) :].rsplit("-", 2)
    except ValueError:
        return None
    if not attempt.startswith("a") or not attempt[1:].isdigit():
        return None
    if part == ASSEMBLE:
        return job, ASSEMBLE, int(attempt[1:])
    first, sep, last = part.partition("_")
    if sep and first.isdigit() and last.isdigit() and int(first) <= int(last):
        return job, (int(first), int(last)), int(attempt[1:])
    if not part.isdigit():
        return None
    return job, int(part), int(attempt[1:])


class ModelLoader(WorkerPlugin):
    """Build the backends for ``methods`` on each worker at start-up (errors are logged, not fatal)."""

    name = "goesvfi-models"
    idempotent = True

    def __init__(self, methods: tuple[str, ...] = ("auto",), kinds: tuple[str, ...] = ("video", "field")) -> None:
        self.methods = tuple(methods)
        self.kinds = tuple(kinds)

    def setup(self, worker) -> None:
        from goesvfi_lab.interp import get_backend

        device = "auto" if worker.state.total_resources.get("GPU") else "cpu"
        loaded = {}
        for method in self.methods:
            for kind in self.kinds:
                try:
                    backend = get_backend(method, device, kind)
                except Exception as exc:  # a missing optional model must not take the worker down
                    logger.warning("goesvfi: could not load %s/%s on %s: %s", method, kind, device, exc)
                    continue
                loaded[f"{method}/{kind}"] = {
                    "backend_id": id(backend),
                    "name": backend.name,
                    "device": str(backend.device),
                }
        worker.goesvfi_models = loaded  # inspected by tests and `goesvfi-lab status`


class MetricsPlugin(SchedulerPlugin):
    """Count our keys' transitions; publish summaries every ``interval`` s and terminal events at once."""

    name = "goesvfi-metrics"
    idempotent = True

    def __init__(self, interval: float = 0.5, topic: str = TOPIC, forget_after: float = 600.0) -> None:
        self.interval = float(interval)
        self.topic = topic
        self.forget_after = float(forget_after)
        self.scheduler = None
        self._pc = None
        self._reset()

    def _reset(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.delta: dict[str, dict[str, Any]] = {}
        self.transitions = 0
        self.cluster_dirty = True

    async def start(self, scheduler) -> None:
        from tornado.ioloop import PeriodicCallback

        self.scheduler = scheduler
        self._reset()
        self._pc = PeriodicCallback(self.publish, self.interval * 1000)
        self._pc.start()

    def snapshot(self) -> dict[str, Any]:
        """Per-job pair counts since the scheduler saw the job (``client.run_on_scheduler`` can read it)."""
        jobs = {
            job: {
                "done": len(s["done"]),
                "running": len(s["processing"]),
                "erred": s["erred"],
                "assembled": s["assembled"],
                "last_seen": s["seen"],
            }
            for job, s in self.jobs.items()
        }
        return {"cluster": self.cluster(), "transitions": self.transitions, "jobs": jobs}

    async def close(self) -> None:
        if self._pc is not None:
            self._pc.stop()

    # --- counting ---------------------------------------------------------------------------

    def _job_delta(self, job: str) -> dict[str, Any]:
        d = self.delta.get(job)
        if d is None:
            d = self.delta[job] = {"started": [], "done": [], "erred": [], "attempt": 0}
        return d

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        parsed = parse_key(key)
        if parsed is None:
            return
        self.transitions += 1
        job, part, attempt = parsed
        state = self.jobs.setdefault(
            job, {"seen": time.time(), "done": set(), "erred": 0, "processing": set(), "assembled": False}
        )
        state["seen"] = time.time()
        pairs = key_pairs(part)
        if part != ASSEMBLE:
            if finish == "processing":
                state["processing"].add(part)
            else:
                state["processing"].discard(part)
            if finish == "memory":
                state["done"].update(pairs)
            elif finish == "erred":
                state["erred"] += 1
        if part == ASSEMBLE:
            if finish == "memory":
                state["assembled"] = True
                self._log({"type": "job-done", "job": job, "attempt": attempt})
            elif finish == "erred":
                self._log(
                    {
                        "type": "job-erred",
                        "job": job,
                        "attempt": attempt,
                        "error": str(kwargs.get("exception_text") or "")[:500],
                    }
                )
            return
        d = self._job_delta(job)
        d["attempt"] = max(d["attempt"], attempt)
        if finish == "processing":
            d["started"].append(pairs[0])
        elif finish == "memory":
            d["done"].extend(pairs)
        elif finish == "erred":
            d["erred"].append(pairs[0])
            self._log(
                {
                    "type": "pair-erred",
                    "job": job,
                    "pair": pairs[0],
                    "attempt": attempt,
                    "error": str(kwargs.get("exception_text") or "")[:500],
                }
            )

    def add_worker(self, scheduler=None, worker=None) -> None:
        self.cluster_dirty = True

    def remove_worker(self, scheduler=None, worker=None, **kwargs) -> None:
        self.cluster_dirty = True

    def log_event(self, topic, msg) -> None:
        if topic == "worker-restart-memory" and isinstance(msg, dict):
            ws = self.scheduler.workers.get(msg.get("worker")) if self.scheduler is not None else None
            limit = getattr(ws, "memory_limit", None)
            self._log({"type": "memory-kill", "worker": msg.get("worker"), "rss": msg.get("rss"), "limit": limit})

    # --- publishing -------------------------------------------------------------------------

    def _log(self, msg: dict[str, Any]) -> None:
        if self.scheduler is not None:
            self.scheduler.log_event(self.topic, msg)

    def cluster(self) -> dict[str, Any]:
        workers = self.scheduler.workers.values() if self.scheduler is not None else []
        threads = gpus = n = 0
        for ws in workers:
            n += 1
            threads += ws.nthreads
            gpus += int((ws.resources or {}).get("GPU", 0))
        prefix = getattr(self.scheduler, "task_prefixes", {}).get("vfi")
        duration = getattr(prefix, "duration_average", -1) if prefix is not None else -1
        saturation = getattr(self.scheduler, "WORKER_SATURATION", None)
        queuing = saturation is not None and saturation != float("inf")
        return {
            "workers": n,
            "threads": threads,
            "gpus": gpus,
            "root_task_queuing": queuing,
            "task_seconds": duration if duration and duration > 0 else None,
        }

    def publish(self) -> None:
        now = time.time()
        if self.delta or self.cluster_dirty:
            self._log({"type": "summary", "t": now, "jobs": self.delta, "cluster": self.cluster()})
            self.delta = {}
            self.cluster_dirty = False
        for job in [j for j, s in self.jobs.items() if now - s["seen"] > self.forget_after]:
            del self.jobs[job]
