"""A measured quality score for every job: the leave-one-out self-check (issue 16), pure maths.

Real data has no truth between scans, but it has truth at the scans. So for a few input scans ``k``
spread over the sequence, the job's method predicts scan ``k`` from scans ``k-1`` and ``k+1`` (at the
fraction of the way scan ``k`` lies between them: ½ at a regular cadence) and the prediction is scored
against the real scan ``k``. The gap bridged is twice the job's real one, so the score is a
*pessimistic bound* on the error of the frames the job wrote (say so wherever it is shown:
:data:`BOUND`). Linear interpolation is scored on the same check; a job far worse than linear, or
below a PSNR floor, gets a warning (a scene cut, a missing scan, a wrong band mixed in).

Here: which scans to check (:func:`checked_scans`, capped at a share of the job's compute), the
metrics (RMSE in the field's units, PSNR over the field's range or the 8-bit peak, SSIM for imagery,
numpy only), and the summary that ``job.json``, the store and every view show (:func:`summarize`).
The Dask task that reads and predicts is :mod:`goesvfi_lab.engine.selfcheck`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BOUND = "pessimistic bound: each checked scan is predicted from its neighbours, twice the real interval"

# Cost of one check relative to a pair task, in frame operations (a read, a predicted time, a written frame
# cost about the same): three reads, one prediction, linear's and the scoring. Calibrated on the demo's batch
# (benchmarks/quality_check.py, Dask's task stream): 4 checks were 10 % of the worker time of 22 factor-4 pairs
# and 3 assembles, so a check is ~0.5 of a 9-unit pair; 5 keeps the share at or under max-share.
CHECK_UNITS = 5


def pair_units(factor: int) -> int:
    """Frame operations of one pair task: two reads, ``factor - 1`` predicted times, ``factor`` frames written."""
    return 2 + (factor - 1) + factor


@dataclass(frozen=True)
class QualitySettings:
    """``goesvfi.quality.*`` (defaults in goesvfi.yaml)."""

    enabled: bool = True
    count: int = 3
    max_share: float = 0.1
    min_checks: int = 1
    worse_than_linear: float = 1.5
    psnr_floor: float = 25.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> QualitySettings:
        """From the ``goesvfi.quality`` section (its keys as in the YAML; a missing one is a KeyError)."""
        return cls(
            enabled=bool(values["enabled"]),
            count=int(values["count"]),
            max_share=float(values["max-share"]),
            min_checks=int(values["min-checks"]),
            worse_than_linear=float(values["worse-than-linear"]),
            psnr_floor=float(values["psnr-floor"]),
        )

    @classmethod
    def from_config(cls) -> QualitySettings:
        from goesvfi_lab import config

        return cls.from_mapping(config.get("quality"))


def checked_scans(n_inputs: int, factor: int, settings: QualitySettings) -> list[int]:
    """Input indices to check, spread evenly over ``1 .. n_inputs - 2`` (each needs both neighbours).

    At most ``count``, and no more than ``max_share`` of the job's compute (:data:`CHECK_UNITS` against
    :func:`pair_units` per pair) — but at least ``min_checks`` where the sequence has a scan to check, so a
    small job still gets a score (one check of a 3-scan job costs more than the share; set 0 to forbid it).
    """
    candidates = n_inputs - 2
    if not settings.enabled or candidates <= 0 or settings.count <= 0:
        return []
    budget = int(settings.max_share * (n_inputs - 1) * pair_units(factor) / CHECK_UNITS)
    n = min(settings.count, candidates, max(budget, settings.min_checks))
    return [1 + int((i + 0.5) * candidates / n) for i in range(n)] if n > 0 else []


def fraction(times: Sequence[Any], k: int) -> float:
    """Where scan ``k`` lies between scans ``k-1`` and ``k+1`` (datetimes or seconds); ½ when unknown."""
    try:
        a, b, c = times[k - 1], times[k], times[k + 1]
        span = c - a
        t = (b - a) / span
        t = float(t)
    except (TypeError, IndexError, ZeroDivisionError, ValueError):
        return 0.5
    return t if 0.0 < t < 1.0 else 0.5


def _valid(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(truth, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"prediction {a.shape} and scan {b.shape} differ in shape")
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root-mean-square error over pixels finite in both (NaN: off the disk, fill)."""
    a, b = _valid(pred, truth)
    return float(np.sqrt(np.mean((a - b) ** 2))) if a.size else float("nan")


def peak(truth: np.ndarray) -> float:
    """What PSNR divides by: the dtype's peak for integer imagery, the scan's finite range for a field."""
    truth = np.asarray(truth)
    if truth.dtype.kind in "ui":
        return float(np.iinfo(truth.dtype).max)
    finite = truth[np.isfinite(truth)]
    return float(finite.max() - finite.min()) if finite.size else float("nan")


