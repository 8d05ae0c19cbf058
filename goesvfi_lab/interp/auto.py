"""What ``method="auto"`` means: the best-scoring backend for the input kind that fits a speed budget.

Quality order, by benchmarks/quality.py (PSNR against held-out frames):

- ``video`` (uint8 imagery, real camera motion with occlusions): ensemble (RIFE × 4 rotations, fast
  mixed in where it agrees) > rife > fast > flow > linear — the ensemble adds 0.2–1.2 dB over plain RIFE,
  flow is 2+ dB below RIFE; fast (OpenCV DIS, on the CPU on every device) scores above flow on video
  at about minterpolate's cost;
- ``field`` (float physical fields, uint16 renders, uint8 renders with ABI names — see kind.py:
  smooth advection, fine texture, a static surface under moving cloud): flow > ensemble > rife >
  linear — flow beats RIFE by several dB on the sample generator's exact ground truth.

Speed budget: ``goesvfi.interp.auto-budget`` seconds per megapixel per output frame for the device
type (defaults: cpu 10, cuda 1, mps 5). The costs are measured on this machine the first time they are
needed and cached (costs.py; ``goesvfi.interp.auto-costs: measured``); ``table`` uses ``COST`` below
instead — what benchmarks/speed.py measured on a 2-core AVX512 Xeon at 1024² (cpu), and RIFE-class
estimates for GPUs. The first method in the quality order whose cost fits is chosen, else the cheapest.
"""

from __future__ import annotations

import torch

from goesvfi_lab import config

QUALITY_ORDER = {
    "video": ["ensemble", "rife", "fast", "flow", "linear"],
    "field": ["flow", "ensemble", "rife", "fast", "linear"],
}

# seconds per megapixel per interpolated frame (factor 2), per device type
COST = {
    "cpu": {"linear": 0.03, "fast": 0.25, "flow": {"field": 0.2, "video": 4.5}, "rife": 1.2, "ensemble": 6.0},
    "cuda": {"linear": 0.001, "fast": 0.25, "flow": 0.02, "rife": 0.01, "ensemble": 0.04},  # not measured here (no GPU)
    "mps": {"linear": 0.005, "fast": 0.25, "flow": 0.2, "rife": 0.2, "ensemble": 0.8},  # not measured here
}
DEFAULT_BUDGET = {"cpu": 10.0, "cuda": 1.0, "mps": 5.0}


def cost(method: str, device_type: str, kind: str) -> float:
    """The source table's figure (``auto-costs: table``)."""
    table = COST.get(device_type, COST["cpu"])
    c = table.get(method, float("inf"))
    return c[kind] if isinstance(c, dict) else c


def costs_for(device: torch.device, kind: str, methods: list[str]) -> dict[str, float]:
    """s/MP-frame of each of ``methods`` for ``kind``: measured on this machine, or the source table."""
    source = str(config.get("interp.auto-costs")).lower()
    if source == "table":
        return {m: cost(m, device.type, kind) for m in methods}
    if source != "measured":
        raise ValueError(f"goesvfi.interp.auto-costs must be 'measured' or 'table', not {source!r}")
    from .costs import measured_costs

    table = measured_costs(device, methods)
    return {m: float(table.get(m, {}).get(kind, cost(m, device.type, kind))) for m in methods}


def budget(device_type: str) -> float:
    configured = config.get("interp.auto-budget") or {}
    if isinstance(configured, (int, float)):
        return float(configured)
    return float(configured.get(device_type, DEFAULT_BUDGET.get(device_type, 10.0)))


def choose(device: torch.device, kind: str, available: list[str]) -> str:
    """Pick the concrete backend for ``auto``."""
    order = [m for m in QUALITY_ORDER.get(kind, QUALITY_ORDER["video"]) if m in available]
    if not order:
        return "linear"
    limit = budget(device.type)
    if len(order) == 1:
        return order[0]
    costs = costs_for(device, kind, order)
    for m in order:
        if costs[m] <= limit:
            return m
    return min(order, key=costs.__getitem__)
