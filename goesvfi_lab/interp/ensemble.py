"""RIFE with test-time augmentation: the pair rotated by 0/90/180/270°, answers rotated back and averaged.

The network is not equivariant to rotations, so its errors on rotated copies are partly independent
and averaging cancels them. Measured on bikes.mp4 (frames 0–12, odd frames regenerated): RIFE 41.68 dB;
+ flips h/v/hv 42.15; + rotations (4 passes) 42.58; all 8 dihedral transforms 42.61. So four rotations
(``rife.tta: 4``) are the default; 2 = identity + 180° rotation of the transpose, 8 = full dihedral group.

The RIFE passes are then blended with ``fast`` (DIS flow, a different estimator whose errors are less
correlated with RIFE's than RIFE's are with each other), per pixel and only where the two agree:
``w = rife.fast-weight · exp(-(d / 16/255)²)``, d = their difference (mean over channels, Gaussian-smoothed
over 2 px). A constant weight was tried first: 0.35 gained 0.06–0.31 dB on the first 41 frames of the
benchmarks/quality.py clips but lost 0.34 dB on bikes' frames 40–80, where its large motion defeats DIS; the
agreement weight keeps the gains (w = 0.5: bikes 38.22 → 38.40, bigbuckbunny 35.28 → 35.32, carphone
32.48 → 32.54, cityCC0 34.17 → 34.50 dB) and turns that loss into +0.05 (28.92 → 28.97; carphone's frames
40–80 35.68 → 35.73), for about 5 % more time. Only for 8-bit video: on fields (where ``auto`` is
``flow``) the blend was not measured, so the ensemble there is the RIFE passes alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from goesvfi_lab import config

from .flow import blur
from .registry import get_backend

AGREE = 16 / 255  # difference (working range) at which fast's share falls to 1/e of rife.fast-weight
AGREE_BLUR = 2.0  # px: the difference is smoothed so that single noisy pixels do not switch members

Transform = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def _t(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(-1, -2)


# (forward, inverse) pairs on (N, C, H, W)
_ID: Transform = (lambda x: x, lambda x: x)
_ROT90: Transform = (lambda x: _t(x).flip(-1), lambda x: _t(x.flip(-1)))
_ROT180: Transform = (lambda x: x.flip(-1, -2), lambda x: x.flip(-1, -2))
_ROT270: Transform = (lambda x: _t(x).flip(-2), lambda x: _t(x.flip(-2)))
_FLIP_H: Transform = (lambda x: x.flip(-1), lambda x: x.flip(-1))
_FLIP_V: Transform = (lambda x: x.flip(-2), lambda x: x.flip(-2))
_TRANSPOSE: Transform = (_t, _t)
_ANTI: Transform = (lambda x: _t(x).flip(-1, -2), lambda x: _t(x.flip(-1, -2)))

TRANSFORMS: dict[int, tuple[Transform, ...]] = {
    1: (_ID,),
    2: (_ID, _ANTI),
    4: (_ID, _ROT90, _ROT180, _ROT270),
    8: (_ID, _ROT90, _ROT180, _ROT270, _FLIP_H, _FLIP_V, _TRANSPOSE, _ANTI),
}


def fast_weight() -> float:
    """The ``fast`` member's share (``rife.fast-weight``), 0 where OpenCV is not installed."""
    w = float(config.get("rife.fast-weight"))
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"goesvfi.rife.fast-weight must be within 0–1, not {w}")
    from .dis import available

    return w if w > 0 and available() else 0.0


class EnsembleBackend:
    """Mean of ``rife`` over ``rife.tta`` (1, 2, 4 or 8) rotations/reflections of the pair, blended with ``fast``."""

    name = "ensemble"

    per_kind = True  # the fast member is measured on 8-bit video only; fields keep the RIFE passes alone

    def __init__(self, device: torch.device, kind: str = "video") -> None:
        self.device = device
        self.kind = kind
        self.rife = get_backend("rife", device)

    @property
    def transforms(self) -> tuple[Transform, ...]:
        n = int(config.get("rife.tta"))
        if n not in TRANSFORMS:
            raise ValueError(f"goesvfi.rife.tta must be one of {sorted(TRANSFORMS)}, not {n}")
        return TRANSFORMS[n]

    @torch.inference_mode()
    def run(self, x0: torch.Tensor, x1: torch.Tensor, times: Sequence[float]) -> list[torch.Tensor]:
        acc: list[torch.Tensor] | None = None
        transforms = self.transforms
        for fwd, inv in transforms:
            outs = [inv(o) for o in self.rife.run(fwd(x0), fwd(x1), times)]
            acc = outs if acc is None else [a + o for a, o in zip(acc, outs)]
        assert acc is not None
        mean = [a / len(transforms) for a in acc]
        w = fast_weight() if self.kind == "video" else 0.0
        if w == 0.0:
            return mean
        fast = get_backend("fast", self.device).run(x0, x1, times)
        return [_blend(m, f, w) for m, f in zip(mean, fast)]


def _blend(rife: torch.Tensor, fast: torch.Tensor, weight: float) -> torch.Tensor:
    """``rife`` with ``fast`` mixed in at up to ``weight``, where the two agree (see the module docstring)."""
    d = blur((fast - rife).abs().mean(1, keepdim=True), AGREE_BLUR)
    w = weight * torch.exp(-((d / AGREE) ** 2))
    return rife + (fast - rife) * w
