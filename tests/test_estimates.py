"""The batch-time model (goesvfi_lab.estimates): what a job does, spread over slots, calibrated by history."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from goesvfi_lab import estimates as E

# make demo's batch: CONUS NetCDF 9 scans 192×256, meso PNG renders 10 scans 160×160 RGB, full disk 6 scans 192²
DEMO = [
    E.JobWork(inputs=9, factor=4, pixels=192 * 256, method="flow", ext=".nc", video=True),
    E.JobWork(inputs=10, factor=4, pixels=160 * 160, method="flow", ext=".png", video=True, channels=3),
    E.JobWork(inputs=6, factor=4, pixels=192 * 192, method="flow", ext=".nc", video=True),
]
FLOW = {w.key: 0.12 for w in DEMO}


def test_job_work_counts_frames_and_pairs():
    job = DEMO[0]
    assert (job.pairs, job.frames_total, job.frames_new) == (8, 33, 24)
    assert E.JobWork(inputs=1, factor=4, pixels=1, method="flow").frames_total == 1
    assert job.key == ("flow", "field", 1) and DEMO[1].key == ("flow", "field", 3)


def test_job_seconds_adds_every_part_of_the_job():
    costs = E.Costs(
        job=0.1,
        pair=0.01,
        read_nc=0.01,
        read_nc_mp=0.1,
        write_png=0.002,
        write_png_mp=0.2,
        field_mp=0.01,
        video=0.05,
        video_frame=0.001,
        video_mp=0.1,
        cube=0.05,
        cube_mp=0.1,
        interp_in_worker=1.5,
    )
    job = E.JobWork(inputs=3, factor=2, pixels=500_000, method="flow", ext=".nc", video=True, cube=True)
    parts = E.job_seconds(job, interp_s_mp=1.0, costs=costs)
    assert parts == pytest.approx(
        {
            "start-up": 0.1 + 2 * 0.01,
            "read": 4 * (0.01 + 0.1 * 0.5),  # two pairs, each reads both inputs
            "interpolate": 2 * 1.0 * 0.5 * 1.5,  # two new frames, at a worker's speed
            "write": 5 * (0.002 + 0.2 * 0.5 + 0.01 * 0.5),  # five frames, plus the cube's float fields
            "video": 0.05 + 5 * (0.001 + 0.1 * 0.5),
            "cube": 0.05 + 5 * 0.1 * 0.5,
        }
    )
    png = E.job_seconds(
        E.JobWork(inputs=3, factor=2, pixels=500_000, method="flow", ext=".png", video=False), 1.0, costs
    )
    assert png["video"] == png["cube"] == 0.0 and png["read"] == pytest.approx(4 * (0.001 + 0.02 * 0.5))


def test_interpolation_alone_was_a_fraction_of_the_batch():
    """Issue 11: "time ≈ 0.6 s" (new frames × cost / slots) for a batch that took 11 s."""
    p = E.predict(DEMO, FLOW, slots=2)
    interpolation_only = sum(w.frames_new * 0.12 * w.pixels / 1e6 for w in DEMO) / 2
    assert p.parts["interpolate"] / 2 == pytest.approx(interpolation_only * E.COSTS.interp_in_worker)
    assert p.uncalibrated > 8 * interpolation_only
    assert set(p.parts) == {"start-up", "read", "interpolate", "write", "video", "cube"}
    assert p.factor is None and p.seconds == p.uncalibrated and p.parallel == 2


def test_slots_warm_up_and_calibration():
    one = E.predict(DEMO, FLOW, slots=1)
    two = E.predict(DEMO, FLOW, slots=2)
    pickup = E.COSTS.pickup  # submission to the first start: once per batch, not per slot
    assert two.uncalibrated - pickup == pytest.approx((one.uncalibrated - pickup) / 2)
    tiny = [E.JobWork(inputs=2, factor=2, pixels=10_000, method="flow")]
    assert E.predict(tiny, {tiny[0].key: 0.1}, slots=8).parallel == 1  # one pair runs on one slot
    cold = E.predict(DEMO, FLOW, slots=2, cold=["flow", "rife"])  # rife is not in this batch
    assert cold.cold == ("flow",)
    assert cold.uncalibrated - two.uncalibrated == pytest.approx(E.COSTS.warmup + E.COSTS.model_load["flow"])
    warm_workers = E.predict(DEMO, FLOW, slots=2, cold=["flow"], any_warm=True)  # imports done, model not
    assert warm_workers.uncalibrated - two.uncalibrated == pytest.approx(E.COSTS.model_load["flow"])
    assert E.predict(DEMO, FLOW, slots=2, factor=2.5).seconds == pytest.approx(2.5 * two.uncalibrated)
    assert E.predict([], FLOW).seconds == 0.0


def _finished(works, created, started, seconds):
    return [E.Finished(w, created, started, started + seconds) for w in works]


def test_batches_are_jobs_submitted_together():
    a = _finished(DEMO, 100.0, 100.5, 5.0)
    b = _finished(DEMO[:1], 106.5, 106.5, 3.0)  # submitted just after a ended: its own batch
    got = E.batches(b + a)
    assert [len(x.jobs) for x in got] == [3, 1]
    assert got[0].seconds == pytest.approx(5.5) and got[0].methods == {"flow"}  # from submission
    late = E.batches(_finished(DEMO, 100.0, 130.0, 5.0))  # waited 30 s behind other work: not its time
    assert late[0].seconds == pytest.approx(5.0 + E.PICKUP_CAP)


def test_calibration_is_actual_over_predicted_of_finished_batches():
    predicted = E.predict(DEMO, FLOW, slots=2, cold=["flow"]).uncalibrated  # the first batch: cold workers
    history = _finished(DEMO, 1000.0, 1000.0, 11.0)  # it took 11 s
    factor = E.calibration(history, FLOW, slots=2, methods={"flow"})
    assert factor == pytest.approx(11.0 / predicted)
    # the same batch again, on the same (now warm) workers: predicted from the model × that ratio
    cold, any_warm = E.cold_methods({"flow"}, history, at=1020.0)
    assert cold == () and any_warm
    again = E.predict(DEMO, FLOW, slots=2, cold=cold, any_warm=any_warm, factor=factor)
    assert again.seconds == pytest.approx(factor * E.predict(DEMO, FLOW, slots=2).uncalibrated)
    assert 11.0 / 2 < again.seconds < 11.0
    assert E.calibration([], FLOW) is None


def test_calibration_prefers_batches_of_the_same_methods_and_takes_the_median():
    rife = [E.JobWork(inputs=9, factor=4, pixels=192 * 256, method="rife")]
    interp = {**FLOW, rife[0].key: 2.4}
    # batches 700 s apart: each finds its workers cold again (WARM_FOR), and is predicted so
    p_flow = E.predict(DEMO, interp, 2, cold=["flow"]).uncalibrated
    p_rife = E.predict(rife, interp, 2, cold=["rife"]).uncalibrated
    history = (
        _finished(DEMO, 0.0, 0.0, 2 * p_flow)
        + _finished(rife, 700.0, 700.0, 3 * p_rife)
        + _finished(DEMO, 1400.0, 1400.0, 4 * p_flow)
        + _finished(DEMO, 2100.0, 2100.0, 9 * p_flow)
    )
    assert E.calibration(history, interp, 2, methods={"rife"}) == pytest.approx(3.0)
    assert E.calibration(history, interp, 2, methods={"flow"}) == pytest.approx(4.0)  # median of 2, 4, 9
    assert E.calibration(history, interp, 2, methods={"linear"}) == pytest.approx(4.0)  # any: 3, 4, 9
    assert E.calibration(history, interp, 2, methods={"flow"}, recent=2) == pytest.approx(6.5)
    broken = _finished(DEMO, 0.0, 0.0, 1000 * p_flow)
    assert E.calibration(broken, interp, 2) == E.FACTOR_LIMITS[1]
    assert E.calibration(history, {}, 2) is None  # no cost for their methods: nothing to compare


def test_cold_methods_forget_after_a_while():
    history = _finished(DEMO[:1], 0.0, 0.0, 10.0)  # flow finished at t=10
    assert E.cold_methods({"flow", "rife"}, history, at=20.0) == (("rife",), True)
    assert E.cold_methods({"flow"}, history, at=10.0 + E.WARM_FOR + 1) == (("flow",), False)


def test_scaled_interp_carries_this_hosts_speed_to_methods_not_timed():
    measured = {("flow", "field", 1): 0.24}  # twice the table: a slow host
    got = E.scaled_interp([("flow", "field", 1), ("rife", "field", 3), ("linear", "video", 3)], measured)
    assert got[("flow", "field", 1)] == 0.24
    assert got[("rife", "field", 3)] == pytest.approx(2 * E.interp_cost("rife"))
    assert got[("linear", "video", 3)] == pytest.approx(2 * E.interp_cost("linear"))
    assert E.scaled_interp([("rife", "field", 1)])[("rife", "field", 1)] == E.interp_cost("rife")
    assert E.interp_cost("flow", "video") > E.interp_cost("flow", "field")
    assert E.interp_cost("rife", device="cuda") < E.interp_cost("rife")


def test_a_crop_is_priced_by_its_window_and_calibrates_cropped_batches():
    window = (663, 985, 1081, 1582)  # Florida on a 2 km CONUS scan (geo.bbox_window of -90 25 -80 32)
    assert E.cropped_pixels(1500 * 2500, None) == 3_750_000
    assert E.cropped_pixels(1500 * 2500, window) == 322 * 501
    full = E.JobWork(inputs=3, factor=2, pixels=1500 * 2500, method="flow", ext=".nc", video=True, cube=True)
    crop = E.JobWork(**{**full.__dict__, "pixels": E.cropped_pixels(full.pixels, window)})
    whole, cut = E.job_seconds(full, 0.12), E.job_seconds(crop, 0.12)
    share = 322 * 501 / 3_750_000
    assert cut["start-up"] == whole["start-up"]  # per job and pair, not per pixel
    assert cut["interpolate"] == pytest.approx(share * whole["interpolate"])
    for part in ("read", "write", "video", "cube"):  # per-pixel terms scale, fixed terms stay
        assert share * whole[part] < cut[part] < whole[part], part
    # a finished cropped batch that took what the model says for its window calibrates ×1; counted as
    # whole frames it would read as a cluster many times faster than it is
    interp = {full.key: 0.12}
    took = E.predict([crop], interp, cold=("flow",)).uncalibrated
    assert E.calibration([E.Finished(crop, 0.0, 0.0, took)], interp) == pytest.approx(1.0)
    assert E.calibration([E.Finished(full, 0.0, 0.0, took)], interp) < 0.2


def test_the_model_is_pure_python():
    code = (
        "import json, sys, goesvfi_lab.estimates\n"
        "print(json.dumps([m for m in ('numpy', 'torch', 'dask', 'ipywidgets') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == []


def test_a_zarr_cube_is_priced_as_measured_cheaper_than_netcdf():
    netcdf = E.JobWork(inputs=5, factor=2, pixels=1500 * 2500, method="flow", ext=".nc", video=False, cube=True)
    zarr = E.JobWork(**{**netcdf.__dict__, "zarr": True})
    a, b = E.job_seconds(netcdf, 0.12)["cube"], E.job_seconds(zarr, 0.12)["cube"]
    frames, mp = 9, 3.75
    assert a == pytest.approx(E.COSTS.cube + frames * E.COSTS.cube_mp * mp)
    assert b == pytest.approx(E.COSTS.cube + frames * E.COSTS.cube_zarr_mp * mp)
    assert 0.1 < b / a < 0.3  # benchmarks/cube.py: Zarr in 0.17-0.28 of NetCDF's write time
    assert E.job_seconds(E.JobWork(**{**zarr.__dict__, "cube": False}), 0.12)["cube"] == 0.0
