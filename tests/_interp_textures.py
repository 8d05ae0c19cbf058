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


def vortex(
    h: int,
    w: int,
    t: float,
    radius: float = 40.0,
    turn: float = 10.0,
    spin_up: float = 0.25,
    drift=(0.0, 2.0),
    seed: int = 3,
) -> np.ndarray:
    """A multi-scale texture carried by an intensifying vortex that drifts: curved, accelerating paths.

    Parcels circle the centre (which moves ``drift`` pixels (rows, cols) per unit time) with the
    angular speed of a Rankine vortex — solid rotation inside ``radius``, falling as 1/r² outside —
    ``turn`` degrees per unit time at ``radius``, growing by ``spin_up`` per unit time. The field is
    exact: each pixel is traced back analytically to the texture at t=0. Wavelengths 10–200 px, red
    spectrum, like cloud fields.
    """
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy = (h - 1) / 2 + drift[0] * t
    cx = (w - 1) / 2 + drift[1] * t
    dy, dx = yy - cy, xx - cx
    r = np.hypot(dy, dx)
    omega = np.radians(turn) * np.where(r < radius, 1.0, (radius / np.maximum(r, 1e-9)) ** 2)
    phi = omega * (t + 0.5 * spin_up * t * t)  # angle turned since t=0
    c, s = np.cos(-phi), np.sin(-phi)
    x0 = c * dx - s * dy + (w - 1) / 2
    y0 = s * dx + c * dy + (h - 1) / 2
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w))
    for _ in range(40):
        wavelength = np.exp(rng.uniform(np.log(10.0), np.log(200.0)))
        theta = rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / wavelength
        out += (wavelength / 200.0) ** 0.8 * np.cos(
            k * (np.cos(theta) * x0 + np.sin(theta) * y0) + rng.uniform(0, 2 * np.pi)
        )
    return out
