"""Curved trajectories: pairs that see the scans either side follow accelerating, turning motion.

The vortex texture (tests/_interp_textures.vortex) is exact at every time: an intensifying vortex
whose parcels move on arcs, faster each scan — where two-scan (straight, constant-speed) paths must
be wrong. Uniform motion must not lose anything, and a bad neighbour must not ruin a pair.
"""

from __future__ import annotations

import dask
import numpy as np
import pytest
from _interp_textures import psnr, vortex, waves

from goesvfi_lab import interp
from goesvfi_lab.interp.flow import curved_displacement
from goesvfi_lab.plan import MAX_CONTEXT_GAP, context_gaps


def _sequence(factor: int, n_keys: int = 4, size: int = 160, **kw) -> list[np.ndarray]:
    return [vortex(size, size, i / factor, **kw).astype(np.float32) for i in range((n_keys - 1) * factor + 1)]


def _score(truth: list[np.ndarray], factor: int, curved: bool, kind: str = "field") -> tuple[float, list]:
    keys = truth[::factor]
    with dask.config.set({"goesvfi.interp.curved": curved}):
        out = interp.interpolate_sequence(keys, factor=factor, method="flow", kind=kind)
    peak = float(max(f.max() for f in truth) - min(f.min() for f in truth))
    return float(np.mean([psnr(out[i], truth[i], peak) for i in range(len(truth)) if i % factor])), out


def test_quadratic_through_three_positions():
    """x(τ) = vτ + aτ²/2 fitted to τ = -r, 0, 1 gives back the positions, and any τ of a known quadratic."""
    import torch

    v, a = torch.tensor([[[[1.5]], [[-0.5]]]]), torch.tensor([[[[0.4]], [[0.2]]]])
    for r in (1.0, 0.5, 2.0):
        at = lambda tau: v * tau + a * tau * tau / 2  # noqa: E731
        u, u_back = at(1.0), at(-r)
        for t in (0.0, 0.25, 0.5, 1.0):
            assert torch.allclose(curved_displacement(u, u_back, t, r), at(t), atol=1e-6)


def test_accelerating_vortex_gains_over_straight_paths():
    truth = _sequence(4)
    straight, _ = _score(truth, 4, False)
    curved, out = _score(truth, 4, True)
    assert curved > straight + 1.0, (straight, curved)
    for k, key in enumerate(truth[::4]):  # inputs pass through unchanged
        assert np.array_equal(out[4 * k], key)


def test_uniform_motion_loses_nothing():
    truth = [waves(128, 128, shift=(0.4 * i, 1.1 * i), max_freq=0.15).astype(np.float32) for i in range(13)]
    straight, _ = _score(truth, 4, False)
    curved, _ = _score(truth, 4, True)
    assert curved > 45.0 and abs(curved - straight) < 0.2, (straight, curved)


def test_a_bad_neighbour_does_not_ruin_the_pair():
    """A scene cut as the scan after: the acceleration is clamped, the pair stays near its two-scan result."""
    a, b = (vortex(128, 128, t).astype(np.float32) for t in (0.0, 1.0))
    mid = vortex(128, 128, 0.5).astype(np.float32)
    cut = waves(128, 128, seed=9).astype(np.float32) * 3.0
    peak = float(mid.max() - mid.min())
    with dask.config.set({"goesvfi.interp.curved": True}):
        plain = interp.interpolate(a, b, 0.5, method="flow", kind="field")
        spoilt = interp.interpolate_times(a, b, [0.5], method="flow", kind="field", after=cut)[0]
    assert np.isfinite(spoilt).all()
    assert psnr(spoilt, mid, peak) > psnr(plain, mid, peak) - 6.0


def test_nan_never_bleeds_and_wrong_neighbours_are_left_out():
    frames = [vortex(96, 96, t).astype(np.float32) for t in (0.0, 1.0, 2.0, 3.0)]
    hole = (slice(30, 50), slice(30, 50))
    frames[1][hole] = np.nan
    frames[2][hole] = np.nan
    frames[0][:10] = np.nan  # a neighbour's own missing pixels are taken from the pair
    with dask.config.set({"goesvfi.interp.curved": True}):
        out = interp.interpolate_sequence(frames, factor=2, method="flow", kind="field")
        mid = out[3]  # between frames 1 and 2
        assert np.isnan(mid[hole]).all() and np.isfinite(np.delete(mid.ravel(), np.flatnonzero(np.isnan(mid)))).all()
        assert np.isfinite(mid).sum() == mid.size - 400
        odd = np.zeros((90, 96), np.float32)  # another size: that side falls back to two scans
        two = interp.interpolate_times(frames[1], frames[2], [0.5], method="flow", kind="field", after=odd)[0]
        one_sided = interp.interpolate_times(frames[1], frames[2], [0.5], method="flow", kind="field")[0]
    np.testing.assert_array_equal(np.isnan(two), np.isnan(one_sided))
    np.testing.assert_allclose(np.nan_to_num(two), np.nan_to_num(one_sided))


def test_video_and_rife_take_no_context():
    """Off by default where it was not measured to help (8-bit video); other backends never take it."""
    from goesvfi_lab.interp.api import uses_context

    assert uses_context(interp.get_backend("flow", "cpu", "field"))
    assert not uses_context(interp.get_backend("flow", "cpu", "video"))
    assert not uses_context(interp.get_backend("linear", "cpu", "field"))
    with dask.config.set({"goesvfi.interp.curved": False}):
        assert not uses_context(interp.get_backend("flow", "cpu", "field"))
    with dask.config.set({"goesvfi.interp.curved": True}):
        assert uses_context(interp.get_backend("flow", "cpu", "video"))


@pytest.mark.parametrize(
    ("times", "pair", "n", "expected"),
    [
        (None, 0, 4, (None, 1.0)),  # the first pair has no scan before it
        (None, 2, 4, (1.0, None)),
        ([0, 300, 600, 900], 1, 4, (1.0, 1.0)),
        ([0, 600, 900, 1200], 1, 4, (2.0, 1.0)),  # a missed scan before: twice the interval
        ([0, 900, 1200, 1500], 1, 4, (None, 1.0)),  # beyond MAX_CONTEXT_GAP
        ([0, 300, None, 900], 0, 4, (None, None)),  # the pair's own time unknown
        ([0, 300, 600, None], 1, 4, (1.0, None)),
        ([0, 300, 450, 750], 1, 4, (2.0, 2.0)),  # a shorter pair interval (a mesoscale burst)
    ],
)
def test_context_gaps(times, pair, n, expected):
    assert MAX_CONTEXT_GAP == 2.0
    assert context_gaps(times, pair, n) == expected
