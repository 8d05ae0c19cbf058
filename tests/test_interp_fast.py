"""``method="fast"`` (OpenCV DIS + this project's blending) against textures with known motion."""

from __future__ import annotations

import dask
import numpy as np
import pytest
from _interp_textures import psnr, to_uint8, waves

from goesvfi_lab import interp
from goesvfi_lab.interp import auto

H, W = 96, 128
INNER = (slice(12, -12), slice(12, -12))


def _video(*frames: np.ndarray) -> list[np.ndarray]:
    """8-bit RGB renders of ``waves`` textures, one fixed mapping for every frame of a test."""
    return [np.repeat(to_uint8(f, -15.0, 15.0)[..., None], 3, axis=-1) for f in frames]


@pytest.mark.parametrize("shift", [(0.0, 4.0), (3.0, -5.0), (-8.0, 10.0)])
def test_translation_lands_half_way(shift):
    a, b, truth = _video(waves(H, W), waves(H, W, shift=shift), waves(H, W, shift=(shift[0] / 2, shift[1] / 2)))
    y = interp.interpolate(a, b, 0.5, method="fast", device="cpu")
    lin = interp.interpolate(a, b, 0.5, method="linear", device="cpu")
    assert y.dtype == np.uint8 and y.shape == a.shape
    assert psnr(y[INNER], truth[INNER], 255) > 38
    assert psnr(y[INNER], truth[INNER], 255) > psnr(lin[INNER], truth[INNER], 255) + 10


def test_quarter_times_follow_the_motion():
    a, b = _video(waves(H, W), waves(H, W, shift=(0.0, 8.0)))
    for t in (0.25, 0.75):
        (truth,) = _video(waves(H, W, shift=(0.0, 8.0 * t)))
        y = interp.interpolate(a, b, t, method="fast", device="cpu")
        assert psnr(y[INNER], truth[INNER], 255) > 36


def test_rotation():
    angle = np.deg2rad(6.0)
    a, b, truth = _video(waves(H, W), waves(H, W, angle=angle), waves(H, W, angle=angle / 2))
    y = interp.interpolate(a, b, 0.5, method="fast", device="cpu")
    lin = interp.interpolate(a, b, 0.5, method="linear", device="cpu")
    assert psnr(y[INNER], truth[INNER], 255) > 36
    assert psnr(y[INNER], truth[INNER], 255) > psnr(lin[INNER], truth[INNER], 255) + 8


def test_occlusion_uses_the_frame_that_sees_the_pixel():
    bg = waves(H, W, seed=3)
    lo, hi = bg.min(), bg.max() + 6

    def frame(x0: int) -> np.ndarray:
        f = bg.copy()
        f[30:60, x0 : x0 + 30] = hi
        return np.repeat(to_uint8(f, lo, hi)[..., None], 3, axis=-1)

    a, b, truth = frame(30), frame(46), frame(38)
    y = interp.interpolate(a, b, 0.5, method="fast", device="cpu")
    lin = interp.interpolate(a, b, 0.5, method="linear", device="cpu")
    # a textureless square jumping 16 px in a 128-px frame is hard for DIS's coarse patches (fast preset
    # 25.2 dB, medium 27.8, flow 27+): bound it honestly, and require the square to be in one piece
    assert psnr(y, truth, 255) > psnr(lin, truth, 255) + 3
    assert (y[35:55, 43:63] > 240).mean() > 0.95


def test_fields_keep_dtype_and_nan_never_bleeds():
    a = (waves(H, W) * 3 + 260).astype(np.float32)
    b = (waves(H, W, shift=(0.0, 4.0)) * 3 + 260).astype(np.float32)
    a[:, :10] = np.nan  # off the disk in both: NaN in the output
    b[:, :10] = np.nan
    a[40:50, 60:70] = np.nan  # missing in one scan only: the other has data, so the output does too
    y = interp.interpolate(a, b, 0.5, method="fast", device="cpu")
    assert y.dtype == np.float32
    assert np.isnan(y[:, :10]).all()
    assert np.isfinite(y[:, 10:]).all()
    truth = (waves(H, W, shift=(0.0, 2.0)) * 3 + 260).astype(np.float32)
    core = (slice(12, -12), slice(24, -12))
    assert psnr(y[core], truth[core], 60.0) > 35


def test_inputs_pass_through_and_are_not_modified():
    a, b = _video(waves(H, W), waves(H, W, shift=(0.0, 4.0)))
    a0, b0 = a.copy(), b.copy()
    out = interp.interpolate_times(a, b, [0.0, 0.5, 1.0], method="fast", device="cpu")
    np.testing.assert_array_equal(out[0], a0)
    np.testing.assert_array_equal(out[2], b0)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_confidence_is_low_where_something_appears():
    base = waves(H, W, seed=5)
    a, b = _video(base, base)
    b = b.copy()
    b[30:60, 40:80] = 255  # a bright blob only in the second frame
    ((_, conf),) = interp.interpolate_times(a, b, [0.5], method="fast", device="cpu", confidence=True)
    assert conf.shape == (H, W) and conf.dtype == np.float32
    assert 0.0 <= float(conf.min()) and float(conf.max()) <= 1.0
    assert conf[35:55, 45:75].mean() < 0.3
    assert np.median(conf[70:, :]) > 0.9


def test_batches_of_pairs_match_single_pairs():
    import torch

    from goesvfi_lab.interp.registry import get_backend

    be = get_backend("fast", "cpu", "video")
    a = [waves(32, 48, seed=s) for s in (1, 2)]
    b = [waves(32, 48, seed=s, shift=(0.0, 3.0)) for s in (1, 2)]
    x0 = torch.from_numpy(np.stack(a)[:, None].astype(np.float32) / 20 + 0.5)
    x1 = torch.from_numpy(np.stack(b)[:, None].astype(np.float32) / 20 + 0.5)
    (both,) = be.run(x0, x1, [0.5])
    for i in range(2):
        (one,) = be.run(x0[i : i + 1], x1[i : i + 1], [0.5])
        torch.testing.assert_close(both[i : i + 1], one)


def test_auto_picks_fast_under_a_small_budget():
    methods = interp.available_methods()
    assert "fast" in methods
    import torch

    cpu = torch.device("cpu")
    budget = auto.cost("fast", "cpu", "video") * 1.01
    assert budget < auto.cost("flow", "cpu", "video") and budget < auto.cost("rife", "cpu", "video")
    with dask.config.set({"goesvfi.interp.auto-budget": {"cpu": budget}}):
        assert auto.choose(cpu, "video", methods) == "fast"
        assert interp.resolve_method("auto", "cpu", "video") == "fast"
        assert auto.choose(cpu, "field", methods) == "flow"  # flow is better and cheaper on fields


def test_flow_on_fields_estimates_with_dis_on_the_cpu():
    import dataclasses

    import torch

    from goesvfi_lab.interp.flow import FIELD_PARAMS, FlowBackend, estimate_flow

    assert FlowBackend(torch.device("cpu"), "field").params.estimator == "dis"
    assert FlowBackend(torch.device("cpu"), "video").params.estimator == "torch"
    a, b = waves(H, W), waves(H, W, shift=(3.0, -5.0))
    guide = [torch.from_numpy(((x + 15) / 30).astype(np.float32))[None, None] for x in (a, b)]
    for params in (FIELD_PARAMS, dataclasses.replace(FIELD_PARAMS, estimator="torch")):
        flow = estimate_flow(*guide, params)[0].numpy()
        epe = np.hypot(flow[0] + 5.0, flow[1] - 3.0)[INNER]
        assert np.median(epe) < 0.1, params.estimator
