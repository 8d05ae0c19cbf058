"""What each ABI band measures, and the colour table ``cmap="auto"`` gives it.

One rule for the notebook (thumbnails, jobs), the CLI and the demo, so a band looks the same
everywhere. Pure standard library: the job planner calls it before any heavy import.

- reflective bands 1-6 (visible, near-IR reflectance factor 0..1): ``vis``, grey through gamma 1/2.2
  (low dark, high bright), the usual look of ABI visible imagery;
- water-vapour bands 8-10 (6.2, 6.9, 7.3 um): ``wv``, the water-vapour enhancement (dry/warm
  brown-orange, moist/cold white to blue-green) over a range suited to upper-troposphere
  temperatures. The IR cloud table would paint most of a WV scene as "cold cloud";
- IR window and other emissive bands 7, 11-16: ``enhanced`` IR, the "colorized IR clouds" convention
  (colours for cloud tops of 193-253 K, grey for warmer scenes).
"""

from __future__ import annotations

import os

from .discover import parse_goes_name

REFLECTIVE = frozenset(range(1, 7))
WATER_VAPOUR = frozenset({8, 9, 10})
IR_WINDOW = frozenset({7, 11, 12, 13, 14, 15, 16})

# band type -> colour table (names of goesvfi_lab.frames.render's tables)
AUTO_CMAP = {"reflective": "vis", "water_vapour": "wv", "ir_window": "enhanced"}


def band_type(band: int | None) -> str | None:
    """``"reflective"``, ``"water_vapour"`` or ``"ir_window"``; None for no band or not an ABI band."""
    if band is None:
        return None
    band = int(band)
    if band in REFLECTIVE:
        return "reflective"
    if band in WATER_VAPOUR:
        return "water_vapour"
    if band in IR_WINDOW:
        return "ir_window"
    return None


def auto_cmap(path_or_band: str | os.PathLike[str] | int | None, default: str = "grey") -> str:
    """The colour table for a band number or an ABI file name; ``default`` when neither says a band.

    Callers pick the default: the notebook keeps ``grey`` (non-ABI images pass through anyway), the
    CLI keeps its old ``ir`` for float fields without ABI names.
    """
    if isinstance(path_or_band, int) or path_or_band is None:
        band = path_or_band
    else:
        name = parse_goes_name(path_or_band)
        band = None if name is None else name.band
    kind = band_type(band)
    return default if kind is None else AUTO_CMAP[kind]
