"""View state without widgets: the filter form, jobs from sequences, estimates, table order, metrics."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from goesvfi_lab.discover import format_goes_name, group_sequences
from goesvfi_lab.html_page import dashboard_urls
from goesvfi_lab.model import BatchJob, JobPriority, JobStatus, Stats
from goesvfi_lab.widgets import state as S

T0 = datetime(2023, 12, 31, 12, 0, 17, tzinfo=timezone.utc)


def goes_tree(root, sat="G16", band=13, sector="C", n=6, minutes=5, size=1000, sub="") -> list[str]:
    """Files with real ABI names (content is irrelevant to discovery) under ``root/sub``."""
    folder = os.path.join(root, sub) if sub else str(root)
    os.makedirs(folder, exist_ok=True)
    out = []
    for i in range(n):
        start = T0 + timedelta(minutes=minutes * i)
        name = format_goes_name(
            sat, "CMIP", sector, band, start, start + timedelta(minutes=2), start + timedelta(minutes=3)
        )
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(b"\0" * size)
        out.append(path)
    return out


def test_filter_state_builds_a_working_filter(tmp_path):
    g16 = goes_tree(tmp_path, "G16", 13, sub="a")
    goes_tree(tmp_path, "G18", 13, sub="b")
    goes_tree(tmp_path, "G16", 8, sub="c", size=5000)
    (tmp_path / "notes.txt").write_text("x")

    st = S.FilterState(root=str(tmp_path), satellite="G16", band=13)
    assert S.scan(st).paths == sorted(g16)

    st = S.FilterState(root=str(tmp_path), min_size_mb="0.002")  # 2000 bytes: only the band-8 files
    res = S.scan(st)
    assert len(res.paths) == 6 and all("C08" in p for p in res.paths)
    assert len(res.sequences) == 1 and res.size_bytes == 6 * 5000

    st = S.FilterState(root=str(tmp_path), exclude_paths=str(tmp_path / "a") + "\n" + str(tmp_path / "b"))
    assert len(S.scan(st).paths) == 6

    st = S.FilterState(root=str(tmp_path), start="2023-12-31 12:10", end="2023-12-31T12:20:30Z", satellite="G18")
    times = [os.path.basename(p).split("_s")[1][:13] for p in S.scan(st).paths]
    assert times == ["2023365121017", "2023365121517", "2023365122017"]

    st = S.FilterState(root=str(tmp_path), name_pattern=r"M6C08", extensions="nc")
    assert len(S.scan(st).paths) == 6
    st = S.FilterState(root=str(tmp_path), extensions=".txt")
    res = S.scan(st)
    assert [os.path.basename(p) for p in res.paths] == ["notes.txt"] and len(res.sequences) == 1


def test_filter_state_modified_dates(tmp_path):
    paths = goes_tree(tmp_path, n=2)
    old = time.mktime((2020, 6, 1, 12, 0, 0, 0, 0, -1))
    os.utime(paths[0], (old, old))
    st = S.FilterState(root=str(tmp_path), min_date=date(2021, 1, 1))
    assert S.scan(st).paths == [paths[1]]
    st = S.FilterState(root=str(tmp_path), min_date=date(2020, 6, 1), max_date=date(2020, 6, 1))
    assert S.scan(st).paths == [paths[0]]  # a picked day includes that whole local day


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"min_size_mb": "ten"}, "min size"),
        ({"max_size_mb": "-1"}, "max size"),
        ({"min_size_mb": "5", "max_size_mb": "1"}, "size range"),
        ({"name_pattern": "(unclosed"}, "name pattern"),
        ({"start": "yesterday"}, "scan start"),
        ({"start": "2024-01-02", "end": "2024-01-01"}, "scan times"),
        ({"min_date": date(2024, 2, 1), "max_date": date(2024, 1, 1)}, "modified dates"),
    ],
)
def test_filter_state_names_the_bad_field(fields, message):
    with pytest.raises(ValueError, match=message):
        S.FilterState(**fields).to_filter()


def test_scan_rejects_missing_root(tmp_path):
    with pytest.raises(ValueError, match="root folder"):
        S.scan(S.FilterState(root=str(tmp_path / "nope")))


def test_subfolders(tmp_path):
    for d in ("b", "A", ".hidden", "c"):
        (tmp_path / d).mkdir()
    (tmp_path / "file.nc").write_text("")
    assert S.subfolders(str(tmp_path)) == ["A", "b", "c"]
    assert S.subfolders(str(tmp_path / "missing")) == []


def test_make_jobs_and_estimate(tmp_path):
    seqs = group_sequences(
        goes_tree(tmp_path, "G16", 13, n=5, sub="x")
        + goes_tree(tmp_path, "G18", 13, n=3, sub="y")
        + goes_tree(tmp_path, "G17", 13, n=1, sub="z")
    )
    settings = S.JobSettings(
        factor=4,
        method="linear",
        fps=12,
        video=True,
        cube=True,
        priority=JobPriority.HIGH,
        output_dir=str(tmp_path / "out"),
    )
    jobs = S.make_jobs(seqs, settings)
    assert len(jobs) == 2  # the one-frame sequence has nothing to interpolate
    assert [len(j.inputs) for j in jobs] == [5, 3]
    assert all(j.factor == 4 and j.method == "linear" and j.priority == JobPriority.HIGH for j in jobs)
    assert jobs[0].settings == {"fps": 12, "video": True, "cube": True, "overwrite": False, "cmap": "enhanced"}
    assert len({j.output_dir for j in jobs}) == 2
    assert all(os.path.dirname(j.output_dir) == str(tmp_path / "out") for j in jobs)
    assert [j.frames_total for j in jobs] == [17, 9]

    est = S.estimate(seqs, factor=4, seconds=12.5)  # the wall time comes from goesvfi_lab.estimates
    assert (est.jobs, est.frames_total, est.frames_new, est.seconds) == (2, 26, 18, 12.5)
    assert S.estimate(seqs, 4).seconds is None

    grey = S.make_jobs(seqs, S.JobSettings(cmap="grey", output_dir=str(tmp_path)))
    assert {j.settings["cmap"] for j in grey} == {"grey"}
    assert S.auto_cmap("OR_ABI-L2-CMIPC-M6C02_G16_s20233651200171_e20233651202544_c20233651203000.nc") == "vis"
    assert S.auto_cmap("frame_001.png") == "grey"

    with pytest.raises(ValueError, match="output"):
        S.make_jobs(seqs, S.JobSettings(video=False, cube=False))


def test_make_jobs_gives_same_named_sequences_their_own_folders(tmp_path):
    a = goes_tree(tmp_path, n=2, sub="a")
    seqs = group_sequences(a)
    jobs = S.make_jobs([seqs[0], seqs[0]], S.JobSettings(output_dir=str(tmp_path)))
    assert jobs[0].output_dir != jobs[1].output_dir
    assert [os.path.basename(j.output_dir) for j in jobs] == [seqs[0].name, f"{seqs[0].name}-2"]


def _job(name, status, created, priority=JobPriority.NORMAL, position=None) -> BatchJob:
    j = BatchJob(name=name, inputs=["a", "b"], output_dir="o", priority=priority)
    j.status, j.created_at, j.position = status, created, position
    return j


def test_paging_and_row_actions():
    assert S.clamp_page(0, 25, 10) == (0, 3)
    assert S.clamp_page(9, 25, 10) == (2, 3)  # clamped to the last page
    assert S.clamp_page(-1, 25, 10) == (0, 3)
    assert S.clamp_page(3, 0, 10) == (0, 1)
    q = _job("q", JobStatus.PENDING, 1, JobPriority.URGENT)
    f = _job("f", JobStatus.FAILED, 1)
    assert S.can_cancel(q) and not S.can_cancel(f)
    assert S.can_retry(f) and not S.can_retry(q)
    assert S.can_reprioritise(q) and not S.can_reprioritise(f)
    # handed to Dask already: the queue refuses a new priority, so the buttons say so
    assert not S.can_reprioritise(_job("d", JobStatus.QUEUED, 1))
    assert S.bumped(JobPriority.URGENT, +1) is None and S.bumped(JobPriority.BACKGROUND, -1) is None
    assert S.bumped(JobPriority.NORMAL, +1) == JobPriority.HIGH


def test_throughput_history_is_bounded():
    h = S.ThroughputHistory(size=3)
    for v in (1.0, float("nan"), 2.0, 3.0):
        h.add(Stats(throughput=v))
    assert h.values() == [0.0, 2.0, 3.0]


def test_worker_rows_from_a_real_scheduler():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        rows = S.worker_rows(client.scheduler_info())
        link = client.dashboard_link
    assert len(rows) == 2
    assert all(r.nthreads == 1 and r.memory > 0 and r.memory_limit and r.gpu_utilization is None for r in rows)
    dash, page = dashboard_urls(link)
    assert dash == link and page.endswith("/goesvfi") and "/status" not in page


def test_worker_rows_read_nvml_metrics():
    """The keys distributed's SystemMonitor reports when NVML sees a GPU."""
    info = {
        "workers": {
            "tcp://10.0.0.1:1": {
                "name": "gpu-0",
                "nthreads": 1,
                "memory_limit": 0,
                "resources": {"GPU": 1},
                "metrics": {
                    "cpu": 12.0,
                    "memory": 10,
                    "task_counts": {"executing": 1},
                    "gpu_utilization": 73,
                    "gpu_memory_used": 2_000_000_000,
                    "gpu-memory-total": 80_000_000_000,
                },
            }
        }
    }
    (row,) = S.worker_rows(info)
    assert (row.gpu_utilization, row.gpu_memory, row.gpu_memory_total) == (73.0, 2_000_000_000, 80_000_000_000)
    assert row.executing == 1 and row.memory_limit is None and row.resources == {"GPU": 1}
    assert S.worker_rows(None) == []
