"""The self-check of every job (issue 16): the maths, its score against the sample scene's exact truth, a
slipped-in scan flagged, and the score in job.json, the cube, the store, the job table, /goesvfi.json and
``goesvfi-lab status`` after a real queue on a real LocalCluster."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from urllib.parse import urlparse

import dask
import numpy as np
import pytest

from goesvfi_lab import quality as q
from goesvfi_lab.engine.selfcheck import CheckSpec, measure
from goesvfi_lab.frames.read import ReadOptions, read_frame
from goesvfi_lab.interp import interpolate_times
from goesvfi_lab.sample import Scene, write_sample

DEFAULT = q.QualitySettings()


def test_checked_scans_are_spread_and_capped_by_the_share():
    assert q.checked_scans(2, 4, DEFAULT) == []  # no scan with two neighbours
    assert q.checked_scans(3, 4, DEFAULT) == [1]  # at least one (min-checks) ...
    assert q.checked_scans(3, 4, q.QualitySettings(min_checks=0)) == []  # ... unless the share is strict
    assert q.checked_scans(10, 4, DEFAULT) == [5]  # 9 pairs × 9 units × 0.1 / 5 units: 1 check
    assert q.checked_scans(20, 4, DEFAULT) == [4, 10, 16]  # 19 × 9 × 0.1 / 5: 3.4 -> 3
    many = q.checked_scans(200, 4, DEFAULT)
    assert many == [34, 100, 166] and len(many) == DEFAULT.count
    for n in range(3, 120):  # never more than the share (beyond the one guaranteed check), always inside
        ks = q.checked_scans(n, 2, DEFAULT)
        assert ks == sorted(set(ks)) and all(1 <= k <= n - 2 for k in ks)
        assert len(ks) == 1 or len(ks) * q.CHECK_UNITS <= 0.1 * (n - 1) * q.pair_units(2)
    assert q.checked_scans(50, 4, q.QualitySettings(enabled=False)) == []


def test_metrics_and_the_warning_rule():
    truth = np.array([[250.0, 260.0], [np.nan, 270.0]], dtype=np.float32)
    pred = truth + np.float32(1.0)
    assert q.rmse(pred, truth) == pytest.approx(1.0)  # NaN pixels left out
    assert q.peak(truth) == 20.0 and q.peak(np.zeros((2, 2), np.uint8)) == 255.0
    assert q.psnr(1.0, 20.0) == pytest.approx(20 * np.log10(20)) and q.psnr(0.0, 20.0) == float("inf")
    good = q.score(4, pred, truth + 2, truth)
    assert q.warning([good], DEFAULT) is None
    worse = q.score(4, truth + 5, truth + 2, truth)  # 2.5× linear's error
    assert "2.5× linear" in q.warning([worse], q.QualitySettings(psnr_floor=0))
    assert "below the floor" in q.warning([q.score(4, truth + 9, truth + 9, truth)], DEFAULT)
    summary = q.summarize([good, worse], "K", "flow", DEFAULT)
    assert summary["checked"] == [4, 4] and summary["unit"] == "K" and "pessimistic" in summary["bound"]
    assert summary["rmse"] == pytest.approx(np.sqrt((1 + 25) / 2)) and summary["warning"]
    json.dumps(summary, allow_nan=False)  # plain JSON: no NaN or inf


def test_ssim_is_scikit_images_in_numpy():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    want = structural_similarity(a, b, data_range=255, channel_axis=2)
    assert q.ssim(b, a, 255.0) == pytest.approx(want, abs=1e-9)
    assert q.ssim(a[..., 0], a[..., 0], 255.0) == pytest.approx(1.0)


def _spec(paths, checked, settings=DEFAULT) -> CheckSpec:
    return CheckSpec(
        "j", 0, "/nonexistent", tuple(paths), tuple(checked), "auto", "cpu", "auto", ReadOptions(), (), settings
    )


@pytest.mark.parametrize("sector,size", [("C", (96, 128)), ("M1", (96, 96)), ("F", (128, 128))])
def test_the_self_check_tracks_the_true_error_at_the_half_way_times(tmp_path, sector, size, record_property):
    """Truth from Scene.field: the job's frames half-way between scans vs the self-check's bound."""
    paths = write_sample(tmp_path, frames=9, size=size, fmt="nc", sector=sector, seed=1)
    got = measure(_spec(paths, (2, 4, 6)))
    scene = Scene(seed=1, size=size, sector=sector)
    cadence = scene.cadence.total_seconds() / 60
    errors = []
    for k in range(len(paths) - 1):
        a, b = read_frame(paths[k]), read_frame(paths[k + 1])
        half = interpolate_times(a, b, [0.5], method=got["method"], device="cpu", kind="field")[0]
        errors.append(q.rmse(half, scene.field((k + 0.5) * cadence)))
    true = float(np.sqrt(np.mean(np.square(errors))))
    ratio = got["rmse"] / true
    record_property("self_true_ratio", (sector, got["rmse"], true, ratio))
    print(f"{sector}: self-check RMSE {got['rmse']:.3f} K, true {true:.3f} K, ratio {ratio:.2f}")
    assert got["unit"] == "K" and got["warning"] is None
    assert 1.0 <= ratio <= 5.0  # an upper-bound-like estimate, of the right size


@pytest.mark.parametrize("fmt", ["nc", "png"])
@pytest.mark.parametrize("where", [0, -1])  # the checked scan itself, or its neighbour
def test_a_scan_of_another_sequence_slipped_in_is_flagged(tmp_path, fmt, where):
    paths = write_sample(tmp_path / "seq", frames=9, size=(96, 128), fmt=fmt, sector="C", seed=1)
    other = write_sample(tmp_path / "other", frames=9, size=(96, 128), fmt=fmt, sector="C", seed=7)
    checked = q.checked_scans(len(paths), 4, DEFAULT)
    assert measure(_spec(paths, checked))["warning"] is None
    j = checked[0] + where
    shutil.copyfile(other[j], paths[j])  # same name and time, another scene
    flagged = measure(_spec(paths, checked))
    assert flagged["warning"] and f"scan {checked[0]}" in flagged["warning"], flagged
    if fmt == "png":
        assert flagged["ssim"] < 0.7


def test_a_check_that_cannot_run_is_a_note_not_an_error(tmp_path):
    from goesvfi_lab.engine.selfcheck import record, record_check, self_check

    paths = write_sample(tmp_path / "seq", frames=4, size=(32, 48), fmt="nc", seed=1)
    paths[1] = str(tmp_path / "gone.nc")  # removed since the job was planned
    measured = self_check(_spec(paths, (1,)))
    assert "self-check failed (FrameError" in measured["quality"]["error"] and measured["quality"]["checked"] == [1]
    result = record_check(_spec(paths, (1,)), measured)  # no job.json in that folder: a note too
    assert result["task"] == "quality" and "no job.json" in result["quality"]["manifest_note"]
    (tmp_path / "out").mkdir()
    assert "no job.json" in record(str(tmp_path / "out"), {"psnr": 30.0}, None)["manifest_note"]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read().decode())


@pytest.mark.cluster
def test_a_queue_scores_every_job_everywhere_it_shows(tmp_path, monkeypatch, capsys):
    from _widget_wire import install
    from distributed import LocalCluster

    from goesvfi_lab.cli import main
    from goesvfi_lab.engine import dashboard as dash
    from goesvfi_lab.model import BatchJob
    from goesvfi_lab.notebook import panel
    from goesvfi_lab.queue import BatchQueue

    install(monkeypatch)
    good = write_sample(tmp_path / "good", frames=6, size=(64, 96), fmt="nc", seed=1)
    bad = write_sample(tmp_path / "bad", frames=6, size=(64, 96), fmt="png", seed=2)
    alien = write_sample(tmp_path / "alien", frames=6, size=(64, 96), fmt="png", seed=9)
    k = q.checked_scans(6, 4, DEFAULT)[0]
    shutil.copyfile(alien[k], bad[k])
    store = tmp_path / "queue.sqlite3"
    config = {"distributed.scheduler.worker-saturation": "inf", "goesvfi.dashboard.interval": 0.1}
    with dask.config.set(config), LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        qu = BatchQueue(cluster=cluster, store=store)
        checked = []
        qu.on("job_checked", lambda e: checked.append(e["job"].name))
        jobs = {
            "good": BatchJob(
                name="good", inputs=good, output_dir=tmp_path / "out/good", factor=4, settings={"cube": "zarr"}
            ),
            "bad": BatchJob(
                name="bad", inputs=bad, output_dir=tmp_path / "out/bad", factor=4, settings={"video": True}
            ),
        }
        for job in jobs.values():
            qu.add_job(job)
        try:
            qu.start()
            url = f"http://127.0.0.1:{urlparse(cluster.dashboard_link).port}/{dash.PAGE}.json"
            assert qu.wait(timeout=120)  # returns once the scores are in too
            assert sorted(checked) == ["bad", "good"]
            by_name = {j.name: j for j in qu.jobs()}
            app = panel(qu)
            app.queue_panel.refresh()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the page's snapshot after the last score
                view = _get_json(url)
                rows = {j["name"]: j for s in view["queues"] for j in s["jobs"]}
                if all((rows.get(n) or {}).get("quality") for n in jobs):
                    break
                time.sleep(0.1)
            cells = [r.info.value for r in app.queue_panel.rows if "data-job-id" in r.info.value]
            app.close()
        finally:
            qu.stop()
        again = BatchQueue(cluster=cluster, store=tmp_path / "again.sqlite3")  # the same jobs, outputs complete
        try:
            for job in jobs.values():
                again.add_job(
                    BatchJob(
                        name=job.name, inputs=job.inputs, output_dir=job.output_dir, settings=job.settings, factor=4
                    )
                )
            again.start()
            assert again.wait(timeout=60)
            skipped = {j.name: j.quality for j in again.jobs()}
        finally:
            again.stop()

    # job.json, the store, the cube's attributes
    for name in jobs:
        manifest = json.loads((tmp_path / "out" / name / "job.json").read_text())
        assert manifest["quality"]["checked"] == [k] and manifest["quality"] == by_name[name].quality
    good_q, bad_q = by_name["good"].quality, by_name["bad"].quality
    assert good_q["unit"] == "K" and good_q["warning"] is None and good_q["psnr"] > 30
    assert bad_q["unit"] is None and bad_q["warning"] and bad_q["psnr"] < DEFAULT.psnr_floor and "ssim" in bad_q
    import xarray as xr

    with xr.open_zarr(tmp_path / "out/good/cube.zarr") as ds:
        assert ds.attrs["goesvfi_quality_psnr"] == pytest.approx(good_q["psnr"])
        assert "pessimistic" in ds.attrs["goesvfi_quality_comment"]
    assert skipped == {n: j.quality for n, j in by_name.items()}  # a skipped job keeps the folder's score
    # the job table (what went to the browser), worst first in the store's quality order
    text = " ".join(cells)
    assert re.search(r"gvl-quality gvl-quality-warn[^>]*>⚠ \d+\.\d dB", text)
    assert f"{good_q['psnr']:.1f} dB, RMSE {good_q['rmse']:.3g} K" in text and "pessimistic bound" in text
    assert [j.name for j in qu.store.jobs(order="quality")] == ["bad", "good"]
    # /goesvfi.json
    assert rows["good"]["quality"]["psnr"] == pytest.approx(good_q["psnr"]) and rows["bad"]["quality"]["warning"]
    # goesvfi-lab status
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "240")  # rich folds narrow cells across lines
    assert main(["status", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"{good_q['psnr']:.1f} dB" in out and "⚠" in out and "pessimistic bound" in out


def test_the_score_is_added_to_a_netcdf_cube_in_place(tmp_path):
    import xarray as xr

    from goesvfi_lab.frames.cube import update_cube_attrs
    from goesvfi_lab.frames.cube_cf import quality_attrs

    path = tmp_path / "cube.nc"
    xr.Dataset({"CMI": (("time", "y"), np.zeros((2, 3), np.float32))}, attrs={"title": "t"}).to_netcdf(path)
    summary = q.summarize([q.score(2, np.ones((4, 4)), np.zeros((4, 4)), np.full((4, 4), 1.5))], "K", "flow", DEFAULT)
    update_cube_attrs(path, quality_attrs(summary))
    with xr.open_dataset(path) as ds:
        assert ds.attrs["title"] == "t" and ds.attrs["goesvfi_quality_units"] == "K"
        assert ds.attrs["goesvfi_quality_rmse"] == pytest.approx(0.5) and int(ds.attrs["goesvfi_quality_checked"]) == 2
        assert "pessimistic bound" in ds.attrs["goesvfi_quality_comment"] and "goesvfi_quality_warning" not in ds.attrs
