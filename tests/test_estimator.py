"""The estimate adapter on real files, a real queue and the preview: calibration from finished jobs."""

from __future__ import annotations

import time

import dask
import pytest
from _widget_wire import install
from distributed import Client, LocalCluster
from goes_fixtures import make_abi_sequence, require_ncgen

from goesvfi_lab import geo
from goesvfi_lab.errors import FrameError
from goesvfi_lab.estimates import COSTS, PICKUP_CAP
from goesvfi_lab.estimator import estimate_jobs, finished_records, work_of
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.sample import write_sample
from goesvfi_lab.widgets.app import recent_completed
from goesvfi_lab.widgets.preview_panel import PreviewPanel
from goesvfi_lab.widgets.state import FilterState, scan

SETTINGS = {"video": True, "fps": 12}


def _sequences(root, n=2, frames=4, size=(48, 64)):
    return [
        write_sample(root / f"s{k}", frames=frames, size=size, fmt="nc", seed=k, satellite=f"G1{6 + k}")
        for k in range(n)
    ]


def test_work_of_resolves_auto_and_reads_the_frame_size(tmp_path):
    nc = write_sample(tmp_path / "nc", frames=3, size=(48, 64), fmt="nc")
    png = write_sample(tmp_path / "png", frames=3, size=(40, 50), fmt="png", cmap="enhanced")
    w = work_of(nc, 4, "auto", {"video": True})
    assert (w.pixels, w.channels, w.kind, w.method, w.ext, w.video, w.cube) == (
        3072,
        1,
        "field",
        "flow",
        ".nc",
        True,
        False,
    )
    p = work_of(png, 2, "linear", {})
    assert (p.pixels, p.channels, p.kind, p.method, p.ext, p.video) == (2000, 3, "field", "linear", ".png", False)
    # the cube's format, by the engine's rule (layout.cube_path): "zarr" or a path ending .zarr is a Zarr store
    formats = {True: False, "zarr": True, "cubes/c.zarr": True, "c.nc": False, False: False}
    assert {v: work_of(nc, 4, "linear", {"cube": v}).zarr for v in formats} == formats


def test_a_cropped_job_is_estimated_from_its_window(tmp_path):
    require_ncgen()
    paths = [str(p) for p in make_abi_sequence(tmp_path / "conus", n=3, product="L2-CMIPC", shape=(150, 250))]
    florida = {"crop": {"bbox": (-90.0, 25.0, -80.0, 32.0)}}
    crop = geo.bbox_window(paths[0], florida["crop"]["bbox"])
    full = work_of(paths, 2, "linear", {"video": True})
    cut = work_of(paths, 2, "linear", {"video": True, **florida})
    assert full.pixels == 150 * 250 and cut.pixels == crop.pixels < full.pixels / 10
    assert work_of(paths, 2, "linear", {"crop": {"window": [10, 30, 20, 70]}}).pixels == 20 * 50
    with pytest.raises(FrameError, match="outside the file's CONUS sector"):
        work_of(paths, 2, "linear", {"crop": {"bbox": (-60, -20, -50, -10)}})

    def batch(settings, inputs=(paths,)):
        return estimate_jobs(inputs, 2, "linear", settings, measured={full.key: 0.5}, measure=False)

    whole, cropped = batch({"video": True}), batch({"video": True, **florida})
    assert [w.pixels for w in cropped.works] == [crop.pixels]
    share = crop.pixels / full.pixels
    assert cropped.prediction.parts["interpolate"] == pytest.approx(share * whole.prediction.parts["interpolate"])
    assert cropped.prediction.seconds < whole.prediction.seconds
    assert batch({"crop": {"bbox": (-60, -20, -50, -10)}}).works == ()  # no window: the job will fail, costs nothing
    # a finished cropped job is counted by its window when it calibrates the next estimate
    done = BatchJob(
        name="c",
        inputs=paths,
        output_dir=str(tmp_path / "o"),
        method="linear",
        factor=2,
        settings=florida,
        status=JobStatus.COMPLETED,
        started_at=10.0,
        finished_at=10.5,
        frames_done=5,
    )
    (record,) = finished_records([done])
    assert record.work.pixels == crop.pixels


