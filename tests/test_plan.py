"""One job planner: the notebook, the queue and ``goesvfi-lab run`` name a sequence's folder alike.

The end-to-end tests run one planner's jobs on a real LocalCluster and the other planner on the same
output folder: a finished result must be recognised (skipped as complete), never redone under a
second folder name (``frames-.png`` from the notebook vs ``frames`` from the CLI, before ``plan``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import dask
import pytest
from _engine_support import NO_DASHBOARD, make_frames
from distributed import Client, LocalCluster

from goesvfi_lab.cli.batch import STORE_NAME
from goesvfi_lab.discover import Sequence, format_goes_name, group_sequences
from goesvfi_lab.model import JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.store import Store
from goesvfi_lab.widgets import state as S

FAST = {"goesvfi.retry.max-attempts": 1, "goesvfi.queue.metrics-interval": 0.1}
FPS = 12


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    make_frames(root / "frames", 3, 32, seed=1)  # non-ABI PNGs: named after their folder
    return root


@pytest.fixture
def client():
    with dask.config.set(FAST), LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as c:
        with Client(c) as cl:
            yield cl


def _notebook_jobs(root, out):
    """What the notebook's Preview → Confirm makes: the filter form's scan, then ``make_jobs``."""
    result = S.scan(S.FilterState(root=str(root)))
    settings = S.JobSettings(factor=2, method="linear", fps=FPS, video=True, output_dir=str(out))
    return S.make_jobs(result.sequences, settings)


def _run_notebook(client, root, out, store):
    q = BatchQueue(cluster=client, store=store)
    ids = q.add_jobs(_notebook_jobs(root, out))
    q.start(preload=["linear"])
    try:
        assert q.wait(120)
        return [q.job(i) for i in ids]
    finally:
        q.stop()


def _run_cli(root, out) -> str:
    cmd = [
        sys.executable,
        "-m",
        "goesvfi_lab",
        "run",
        str(root),
        "-o",
        str(out),
        "--factor",
        "2",
        "--method",
        "linear",
        "--video",
        "--fps",
        str(FPS),
        "--workers",
        "1",
        "--threads",
        "1",
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "220"})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _folders(out) -> list[str]:
    return sorted(n for n in os.listdir(out) if not n.startswith("."))


@pytest.mark.slow
def test_cli_skips_what_the_notebook_finished(client, data, tmp_path):
    out = tmp_path / "out"
    jobs = _run_notebook(client, data, out, tmp_path / "notebook.sqlite3")
    assert [j.status for j in jobs] == [JobStatus.COMPLETED]
    text = _run_cli(data, out)
    assert _folders(out) == ["frames"]  # one folder, whichever planner made it
    assert "│    1 │    0 │                  1 │" in text, text  # jobs, done, skipped (complete)


@pytest.mark.slow
def test_notebook_skips_what_the_cli_finished(client, data, tmp_path):
    out = tmp_path / "out"
    assert "│    1 │    1 │                  0 │" in _run_cli(data, out)
    with Store(os.path.join(out, STORE_NAME)) as store:
        (cli_job,) = store.jobs()
    (job,) = _run_notebook(client, data, out, tmp_path / "notebook.sqlite3")
    assert _folders(out) == ["frames"]
    assert job.status == JobStatus.COMPLETED
    assert f"skipped: complete from job {cli_job.id} (same settings)" in job.notes, job.notes


# --------------------------------------------------------------------------------------------- units


def _abi(tmp_path, n=3, sub="goes") -> list[str]:
    t0 = datetime(2023, 12, 31, 12, 0, tzinfo=timezone.utc)
    folder = tmp_path / sub
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        start = t0 + timedelta(minutes=5 * k)
        end, created = start + timedelta(minutes=2), start + timedelta(minutes=3)
        name = format_goes_name("G16", "CMIP", "C", 13, start, end, created)
        (folder / name).write_bytes(b"")
        paths.append(str(folder / name))
    return paths


def _other(root, rel: str, n=2, ext=".png") -> Sequence:
    folder = os.path.join(str(root), rel)
    paths = [os.path.join(folder, f"f{k}{ext}") for k in range(n)]
    return Sequence(name=f"{os.path.basename(folder)}/*{ext}", key=None, paths=paths, times=[None] * n, cadence=None)


def test_job_folder_names(tmp_path):
    from goesvfi_lab.plan import job_folder

    (abi,) = group_sequences(_abi(tmp_path))
    assert job_folder(abi, str(tmp_path)) == abi.name == "G16-L2-CMIP-C-C13-20231231T1200"
    root = str(tmp_path / "data")
    assert job_folder(_other(root, "frames"), root) == "frames"  # PNG: the folder alone
    assert job_folder(_other(root, "x/cam"), root) == "x-cam"  # nested: the path below the root
    assert job_folder(_other(root, "frames", ext=".jpg"), root) == "frames-jpg"  # other formats keep apart
    assert job_folder(_other(root, "."), root) == "data"  # files right in the root: the root's name
    assert job_folder(_other(root + os.sep, "."), root + os.sep) == "data"


def test_job_folder_is_safe(tmp_path):
    from goesvfi_lab.plan import job_folder
    from goesvfi_lab.safety import safe_name

    root = str(tmp_path)
    for rel in ("cam a", "$(rm -rf x)", "..hidden", "a;b`c`", "é-frames"):
        name = job_folder(_other(root, rel), root)
        assert name == safe_name(name) and os.sep not in name and not name.startswith((".", "-")), name
    assert job_folder(_other(root, "cam a"), root) != job_folder(_other(root, "cam_a"), root)  # no collapse


def test_jobs_for_one_job_per_sequence_in_its_own_folder(tmp_path):
    from goesvfi_lab.plan import jobs_for

    root, out = str(tmp_path / "data"), str(tmp_path / "out")
    seqs = [_other(root, "a-b"), _other(root, "a/b"), _other(root, "one", n=1), _other(root, "c", n=3)]
    jobs = jobs_for(seqs, out, root=root, factor=3, method="linear", settings={"video": True}, owner="ann")
    assert [os.path.basename(j.output_dir) for j in jobs] == ["a-b", "a-b-2", "c"]  # a collision gets a suffix
    assert [j.name for j in jobs] == ["a-b", "a-b-2", "c"]
    assert all(os.path.dirname(j.output_dir) == os.path.realpath(out) for j in jobs)
    assert [j.frames_total for j in jobs] == [4, 4, 7]
    assert all(j.factor == 3 and j.method == "linear" and j.owner == "ann" for j in jobs)
    jobs[0].settings["fps"] = 1
    assert jobs[1].settings == {"video": True}  # each job its own copy


def test_n_frames_is_one_rule():
    from goesvfi_lab.engine import layout
    from goesvfi_lab.model import BatchJob
    from goesvfi_lab.plan import n_frames

    assert [n_frames(n, 4) for n in (0, 1, 2, 5)] == [0, 1, 5, 17]
    assert n_frames(5, 1) == 5  # factor 1: the inputs only
    assert layout.n_frames is n_frames
    assert BatchJob(name="j", inputs=["a", "b", "c"], output_dir="o", factor=3).frames_total == n_frames(3, 3) == 7
    est = S.estimate([_other("/r", "a", n=3), _other("/r", "b", n=1)], factor=3)
    assert (est.frames_total, est.frames_new) == (7, 4)
