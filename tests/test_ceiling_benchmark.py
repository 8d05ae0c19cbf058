"""benchmarks/ceiling.py's yardsticks on textures whose path is known: the README's reading of carphone
(jitter the keys cannot predict) rests on camera_path telling smooth motion from jitter."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from _interp_textures import to_uint8, waves

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
ceiling = pytest.importorskip("ceiling")  # needs OpenCV (the test extra)


def _clip(jitter: float, n: int = 13) -> list[np.ndarray]:
    """Rightward pan, 2 px per frame; odd frames pushed ``jitter`` px further (a shaky hand)."""
    frames = [waves(96, 128, shift=(0.0, 2.0 * i + (jitter if i % 2 else 0.0)), max_freq=0.2) for i in range(n)]
    return [np.repeat(to_uint8(f, -10, 10)[..., None], 3, axis=-1) for f in frames]


def test_camera_path_tells_smooth_motion_from_jitter_the_keys_cannot_predict():
    smooth_line, smooth_cubic = ceiling.camera_path(_clip(0.0))
    shaky_line, shaky_cubic = ceiling.camera_path(_clip(0.5))
    assert smooth_line < 0.1 and smooth_cubic < 0.1
    assert shaky_line == pytest.approx(0.5, abs=0.15) and shaky_cubic == pytest.approx(0.5, abs=0.15)


def test_the_straight_path_oracle_loses_what_jitter_moves_and_the_free_oracle_does_not():
    smooth, shaky = ceiling.oracle_scores(_clip(0.0)), ceiling.oracle_scores(_clip(0.5))
    assert smooth["oracle straight"] > smooth["linear"] + 5
    assert shaky["oracle"] > shaky["oracle straight"] + 5  # the free oracle follows the shake
    assert shaky["oracle"] == pytest.approx(smooth["oracle"], abs=3)
