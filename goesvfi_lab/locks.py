"""Output-directory locks: two queues or processes on one output tree never run the same job.

Each job's output directory holds a ``.goesvfi.lock`` marker while a queue works on it, taken with
:class:`filelock.SoftFileLock` (exclusive creation; works on network file systems where ``flock``
does not). The marker records the holder's pid and host. A lock is *stale* when its holder is
provably gone (same host, pid not running) or when it has not been refreshed for ``max_age``
seconds; the holder refreshes it (:meth:`OutputLock.touch`) while it works, so age only catches
holders on other hosts that died. Stale locks are removed before acquiring and by
``goesvfi-lab locks cleanup``.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import filelock

from .store import pid_alive

LOCK_NAME = ".goesvfi.lock"
DEFAULT_MAX_AGE = 600.0


def lock_path(output_dir: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(output_dir), LOCK_NAME)


@dataclass(frozen=True)
class LockInfo:
    """One lock file as found on disk."""

    path: str
    pid: int | None
    host: str | None
    age: float  # seconds since the holder last refreshed it
    stale: bool
    reason: str  # why it is stale, or who holds it

    @property
    def output_dir(self) -> str:
        return os.path.dirname(self.path)


def _read(path: str, max_age: float) -> tuple[LockInfo, os.stat_result] | None:
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read(1024).splitlines()
    except FileNotFoundError:
        return None
    age = max(time.time() - st.st_mtime, 0.0)
    pid = int(lines[0]) if lines and lines[0].isdigit() else None
    host = lines[1] if len(lines) > 1 and lines[1] else None
    if pid is not None and host == socket.gethostname() and not pid_alive(pid):
        return LockInfo(path, pid, host, age, True, f"holder pid {pid} is not running"), st
    if age > max_age:
        return LockInfo(path, pid, host, age, True, f"not refreshed for {age:.0f} s (limit {max_age:.0f} s)"), st
    holder = f"pid {pid} on {host}" if pid is not None else "an unknown holder"
    return LockInfo(path, pid, host, age, False, f"held by {holder}"), st


def read_lock(path: str | os.PathLike[str], max_age: float = DEFAULT_MAX_AGE) -> LockInfo | None:
    """What a lock file says (None if it is gone): holder, age, and whether it is stale and why."""
    found = _read(os.fspath(path), max_age)
    return None if found is None else found[0]


def remove_if_stale(path: str | os.PathLike[str], max_age: float = DEFAULT_MAX_AGE) -> LockInfo | None:
    """Delete the lock file if it is stale; returns what was removed (None if nothing was).

    The file is removed only if it is still the one that was judged stale (same inode and mtime),
    so a lock another process has just taken over is left alone.
    """
    found = _read(os.fspath(path), max_age)
    if found is None or not found[0].stale:
        return None
    info, judged = found
    try:
        now = os.stat(info.path)
        if (judged.st_ino, judged.st_mtime_ns) != (now.st_ino, now.st_mtime_ns):
            return None
        os.unlink(info.path)
    except FileNotFoundError:
        return None
    return info


def find_locks(root: str | os.PathLike[str], max_age: float = DEFAULT_MAX_AGE) -> list[LockInfo]:
    """Every lock file under ``root``, sorted by path."""
    found = []
    for directory, _dirs, files in os.walk(os.fspath(root)):
        if LOCK_NAME in files:
            info = read_lock(os.path.join(directory, LOCK_NAME), max_age)
            if info is not None:
                found.append(info)
    return sorted(found, key=lambda i: i.path)


def cleanup_locks(root: str | os.PathLike[str], max_age: float = DEFAULT_MAX_AGE) -> list[LockInfo]:
    """Remove the stale lock files under ``root``; returns those removed."""
    removed = []
    for info in find_locks(root, max_age):
        if info.stale and remove_if_stale(info.path, max_age) is not None:
            removed.append(info)
    return removed


class OutputLock:
    """Non-blocking lock on one output directory, held by this process until :meth:`release`."""

    def __init__(self, output_dir: str | os.PathLike[str], max_age: float = DEFAULT_MAX_AGE) -> None:
        self.output_dir = os.fspath(output_dir)
        self.path = lock_path(self.output_dir)
        self.max_age = float(max_age)
        # thread_local=False: the queue's control thread takes it, any thread may release it
        self._lock = filelock.SoftFileLock(self.path, timeout=0, thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> bool:
        """Take the lock if nobody live holds it (clearing a stale one first); False if someone does."""
        if self.held:
            return True
        os.makedirs(self.output_dir, exist_ok=True)
        remove_if_stale(self.path, self.max_age)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        return True

    def holder(self) -> LockInfo | None:
        return read_lock(self.path, self.max_age)

    def touch(self) -> None:
        """Refresh the marker so other hosts do not take it for stale while the job runs."""
        if self.held:
            try:
                os.utime(self.path)
            except FileNotFoundError:
                pass

    def release(self) -> None:
        if self.held:
            self._lock.release(force=True)

    def __enter__(self) -> OutputLock:
        if not self.acquire():
            info = self.holder()
            raise filelock.Timeout(f"{self.path}: {info.reason if info else 'locked'}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
