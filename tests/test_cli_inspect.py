"""``goesvfi-lab status | check | missing`` only look: the store a killed run left is not touched.

A queue killed mid-run leaves a job RUNNING (claimed by a pid that is gone); opening a BatchQueue
would recover it to PENDING — a write. The inspect commands open the store read-only instead.
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
import textwrap

import pytest
from _engine_support import make_frames

from goesvfi_lab.cli import main
from goesvfi_lab.cli.batch import STORE_NAME
from goesvfi_lab.model import JobStatus
from goesvfi_lab.store import Store


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")


# a real queue on the store, killed (SIGKILL) with one job RUNNING and one folder half written
_KILLED_RUN = textwrap.dedent("""
    import os, shutil, signal, sys, time
    from goesvfi_lab.engine.layout import frame_path
    from goesvfi_lab.model import BatchJob, JobStatus
    from goesvfi_lab.queue import BatchQueue

    data, out, store = sys.argv[1:]
    q = BatchQueue(store=store)
    seqs = sorted(os.listdir(data))
    jobs = [BatchJob(name=n, inputs=sorted(os.path.join(data, n, f) for f in os.listdir(os.path.join(data, n))),
                     output_dir=os.path.join(out, n), factor=2, method="linear") for n in seqs]
    q.add_jobs(jobs)
    first, done = jobs[0], jobs[1]
    assert q.store.claim(first.id, q.claimer)
    q.store.update(first.id, status=JobStatus.RUNNING, started_at=time.time() - 5, frames_done=1)
    os.makedirs(first.output_dir)
    shutil.copy(first.inputs[0], frame_path(first.output_dir, 0))
    q.store.update(done.id, status=JobStatus.COMPLETED, started_at=time.time() - 9, finished_at=time.time() - 8,
                   frames_done=done.frames_total)
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.fixture
def killed_run(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    for i, name in enumerate(("cam-a", "cam-b", "cam-c")):
        make_frames(data / name, 3 + i, 16, seed=i)
    out.mkdir()
    store = out / STORE_NAME
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(data), str(out), str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9 and "ready" in proc.stdout, proc.stderr
    return data, out, store


def _files(store) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of the store and every side file SQLite keeps beside it."""
    return {
        os.path.basename(p): (hashlib.sha256(open(p, "rb").read()).hexdigest(), os.stat(p).st_mtime_ns)
        for p in sorted(glob.glob(f"{store}*"))
    }


def _tidy(store) -> None:
    """Open read-write and close, as the next run would: SQLite checkpoints and removes -wal / -shm."""
    Store(store).close()
    assert [os.path.basename(p) for p in glob.glob(f"{store}*")] == [STORE_NAME]


@pytest.mark.parametrize("side_files", ["left by the kill", "checkpointed"])
def test_status_leaves_a_killed_runs_store_untouched(killed_run, capsys, side_files):
    _data, out, store = killed_run
    if side_files == "checkpointed":
        _tidy(store)
    before = _files(store)
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    after = _files(store)

    # the database file is byte-identical with the same mtime; nothing was written into a -wal
    assert after[STORE_NAME] == before[STORE_NAME]
    assert not glob.glob(f"{store}-journal")
    if f"{STORE_NAME}-wal" in before:
        assert after[f"{STORE_NAME}-wal"] == before[f"{STORE_NAME}-wal"]
    else:  # honest: a WAL reader needs a -wal and -shm; SQLite makes them (the -wal empty) and a
        assert os.path.getsize(f"{store}-wal") == 0  # read-only connection cannot remove them on close
        assert set(after) == {STORE_NAME, f"{STORE_NAME}-wal", f"{STORE_NAME}-shm"}
        _tidy(store)  # ...the next read-write open does, and the file is still the same
        assert _files(store)[STORE_NAME][0] == before[STORE_NAME][0]

    # ...and the jobs are reported as the store holds them: the killed job still running, marked
    assert "3 jobs: 1 pending, 1 running (1 of a queue that is gone), 1 completed, 0 failed" in text
    row = next(line for line in text.splitlines() if "cam-a" in line)
    assert "running" in row and "its queue is gone" in row and "1/" in row
    assert "cam-b" in text and "cam-c" in text and "queue idle" in text
    with Store(store, readonly=True) as look:
        assert {j.name: j.status for j in look.jobs()}["cam-a"] == JobStatus.RUNNING


def test_check_and_missing_leave_the_store_untouched(killed_run, capsys):
    data, out, store = killed_run
    before = _files(store)
    assert main(["check", str(out)]) == 1  # cam-a: one frame, no job.json yet
    text = capsys.readouterr().out
    assert "incomplete: no job.json (1 frames so far)" in text and "1 job folders, 0 ok, 1 with problems" in text
    assert main(["missing", str(data)]) == 0
    assert "3 sequences" in capsys.readouterr().out
    assert _files(store) == before


def test_status_on_a_missing_store_creates_nothing(tmp_path, capsys):
    path = tmp_path / "nowhere" / "q.sqlite3"
    assert main(["status", "--store", str(path)]) == 1
    assert str(path) in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()
