"""Bring a frame pair to one float32 working range and back, NaN-aware.

Backends see finite float32 arrays shaped (C, H, W) in roughly [0, 1]; this module owns every
decision about dtypes, value ranges and missing pixels so that no backend has to.

- uint8 is scaled by 1/255 (video semantics: RIFE was trained on that range).
- Every other dtype (uint16 renders, float32 brightness temperatures) is mapped by the pair's joint
  valid min/max, so a 12-bit-in-16-bit PNG or a 180–330 K field uses the whole range.
- Non-finite pixels are filled before motion estimation: from the other frame where it has data,
  from the neighbourhood (push-pull) where neither has; pixels missing in *both* inputs are NaN again
  in every output. Pixels valid in either input are never NaN in the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goesvfi_lab.errors import PairError


@dataclass
class PreparedPair:
    """A validated pair in working form plus what is needed to undo the mapping."""

    x0: np.ndarray  # float32 (C, H, W), finite
    x1: np.ndarray
    missing: np.ndarray | None  # bool (C, H, W): missing in both inputs; None when nothing is
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: float
    scale: float
    lo: float  # valid value range of the pair, in working units (floats are clipped to it)
    hi: float
    back: np.ndarray | None = None  # the scan before frame0 in the same working form; None: not given
    ahead: np.ndarray | None = None  # the scan after frame1
    gaps: tuple[float, float] = (1.0, 1.0)  # back→frame0 and frame1→ahead, in units of the pair's interval

    @property
    def context(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self.back, self.ahead


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def validate_pair(frame0: np.ndarray, frame1: np.ndarray) -> None:
    """Raise PairError with a reason a user can act on when two frames cannot be interpolated."""
    for name, f in (("frame0", frame0), ("frame1", frame1)):
        if f.size == 0:
            raise PairError(f"{name} is empty (shape {_shape_text(f.shape)})")
        if f.ndim not in (2, 3):
            raise PairError(f"{name} must be H×W or H×W×C, got shape {_shape_text(f.shape)}")
        if not (np.issubdtype(f.dtype, np.integer) or np.issubdtype(f.dtype, np.floating)) or f.dtype == bool:
            raise PairError(f"{name} has unsupported dtype {f.dtype} (use uint8, uint16 or float)")
    if frame0.shape != frame1.shape:
        raise PairError(f"frame sizes differ: {_shape_text(frame0.shape)} vs {_shape_text(frame1.shape)}")
    if frame0.dtype != frame1.dtype:
        raise PairError(f"frame dtypes differ: {frame0.dtype} vs {frame1.dtype}")
    if np.issubdtype(frame0.dtype, np.floating):
        for name, f in (("frame0", frame0), ("frame1", frame1)):
            if not np.isfinite(f).any():
                raise PairError(f"{name} has no valid pixels (all NaN/inf)")


def _to_chw(frame: np.ndarray) -> np.ndarray:
    return frame[None] if frame.ndim == 2 else np.moveaxis(frame, -1, 0)


def push_pull_fill(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid pixels of a (C, H, W) array smoothly from their neighbourhood.

    Push-pull: average valid pixels down a 2× pyramid, then fill holes from coarser levels on the
    way up. Gives flat, edge-free values in big holes (space around the full disk) so motion
    estimation sees no artificial edges, in O(pixels).
    """
    if valid.all():
        return x
    import torch
    import torch.nn.functional as F

    v = torch.from_numpy(np.where(valid, x, 0).astype(np.float32))[None]
    w = torch.from_numpy(np.ascontiguousarray(valid, dtype=np.float32))[None]
    levels = [(v, w)]
    while min(levels[-1][0].shape[-2:]) > 1:
        vs, ws = levels[-1]
        levels.append((F.avg_pool2d(vs, 2, ceil_mode=True), F.avg_pool2d(ws, 2, ceil_mode=True)))
    vs, ws = levels[-1]
    filled = torch.where(ws > 0, vs / ws.clamp_min(1e-12), torch.zeros_like(vs))
    for vs, ws in reversed(levels[:-1]):
        up = F.interpolate(filled, size=vs.shape[-2:], mode="bilinear", align_corners=False)
        own = vs / ws.clamp_min(1e-12)
        alpha = ws.clamp(0, 1)  # fully valid → own value; partially → blend with coarse
        filled = alpha * own + (1 - alpha) * up
    out = filled[0].numpy()
    return np.where(valid, x, out).astype(np.float32, copy=False)


