"""What each method costs on *this* machine, measured once and cached, for ``method="auto"``.

CPUs of one kind differ by 2–9× on this code (issue 15: an AVX2-only EPYC against an AVX512 Xeon, and
RIFE's convolutions differ most), so a cost table written on one host picks wrongly on another. The
first ``auto`` that needs costs times every available method on a small sample pair (256², factor 2,
after a warm-up) and writes seconds per megapixel-frame to a JSON file named after the machine: CPU
model, logical cores, torch version and vector capability, torch threads, and the GPU's name. A
filelock makes parallel processes (Dask workers, a second notebook) measure once; the file is written
atomically. ``ensemble`` is RIFE once per transformed pass (and one ``fast`` pass on video), so it is RIFE's
figure × ``rife.tta`` (plus fast's).

``goesvfi.interp.auto-costs``: ``measured`` (default) or ``table`` (auto.COST, the figures in the
source: what tests pin, for choices that do not depend on the host). ``goesvfi.interp.cost-cache``:
the folder (null: ``goesvfi-lab/costs`` in the user cache dir, platformdirs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from goesvfi_lab import config

logger = logging.getLogger(__name__)

SIZE = 256  # side of the timed pair: big enough that per-call overheads are a minor part
KINDS = ("video", "field")
PER_KIND = {"flow"}  # methods whose parameters (and cost) depend on the input kind

_memo: dict[str, dict] = {}
_lock = threading.Lock()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_key(device: torch.device) -> dict[str, object]:
    """What the figures depend on: two machines with the same key share a cost table."""
    key: dict[str, object] = {
        "device": device.type,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        key["gpu"] = torch.cuda.get_device_name(device)
    return key


def cache_dir() -> Path:
    configured = config.get("interp.cost-cache")
    if configured:
        return Path(os.path.expanduser(str(configured)))
    import platformdirs

    return Path(platformdirs.user_cache_dir("goesvfi-lab", appauthor=False)) / "costs"


def cache_path(device: torch.device) -> Path:
    digest = hashlib.sha1(json.dumps(machine_key(device), sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"{device.type}-{digest}.json"


def _sample_pair(kind: str) -> tuple[np.ndarray, np.ndarray]:
    from goesvfi_lab.sample import Scene

    scene = Scene(seed=0, size=(SIZE, SIZE), sector="C")
    a, b = scene.field(0.0), scene.field(5.0)
    if kind == "video":
        a, b = (
            np.repeat(np.clip((310.0 - f) / 120.0 * 255, 0, 255).astype(np.uint8)[..., None], 3, -1) for f in (a, b)
        )
    return a, b


def time_method(method: str, kind: str, device: torch.device, repeats: int = 2) -> float:
    """Seconds per megapixel-frame of ``method`` on the sample pair: the best of ``repeats`` after a warm-up."""
    from .api import interpolate

    a, b = _sample_pair(kind)
    interpolate(a, b, 0.5, method=method, device=device, kind=kind)  # model load, first calls
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        interpolate(a, b, 0.5, method=method, device=device, kind=kind)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best / (SIZE * SIZE / 1e6)


def measure(methods: Iterable[str], device: torch.device) -> dict[str, dict[str, float]]:
    """``{method: {kind: s/MP}}`` for every concrete method in ``methods`` (ensemble from rife)."""
    out: dict[str, dict[str, float]] = {}
    wanted = [m for m in methods if m != "auto"]
    for m in wanted:
        if m == "ensemble":
            continue
        kinds = KINDS if m in PER_KIND else KINDS[:1]
        figures = {k: time_method(m, k, device) for k in kinds}
        out[m] = figures if m in PER_KIND else dict.fromkeys(KINDS, figures[KINDS[0]])
    if "ensemble" in wanted:
        from .ensemble import fast_weight

        rife = out.get("rife") or {k: time_method("rife", k, device) for k in KINDS[:1]}
        passes = int(config.get("rife.tta"))
        fast = 0.0
        if fast_weight() > 0:
            fast = (out.get("fast") or {KINDS[0]: time_method("fast", KINDS[0], device)})[KINDS[0]]
        out["ensemble"] = {k: rife[KINDS[0]] * passes + (fast if k == "video" else 0.0) for k in KINDS}
    return out


def _write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("costs"), dict) else None


def measured_costs(device: torch.device, methods: Iterable[str]) -> dict[str, dict[str, float]]:
    """This machine's table for ``methods``: from the cache, measuring (once, under a lock) what it lacks."""
    import filelock

    methods = [m for m in methods if m != "auto"]
    path = cache_path(device)
    with _lock:
        held = _memo.get(str(path))
        if held is not None and all(m in held for m in methods):
            return held
        path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(path) + ".lock", timeout=600):
            data = _read(path) or {"machine": machine_key(device), "size": SIZE, "costs": {}}
            missing = [m for m in methods if m not in data["costs"]]
            if missing:
                logger.info("goesvfi: timing %s on this machine for method='auto' (once)", ", ".join(missing))
                data["costs"].update(measure(missing, device))
                data["measured"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                _write_atomic(path, data)
        _memo[str(path)] = data["costs"]
        return data["costs"]


def clear_memo() -> None:
    """Forget the tables read in this process (tests; after changing goesvfi.interp.cost-cache)."""
    with _lock:
        _memo.clear()
