"""The public functions: arrays in, arrays out (same dtype and shape), any t, any backend."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from goesvfi_lab import config
from goesvfi_lab.errors import PairError

from .device import select_device
from .heap import roomy_heap
from .kind import input_kind
from .prep import PreparedPair, add_context, prepare_pair, restore, restore_confidence
from .registry import get_backend
from .tiling import needs_tiling, run_tiled

Progress = Callable[[int, int], None]
logger = logging.getLogger(__name__)

MIN_TILE = 256  # smallest tile the out-of-memory fallback tries before giving up


def _check_times(times: Iterable[float]) -> list[float]:
    out = [float(t) for t in times]
    for t in out:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"interpolation time t={t} is outside [0, 1]")
    return out


def uses_context(backend) -> bool:
    """Whether ``backend`` is given the scans either side of each pair (curved trajectories).

    ``goesvfi.interp.curved``: ``auto`` — where the backend says it gains from them (flow on fields);
    ``true`` — wherever the backend can take them; ``false`` — never (two scans per pair, as classic VFI).
    """
    setting = config.get("interp.curved")
    if setting is False or str(setting).lower() in ("false", "off", "no"):
        return False
    takes = getattr(backend, "curved", None)  # None: cannot; False: can, not by default; True: by default
    if takes is None:
        return False
    return True if setting is True or str(setting).lower() in ("true", "on", "yes") else bool(takes)


def _run_tensors(
    backend,
    x0: np.ndarray,
    x1: np.ndarray,
    times: Sequence[float],
    back: np.ndarray | None = None,
    ahead: np.ndarray | None = None,
    gaps: tuple[float, float] = (1.0, 1.0),
    confidence: bool = False,
) -> list[np.ndarray]:
    """Run a backend on a batch of (N, C, H, W) numpy pairs; returns one (N, C, H, W) array per t.

    ``confidence`` (backends with ``run_with_confidence``): each array has one more channel, the frame's
    confidence (0–1), so tiles blend it like the frame.
    """
    with roomy_heap():
        return _run_tensors_inner(backend, x0, x1, times, back, ahead, gaps, confidence)


def _run_tensors_inner(backend, x0, x1, times, back, ahead, gaps, confidence) -> list[np.ndarray]:
    dev = backend.device
    a = torch.from_numpy(x0).to(dev)
    b = torch.from_numpy(x1).to(dev)
    context = {}
    if back is not None or ahead is not None:
        side = [None if x is None else torch.from_numpy(x).to(dev) for x in (back, ahead)]
        context = {"back": side[0], "ahead": side[1], "r_back": gaps[0], "r_ahead": gaps[1]}
    if confidence:
        outs = [
            torch.cat([y.float(), c.float()], dim=1) for y, c in backend.run_with_confidence(a, b, times, **context)
        ]
    else:
        outs = backend.run(a, b, times, **context)
    return [o.float().cpu().numpy() for o in outs]


def has_confidence(backend) -> bool:
    """Whether ``backend`` can say how far to trust each pixel (flow-based methods)."""
    return callable(getattr(backend, "run_with_confidence", None))


def _out_of_memory(exc: BaseException) -> bool:
    """A CUDA/MPS out-of-memory error, or the CPU allocator's failure (a RuntimeError there)."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in str(exc) or "out of memory" in str(exc))
    )


