"""What an ABI file means beyond its arrays: which variable holds the asked band, which pixels DQF rules out,
and when the scan happened. Used by :mod:`.netcdf` on a raw (undecoded) ``xarray.Dataset``.

NOAA's products, as their headers in ``shared/goes`` show them (and the GOES-R PUG vol. 3/5):

- L1b ``Rad`` and L2 ``CMI`` hold one band (``band_id``, also in the file name ``…M6C13…``);
  L2 ``MCMIP`` holds all sixteen as ``CMI_C01`` … ``CMI_C16`` with ``DQF_C01`` … beside them.
- DQF values. L1b: 0 good, 1 conditionally usable, 2 out of range, 3 no value, 4 focal plane temperature
  exceeded. L2 CMI: 0 good, 1 conditionally usable, 2 out of range, 3 no value.
- Times: global ``time_coverage_start`` / ``time_coverage_end`` (scan start / end, ISO text) and the scalar
  ``t``, the middle of the scan in seconds since 2000-01-01 12:00:00 (J2000).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import FrameError

_MULTIBAND = re.compile(r"^CMI_C(\d{2})$")
NO_VALUE = 3  # DQF "no value" in L1b and L2 alike


def bands_in(names: Any) -> list[int]:
    """The bands of a multi-band (MCMIP) file from its variable names: ``CMI_C07`` -> 7 (sorted)."""
    return sorted(int(m[1]) for n in names if (m := _MULTIBAND.match(str(n))))


def _listing(bands: list[int]) -> str:
    return ", ".join(str(b) for b in bands)


def choose_variable(path: str, names: Any, variable: str | None, band: int | None) -> str:
    """The field variable to read: ``variable`` if named, else ``CMI_C{band:02d}`` of an MCMIP file, else
    ``CMI``, else ``Rad``. FrameError naming the file when it is absent, or an MCMIP file gets no band or
    lacks the asked one (the bands present are listed)."""
    names = [str(n) for n in names]
    multi = bands_in(names)
    if variable:
        if variable not in names:
            raise FrameError(path, f"no {variable!r} variable (variables: {', '.join(names) or 'none'})")
        m = _MULTIBAND.match(variable)
        if m and band is not None and int(m[1]) != int(band):
            raise FrameError(path, f"variable {variable!r} is band {int(m[1])}, not the asked band {band}")
        return variable
    if multi and "CMI" not in names and "Rad" not in names:
        if band is None:
            raise FrameError(
                path,
                f"is a multi-band (MCMIP) file with bands {_listing(multi)}: choose one "
                "(job setting band, CLI --band N)",
            )
        if int(band) not in multi:
            raise FrameError(path, f"has no band {band} (no CMI_C{int(band):02d}); bands present: {_listing(multi)}")
        return f"CMI_C{int(band):02d}"
    name = next((v for v in ("CMI", "Rad") if v in names), None)
    if name is None:
        raise FrameError(path, f"no CMI or Rad variable (variables: {', '.join(names) or 'none'})")
    return name


def check_band(path: str, name: str, asked: int | None, in_file: int | None) -> None:
    """FrameError when a one-band file (``CMI``/``Rad``) holds another band than the one asked for."""
    if asked is None or in_file is None or _MULTIBAND.match(name):
        return
    if int(asked) != int(in_file):
        raise FrameError(path, f"is band {int(in_file)}, not the asked band {int(asked)} ({name})")


def dqf_name(name: str, attrs: dict, names: Any) -> str | None:
    """The DQF variable of field ``name``: its ``ancillary_variables`` entry, else ``DQF`` / ``DQF_Cnn``."""
    names = set(map(str, names))
    listed = [a for a in str(attrs.get("ancillary_variables", "")).split() if a.startswith("DQF")]
    m = _MULTIBAND.match(name)
    for candidate in (*listed, f"DQF_C{m[1]}" if m else "DQF"):
        if candidate in names:
            return candidate
    return None


def dqf_rule(mask_dqf: bool | None, level_l1b: bool) -> tuple[str, Any] | None:
    """(description, predicate on decoded DQF values) of the pixels to set NaN, or None for none.

    ``True``: DQF > 1 (out of range, no value, focal plane temperature exceeded). ``None`` (the product's
    default): L1b "no value" pixels (DQF 3), whose counts may not be the fill; nothing for L2, whose CMI
    already carries the fill there. ``False``: none (the fill is NaN whatever this says).
    """
    if mask_dqf is True:
        return "DQF > 1 set to NaN", lambda q: q > 1
    if mask_dqf is None and level_l1b:
        return f"DQF {NO_VALUE} (no value) set to NaN", lambda q: q == NO_VALUE
    return None


def coverage_time(text: Any) -> np.datetime64 | None:
    """``"2022-01-01T18:00:20.5Z"`` (a global ``time_coverage_*``) -> datetime64[ns]; None if unreadable."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return np.datetime64(text.strip().removesuffix("Z"), "ns")
    except ValueError:
        return None
