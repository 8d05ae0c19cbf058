"""Overlapping tiles with feathered seams: bounded memory for full-disk frames (5424², 10848²).

Each tile is interpolated on its own (with ``overlap`` pixels of shared context), then tiles are
blended with raised-cosine weights across the overlap so no seam is visible. Peak memory is the
output accumulators (one float32 plane per channel and time) plus one tile's working set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

TileFn = Callable[[np.ndarray, np.ndarray, Sequence[float]], list[np.ndarray]]


def tile_layout(length: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """(tile length, origins): the fewest tiles of at most ``tile`` pixels sharing ``overlap`` pixels.

    Tiles are shrunk to split ``length`` evenly, so a 2712-pixel side with 2048-pixel tiles becomes
    two 1388-pixel tiles rather than two 2048-pixel ones that mostly overlap (less work, same memory bound).
    """
    if length <= tile:
        return length, [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, math.ceil((length + (n - 1) * overlap) / n))
    return size, [round(i * (length - size) / (n - 1)) for i in range(n)]


def _ramp(size: int, lead: bool, trail: bool, overlap: int) -> np.ndarray:
    """1-D weights: raised cosine over ``overlap`` pixels at sides that meet another tile, else 1."""
    w = np.ones(size, dtype=np.float32)
    n = min(overlap, size // 2)
    if n > 0:
        r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float32) + 0.5) / n)
        if lead:
            w[:n] = r
        if trail:
            w[-n:] = np.minimum(w[-n:], r[::-1])
    return w


def needs_tiling(shape: tuple[int, int], tile: int) -> bool:
    return tile > 0 and max(shape) > tile


def run_tiled(
    fn: TileFn,
    x0: np.ndarray,
    x1: np.ndarray,
    times: Sequence[float],
    tile: int,
    overlap: int,
    extra: Sequence[np.ndarray | None] = (),
) -> list[np.ndarray]:
    """Apply ``fn`` to (C, h, w) tiles of a (C, H, W) pair and blend the per-time results.

    ``extra`` arrays (the scans either side of the pair; None where absent) are cut into the same tiles
    and passed after ``times``.
    """
    h, w = x0.shape[-2:]
    tile_h, ys = tile_layout(h, tile, overlap)
    tile_w, xs = tile_layout(w, tile, overlap)
    acc: list[np.ndarray] = []  # sized by the first tile's output: a confidence channel may come with it
    wsum = np.zeros((h, w), dtype=np.float32)
    for iy, y0 in enumerate(ys):
        wy = _ramp(tile_h, iy > 0, iy < len(ys) - 1, overlap)
        for ix, x0_ in enumerate(xs):
            wx = _ramp(tile_w, ix > 0, ix < len(xs) - 1, overlap)
            weight = wy[:, None] * wx[None, :]
            sl = (slice(None), slice(y0, y0 + tile_h), slice(x0_, x0_ + tile_w))
            outs = fn(x0[sl], x1[sl], times, *(None if e is None else e[sl] for e in extra))
            if not acc:
                acc = [np.zeros((out.shape[0], h, w), dtype=np.float32) for out in outs]
            for a, out in zip(acc, outs):
                a[sl] += out * weight
            wsum[sl[1:]] += weight
    for a in acc:
        a /= wsum
    return acc
