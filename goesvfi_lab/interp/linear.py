"""The baseline: a per-pixel cross-fade. Exact at t=0/1, no motion, the floor every backend must beat."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class LinearBackend:
    """``(1 - t)·x0 + t·x1``."""

    name = "linear"

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @torch.inference_mode()
    def run(self, x0: torch.Tensor, x1: torch.Tensor, times: Sequence[float]) -> list[torch.Tensor]:
        """x0, x1: (N, C, H, W) float32 on ``self.device``; one (N, C, H, W) result per t."""
        return [torch.lerp(x0, x1, float(t)) for t in times]
