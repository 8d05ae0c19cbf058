"""Turn physical fields (brightness temperature in K, reflectance) into RGB pixels for PNG and video.

Colour tables are lookup tables indexed by the field's position in [vmin, vmax], so the mapping is
identical for every frame of an animation (no per-frame stretch, hence no flicker):

- ``ir``: the forecaster's grey infrared look, cold (high cloud) white, warm surface black;
- ``enhanced``: the "colorized IR clouds" convention of GOES IR-window imagery (band 13 and the other
  emissive bands): colours only for cloud tops between 193 K (-80 C) and 253 K (-20 C) -- light blue,
  blue, green, yellow, orange, red, purple as they get colder --, grey from 253 K (light) to 303 K
  (dark), black for warmer surfaces, white for the rare tops colder than 193 K;
- ``wv``: the water-vapour enhancement for ABI bands 8-10 over 190-280 K (upper- and mid-troposphere
  temperatures of 6.2-7.3 um): warm, dry air dark grey to brown and orange; moist upper troposphere
  white; cold, moist cloud light blue, blue, then blue-green;
- ``vis``: reflectance factor 0..1 (bands 1-6) through gamma 1/2.2, as ABI visible imagery is usually
  shown: linear reflectance looks too dark in everything but bright cloud;
- ``grey``: plain linear grey, low black / high white (any field); its default range is the field's own
  finite min/max.
``goesvfi_lab.bands.auto_cmap`` picks one of them by ABI band (what ``cmap="auto"`` means).
NaN (space off the Earth's limb, fill) renders black. Integer arrays are treated as images already.
"""

from __future__ import annotations

import numpy as np

IR_RANGE = (180.0, 320.0)  # K: default range of the ir and enhanced tables
WV_RANGE = (190.0, 280.0)  # K: default range of the wv table (upper-troposphere temperatures)
VIS_RANGE = (0.0, 1.0)  # reflectance factor: default range of the vis table
VIS_GAMMA = 1 / 2.2
_LUT_SIZE = 1401  # 0.1 K steps over the default range
_VIS_LUT_SIZE = 4096  # the gamma curve is steep near 0: finer steps there than 1401 would give
_ROWS_PER_BLOCK = 512  # bounds temporaries on full-disk frames

IR_CLOUD_COLOURS = (193.0, 253.0)  # K: the enhanced table's coloured cloud-top range
IR_CLOUD_GREYS = (253.0, 303.0)  # K: its grey ramp, light to dark; black above, white below the colours

# (temperature K, RGB) anchors of the enhanced table at the default range; linear in between,
# steps where two anchors sit 0.01 K apart (thresholds forecasters read off the image)
_ENHANCED_ANCHORS = (
    (180.0, (255, 255, 255)),
    (192.99, (255, 255, 255)),
    (193.0, (120, 0, 140)),
    (203.0, (220, 0, 180)),
    (203.01, (200, 0, 0)),
    (213.0, (255, 120, 0)),
    (223.0, (255, 230, 0)),
    (223.01, (230, 255, 0)),
    (233.0, (0, 170, 0)),
    (233.01, (0, 40, 170)),
    (243.0, (40, 120, 255)),
    (243.01, (60, 160, 255)),
    (252.99, (170, 225, 255)),
    (253.0, (220, 220, 220)),
    (303.0, (40, 40, 40)),
    (320.0, (0, 0, 0)),
)

# (temperature K, RGB) anchors of the wv table over WV_RANGE: cold and moist blue-green to blue to
# white, then grey, and warm (dry, subsiding air) dark brown to orange
_WV_ANCHORS = (
    (190.0, (0, 100, 70)),
    (203.0, (0, 170, 140)),
    (213.0, (30, 110, 210)),
    (225.0, (150, 200, 255)),
    (233.0, (255, 255, 255)),
    (243.0, (190, 190, 190)),
    (253.0, (90, 90, 90)),
    (260.0, (120, 70, 30)),
    (270.0, (210, 120, 20)),
    (280.0, (255, 200, 90)),
)


def _grey_lut(low_is_white: bool) -> np.ndarray:
    ramp = np.linspace(0.0, 255.0, _LUT_SIZE)
    if low_is_white:
        ramp = ramp[::-1]
    grey = np.round(ramp).astype(np.uint8)
    return np.repeat(grey[:, None], 3, axis=1)


def _gamma_lut(gamma: float) -> np.ndarray:
    grey = np.round(255.0 * np.linspace(0.0, 1.0, _VIS_LUT_SIZE) ** gamma).astype(np.uint8)
    return np.repeat(grey[:, None], 3, axis=1)