def psnr(error: float, top: float) -> float:
    """PSNR in dB of an RMSE against ``top``; inf for an exact prediction."""
    if not (error >= 0 and top > 0):
        return float("nan")
    return float("inf") if error == 0 else 20.0 * math.log10(top / error)


def _box_means(x: np.ndarray, win: int) -> np.ndarray:
    """Means over every ``win``×``win`` window lying inside ``x`` (an integral image, no scipy)."""
    c = np.pad(np.cumsum(np.cumsum(x, axis=0), axis=1), ((1, 0), (1, 0)))
    return (c[win:, win:] - c[:-win, win:] - c[win:, :-win] + c[:-win, :-win]) / (win * win)


def ssim(pred: np.ndarray, truth: np.ndarray, top: float, win: int = 7) -> float:
    """Mean SSIM (Wang et al. 2004) with a uniform ``win``² window and sample covariances, averaged over
    channels: scikit-image's ``structural_similarity(..., data_range=top)`` defaults, in numpy."""
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(truth, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if min(a.shape[:2]) < win:
        return float("nan")
    c1, c2 = (0.01 * top) ** 2, (0.03 * top) ** 2
    norm = win * win / (win * win - 1)
    values = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        ux, uy = _box_means(x, win), _box_means(y, win)
        vx = norm * (_box_means(x * x, win) - ux * ux)
        vy = norm * (_box_means(y * y, win) - uy * uy)
        vxy = norm * (_box_means(x * y, win) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        values.append(float(s.mean()))
    return float(np.mean(values))


def score(k: int, pred: np.ndarray, linear: np.ndarray, truth: np.ndarray, t: float = 0.5) -> dict[str, Any]:
    """One check: the method's and linear's errors predicting scan ``k`` (at fraction ``t``)."""
    top = peak(truth)
    err, lin = rmse(pred, truth), rmse(linear, truth)
    out: dict[str, Any] = {
        "k": int(k),
        "t": round(float(t), 4),
        "rmse": err,
        "psnr": psnr(err, top),
        "linear_rmse": lin,
        "linear_psnr": psnr(lin, top),
        "range": top,
    }
    if np.asarray(truth).dtype.kind in "ui":  # imagery: SSIM too (a field's NaNs and units make it moot)
        out["ssim"] = ssim(pred, truth, top)
    return out


def warning(checks: Sequence[Mapping[str, Any]], settings: QualitySettings) -> str | None:
    """Why the job's score deserves a look (its worst check), or None."""
    reasons = []
    for c in checks:
        if c["psnr"] < settings.psnr_floor:
            reasons.append(f"scan {c['k']}: PSNR {c['psnr']:.1f} dB is below the floor {settings.psnr_floor:g} dB")
        elif c["linear_rmse"] > 0 and c["rmse"] > settings.worse_than_linear * c["linear_rmse"]:
            ratio = c["rmse"] / c["linear_rmse"]
            reasons.append(f"scan {c['k']}: {ratio:.1f}× linear interpolation's error")
    if not reasons:
        return None
    return "; ".join(reasons) + " (a scene cut, a missing scan or a wrong band mixed in?)"


def _rms(values: Sequence[float]) -> float:
    return float(math.sqrt(sum(v * v for v in values) / len(values))) if values else float("nan")


def summarize(
    checks: Sequence[Mapping[str, Any]], unit: str | None, method: str | None, settings: QualitySettings
) -> dict[str, Any]:
    """The job's ``quality`` (job.json, the store, the views): RMS over the checks, PSNR of it over the
    checks' mean range, linear's, the warning, and each check."""
    if not checks:
        return {"checked": [], "bound": BOUND, "note": "no scan to check (fewer than 3 inputs)"}
    top = float(np.mean([c["range"] for c in checks]))
    err, lin = _rms([c["rmse"] for c in checks]), _rms([c["linear_rmse"] for c in checks])
    out: dict[str, Any] = {
        "checked": [c["k"] for c in checks],
        "rmse": err,
        "psnr": psnr(err, top),
        "unit": unit,
        "linear_rmse": lin,
        "linear_psnr": psnr(lin, top),
        "method": method,
        "warning": warning(checks, settings),
        "bound": BOUND,
        "checks": [dict(c) for c in checks],
    }
    if all("ssim" in c for c in checks):
        out["ssim"] = float(np.mean([c["ssim"] for c in checks]))
    return _finite(out)


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and inf (an exact or impossible score) become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def failed(error: str, checked: Sequence[int] = ()) -> dict[str, Any]:
    """The ``quality`` of a check that could not run: a note, never a failed job."""
    return {"checked": list(checked), "error": error, "bound": BOUND}


def sort_value(quality: Mapping[str, Any] | None) -> float | None:
    """What the job table sorts by: the PSNR (dB), None for a job not checked."""
    value = (quality or {}).get("psnr")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
