"""Output-directory locks: exclusive across processes and in one process, stale ones cleaned."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from goesvfi_lab.locks import LOCK_NAME, OutputLock, cleanup_locks, find_locks, read_lock

_HOLD = """
import sys, time
from goesvfi_lab.locks import OutputLock
lock = OutputLock(sys.argv[1])
assert lock.acquire()
print("held", flush=True)
sys.stdin.readline()  # hold until told (or killed)
lock.release()
"""


def _holder(out_dir):
    p = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "held"
    return p


def test_lock_is_exclusive_between_processes_and_released(tmp_path):
    out = tmp_path / "job"
    p = _holder(out)
    try:
        mine = OutputLock(out)
        assert not mine.acquire()
        info = mine.holder()
        assert info.pid == p.pid and not info.stale and str(p.pid) in info.reason
    finally:
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.wait(timeout=30) == 0
    assert not (out / LOCK_NAME).exists()  # released: marker gone
    assert mine.acquire() and mine.held
    mine.release()
    assert not mine.held and not (out / LOCK_NAME).exists()


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    a, b = OutputLock(tmp_path / "x"), OutputLock(tmp_path / "x")
    assert a.acquire()
    assert a.acquire()  # re-acquiring one's own lock is fine
    assert not b.acquire()
    a.release()
    assert b.acquire()
    b.release()


def test_dead_holder_is_stale_and_taken_over(tmp_path):
    out = tmp_path / "job"
    p = _holder(out)
    p.kill()
    p.wait(timeout=30)
    info = read_lock(out / LOCK_NAME)
    assert info.stale and "not running" in info.reason
    lock = OutputLock(out)
    assert lock.acquire()
    assert lock.holder().pid == os.getpid()
    lock.release()


def test_old_lock_of_foreign_host_is_stale_only_after_max_age(tmp_path):
    out = tmp_path / "job"
    out.mkdir()
    marker = out / LOCK_NAME
    marker.write_text("4242\nother-host.example\n")
    assert not read_lock(marker, max_age=60).stale  # another host: cannot prove it dead
    assert not OutputLock(out, max_age=60).acquire()
    old = time.time() - 120
    os.utime(marker, (old, old))
    info = read_lock(marker, max_age=60)
    assert info.stale and "not refreshed" in info.reason
    lock = OutputLock(out, max_age=60)
    assert lock.acquire()
    lock.release()


def test_touch_keeps_a_live_lock_fresh(tmp_path):
    lock = OutputLock(tmp_path / "job", max_age=60)
    assert lock.acquire()
    old = time.time() - 120
    os.utime(lock.path, (old, old))
    lock.touch()
    assert not read_lock(lock.path, max_age=60).stale
    lock.release()


def test_find_and_cleanup_over_a_tree(tmp_path):
    live = OutputLock(tmp_path / "a" / "live")
    assert live.acquire()
    dead = _holder(tmp_path / "b" / "dead")
    dead.kill()
    dead.wait(timeout=30)
    foreign = tmp_path / "c" / "foreign"
    foreign.mkdir(parents=True)
    (foreign / LOCK_NAME).write_text(f"1\n{socket.gethostname()}x\n")
    found = find_locks(tmp_path)
    assert [os.path.relpath(i.output_dir, tmp_path) for i in found] == ["a/live", "b/dead", "c/foreign"]
    assert [i.stale for i in found] == [False, True, False]
    removed = cleanup_locks(tmp_path)
    assert [os.path.relpath(i.output_dir, tmp_path) for i in removed] == ["b/dead"]
    assert (tmp_path / "a" / "live" / LOCK_NAME).exists()
    assert not (tmp_path / "b" / "dead" / LOCK_NAME).exists()
    live.release()
