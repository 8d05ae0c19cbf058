"""Backward warping and small image-pyramid helpers shared by the flow and RIFE backends.

Flow tensors are (N, 2, H, W) in pixels, channel 0 = x (columns), 1 = y (rows);
``warp(img, flow)(p) = img(p + flow(p))`` sampled bilinearly with border clamping
(grid_sample, align_corners=True — the convention RIFE's weights were trained with).
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

_grids: dict[tuple, torch.Tensor] = {}
_grid_lock = threading.Lock()


def base_grid(n: int, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Normalised identity sampling grid (1, H, W, 2), cached per shape/device/dtype."""
    key = (h, w, str(device), dtype)
    with _grid_lock:
        g = _grids.get(key)
        if g is None:
            ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
            xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
            g = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]
            if len(_grids) > 64:
                _grids.clear()
            _grids[key] = g
    return g


def warp(img: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``img`` at ``p + flow(p)`` (backward warp)."""
    if mode == "bicubic" and img.device.type == "mps":  # not implemented there
        mode = "bilinear"
    n, _, h, w = flow.shape
    flow = flow.to(img.dtype)
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flow.device, dtype=flow.dtype)
    grid = base_grid(n, h, w, flow.device, flow.dtype) + flow.permute(0, 2, 3, 1) * scale
    return F.grid_sample(img, grid, mode=mode, padding_mode="border", align_corners=True)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking, so pyramids do not alias fine texture)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(
        x, size=size, mode="bilinear", align_corners=False, antialias=shrinking and x.device.type != "mps"
    )


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a flow field and rescale its vectors to the new pixel size."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    sx, sy = size[1] / w, size[0] / h
    return torch.cat([out[:, :1] * sx, out[:, 1:2] * sy], dim=1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad bottom/right to a multiple of ``multiple``; returns the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)
