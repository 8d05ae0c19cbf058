"""Small PNG previews of frames, cached by file identity.

Physical fields (NetCDF brightness temperatures) go through :func:`goesvfi_lab.frames.render` with a
colour map; stored images are shown as they are. The array is strided down before rendering so a
5424² full-disk scan costs a read, not a full-resolution colour mapping. :func:`colorbar_png` is the key
to those colours (units K or reflectance %), shown under the thumbnails of NetCDF sequences.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict

import numpy as np

from .state import auto_cmap

THUMB_SIZE = 192
COLORBAR_WIDTH = 3 * THUMB_SIZE + 16  # under the row of three thumbnails and their gaps
COLORBAR_FONT = 11
CROP_COLOUR = (255, 64, 32)  # the crop box's outline on thumbnails


def _placeholder_png(grey: int = 224) -> bytes:
    """A 1×1 grey PNG (zlib and struct only): what a thumbnail shows, stretched, until its frame arrives."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes([0, grey])))
        + chunk(b"IEND", b"")
    )


PLACEHOLDER_PNG = _placeholder_png()

# The panels read frames on two background threads (thumbnails, the time estimate). The netCDF/HDF5
# C libraries are not safe to enter from two threads at once (measured: a bus error within a few
# hundred concurrent reads), so the panels' own reads take turns.
FRAME_READ_LOCK = threading.Lock()


def read_frame_locked(path: str) -> np.ndarray:
    from ..frames import read_frame

    with FRAME_READ_LOCK:
        return np.asarray(read_frame(path))


def thumbnail_png(
    path: str, size: int = THUMB_SIZE, cmap: str = "ir", window: tuple[int, int, int, int] | None = None
) -> bytes:
    """PNG bytes of ``path`` scaled so its longer side is at most ``size`` pixels; a crop ``window``
    (y0, y1, x0, x1 on the frame) is outlined on it."""
    from PIL import Image

    from ..frames import render

    arr = read_frame_locked(path)
    step = max(1, max(arr.shape[:2]) // (2 * size))  # cheap stride first, then a good resample
    rgb = np.ascontiguousarray(render(arr[::step, ::step], cmap=cmap))  # images pass through as RGB
    img = Image.fromarray(rgb)
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    if window is not None:
        _outline(img, window, arr.shape[:2])
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def thumb_rectangle(
    window: tuple[int, int, int, int], frame: tuple[int, int], thumb: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A frame window (y0, y1, x0, x1) as the (left, top, right, bottom) pixels it covers on a thumbnail
    of ``thumb`` (width, height), inclusive and inside the image, so even a tiny crop shows."""
    y0, y1, x0, x1 = window
    rows, cols = frame
    w, h = thumb
    left, right = int(x0 * w / cols), max(int(x0 * w / cols), int(np.ceil(x1 * w / cols)) - 1)
    top, bottom = int(y0 * h / rows), max(int(y0 * h / rows), int(np.ceil(y1 * h / rows)) - 1)
    return min(left, w - 1), min(top, h - 1), min(right, w - 1), min(bottom, h - 1)


def _outline(img, window: tuple[int, int, int, int], frame: tuple[int, int]) -> None:
    from PIL import ImageDraw

    ImageDraw.Draw(img).rectangle(thumb_rectangle(window, frame, img.size), outline=CROP_COLOUR, width=2)


def colorbar_png(path: str, cmap: str = "auto", width: int = COLORBAR_WIDTH) -> bytes | None:
    """PNG bytes of the colour bar, with units, that the thumbnail of ``path`` is drawn with; None for
    stored images (no colour table applies). Only ``grey`` (the data's range) reads the file."""
    from PIL import Image

    from ..engine.layout import is_physical
    from ..frames.colorbar import colorbar_for, colorbar_image
    from ..frames.render import fixed_range

    if not is_physical(path):
        return None
    if cmap == "auto":
        cmap = auto_cmap(path)
    if fixed_range(cmap):
        field = np.zeros((1, 1), np.float32)  # the table's own range: no read
    else:  # the data's range, strided as thumbnail_png strides it
        arr = read_frame_locked(path)
        step = max(1, max(arr.shape[:2]) // (2 * THUMB_SIZE))
        field = arr[::step, ::step].astype(np.float32)
    bar = colorbar_for(field, cmap, source=path)
    buf = io.BytesIO()
    Image.fromarray(colorbar_image(bar, width, COLORBAR_FONT)).save(buf, format="PNG")
    return buf.getvalue()


class ThumbnailCache:
    """LRU of PNG bytes keyed by (path, mtime, size on disk, thumb size, colour map, crop); thread-safe."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(
        self, path: str, size: int = THUMB_SIZE, cmap: str = "auto", window: tuple[int, int, int, int] | None = None
    ) -> bytes:
        if cmap == "auto":
            cmap = auto_cmap(path)
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_mtime_ns, st.st_size, size, cmap, window)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        png = thumbnail_png(path, size, cmap, window)  # outside the lock: rendering may take a while
        with self._lock:
            self.misses += 1
            self._items[key] = png
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return png

    def __len__(self) -> int:
        return len(self._items)


def pick_frames(paths: list[str]) -> list[tuple[str, str]]:
    """(label, path) of the first, middle and last frame (fewer for short sequences)."""
    if not paths:
        return []
    if len(paths) == 1:
        return [("only", paths[0])]
    idx = sorted({0, (len(paths) - 1) // 2, len(paths) - 1})
    labels = {0: "first", len(paths) - 1: "last"}
    return [(labels.get(i, "middle"), paths[i]) for i in idx]


shared_cache = ThumbnailCache()
