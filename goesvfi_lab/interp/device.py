"""Device choice and thread policy: CUDA, then MPS, then CPU; torch threads follow the Dask worker."""

from __future__ import annotations

import sys

import torch

from goesvfi_lab import config


def select_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"`` (config ``interp.device``) to CUDA, then MPS, then CPU; pass others through.

    A named device that is not present raises ValueError rather than silently running elsewhere.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        device = config.get("interp.device") or "auto"
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {dev} requested but torch sees no CUDA device")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {dev} requested but MPS is not available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def dask_worker_threads() -> int | None:
    """The current Dask worker's thread count, or None outside a worker (never imports distributed)."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ValueError, AttributeError, ImportError):
        return None


def configure_threads() -> int:
    """Inside a Dask worker, give torch as many intra-op threads as the worker has; else leave torch be.

    Returns the thread count torch now uses. Oversubscribing (torch's default = all cores, times
    several worker threads) is what makes CPU interpolation in a cluster slow.
    """
    n = dask_worker_threads()
    if n and n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def use_fp16(device: torch.device) -> bool:
    """Half precision only on CUDA and only when config ``interp.fp16`` allows it."""
    return device.type == "cuda" and bool(config.get("interp.fp16"))
