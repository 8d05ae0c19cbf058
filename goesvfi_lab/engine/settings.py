"""Every ``goesvfi.*`` setting the engine reads, read once into a frozen :class:`EngineSettings`.

Why once: a value read at each use can change under a running queue half-way through a decision (a
job's retries counted against two budgets, a window resized mid-batch). Why no defaults here: they
live in ``goesvfi_lab/goesvfi.yaml`` only (registered by :mod:`goesvfi_lab.config`), so a second
copy cannot drift; a key missing from the YAML is a KeyError, not a silent fallback.

When they apply: :meth:`goesvfi_lab.queue.BatchQueue.start` reads them when it builds the engine, so
a ``dask.config`` change applies from the next ``start()`` (after ``stop()``, or on a new queue), not
to a running one. What a running queue does apply live is not dask.config: ``BatchQueue.max_concurrent``
(from the next feeding round), ``pause()``/``resume()``, a job's priority and position, and a job's own
``settings["timeout"]`` (read when the job is claimed). ``goesvfi.cluster.*`` applies when a cluster is
made (:mod:`.cluster`); ``goesvfi.dashboard.*`` is read by :mod:`.dashboard`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import dask.config

from goesvfi_lab import config  # noqa: F401  (registers the goesvfi.yaml defaults)


def _setting(key: str, cast: Callable[[Any], Any] = float) -> Any:
    return field(metadata={"key": key, "cast": cast})


def _float_or_none(value: Any) -> float | None:
    return float(value) if value else None


def _int_or_zero(value: Any) -> int:
    return int(value or 0)


@dataclass(frozen=True)
class EngineSettings:
    """The engine's ``goesvfi.*`` settings; each field names its key (``EngineSettings.key(name)``)."""

    window_factor: float = _setting("queue.window-factor")
    window_seconds: float = _setting("queue.window-seconds")
    window_max_per_slot: float = _setting("queue.window-max-per-slot")
    task_seconds: float = _setting("queue.task-seconds")
    batch_delay: float = _setting("queue.batch-delay")
    circuit_breaker: int = _setting("queue.circuit-breaker", _int_or_zero)
    metrics_interval: float = _setting("queue.metrics-interval")
    throughput_window: float = _setting("queue.throughput-window")
    stop_poll: float = _setting("queue.stop-poll")
    cleanup_grace: float = _setting("queue.cleanup-grace")
    lock_max_age: float = _setting("queue.lock-max-age")
    lock_retry: float = _setting("queue.lock-retry")
    gpu_wait_retry: float = _setting("queue.gpu-wait-retry")
    timeout: float | None = _setting("queue.timeout", _float_or_none)  # a job's settings["timeout"] wins
    retry_max_attempts: int = _setting("retry.max-attempts", int)
    retry_base: float = _setting("retry.base")
    retry_cap: float = _setting("retry.cap")
    memory_limit: Any = _setting("cluster.memory-limit", lambda v: v)  # named in out-of-memory messages

    @staticmethod
    def key(name: str) -> str:
        """The dask.config key of field ``name``, e.g. ``goesvfi.queue.window-factor``."""
        return "goesvfi." + {f.name: f for f in fields(EngineSettings)}[name].metadata["key"]

    @classmethod
    def from_config(cls) -> EngineSettings:
        """Read every field from dask.config now (the YAML's defaults, then user files, env vars, ``set``)."""
        return cls(**{f.name: f.metadata["cast"](dask.config.get(cls.key(f.name))) for f in fields(cls)})
