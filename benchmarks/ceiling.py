"""How far can any two-frame method go on each clip? Oracles that peek at the held-out frame.

quality.py scores methods that see only the key frames. This script bounds them from above, on the
same clips and frame alignment (first 41 frames, odd ones held out, factor 2), by giving a warp the
one thing no interpolator has — the true middle frame — in two strengths:

- ``oracle``: OpenCV DIS (medium) flows from the true frame to each key, both keys warped onto it
  (bicubic) and averaged: the best a flow-warp-and-blend can do when every pixel may move freely;
- ``oracle straight``: the same true flows, but constrained to what a two-frame method assumes — each
  pixel on a straight, constant-velocity path through the middle (displacement ``(f_a - f_b)/2`` to
  one key, its negative to the other). A method that sees only keys k and k+1 cannot beat this row
  except by guessing the path's bend, which the keys do not contain;
- ``linear``: the plain average of the keys, the floor.

Then the camera path: the median DIS flow between consecutive frames integrated into a global
trajectory. "off-line" is the mean |residual| (px) of the held-out frames from the midpoint of their
keys, "off cubic" from a 4-key cubic through keys k−1…k+2 (what a multi-frame method could predict).
When both are similar and large, the held-out frames jitter in a way the keys cannot predict (hand-
held carphone); when both are small, the motion is smooth and a two-frame path loses nothing.

    python benchmarks/ceiling.py                      # bikes, bigbuckbunny, carphone, city
    python benchmarks/ceiling.py --clips carphone_pristine.mp4 --frames 21
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _clips import dis_flow, psnr, read_clip  # noqa: E402
from _machine import print_machine  # noqa: E402

CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4", "cityCC0.mpg")


def _grey(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame


def _warp(img: np.ndarray, flow: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``img(p + flow(p))``, bicubic, edges replicated."""
    import cv2

    return cv2.remap(img.astype(np.float32), grid + flow, None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def oracle_scores(frames: list[np.ndarray]) -> dict[str, float]:
    """Mean PSNR (dB) over the held-out odd frames for the two oracles and linear blending."""
    h, w = frames[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.dstack([gx, gy])
    rows: dict[str, list[float]] = {"oracle": [], "oracle straight": [], "linear": []}
    for k in range(1, len(frames) - 1, 2):
        a, m, b = frames[k - 1], frames[k], frames[k + 1]
        fa, fb = dis_flow(_grey(m), _grey(a)), dis_flow(_grey(m), _grey(b))
        truth = m.astype(np.float32)
        rows["oracle"].append(psnr((_warp(a, fa, grid) + _warp(b, fb, grid)) / 2, truth, 255))
        straight = (fa - fb) / 2
        pred = (_warp(a, straight, grid) + _warp(b, -straight, grid)) / 2
        rows["oracle straight"].append(psnr(pred, truth, 255))
        rows["linear"].append(psnr((a.astype(np.float32) + b) / 2, truth, 255))
    return {name: float(np.mean(v)) for name, v in rows.items()}


def camera_path(frames: list[np.ndarray]) -> tuple[float, float]:
    """Mean |residual| (px, x+y) of held-out frames' global position from the keys' midpoint and cubic."""
    greys = [_grey(f) for f in frames]
    pos = [np.zeros(2)]
    for a, b in zip(greys[:-1], greys[1:]):
        pos.append(pos[-1] + np.median(dis_flow(a, b).reshape(-1, 2), axis=0))
    p = np.array(pos)
    line, cubic = [], []
    for k in range(3, len(p) - 3, 2):
        line.append(np.abs(p[k] - (p[k - 1] + p[k + 1]) / 2).sum())
        cubic.append(np.abs(p[k] - (-p[k - 3] + 9 * p[k - 1] + 9 * p[k + 1] - p[k + 3]) / 16).sum())
    return float(np.mean(line)), float(np.mean(cubic))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="+", default=list(CLIPS))
    ap.add_argument("--frames", type=int, default=41)
    args = ap.parse_args(argv)
    print_machine()
    print(f"first {args.frames} frames, odd ones held out; PSNR dB (mean over held-out frames)\n")
    head = ("linear", "oracle", "oracle straight", "off-line px", "off cubic px")
    print(f"{'clip':24s} " + " ".join(f"{h:>{w}s}" for h, w in zip(head, (7, 7, 16, 12, 13))))
    for clip in args.clips:
        frames = read_clip(clip, args.frames)
        s = oracle_scores(frames)
        line, cubic = camera_path(frames)
        print(
            f"{clip:24s} {s['linear']:7.2f} {s['oracle']:7.2f} {s['oracle straight']:16.2f} {line:12.3f} {cubic:13.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