def test_a_finished_batch_calibrates_the_next_estimate(tmp_path):
    seqs = _sequences(tmp_path / "in")
    no_queuing = {"distributed.scheduler.worker-saturation": float("inf")}
    with (
        dask.config.set(no_queuing),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=tmp_path / "q.sqlite3")
        before = estimate_jobs(seqs, 3, "flow", SETTINGS, slots=1, finished=q.jobs("completed"))
        assert before.prediction.factor is None and before.batches_used == 0
        assert before.prediction.cold == ("flow",)  # nothing ran yet: start-up counted
        assert set(before.prediction.parts) >= {"read", "interpolate", "write", "video", "start-up"}
        q.start()  # a running, idle queue: as when the preview's Confirm submits
        for k, paths in enumerate(seqs):
            q.add_job(
                BatchJob(
                    name=f"s{k}",
                    inputs=paths,
                    output_dir=tmp_path / "out" / f"s{k}",
                    factor=3,
                    method="flow",
                    settings=SETTINGS,
                )
            )
        assert q.wait(timeout=120)
        done = q.jobs("completed")
        latest = recent_completed(q, limit=1)  # what the notebook app hands the preview: one page
        q.stop()
    assert [j.name for j in latest] == ["s1"]
    assert len(done) == 2 and len(finished_records(done)) == 2
    submitted = min(j.created_at for j in done)
    first_start = min(j.started_at for j in done)
    assert first_start - submitted < PICKUP_CAP  # an idle queue picks the batch up at once
    span = max(j.finished_at for j in done) - submitted  # what the user waited

    after = estimate_jobs(
        seqs,
        3,
        "flow",
        SETTINGS,
        slots=1,
        finished=done,
        measured=dict(before.measured),
        now=max(j.finished_at for j in done) + 1,
    )
    p = after.prediction
    assert after.batches_used == 1 and p.cold == ()  # the workers have flow loaded now
    # the finished batch, predicted the way it was before it ran, times the calibration = its real time
    assert p.factor * before.prediction.uncalibrated == pytest.approx(span, rel=1e-6)
    assert p.seconds == pytest.approx(p.factor * p.uncalibrated)
    later = estimate_jobs(
        seqs, 3, "flow", SETTINGS, slots=1, finished=done, measured=dict(before.measured), now=time.time() + 3600
    )  # an hour on: the workers may have restarted
    assert later.prediction.cold == ("flow",) and later.prediction.seconds > p.seconds


def test_jobs_that_did_no_work_do_not_calibrate(tmp_path):
    seqs = _sequences(tmp_path / "in", n=1)
    skipped = BatchJob(
        name="s",
        inputs=seqs[0],
        output_dir=str(tmp_path / "o"),
        method="flow",
        status=JobStatus.COMPLETED,
        started_at=10.0,
        finished_at=10.2,
        frames_done=0,
    )
    failed = BatchJob(
        name="f",
        inputs=seqs[0],
        output_dir=str(tmp_path / "f"),
        method="flow",
        status=JobStatus.FAILED,
        started_at=10.0,
        finished_at=30.0,
        frames_done=3,
    )
    assert finished_records([skipped, failed]) == []


def test_preview_shows_the_batch_estimate_and_its_calibration(monkeypatch, tmp_path):
    wire = install(monkeypatch)
    seqs = _sequences(tmp_path / "data", n=1, frames=5)
    result = scan(FilterState(root=str(tmp_path / "data"), extensions=".nc"))
    panel = PreviewPanel(output_dir=str(tmp_path / "out"), methods=["flow"], measure=lambda *a: 0.002)
    wire.clear()
    panel.show(result)
    assert panel.wait(60)
    first = panel.estimate.value
    assert "2.0 ms per frame with &#x27;flow&#x27; measured here" in first and "not yet calibrated" in first
    assert "reading, writing, video and start-up included" in first

    cold = panel.last_estimate.seconds  # the model alone, workers cold (nothing finished yet)
    assert 0 < cold < 5

    now = time.time()
    took = BatchJob(
        name="s",
        inputs=seqs[0],
        output_dir=str(tmp_path / "o"),
        method="flow",
        factor=4,
        settings={"video": True},
        status=JobStatus.COMPLETED,
        created_at=now - 40,
        started_at=now - 40,
        finished_at=now - 40 + 3 * cold,
        frames_done=17,
    )  # 3× the model
    calibrated = PreviewPanel(
        output_dir=str(tmp_path / "out"), methods=["flow"], measure=lambda *a: 0.002, history=lambda: [took]
    )
    calibrated.show(result)
    assert calibrated.wait(60)
    text = calibrated.estimate.value
    assert "calibrated ×" in text and "not yet" not in text
    # the same batch again: 3× the model, now without the start-up of cold workers
    warm = cold - COSTS.warmup - COSTS.model_load["flow"]
    assert calibrated.last_estimate.seconds == pytest.approx(3 * warm)
