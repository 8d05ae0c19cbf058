"""Helpers for the engine, queue and CLI tests: real frames on disk and a real multi-process cluster.

``SubprocessCluster`` runs ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, started
with argument lists (no shell), found through a scheduler file (port 0, so no fixed ports), waited
for with deadlines, and always terminated (then killed) on close.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from goesvfi_lab.engine import layout
from goesvfi_lab.plan import n_frames

# LocalCluster options for tests: the scheduler's HTTP server on a free loopback port (its default
# is the fixed 8787, which parallel test runs would fight over), and no Bokeh dashboard to import
NO_DASHBOARD = {"dashboard_address": "127.0.0.1:0", "scheduler_kwargs": {"dashboard": False}}


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, interval: float = 0.05, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def make_frames(directory, n: int = 5, size: int = 32, seed: int = 0, prefix: str = "f") -> list[str]:
    """``n`` distinct RGB PNG frames (smooth gradients plus noise, so each file's content differs)."""
    from goesvfi_lab.frames import write_png

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    paths = []
    for i in range(n):
        base = (xx * 3 + yy * 2 + i * 17) % 256
        img = np.stack([base, (base + 85) % 256, (base + 170) % 256], axis=-1)
        img = np.clip(img + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
        p = os.path.join(os.fspath(directory), f"{prefix}{i:03d}.png")
        write_png(p, img)
        paths.append(p)
    return paths


def check_outputs(output_dir: str, n_inputs: int, factor: int) -> list[str]:
    """Assert a finished job's folder: every frame decodes, nothing partial, manifest matches."""
    from goesvfi_lab.frames import read_frame

    total = n_frames(n_inputs, factor)
    names = sorted(n for n in os.listdir(output_dir) if n.endswith(".png") and not n.startswith("."))
    assert names == [layout.frame_name(i) for i in range(total)], names
    for name in names:
        read_frame(os.path.join(output_dir, name))
    assert layout.temporaries(output_dir) == []
    manifest = json.load(open(os.path.join(output_dir, layout.MANIFEST)))
    assert manifest["frames"] == total and manifest["factor"] == factor
    return [os.path.join(output_dir, n) for n in names]


class SubprocessCluster:
    """``dask scheduler`` plus ``dask worker`` processes on 127.0.0.1, for tests.

    ``workers`` maps a worker name to extra ``dask worker`` arguments (e.g. ``["--resources", "GPU=1"]``).
    """

    def __init__(self, tmpdir, workers: dict[str, list[str]], nanny: bool = True, env: dict | None = None) -> None:
        self.tmpdir = os.fspath(tmpdir)
        self.spec = workers
        self.nanny = nanny
        self.env = {
            **os.environ,
            "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "inf",
            **(env or {}),
            "PYTHONUNBUFFERED": "1",
        }
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.address = ""
        self._logs: list = []

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(os.path.join(self.tmpdir, log_name), "wb")
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )

    port = 0  # a free port each start; a subclass fixes it so a restarted scheduler keeps its address

    def start(self, timeout: float = 120.0) -> SubprocessCluster:
        os.makedirs(self.tmpdir, exist_ok=True)
        sched_file = os.path.join(self.tmpdir, "scheduler.json")
        if os.path.exists(sched_file):  # left by a previous start: wait for the new scheduler's own
            os.remove(sched_file)
        try:
            self.scheduler = self._spawn(
                [
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-dashboard",
                    "--scheduler-file",
                    sched_file,
                ],
                "scheduler.log",
            )
            wait_for(
                lambda: os.path.exists(sched_file) and os.path.getsize(sched_file) > 0,
                timeout,
                0.1,
                "the scheduler file",
            )
            self.address = json.load(open(sched_file))["address"]
            for name in self.spec:
                self.start_worker(name)
            self.wait_workers(len(self.spec), timeout)
        except BaseException:
            self.close()
            raise
        return self

    def start_worker(self, name: str) -> subprocess.Popen:
        args = [
            "worker",
            self.address,
            "--name",
            name,
            "--nthreads",
            "1",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
            "--memory-limit",
            "0",
            *self.spec[name],
        ]
        if not self.nanny:
            args.append("--no-nanny")
        proc = self._spawn(args, f"worker-{name}.log")
        self.workers[name] = proc
        return proc

    def wait_workers(self, n: int, timeout: float = 120.0) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(n, timeout=timeout)

    def worker_pid(self, name: str) -> int:
        """The pid running the worker's tasks (the nanny's child when there is a nanny)."""
        import psutil

        proc = self.workers[name]
        if not self.nanny:
            return proc.pid
        children = wait_for(lambda: psutil.Process(proc.pid).children(recursive=True), 30, 0.1, "worker process")
        return children[-1].pid

    def kill_worker(self, name: str) -> None:
        os.kill(self.worker_pid(name), signal.SIGKILL)

    def log(self, name: str = "scheduler.log") -> str:
        with open(os.path.join(self.tmpdir, name), "rb") as f:
            return f.read().decode(errors="replace")

    def close(self) -> None:
        procs = [*self.workers.values(), *([self.scheduler] if self.scheduler else [])]
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> SubprocessCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# short waits so faults are noticed, swept and retried within seconds, not minutes (multi-process tests)
FAULT_CONFIG = {
    "goesvfi.queue.cleanup-grace": 0.3,
    "goesvfi.queue.metrics-interval": 0.1,
    "goesvfi.queue.lock-retry": 0.3,
    "goesvfi.retry.base": 0.3,
}
