"""Getting a Dask client for the queue: an embedded LocalCluster sized to the machine, or the user's cluster.

``BatchQueue(cluster=...)`` accepts None (start a LocalCluster here), a Cluster object (LocalCluster,
dask-jobqueue's SLURMCluster, dask-kubernetes, a dask-gateway cluster...), a ``distributed.Client``,
or a scheduler address (``"tcp://host:8786"``).

On a machine where torch sees CUDA, the LocalCluster runs one worker process per GPU, each with its
own ``CUDA_VISIBLE_DEVICES`` and ``resources={"GPU": 1}``: Dask resources are counters, not device
pinning, so pinning is done by giving each process one device. Otherwise it is a CPU LocalCluster
with ``goesvfi.cluster.*`` settings (workers, threads, memory limit).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import dask
from distributed import Client, LocalCluster, Nanny, Scheduler, SpecCluster

from goesvfi_lab import config


def gpu_count() -> int:
    """CUDA devices torch can see here (0 without torch or CUDA)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0
    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # a broken driver means no usable GPU, not a crash
        return 0


def _setting(value: Any, key: str) -> Any:
    return config.get(f"cluster.{key}") if value is None else value


def make_local_cluster(
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | float | None = None,
    gpus: int | None = None,
    processes: bool = True,
    dashboard_address: str | None = None,
) -> SpecCluster:
    """A LocalCluster for this machine: one worker per GPU when there are GPUs, else CPU workers.

    Unset arguments come from ``goesvfi.cluster.*`` (``workers``, ``threads-per-worker``,
    ``memory-limit``, ``dashboard-address``); ``gpus=None`` asks torch. The scheduler gets
    ``worker-saturation`` from ``goesvfi.cluster.worker-saturation`` (default inf): the queue's own
    bounded window replaces Dask's root-task queuing, and tasks on the workers then run strictly
    by priority. Set the same on your own scheduler for the same guarantee.
    """
    n_workers = _setting(n_workers, "workers")
    threads_per_worker = _setting(threads_per_worker, "threads-per-worker")
    memory_limit = _setting(memory_limit, "memory-limit")
    dashboard_address = _setting(dashboard_address, "dashboard-address")
    gpus = gpu_count() if gpus is None else int(gpus)
    saturation = config.get("cluster.worker-saturation")
    with dask.config.set({"distributed.scheduler.worker-saturation": saturation}):  # read by the Scheduler
        return _local_cluster(n_workers, threads_per_worker, memory_limit, gpus, processes, dashboard_address)


def _local_cluster(n_workers, threads_per_worker, memory_limit, gpus, processes, dashboard_address) -> SpecCluster:
    if gpus > 0 and processes:
        cpus = os.cpu_count() or 1
        threads = threads_per_worker or max(1, cpus // gpus)
        workers = {
            f"gpu-{i}": {
                "cls": Nanny,
                "options": {
                    "nthreads": threads,
                    "memory_limit": memory_limit,
                    "resources": {"GPU": 1},
                    "env": {"CUDA_VISIBLE_DEVICES": str(i)},
                },
            }
            for i in range(gpus)
        }
        scheduler = {"cls": Scheduler, "options": {"dashboard_address": dashboard_address}}
        return SpecCluster(workers=workers, scheduler=scheduler, name="goesvfi-gpu")
    kwargs: dict[str, Any] = {
        "processes": processes,
        "memory_limit": memory_limit,
        "dashboard_address": dashboard_address,
    }
    if n_workers:
        kwargs["n_workers"] = int(n_workers)
    if threads_per_worker:
        kwargs["threads_per_worker"] = int(threads_per_worker)
    return LocalCluster(**kwargs)


@dataclass
class Connection:
    """A client plus what this queue started itself (and must close)."""

    client: Client
    cluster: Any = None  # the Cluster object, when there is one (adapt, dashboard link)
    owns_client: bool = False
    owns_cluster: bool = False

    def close(self) -> None:
        if self.owns_client:
            self.client.close()
        if self.owns_cluster and self.cluster is not None:
            self.cluster.close()


def connect(cluster: Any = None, **local_options: Any) -> Connection:
    """A :class:`Connection` for whatever the user passed (see the module docstring)."""
    if cluster is None:
        local = make_local_cluster(**local_options)
        return Connection(Client(local), local, owns_client=True, owns_cluster=True)
    if isinstance(cluster, Client):
        return Connection(cluster, getattr(cluster, "cluster", None))
    if isinstance(cluster, str):
        return Connection(Client(cluster), None, owns_client=True)
    if hasattr(cluster, "scheduler_address"):  # any distributed Cluster
        return Connection(Client(cluster), cluster, owns_client=True)
    raise TypeError(f"cluster must be None, a Cluster, a Client or an address string, not {type(cluster).__name__}")


@dataclass(frozen=True)
class Slots:
    """What the cluster can run at once: worker threads, and GPU resource units."""

    workers: int = 0
    threads: int = 0
    gpus: int = 0


def cluster_slots(client: Client) -> Slots:
    info = client.scheduler_info(n_workers=-1)
    workers = info.get("workers", {}).values()
    return Slots(
        workers=len(workers),
        threads=sum(int(w.get("nthreads", 0)) for w in workers),
        gpus=sum(int((w.get("resources") or {}).get("GPU", 0)) for w in workers),
    )
