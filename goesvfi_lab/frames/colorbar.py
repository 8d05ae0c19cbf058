"""A colour bar with units: the strip of a colour table, ticks and labels in the field's units.

One picture for every place a viewer needs the key to the colours: under the notebook's thumbnails and
burnt into annotated PNG/MP4 frames (:mod:`goesvfi_lab.frames.annotate`). The strip is drawn through
:func:`~goesvfi_lab.frames.render.render` itself, so its colours are exactly those of the frames.

Units: brightness temperature tables (``ir``, ``enhanced``, ``wv``) in K; reflectance (``vis``, or
``grey`` on a reflective ABI band) as a percentage of the reflectance factor 0..1.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np

from .render import render, value_range

# units a table's values are in (grey: any field, so the band decides; see units_for)
TABLE_UNITS = {"ir": "K", "enhanced": "K", "wv": "K", "vis": "%"}
_SCALE = {"%": 100.0}  # display value = field value x scale (reflectance factor -> %)
UNITS_TEXT = {"%": "reflectance %"}  # what the bar writes after its strip (else the units as they are)


@dataclass(frozen=True)
class ColorBar:
    """Which table over which range, and the units the tick labels are in (``""``: none known)."""

    cmap: str
    vmin: float
    vmax: float
    units: str = "K"


@dataclass(frozen=True)
class BarGeometry:
    """Where the parts of a colour bar image lie (pixels, origin top left)."""

    height: int
    strip: tuple[int, int, int, int]  # (y0, y1, x0, x1), end exclusive: the colour strip


@functools.lru_cache(maxsize=32)
def font(size: int):
    """Pillow's bundled scalable font at ``size`` pixels (Pillow >= 10.1 with FreeType: no font file
    needed); the fixed bitmap font where scaling is not available."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1, or built without FreeType
        return ImageFont.load_default()


def text_box(text: str, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of ``text`` drawn at the origin in :func:`font` of ``size``."""
    from PIL import Image, ImageDraw

    return ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font(size))


def units_for(cmap: str, source: str | os.PathLike[str] | None = None) -> str:
    """The units of a field shown with ``cmap``: the table's own, else the ABI band's of ``source``
    (reflective: ``%``, emissive: ``K``), else ``""``."""
    if cmap in TABLE_UNITS:
        return TABLE_UNITS[cmap]
    if source is not None:
        from ..bands import auto_cmap

        kind = auto_cmap(source, default="")
        if kind:
            return TABLE_UNITS.get(kind, "")
    return ""


def colorbar_for(
    field: np.ndarray,
    cmap: str,
    vmin: float | None = None,
    vmax: float | None = None,
    source: str | os.PathLike[str] | None = None,
) -> ColorBar | None:
    """The colour bar of a physical field rendered as :func:`render` renders it; None for stored images
    (integer pixels pass through, no table applies)."""
    field = np.asarray(field)
    if field.dtype.kind != "f":
        return None
    lo, hi = value_range(field, cmap, vmin, vmax)
    return ColorBar(cmap, lo, hi, units_for(cmap, source))


def nice_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Round values (steps of 1, 2, 2.5 or 5 x 10^k) inside [lo, hi], at most ``max_ticks`` of them."""
    span = hi - lo
    if not span > 0 or max_ticks < 2:
        return [lo]
    raw = span / (max_ticks - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 9))
        k += 1
    return ticks


def tick_label(value: float) -> str:
    return f"{value:.10g}"


def _parts(bar: ColorBar, width: int, size: int) -> tuple[int, int, int, int, int]:
    """(pad, strip height, tick length, units width, label line height) of a bar ``width`` wide."""
    pad = max(2, size // 3)
    units_w = text_box(UNITS_TEXT.get(bar.units, bar.units), size)[2] + pad if bar.units else 0
    line = text_box("0123456789K%", size)[3]
    return pad, max(4, round(size * 0.9)), max(2, size // 3), units_w, line


def colorbar_geometry(bar: ColorBar, width: int, size: int) -> BarGeometry:
    """Height of the bar image and where its strip lies, for a bar ``width`` wide with text of ``size``."""
    pad, strip_h, tick, units_w, line = _parts(bar, width, size)
    x1 = max(pad + 2, width - pad - units_w)
    return BarGeometry(pad + strip_h + tick + 1 + line + pad, (pad, pad + strip_h, pad, x1))


def strip_values(bar: ColorBar, n: int) -> np.ndarray:
    """The field value of each of the ``n`` strip columns, vmin at the left, vmax at the right (float32)."""
    return np.linspace(bar.vmin, bar.vmax, max(n, 1), dtype=np.float64).astype(np.float32)


def colorbar_image(
    bar: ColorBar,
    width: int,
    size: int = 12,
    background: tuple[int, int, int] = (0, 0, 0),
    foreground: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """The colour bar as uint8 RGB (H x ``width`` x 3): strip left to right from vmin to vmax, ticks and
    their labels below it in the bar's units, the units right of the strip."""
    from PIL import Image, ImageDraw

    geo = colorbar_geometry(bar, width, size)
    y0, y1, x0, x1 = geo.strip
    pad, _strip_h, tick, _units_w, _line = _parts(bar, width, size)
    out = np.empty((geo.height, width, 3), dtype=np.uint8)
    out[:] = background
    colours = render(strip_values(bar, x1 - x0)[None, :], bar.cmap, bar.vmin, bar.vmax)
    out[y0:y1, x0:x1] = colours
    image = Image.fromarray(out)
    draw = ImageDraw.Draw(image)
    fnt = font(size)
    scale = _SCALE.get(bar.units, 1.0)
    lo, hi = bar.vmin * scale, bar.vmax * scale
    widest = max(text_box(tick_label(v), size)[2] for v in (lo, hi, (lo + hi) / 2))
    for value in nice_ticks(lo, hi, max(2, (x1 - x0) // (widest + size))):
        x = x0 + round((value - lo) / (hi - lo) * (x1 - x0 - 1)) if hi > lo else x0
        draw.line([(x, y1), (x, y1 + tick - 1)], fill=foreground)
        text = tick_label(value)
        left, top, right, _bottom = text_box(text, size)
        tx = min(max(0, x - (right - left) // 2 - left), width - right)  # keep the label inside the image
        draw.text((tx, y1 + tick + 1 - top), text, font=fnt, fill=foreground)
    if bar.units:
        units = UNITS_TEXT.get(bar.units, bar.units)
        left, top, _right, bottom = text_box(units, size)
        draw.text((x1 + pad - left, (y0 + y1) // 2 - (top + bottom) // 2), units, font=fnt, fill=foreground)
    return np.asarray(image)
