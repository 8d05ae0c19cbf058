"""Analytic textures with known motion for the interpolation tests (sampled exactly, no resampling error)."""

from __future__ import annotations

import numpy as np


def waves(
    h: int, w: int, shift=(0.0, 0.0), angle: float = 0.0, seed: int = 1, n: int = 30, max_freq: float = 0.25
) -> np.ndarray:
    """Sum of random plane waves, translated by ``shift`` (rows, cols) and rotated by ``angle`` (radians)
    about the image centre; values roughly in [-n/3, n/3], float64."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ys, xs = yy - cy - shift[0], xx - cx - shift[1]
    c, s = np.cos(-angle), np.sin(-angle)  # sample the unrotated texture at the inversely rotated point
    xr, yr = c * xs - s * ys, s * xs + c * ys
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w))
    for _ in range(n):
        fx, fy = rng.uniform(-max_freq, max_freq, 2)
        out += np.cos(fx * xr + fy * yr + rng.uniform(0, 2 * np.pi))
    return out


def to_uint8(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.rint((x - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)
