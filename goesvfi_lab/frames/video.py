"""MP4 (or MKV/WebM) animations through the ffmpeg binary that imageio-ffmpeg ships.

No system ffmpeg and no shell: imageio-ffmpeg starts its bundled binary with an argument list and
feeds raw RGB frames on stdin, one at a time, so memory stays at one frame whatever the length.
Sizes are padded to even numbers (edge pixels repeated) because 4:2:0 video cannot hold odd ones.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..errors import FrameError
from .atomic import atomic_path
from .images import brief_error
from .read import read_frame
from .render import render

FrameLike = np.ndarray | str | os.PathLike


@functools.lru_cache(maxsize=1)
def available_encoders() -> frozenset[str]:
    """Video encoders the bundled ffmpeg offers (libx264, libx265, libvpx-vp9, ...)."""
    import imageio_ffmpeg

    listing = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-encoders"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout
    names = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] == "V":
            names.add(parts[1])
    return frozenset(names)


def _setting(value: Any, key: str) -> Any:
    from .. import config

    return config.get(f"video.{key}") if value is None else value


def to_rgb8(frame: FrameLike, cmap: str = "ir", vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """A frame (array or file path) as uint8 RGB: physical fields through :func:`render`, images as they are."""
    array = read_frame(frame) if isinstance(frame, (str, os.PathLike)) else np.asarray(frame)
    return render(array, cmap=cmap, vmin=vmin, vmax=vmax)


def _pad_even(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _codec_params(codec: str, crf: int, preset: str, ext: str) -> list[str]:
    params = ["-crf", str(int(crf))]
    if codec.startswith("libvpx"):
        params += ["-b:v", "0", "-deadline", "good"]  # constant quality mode; vpx has no x264 presets
    else:
        params += ["-preset", str(preset)]
    if codec == "libx265":
        params += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]  # hvc1: QuickTime/Safari play it
    if ext in (".mp4", ".mov", ".m4v"):
        params += ["-movflags", "+faststart"]  # index first: browsers start playing before the end arrives
    return params


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[FrameLike],
    fps: float | None = None,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    cmap: str = "ir",
    vmin: float | None = None,
    vmax: float | None = None,
) -> str:
    """Encode ``frames`` (arrays or paths, all one size) to ``path`` atomically; returns the path.

    Unset settings come from the ``goesvfi.video.*`` config (libx264, CRF 18, preset medium, yuv420p,
    30 fps). Float fields are rendered with ``cmap`` over a fixed range (see :func:`render`).
    """
    path = os.fspath(path)
    fps, codec, crf = _setting(fps, "fps"), _setting(codec, "codec"), _setting(crf, "crf")
    preset, pix_fmt = _setting(preset, "preset"), _setting(pix_fmt, "pix-fmt")
    if codec not in available_encoders():
        raise ValueError(f"the bundled ffmpeg has no {codec!r} encoder (try libx264)")
    ext = os.path.splitext(path)[1].lower()
    iterator = iter(frames)
    try:
        first = to_rgb8(next(iterator), cmap, vmin, vmax)
    except StopIteration:
        raise ValueError(f"{path}: no frames to encode") from None
    height, width = first.shape[:2]
    padded = _pad_even(first)
    with atomic_path(path) as tmp:
        _encode(
            path,
            tmp,
            padded,
            iterator,
            (height, width),
            fps,
            codec,
            pix_fmt,
            _codec_params(codec, crf, preset, ext),
            lambda f: to_rgb8(f, cmap, vmin, vmax),
        )
    return path


def _encode(
    path: str,
    tmp: str,
    first: np.ndarray,
    rest: Iterator[FrameLike],
    size: tuple[int, int],
    fps: float,
    codec: str,
    pix_fmt: str,
    params: list[str],
    convert: Callable[[FrameLike], np.ndarray],
) -> None:
    """Run ffmpeg on raw RGB from stdin; ffmpeg's complaints are kept for the error message."""
    import imageio_ffmpeg

    height, width = size
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{first.shape[1]}x{first.shape[0]}",
        "-framerate",
        str(fps),
        "-i",
        "pipe:0",
        "-an",
        "-c:v",
        codec,
        "-pix_fmt",
        pix_fmt,
        *params,
        "file:" + os.path.abspath(tmp),  # never an option ("-x") or a protocol ("pipe:", "tcp:") to ffmpeg
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        try:
            proc.stdin.write(first.tobytes())
            for index, frame in enumerate(rest, start=1):
                rgb = convert(frame)
                if rgb.shape[:2] != (height, width):
                    raise ValueError(
                        f"{path}: frame {index} is {rgb.shape[1]}x{rgb.shape[0]}, expected {width}x{height}"
                    )
                proc.stdin.write(_pad_even(rgb).tobytes())
            proc.stdin.close()
            returncode = proc.wait()
        except BrokenPipeError:
            returncode = proc.wait()  # ffmpeg gave up early: its log says why
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if proc.stdin and not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        if returncode != 0:
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").strip().splitlines()
            raise FrameError(path, f"ffmpeg ({codec}) failed with exit code {returncode}: {' | '.join(lines[-3:])}")


def count_video_frames(path: str | os.PathLike[str]) -> int:
    """Number of frames in a video file, counted by decoding it (exact, not the container's estimate)."""
    import imageio_ffmpeg

    path, source = os.fspath(path), _existing(path)
    try:
        return int(imageio_ffmpeg.count_frames_and_secs(source)[0])
    except Exception as e:
        raise FrameError(path, f"cannot count video frames: {brief_error(e)}") from e


def read_video(path: str | os.PathLike[str]) -> list[np.ndarray]:
    """All frames of a video as uint8 RGB arrays (HxWx3), in order. Meant for checks and small clips."""
    import imageio_ffmpeg

    path, source = os.fspath(path), _existing(path)
    try:
        reader = imageio_ffmpeg.read_frames(source, pix_fmt="rgb24")
        meta = next(reader)
        width, height = meta["size"]
        frames = [np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3).copy() for buf in reader]
    except Exception as e:
        raise FrameError(path, f"cannot decode video: {brief_error(e)}") from e
    return frames


def _existing(path: str | os.PathLike[str]) -> str:
    """``path`` checked, as ffmpeg must see it: ``file:`` + absolute, never an option or a protocol."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FrameError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise FrameError(path, "empty file (0 bytes)")
    return "file:" + os.path.abspath(path)
