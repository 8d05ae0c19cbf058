"""Per-pixel confidence of interpolated frames (issue 16): high where motion explains both scans, low
where something appears that neither scan carries to the in-between time."""

from __future__ import annotations

import numpy as np
from _interp_textures import vortex, waves

from goesvfi_lab import interp


def test_confident_where_motion_explains_the_pair_and_not_where_cloud_appears():
    a = waves(128, 128, shift=(0.0, 0.0), max_freq=0.15).astype(np.float32)
    b = waves(128, 128, shift=(1.0, 2.0), max_freq=0.15).astype(np.float32)
    yy, xx = np.mgrid[0:128, 0:128]
    blob = np.exp(-((yy - 40) ** 2 + (xx - 90) ** 2) / (2 * 6.0**2)).astype(np.float32)
    b = b + 12.0 * blob  # a new cloud in the second scan only
    ((frame, conf),) = interp.interpolate_times(a, b, [0.5], method="flow", kind="field", confidence=True)
    assert frame.shape == conf.shape == (128, 128) and conf.dtype == np.float32
    assert 0.0 <= float(conf.min()) and float(conf.max()) <= 1.0
    inside, outside = conf[blob > 0.5], conf[blob < 0.01]
    assert float(inside.mean()) < 0.3 < 0.9 < float(np.median(outside)), (inside.mean(), np.median(outside))


def test_scans_are_sure_missing_pixels_have_none_and_other_methods_say_nothing():
    a, b = (vortex(96, 96, t).astype(np.float32) for t in (0.0, 1.0))
    a[:8], b[:8] = np.nan, np.nan
    outs = interp.interpolate_times(a, b, [0.0, 0.25, 1.0], method="flow", kind="field", confidence=True)
    for (frame, conf), ref in zip(outs[::2], (a, b)):
        np.testing.assert_array_equal(frame, ref)
        assert np.isnan(conf[:8]).all() and (conf[8:] == 1.0).all()
    mid = outs[1][1]
    assert np.isnan(mid[:8]).all() and np.isfinite(mid[8:]).all()
    assert interp.interpolate_times(a, b, [0.5], method="linear", kind="field", confidence=True)[0][1] is None


def test_tiled_frames_carry_their_confidence_across_seams():
    import dask

    a, b = (vortex(200, 200, t).astype(np.float32) for t in (0.0, 1.0))
    whole = interp.interpolate_times(a, b, [0.5], method="flow", kind="field", confidence=True)[0]
    with dask.config.set({"goesvfi.interp.tile-size": 128, "goesvfi.interp.tile-overlap": 32}):
        tiled = interp.interpolate_times(a, b, [0.5], method="flow", kind="field", confidence=True)[0]
    assert tiled[1].shape == (200, 200)
    assert abs(float(tiled[1].mean()) - float(whole[1].mean())) < 0.05