def _anchor_lut(anchors: tuple, value_range: tuple[float, float]) -> np.ndarray:
    lo, hi = value_range
    temps = np.array([t for t, _ in anchors])
    colours = np.array([c for _, c in anchors], dtype=np.float64)
    grid = np.linspace(lo, hi, _LUT_SIZE)
    channels = [np.interp(grid, temps, colours[:, k]) for k in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


_LUTS = {
    "ir": _grey_lut(low_is_white=True),
    "enhanced": _anchor_lut(_ENHANCED_ANCHORS, IR_RANGE),
    "wv": _anchor_lut(_WV_ANCHORS, WV_RANGE),
    "vis": _gamma_lut(VIS_GAMMA),
    "grey": _grey_lut(low_is_white=False),
}
_DEFAULT_RANGE = {"ir": IR_RANGE, "enhanced": IR_RANGE, "wv": WV_RANGE, "vis": VIS_RANGE}  # grey: the data's own
COLORMAPS = tuple(_LUTS)


def colour_table(cmap: str) -> np.ndarray:
    """The (N, 3) uint8 lookup table of ``cmap``; entry 0 is vmin, entry N-1 is vmax."""
    try:
        return _LUTS[cmap]
    except KeyError:
        raise ValueError(f"unknown colour table {cmap!r}; choose one of {', '.join(COLORMAPS)}") from None


def fixed_range(cmap: str) -> tuple[float, float] | None:
    """The default (vmin, vmax) of a table made for one physical quantity; None for ``grey`` (data range)."""
    colour_table(cmap)  # unknown names fail here, not later
    return _DEFAULT_RANGE.get(cmap)


def value_range(array: np.ndarray, cmap: str, vmin: float | None, vmax: float | None) -> tuple[float, float]:
    """The (vmin, vmax) a table uses: IR tables default to 180-320 K, wv to 190-280 K, vis to reflectance
    0-1, grey to the finite data range."""
    if cmap in _DEFAULT_RANGE:
        lo, hi = _DEFAULT_RANGE[cmap]
    else:
        finite = np.asarray(array)[np.isfinite(array)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    lo = lo if vmin is None else float(vmin)
    hi = hi if vmax is None else float(vmax)
    if not hi > lo:
        hi = lo + 1.0  # a constant field renders as one colour instead of dividing by zero
    return lo, hi


def render(array: np.ndarray, cmap: str = "ir", vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Map a 2-D physical field to uint8 RGB (HxWx3) through a colour table; NaN -> black.

    uint8/uint16 images (grey, grey+alpha, RGB, RGBA) are passed through as 8-bit RGB, so callers can
    hand any frame to a video writer.
    """
    array = np.asarray(array)
    if array.dtype.kind in "ui":
        return image_to_rgb8(array)
    if array.dtype.kind != "f" or array.ndim != 2:
        raise ValueError(f"render() needs a 2-D float field or an integer image, got {array.dtype} {array.shape}")
    lut = colour_table(cmap)
    lo, hi = value_range(array, cmap, vmin, vmax)
    scale = np.float32((len(lut) - 1) / (hi - lo))
    out = np.empty((*array.shape, 3), dtype=np.uint8)
    for r0 in range(0, array.shape[0], _ROWS_PER_BLOCK):
        block = array[r0 : r0 + _ROWS_PER_BLOCK].astype(np.float32)
        nan = ~np.isfinite(block)
        pos = (block - np.float32(lo)) * scale + np.float32(0.5)
        np.clip(pos, 0, len(lut) - 1, out=pos)
        pos[nan] = 0
        rgb = lut[pos.astype(np.intp)]
        rgb[nan] = 0
        out[r0 : r0 + _ROWS_PER_BLOCK] = rgb
    return out


def to_grey16(
    array: np.ndarray, vmin: float | None = None, vmax: float | None = None, invert: bool = True
) -> np.ndarray:
    """A 2-D field as uint16 grey (65536 levels over [vmin, vmax], IR range by default); NaN -> 0.

    ``invert=True`` keeps the IR convention (cold white). 16 bits keep ~0.002 K steps over 140 K.
    """
    array = np.asarray(array, dtype=np.float32)
    lo, hi = value_range(array, "ir", vmin, vmax)
    with np.errstate(invalid="ignore"):
        q = (array - np.float32(lo)) / np.float32(hi - lo)
        if invert:
            q = 1.0 - q
        q = np.clip(q, 0.0, 1.0) * 65535.0 + 0.5
    q[~np.isfinite(array)] = 0
    return q.astype(np.uint16)


def image_to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any uint8/uint16 image (HxW, HxWx2, HxWx3, HxWx4) as uint8 RGB; alpha composited over black."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image8 = (image >> 8).astype(np.uint8)
    elif image.dtype == np.uint8:
        image8 = image
    else:
        raise ValueError(f"expected a uint8 or uint16 image, got {image.dtype}")
    if image8.ndim == 3 and image8.shape[2] == 1:
        image8 = image8[:, :, 0]
    if image8.ndim == 2:
        return np.repeat(image8[:, :, None], 3, axis=2)
    if image8.ndim != 3 or image8.shape[2] not in (2, 3, 4):
        raise ValueError(f"expected HxW or HxWx(2|3|4) pixels, got shape {image.shape}")
    colour, alpha = (
        (image8[:, :, :1], image8[:, :, 1:]) if image8.shape[2] == 2 else (image8[:, :, :3], image8[:, :, 3:])
    )
    if alpha.shape[2]:
        colour = (colour.astype(np.uint16) * alpha.astype(np.uint16) + 127) // 255
        colour = colour.astype(np.uint8)
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    return np.ascontiguousarray(colour)