def prepare_pair(frame0: np.ndarray, frame1: np.ndarray) -> PreparedPair:
    """Validate, map to the float32 working range and fill missing pixels."""
    frame0 = np.asarray(frame0)
    frame1 = np.asarray(frame1)
    validate_pair(frame0, frame1)
    dtype = frame0.dtype
    a = _to_chw(frame0).astype(np.float32)
    b = _to_chw(frame1).astype(np.float32)
    missing = None
    if np.issubdtype(dtype, np.floating):
        va, vb = np.isfinite(a), np.isfinite(b)
        lo = float(min(a[va].min(), b[vb].min()))
        hi = float(max(a[va].max(), b[vb].max()))
        if not (va.all() and vb.all()):
            missing_both = ~va & ~vb
            a = np.where(va, a, b)  # borrow from the other frame where it has data
            b = np.where(vb, b, a)
            if missing_both.any():
                missing = missing_both
                a = push_pull_fill(a, ~missing_both)
                b = push_pull_fill(b, ~missing_both)
        offset, scale = lo, max(hi - lo, 1e-6)
    elif dtype == np.uint8:
        offset, scale = 0.0, 255.0
        lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    else:
        lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
        offset, scale = lo, max(hi - lo, 1.0)
    a = (a - offset) / scale
    b = (b - offset) / scale
    return PreparedPair(
        x0=np.ascontiguousarray(a, dtype=np.float32),
        x1=np.ascontiguousarray(b, dtype=np.float32),
        missing=missing,
        dtype=dtype,
        shape=frame0.shape,
        offset=offset,
        scale=scale,
        lo=(lo - offset) / scale,
        hi=(hi - offset) / scale,
    )


def add_context(
    pair: PreparedPair,
    back: np.ndarray | None,
    ahead: np.ndarray | None,
    gaps: tuple[float, float] = (1.0, 1.0),
) -> PreparedPair:
    """Give a prepared pair the scans either side (for curved trajectories), mapped by the pair's own range.

    A neighbour of another shape or dtype, or with no valid pixel, is left out (the pair falls back to
    two scans); its missing pixels are taken from the pair frame next to it, so no hole reaches the flow.
    """

    def one(frame: np.ndarray | None, nearest: np.ndarray) -> np.ndarray | None:
        if frame is None:
            return None
        frame = np.asarray(frame)
        if frame.shape != pair.shape or frame.dtype != pair.dtype:
            return None
        x = (_to_chw(frame).astype(np.float32) - pair.offset) / pair.scale
        ok = np.isfinite(x)
        if not ok.any():
            return None
        return np.ascontiguousarray(np.where(ok, x, nearest), dtype=np.float32)

    pair.back = one(back, pair.x0)
    pair.ahead = one(ahead, pair.x1)
    pair.gaps = (float(gaps[0]), float(gaps[1]))
    return pair


def restore(pair: PreparedPair, y: np.ndarray) -> np.ndarray:
    """Map a working-range (C, H, W) result back to the pair's dtype and shape, missing pixels → NaN."""
    y = np.clip(y, pair.lo, pair.hi) * pair.scale + pair.offset
    if np.issubdtype(pair.dtype, np.integer):
        info = np.iinfo(pair.dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    elif pair.missing is not None:
        y = np.where(pair.missing, np.nan, y)
    y = y.astype(pair.dtype, copy=False)
    return y[0] if len(pair.shape) == 2 else np.moveaxis(y, 0, -1).copy()


def restore_confidence(pair: PreparedPair, c: np.ndarray) -> np.ndarray:
    """A (H, W) confidence in 0–1 as float32, NaN where the frame is missing (as :func:`restore` does)."""
    out = np.clip(c, 0.0, 1.0).astype(np.float32)
    if pair.missing is not None:
        out = np.where(pair.missing.all(axis=0), np.float32(np.nan), out)
    return out