def _run_pair(
    backend,
    x0: np.ndarray,
    x1: np.ndarray,
    times: Sequence[float],
    tile: int | None = None,
    context: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    gaps: tuple[float, float] = (1.0, 1.0),
    confidence: bool = False,
) -> list[np.ndarray]:
    """One (C, H, W) pair, through tiles when larger than ``interp.tile-size``.

    ``context``: the (C, H, W) scans before and after the pair (None where absent), cut into the same
    tiles. Out of memory (a small GPU, a busy host), the pair is run again in tiles half the size, down
    to ``MIN_TILE``: slower, but the job finishes instead of failing on every retry.
    """
    tile = int(config.get("interp.tile-size") or 0) if tile is None else tile
    overlap = int(config.get("interp.tile-overlap") or 0)

    def batch1(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else np.ascontiguousarray(x)[None]

    def one(a: np.ndarray, b: np.ndarray, ts: Sequence[float], back=None, ahead=None) -> list[np.ndarray]:
        outs = _run_tensors(backend, batch1(a), batch1(b), ts, batch1(back), batch1(ahead), gaps, confidence)
        return [o[0] for o in outs]

    tiled = needs_tiling(x0.shape[-2:], tile)
    try:
        if tiled:
            return run_tiled(one, x0, x1, times, tile, overlap, extra=context)
        return one(x0, x1, times, *context)
    except Exception as exc:
        if not _out_of_memory(exc):
            raise
        current = tile if tiled else max(x0.shape[-2:])
        smaller = max(current // 2, MIN_TILE, 2 * overlap + 1)
        if smaller >= current:
            raise PairError(f"out of memory on {backend.device} even in {current}-pixel tiles: {exc}") from exc
    if backend.device.type == "cuda":
        torch.cuda.empty_cache()
    logger.warning(
        "goesvfi: out of memory on %s for a %s pair; retrying in %d-pixel tiles",
        backend.device,
        "×".join(map(str, x0.shape[-2:])),
        smaller,
    )
    return _run_pair(backend, x0, x1, times, smaller, context, gaps, confidence)


def _interpolate_prepared(
    pair: PreparedPair, times: list[float], method: str, device, kind: str, confidence: bool = False
) -> list:
    """Frames at the inner times (None at 0 and 1); with ``confidence``, (frame, confidence or None) pairs."""
    inner = [t for t in times if 0.0 < t < 1.0]
    results: dict[float, object] = {}
    if inner:
        backend = get_backend(method, device, input_kind(pair.dtype, kind=kind))
        context = pair.context if uses_context(backend) else (None, None)
        with_conf = confidence and has_confidence(backend)
        outs = _run_pair(backend, pair.x0, pair.x1, inner, context=context, gaps=pair.gaps, confidence=with_conf)
        for t, y in zip(inner, outs):
            if not confidence:
                results[t] = restore(pair, y)
            elif with_conf:
                results[t] = (restore(pair, y[:-1]), restore_confidence(pair, y[-1]))
            else:
                results[t] = (restore(pair, y), None)
    return [results.get(t) for t in times]


def interpolate_times(
    frame0: np.ndarray,
    frame1: np.ndarray,
    times: Iterable[float],
    method: str = "auto",
    device: str | torch.device = "auto",
    kind: str = "auto",
    before: np.ndarray | None = None,
    after: np.ndarray | None = None,
    gaps: tuple[float, float] = (1.0, 1.0),
    confidence: bool = False,
) -> list:
    """Frames at each ``t`` in ``times`` (0 → frame0, 1 → frame1); motion is estimated once per pair.

    ``kind``: ``"field"`` (satellite fields and renders: smooth advection), ``"video"`` (camera
    imagery), or ``"auto"``: video for uint8, field otherwise (see kind.py). ``before`` / ``after``: the
    scans either side of the pair, ``gaps`` their distances in units of the pair's interval; where the
    method uses them (:func:`uses_context`) trajectories curve with the motion they show.

    ``confidence``: each item is ``(frame, confidence)``, the confidence an H×W float32 map in 0–1 (1 at
    the scans themselves; NaN where the frame has no value; None for methods that cannot say, e.g. RIFE, linear).
    """
    times = _check_times(times)
    frame0, frame1 = np.asarray(frame0), np.asarray(frame1)
    pair = add_context(prepare_pair(frame0, frame1), before, after, gaps)
    outs = _interpolate_prepared(pair, times, method, device, kind, confidence)
    if confidence:

        def sure(frame: np.ndarray) -> np.ndarray:  # a scan is its own truth: 1, NaN where it has no value
            valid = np.isfinite(frame) if frame.dtype.kind == "f" else np.ones(frame.shape, bool)
            return np.where(valid if valid.ndim == 2 else valid.all(axis=-1), np.float32(1), np.float32(np.nan))

        ends = {0.0: (frame0.copy(), sure(frame0)), 1.0: (frame1.copy(), sure(frame1))}
    else:
        ends = {0.0: frame0.copy(), 1.0: frame1.copy()}
    return [ends[t] if t in ends else o for t, o in zip(times, outs)]


def interpolate(
    frame0: np.ndarray,
    frame1: np.ndarray,
    t: float = 0.5,
    method: str = "auto",
    device: str | torch.device = "auto",
    kind: str = "auto",
) -> np.ndarray:
    """The frame at fraction ``t`` of the way from ``frame0`` to ``frame1`` (same dtype and shape)."""
    return interpolate_times(frame0, frame1, [t], method=method, device=device, kind=kind)[0]


def _batch_size(device: torch.device, shape: tuple[int, ...]) -> int:
    """Pairs per forward pass: several on a GPU for small frames, one on CPU (no gain there)."""
    if device.type == "cpu":
        return 1
    budget = int(config.get("interp.batch-pixels") or 0)
    pixels = shape[0] * shape[1]
    return max(1, budget // max(pixels, 1))


def interpolate_sequence(
    frames: Sequence[np.ndarray],
    factor: int = 2,
    method: str = "auto",
    device: str | torch.device = "auto",
    progress: Progress | None = None,
    kind: str = "auto",
    scan_times: Sequence[float | None] | None = None,
) -> list[np.ndarray]:
    """``factor - 1`` new frames between each consecutive pair; inputs pass through unchanged.

    Output length is ``(n - 1) * factor + 1``, input k at index ``k * factor``. ``progress(done, total)``
    is called after each pair. On a GPU, small pairs are batched into one forward pass. ``kind`` as in
    :func:`interpolate_times`. Where the method uses the scans either side of a pair
    (:func:`uses_context`), ``scan_times`` (seconds, say; None: evenly spaced) tell how far away they
    are; a side beyond a gap (``plan.MAX_CONTEXT_GAP``) or at the sequence's ends falls back to two scans.
    """
    from goesvfi_lab.plan import context_gaps

    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    frames = [np.asarray(f) for f in frames]
    n_pairs = max(len(frames) - 1, 0)
    if factor == 1 or n_pairs == 0:
        if progress:
            progress(n_pairs, n_pairs)
        return list(frames)
    times = [k / factor for k in range(1, factor)]
    dev = select_device(device)
    tile = int(config.get("interp.tile-size") or 0)
    backend = get_backend(method, dev, input_kind(frames[0].dtype, kind=kind))
    curved = uses_context(backend)

    def prepared(k: int) -> PreparedPair:
        pair = prepare_pair(frames[k], frames[k + 1])
        if curved:
            gb, ga = context_gaps(scan_times, k, len(frames))
            pair = add_context(
                pair,
                frames[k - 1] if gb is not None else None,
                frames[k + 2] if ga is not None else None,
                (gb or 1.0, ga or 1.0),
            )
        return pair

    out: list[np.ndarray] = [frames[0]]
    i = 0
    while i < n_pairs:
        pair0 = prepared(i)
        shape = frames[i].shape[:2]
        batch = 1 if curved or needs_tiling(shape, tile) else _batch_size(dev, shape)
        pairs = [pair0]
        while len(pairs) < batch and i + len(pairs) < n_pairs:
            pairs.append(prepared(i + len(pairs)))
        if len(pairs) == 1:
            ys = [_run_pair(backend, pair0.x0, pair0.x1, times, context=pair0.context, gaps=pair0.gaps)]
        elif all(p.x0.shape == pair0.x0.shape for p in pairs):
            try:
                stacked = _run_tensors(backend, np.stack([p.x0 for p in pairs]), np.stack([p.x1 for p in pairs]), times)
                ys = [[s[j] for s in stacked] for j in range(len(pairs))]
            except Exception as exc:  # a batch too big for the GPU: one pair at a time
                if not _out_of_memory(exc):
                    raise
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                ys = [_run_pair(backend, p.x0, p.x1, times) for p in pairs]
        else:
            ys = [_run_pair(backend, p.x0, p.x1, times) for p in pairs]
        for j, (p, y) in enumerate(zip(pairs, ys)):
            out.extend(restore(p, yt) for yt in y)
            out.append(frames[i + j + 1])
            if progress:
                progress(i + j + 1, n_pairs)
        i += len(pairs)
    return out
