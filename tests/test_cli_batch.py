"""``goesvfi-lab run | status | check | missing | locks`` on real files and real clusters."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from _engine_support import NO_DASHBOARD, SubprocessCluster, check_outputs, make_frames

from goesvfi_lab.cli import main
from goesvfi_lab.cli.batch import STORE_NAME
from goesvfi_lab.locks import LOCK_NAME, OutputLock
from goesvfi_lab.model import JobStatus
from goesvfi_lab.store import Store


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # rich tables on one line each, easy to read in assertions


@pytest.fixture
def data(tmp_path):
    from goesvfi_lab.sample import write_sample

    root = tmp_path / "data"
    make_frames(root / "cam-a", 4, 32, seed=1)
    make_frames(root / "cam-b", 3, 32, seed=2)
    write_sample(root / "goes", frames=3, size=(32, 32), fmt="nc", seed=3)
    return root


def _jobs(out):
    with Store(os.path.join(out, STORE_NAME)) as store:
        return {j.name: j for j in store.jobs()}


@pytest.mark.slow
def test_run_then_run_again_resumes_and_skips(data, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "run",
        str(data),
        "-o",
        str(out),
        "--factor",
        "3",
        "--method",
        "linear",
        "--video",
        "--workers",
        "1",
        "--threads",
        "2",
        "--quiet",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    jobs = _jobs(out)
    assert set(jobs) == {"cam-a", "cam-b", next(n for n in jobs if n.startswith("G16-"))}
    assert all(j.status == JobStatus.COMPLETED for j in jobs.values())
    check_outputs(str(out / "cam-a"), 4, 3)
    assert (out / "cam-a" / "video.mp4").exists()
    assert "│    3 │    3 │                  0 │" in text  # jobs, done, skipped as complete

    assert main(args) == 0  # same command again: nothing recomputed
    text = capsys.readouterr().out
    assert "│    3 │    0 │                  3 │" in text
    assert len(_jobs(out)) == 3  # no duplicate jobs for the same folders


def test_status_check_and_failures_are_reported(data, tmp_path, capsys):
    from distributed import Client, LocalCluster

    out = tmp_path / "out"
    (data / "cam-b" / "f001.png").write_bytes(b"not a png at all")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, **NO_DASHBOARD) as cluster:
        import dask

        with dask.config.set({"goesvfi.retry.max-attempts": 1}):
            rc = main(
                [
                    "run",
                    str(data),
                    "-o",
                    str(out),
                    "--method",
                    "linear",
                    "--scheduler",
                    cluster.scheduler_address,
                    "--quiet",
                ]
            )
        Client  # noqa: B018  (the CLI makes its own client from the address)
    text = capsys.readouterr().out
    assert rc == 1
    assert "failed cam-b" in text and "f001.png" in text and "not a PNG" in text

    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cam-a" in text and "completed" in text and "failed" in text
    assert "3 jobs: 0 pending, 0 running, 2 completed, 1 failed" in text
    assert "rows" not in text  # all shown
    assert main(["status", str(out), "--limit", "1", "--offset", "1"]) == 0
    text = capsys.readouterr().out
    listed = [line for line in text.splitlines() if "cam-" in line or "G16-" in line]
    assert "rows 2–2 of 3" in text and len(listed) == 1

    assert main(["check", str(out)]) == 0  # cam-b failed before writing anything: nothing partial
    text = capsys.readouterr().out
    assert "2 job folders, 2 ok" in text
    os.remove(out / "cam-a" / "job.json")
    broken = out / "cam-a" / "000003.png"
    broken.write_bytes(broken.read_bytes()[:40])
    (out / "cam-a" / ".000001.png.0123456789ab.tmp.png").write_bytes(b"half")
    assert main(["check", str(out)]) == 1
    text = capsys.readouterr().out
    assert "000003.png" in text and "leftover partial file" in text and "incomplete: no job.json" in text


def test_missing_lists_absent_scans(tmp_path, capsys):
    from goesvfi_lab.sample import write_sample

    paths = write_sample(tmp_path / "goes", frames=6, size=(16, 16), fmt="nc", seed=5)
    os.remove(paths[2])
    assert main(["missing", str(tmp_path / "goes")]) == 0
    text = capsys.readouterr().out
    assert "1 missing scans" in text and "0:05:00" in text


def test_locks_list_and_cleanup(tmp_path, capsys):
    live = OutputLock(tmp_path / "out" / "live")
    assert live.acquire()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom goesvfi_lab.locks import OutputLock\n"
            "lock = OutputLock(sys.argv[1])\nassert lock.acquire()\nprint('held', flush=True)\ntime.sleep(60)",
            str(tmp_path / "out" / "dead"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(30)
    assert main(["locks", "list", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "2 locks, 1 stale" in text and "not running" in text
    assert main(["locks", "cleanup", str(tmp_path / "out")]) == 0
    assert "1 stale locks removed" in capsys.readouterr().out
    assert not (tmp_path / "out" / "dead" / LOCK_NAME).exists()
    assert (tmp_path / "out" / "live" / LOCK_NAME).exists()
    live.release()


@pytest.mark.slow
def test_run_on_a_scheduler_skips_folders_locked_by_another_process(data, tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom goesvfi_lab.locks import OutputLock\n"
            "lock = OutputLock(sys.argv[1])\nassert lock.acquire()\nprint('held', flush=True)\n"
            "sys.stdin.readline()",
            str(out / "cam-a"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with SubprocessCluster(tmp_path / "cluster", {"w1": [], "w2": []}) as cluster:
            rc = main(
                ["run", str(data), "-o", str(out), "--method", "linear", "--scheduler", cluster.address, "--quiet"]
            )
    finally:
        holder.stdin.close()
        holder.wait(30)
    text = capsys.readouterr().out
    assert rc == 0
    assert "│    3 │    2 │                  0 │                1 │" in text  # jobs, done, complete, locked
    assert "locked cam-a" in text and f"pid {holder.pid}" in text
    jobs = _jobs(out)
    assert jobs["cam-a"].status == JobStatus.CANCELLED and not (out / "cam-a" / "000000.png").exists()
    check_outputs(str(out / "cam-b"), 3, 2)


def _grey(png) -> bool:
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


@pytest.mark.slow
def test_run_cmap_colours_by_band_and_an_older_ir_run_is_not_taken_for_complete(tmp_path, capsys):
    """``run --cmap`` (default auto, as ``interpolate`` and the notebook); a tree an earlier ``run`` wrote
    without a cmap (grey ``ir``) is complete for ``--cmap ir``, another result for ``auto``."""
    from distributed import LocalCluster

    from goesvfi_lab.queue import BatchQueue
    from goesvfi_lab.sample import write_sample

    root, out = tmp_path / "data", tmp_path / "out"
    write_sample(root / "goes", frames=3, size=(32, 48), fmt="nc", seed=3)  # band 13: auto is 'enhanced'
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster:
        # the tree and store an earlier `goesvfi-lab run IN -o OUT` left: its folders, its settings (no cmap)
        q = BatchQueue(cluster=cluster.scheduler_address, store=out / STORE_NAME)
        q.add_directory(
            root, out, pattern="*.nc", factor=2, method="linear", settings={"video": False, "device": "auto"}
        )
        q.start()
        assert q.wait(timeout=120)
        q.stop()
        (folder,) = [p for p in out.iterdir() if p.is_dir()]
        frame = folder / "000001.png"
        assert _grey(frame)
        run = ["run", str(root), "-o", str(out), "--factor", "2", "--method", "linear", "--quiet"]
        run += ["--scheduler", cluster.scheduler_address]
        assert main([*run, "--cmap", "ir"]) == 0  # the colours it has: complete, nothing recomputed
        assert "│    1 │    0 │                  1 │" in capsys.readouterr().out
        before = frame.stat().st_mtime_ns
        assert main(run) == 1  # auto: 'enhanced' for band 13, not what the folder holds
        text = capsys.readouterr().out
        assert "another result" in text and "cmap 'ir' → 'enhanced'" in text and "--overwrite" in text
        assert frame.stat().st_mtime_ns == before and _grey(frame)  # nothing replaced silently
        assert main([*run, "--overwrite"]) == 0
        capsys.readouterr()
    assert not _grey(frame)  # the enhanced IR table colours the cold cloud tops
    jobs = [j for j in _jobs(out).values() if j.status == JobStatus.COMPLETED and j.settings.get("cmap")]
    assert [j.settings["cmap"] for j in jobs] == ["enhanced"]
