"""Burn a UTC time label and the colour bar into a rendered frame (``settings["annotate"]``, ``--annotate``).

A frame that leaves the kit as a picture should say when it shows and what its colours mean, and a
generated frame must not pass for a scan: its label ends in ``(interp.)``. The CLI and the batch engine
build the label with the one :func:`frame_label` and draw with the one :func:`annotate`.

The annotation is a black panel over the bottom of the image (the frame keeps its size, so videos and
resumed jobs stay consistent): the label left of the colour bar and its units on a wide frame, above it
on a narrow one. Only rendered images are annotated, never the float fields or the cube.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from .colorbar import ColorBar, colorbar_for, colorbar_geometry, colorbar_image, text_box
from .render import image_to_rgb8

INTERPOLATED = " (interp.)"
_MIN_FONT, _MAX_FONT = 8, 96

Box = tuple[int, int, int, int]  # (y0, y1, x0, x1), end exclusive, in frame pixels


def frame_label(when: datetime | None, interpolated: bool) -> str | None:
    """``2024-07-01 18:02:30Z`` for a scan (its start), with `` (interp.)`` for a generated frame;
    None when the time is unknown. Rounded to the second; aware times are converted to UTC, naive ones
    taken as UTC (ABI names are)."""
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    when = (when + timedelta(microseconds=500_000)).replace(microsecond=0)
    return when.strftime("%Y-%m-%d %H:%M:%SZ") + (INTERPOLATED if interpolated else "")


def font_size(width: int, label: str | None = None) -> int:
    """Text size for a frame ``width`` pixels wide: about 1/48 of it (10 px at least on frames of 160 px
    and more), shrunk until ``label`` fits."""
    size = min(_MAX_FONT, max(round(width / 48), 10 if width >= 160 else _MIN_FONT))
    if label:
        while size > _MIN_FONT and text_box(label, size)[2] + 2 * max(2, size // 3) > width:
            size -= 1
    return size


@dataclass(frozen=True)
class AnnotationLayout:
    """Where :func:`annotate` draws on a frame: the panel, the label's box, the colour bar's box and strip.

    On a wide frame the label sits left of the bar (one row); otherwise above it.
    """

    size: int  # text size in pixels
    panel: Box | None
    label: Box | None
    bar: Box | None
    strip: Box | None


def annotation_layout(shape: tuple[int, ...], label: str | None, colorbar: ColorBar | None) -> AnnotationLayout:
    """The boxes :func:`annotate` fills on a frame of ``shape`` (tests and callers locate the parts)."""
    height, width = shape[:2]
    size = font_size(width, label)
    pad = max(2, size // 3)
    if not label and not colorbar:
        return AnnotationLayout(size, None, None, None, None)
    label_w = text_box(label, size)[2] + 2 * pad if label else 0
    label_h = text_box(label, size)[3] + 2 * pad if label else 0
    side = bool(label and colorbar) and label_w <= 0.4 * width
    bar_x = label_w if side else 0
    bar_h = colorbar_geometry(colorbar, width - bar_x, size).height if colorbar else 0
    panel_h = min(height, max(label_h, bar_h) if side else label_h + bar_h)
    top = height - panel_h
    label_box = (top, min(height, top + label_h), 0, label_w if side else width) if label else None
    bar_box = strip = None
    if colorbar:
        bar_top = top if side else top + label_h
        bar_box = (min(height, bar_top), height, bar_x, width)
        y0, y1, x0, x1 = colorbar_geometry(colorbar, width - bar_x, size).strip
        strip = (min(height, bar_top + y0), min(height, bar_top + y1), bar_x + x0, bar_x + x1)
    if side:  # the label's text centred on the strip's line
        _left, text_top, _right, text_bottom = text_box(label, size)
        y0 = max(top, (strip[0] + strip[1]) // 2 - pad - (text_bottom - text_top) // 2)
        label_box = (y0, min(height, y0 + label_h), 0, label_w)
    return AnnotationLayout(size, (top, height, 0, width), label_box, bar_box, strip)


def annotate(
    rgb: np.ndarray, label: str | None, colorbar: ColorBar | None = None, colour: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """A copy of the uint8 RGB frame with ``label`` and ``colorbar`` in a black panel at its bottom.

    Nothing to draw (no label, no bar) returns the frame unchanged.
    """
    from PIL import Image, ImageDraw

    from .colorbar import font

    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"annotate() needs uint8 RGB (HxWx3), got {rgb.dtype} {rgb.shape}")
    layout = annotation_layout(rgb.shape, label, colorbar)
    if layout.panel is None:
        return rgb
    size, pad = layout.size, max(2, layout.size // 3)
    top = layout.panel[0]
    panel = np.zeros((rgb.shape[0] - top, rgb.shape[1], 3), dtype=np.uint8)  # drawn alone: cheap on full disks
    if colorbar:
        y0, _y1, x0, x1 = layout.bar
        bar = colorbar_image(colorbar, x1 - x0, size, foreground=colour)
        panel[y0 - top : y0 - top + bar.shape[0], x0:x1] = bar[: panel.shape[0] - (y0 - top)]
    if label:
        image = Image.fromarray(panel)
        left, text_top, _right, _bottom = text_box(label, size)
        y0, _y1, x0, _x1 = layout.label
        ImageDraw.Draw(image).text((x0 + pad - left, y0 - top + pad - text_top), label, font=font(size), fill=colour)
        panel = np.asarray(image)
    out = rgb.copy()
    out[top:] = panel
    return out


def burn_in(
    image: np.ndarray,
    field: np.ndarray,
    cmap: str,
    vmin: float | None,
    vmax: float | None,
    label: str | None,
    source: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """The annotated RGB of one output frame: ``image`` is what would be written (the render of
    ``field``, or a stored image as it is); the colour bar only when ``field`` is physical. Nothing to
    draw (a stored image without a known time) leaves ``image`` as it is, 16-bit pixels included."""
    colorbar = colorbar_for(field, cmap, vmin, vmax, source)
    if label is None and colorbar is None:
        return image
    return annotate(image_to_rgb8(np.asarray(image)), label, colorbar)
