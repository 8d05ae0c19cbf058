"""Shared checks for the reliability tests: the output tree on disk, processes, a restartable scheduler."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from _engine_support import SubprocessCluster, check_outputs

from goesvfi_lab.engine import layout
from goesvfi_lab.model import BatchJob, JobStatus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def leftovers(root) -> list[str]:
    """Temporaries of interrupted atomic writes and output locks anywhere under ``root``."""
    found = []
    for directory, _dirs, files in os.walk(os.fspath(root)):
        for name in files:
            if layout._TEMP.match(name) or name == ".goesvfi.lock":
                found.append(os.path.join(directory, name))
    return sorted(found)


def assert_completed_on_disk(jobs: list[BatchJob]) -> None:
    """Every job COMPLETED, and its folder holds exactly its frames, all decoding, with a matching manifest."""
    for job in jobs:
        assert job.status == JobStatus.COMPLETED, (job.name, job.status, job.error)
        check_outputs(job.output_dir, len(job.inputs), job.factor)
        assert leftovers(job.output_dir) == [], leftovers(job.output_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RestartableCluster(SubprocessCluster):
    """A SubprocessCluster on a fixed port, so a scheduler started again is found at the same address.

    Dask workers close when their scheduler connection breaks (``worker-handle-scheduler-connection-
    broken``), so a restart means a new scheduler and new workers, as a deployment's supervisor would do.
    """

    def __init__(self, tmpdir, workers, **kw) -> None:
        super().__init__(tmpdir, workers, **kw)
        self.port = free_port()

    def kill_all(self) -> None:
        """SIGKILL the scheduler and every worker (nannies included): a crashed head node."""
        import signal

        for p in [self.scheduler, *self.workers.values()]:
            if p is not None and p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(30)


def cli(*args: str, **kw) -> subprocess.Popen:
    """``goesvfi-lab ARGS`` in a new process (argument list, no shell)."""
    return subprocess.Popen(
        [sys.executable, "-m", "goesvfi_lab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=kw.pop("cwd", REPO),
        **kw,
    )
