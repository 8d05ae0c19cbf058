"""NetCDF test files with the structure of real NOAA GOES-R ABI products, built from NOAA's own headers.

The headers in ``../shared/goes/`` (verbatim ``ncdump -h`` of real files) are edited as text (smaller y/x
dimensions, x/y packing rescaled so the grid still spans the sector's angles, names and times) and turned
into files by ``ncgen -4`` (Debian ``netcdf-bin``), so dtypes, ``_Unsigned`` shorts, fill values, packed
radians with a negative y scale, scalar calibration variables and global attributes are NOAA's. The
variables are then filled with the netCDF4 library, packed by hand (raw counts, no auto-scaling):

- ``L1b-RadF``: the L1b band-1 header as is (10-bit, kappa0); other bands get the bit depth, fill and
  packing of that band (band 13: GOES-16's real 12-bit packing and Planck constants);
- ``L2-CMIPC`` / ``L2-CMIPF``: the abridged CONUS header completed from the CMIPF band-13 inventory (which
  variables, dtypes and global attributes) and the L1b header (their attributes); band 13 packs CMI
  with NOAA's scale 0.06145332 / offset 89.62 K, reflective bands 0.00031746 / 0;
- ``L2-MCMIPC`` / ``L2-MCMIPF``: the CMIP structure with ``CMI_Cnn`` + ``DQF_Cnn`` (+ ``band_id_Cnn``,
  ``band_wavelength_Cnn``) per band, as NOAA's multi-band files hold them.

CONUS grid (GOES-East): pixel centres x -0.101332 .. 0.038612 rad, y 0.128212 .. 0.044268 rad at 2 km
(5.6e-05 rad, 2500 x 1500 pixels): the x/y ``add_offset`` of NOAA's 2 km CMIPC files, and the same grid as
the 1 km C01 header in ``../shared/goes`` (x -0.101346, y 0.128226 = the 2 km centres minus half a 1 km
step). Full disk: +-0.151872 rad (5424 x 5.6e-05 / 2). Fields are given in physical units (K or
reflectance factor); NaN becomes the fill count and DQF 3 ("no value").

Use :func:`make_abi_file` / :func:`make_abi_sequence`; tests call :func:`require_ncgen` first (skip
without ncgen, fail under CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from goesvfi_lab.discover import format_goes_name
from goesvfi_lab.frames.netcdf import NETCDF_LOCK, bt_to_radiance
from goesvfi_lab.sample import BAND_WAVELENGTH, J2000, planck_constants

REPO = Path(__file__).resolve().parents[1]
NCGEN = shutil.which("ncgen") or "/usr/bin/ncgen"

L1B_HEADER = "OR_ABI-L1b-RadF-M6C01_G16_s20220011800205.cdl"
CMIPC_HEADER = "OR_ABI-L2-CMIPC-M6C01_G16_s20241830001180_PARTIAL.cdl"
CMIPF_INVENTORY = "OR_ABI-L2-CMIPF-M6C13_G16_s20200782000176_inventory.txt"

PRODUCTS = ("L1b-RadF", "L1b-RadC", "L2-CMIPC", "L2-CMIPF", "L2-MCMIPC", "L2-MCMIPF")
# sector edges (x west, x east, y north, y south) in rad: the outer edges of the first and last pixels
SECTOR_EDGES = {
    "F": (-0.151872, 0.151872, 0.151872, -0.151872),
    "C": (-0.101360, 0.038640, 0.128240, 0.044240),
}
SCAN_SECONDS = {"F": 579.7, "C": 157.3}  # mode-6 scan durations (time_coverage_end - start of real files)
CREATE_DELAY_S = {"F": 5.0, "C": 4.8}  # file creation after scan end
CADENCE = {"F": timedelta(minutes=10), "C": timedelta(minutes=5)}
SCENE_ID = {"F": "Full Disk", "C": "CONUS"}
ORBITAL_SLOT = {"G16": "GOES-East", "G17": "GOES-West", "G18": "GOES-West", "G19": "GOES-East"}
NOMINAL_LON = {"G16": -75.0, "G17": -137.0, "G18": -137.0, "G19": -75.0}
# L1b Rad bit depth per band (sensor_band_bit_depth as GOES-16 files carry it; the README's fills 1023/4095/16383
# are 10/12/14 bits); fill = 2**bits - 1
L1B_BITS = {1: 10, 2: 12, 3: 10, 4: 11, 5: 10, 6: 10, 7: 14, 8: 12, 9: 11, 10: 12, 11: 12, 12: 11}
L1B_BITS.update({13: 12, 14: 12, 15: 12, 16: 10})
# (scale_factor, add_offset) of Rad: band 1 from the L1b header here, band 13 as GOES-16 band-13 L1b files carry
# it; other bands are derived from their range (what matters is the structure, not the exact counts)
L1B_PACKING = {1: (0.8121064, -25.93665), 13: (0.04572892, -1.6443)}
# kappa0 and esun of the reflective bands: plausible GOES-16-like values (they vary with the Earth-Sun distance)
KAPPA0 = {1: 0.0015839, 2: 0.0019586, 3: 0.0033384, 4: 0.0087996, 5: 0.0131665, 6: 0.0421489}
ESUN = {1: 2017.1648, 2: 1631.3351, 3: 957.0699, 4: 360.9018, 5: 242.5404, 6: 76.8999}
CMI_EMISSIVE_PACKING = (0.06145332, 89.62)  # L2 band 13 (K); used for every emissive band here
CMI_REFLECTIVE_PACKING = (0.00031746, 0.0)


def headers_dir() -> Path:
    """``shared/goes`` next to the repository (the lab layout) or inside it (a device checkout); env override."""
    candidates = [os.environ.get("GOESVFI_GOES_HEADERS"), REPO.parent / "shared" / "goes", REPO / "shared" / "goes"]
    for c in candidates:
        if c and (Path(c) / L1B_HEADER).is_file():
            return Path(c)
    raise FileNotFoundError(f"NOAA headers ({L1B_HEADER}) not found in: {', '.join(str(c) for c in candidates if c)}")


def require_ncgen() -> None:
    """Skip the calling test without ncgen or the headers; fail instead where ``CI`` is set."""
    import pytest

    missing = None
    if not os.access(NCGEN, os.X_OK):
        missing = f"ncgen not found ({NCGEN}): install Debian netcdf-bin (make tools)"
    else:
        try:
            headers_dir()
        except FileNotFoundError as e:
            missing = str(e)
    if missing and os.environ.get("CI"):
        pytest.fail(missing)
    if missing:
        pytest.skip(missing)


# --------------------------------------------------------------------------------------------------
# CDL as text: parse, edit, render


@dataclass
class Cdl:
    """An ``ncdump -h`` header: dimensions, variables (declaration + attribute lines), global attributes."""

    name: str
    dims: dict[str, int] = field(default_factory=dict)
    variables: dict[str, list[str]] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)  # name -> CDL value text
    incomplete: set[str] = field(default_factory=set)  # variables abridged with "..."

    def attr(self, var: str, name: str) -> str | None:
        for line in self.variables[var][1:]:
            m = _ATTR.match(line)
            if m and m["att"] == name:
                return m["value"]
        return None

    def set_attr(self, var: str, name: str, value: str) -> None:
        """Set (or add) ``var:name = value`` (``value`` is CDL text: ``"text"``, ``1.5f``, ``3s``)."""
        lines = self.variables[var]
        new = f"\t\t{var}:{name} = {value} ;"
        for i, line in enumerate(lines[1:], 1):
            m = _ATTR.match(line)
            if m and m["att"] == name:
                lines[i] = new
                return
        lines.append(new)

    def del_attr(self, var: str, name: str) -> None:
        self.variables[var] = [ln for ln in self.variables[var] if not ((m := _ATTR.match(ln)) and m["att"] == name)]

    def add(self, var: str, decl: str, attrs: Mapping[str, str] = {}) -> None:  # noqa: B006 (read only)
        self.variables[var] = [f"\t{decl} ;", *(f"\t\t{var}:{k} = {v} ;" for k, v in attrs.items())]

    def copy_var(self, other: Cdl, var: str, new: str | None = None, dtype: str | None = None) -> None:
        """Take ``var``'s block from ``other`` (renamed to ``new``, declared as ``dtype`` if given)."""
        new = new or var
        decl, *attrs = other.variables[var]
        m = _DECL.match(decl)
        assert m, decl
        self.variables[new] = [
            f"\t{dtype or m['type']} {new}{m['dims'] or ''} ;",
            *(re.sub(rf"^\s*{re.escape(var)}:", f"\t\t{new}:", a) for a in attrs),
        ]

    def render(self) -> str:
        out = [f"netcdf {self.name} {{", "dimensions:"]
        out += [f"\t{d} = {n} ;" for d, n in self.dims.items()]
        out.append("variables:")
        for lines in self.variables.values():
            out += lines
        out.append("")
        out.append("// global attributes:")
        out += [f"\t\t:{k} = {v} ;" for k, v in self.globals.items()]
        out.append("}")
        return "\n".join(out) + "\n"


_DECL = re.compile(
    r"^\s*(?P<type>byte|short|int|float|double|char|ubyte|ushort|uint|int64)\s+(?P<name>\w+)(?P<dims>\(.*\))?\s*;"
)
_ATTR = re.compile(r"^\s*(?P<var>\w+):(?P<att>\w+)\s*=\s*(?P<value>.*?)\s*;\s*$")
_GLOBAL = re.compile(r"^\s*:(?P<att>\w+)\s*=\s*(?P<value>.*?)\s*;\s*$")
_DIM = re.compile(r"^\s*(?P<name>\w+)\s*=\s*(?P<size>\d+)\s*;")


def parse_cdl(text: str) -> Cdl:
    """A header as :class:`Cdl`; ``...`` lines (abridged headers) mark the variable they sit in as incomplete."""
    cdl = Cdl(name="")
    section, current = None, None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("netcdf "):
            cdl.name = s.split()[1]
        elif s in ("dimensions:", "variables:"):
            section, current = s[:-1], None
        elif s.startswith("// global attributes"):
            section, current = "globals", None
        elif s == "..." and section == "variables" and current:
            cdl.incomplete.add(current)
        elif not s or s.startswith("//") or s in ("}", "..."):
            continue
        elif section == "dimensions" and (m := _DIM.match(line)):
            cdl.dims[m["name"]] = int(m["size"])
        elif section == "variables" and (m := _DECL.match(line)):
            current = m["name"]
            cdl.variables[current] = [line.rstrip()]
        elif section == "variables" and current and _ATTR.match(line):
            cdl.variables[current].append(line.rstrip())
        elif section == "globals" and (m := _GLOBAL.match(line)):
            cdl.globals[m["att"]] = m["value"]
    return cdl


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_inventory(text: str) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """The CMIPF inventory: [(variable, "(dims)", numpy dtype)] in file order, and global attributes (as printed)."""
    variables, attrs, section = [], {}, None
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if re.match(r"^[a-z]+:$", line.strip()):
            section = line.strip()[:-1]
            continue
        if section == "attribute" and ":" in line:
            key, value = line.split(":", 1)
            attrs[key.strip()] = value.strip()
        elif section in ("variable", "image") and (m := re.match(r"^\s+(\w+)\s+(\([^)]*\))\s+(\w+)\s*$", line)):
            variables.append((m[1], m[2], m[3]))
    return variables, attrs


_CDL_TYPE = {"float64": "double", "float32": "float", "int32": "int", "int16": "short", "int8": "byte"}


# --------------------------------------------------------------------------------------------------
# Headers per product


def _read_header(name: str) -> str:
    return (headers_dir() / name).read_text()


def l1b_cdl(band: int) -> Cdl:
    """The real L1b header, changed to ``band`` (bit depth, fill, packing, units) where it is not band 1."""
    cdl = parse_cdl(_read_header(L1B_HEADER))
    if band == 1:
        return cdl
    bits = L1B_BITS[band]
    fill = 2**bits - 1
    scale, offset = _l1b_packing(band)
    cdl.set_attr("Rad", "_FillValue", f"{fill}s")
    cdl.set_attr("Rad", "sensor_band_bit_depth", f"{bits}b")
    cdl.set_attr("Rad", "valid_range", f"0s, {fill - 1}s")
    cdl.set_attr("Rad", "scale_factor", f"{scale!r}f")
    cdl.set_attr("Rad", "add_offset", f"{offset!r}f")
    if band >= 7:
        cdl.set_attr("Rad", "standard_name", quote("toa_outgoing_radiance_per_unit_wavenumber"))
        cdl.set_attr("Rad", "units", quote("mW m-2 sr-1 (cm-1)-1"))
        cdl.globals["summary"] = quote(
            "Single emissive band ABI L1b Radiance Products are digital maps of outgoing radiance values at the "
            "top of the atmosphere for IR bands."
        )
        cdl.globals["keywords"] = quote("SPECTRAL/ENGINEERING > INFRARED WAVELENGTHS > INFRARED RADIANCE")
    return cdl


def _l1b_packing(band: int) -> tuple[float, float]:
    if band in L1B_PACKING:
        return L1B_PACKING[band]
    counts = 2 ** L1B_BITS[band] - 2
    if band >= 7:
        top = float(bt_to_radiance(np.array(345.0), *planck_constants(band)))
        return float(np.float32(top / counts)), 0.0
    return float(np.float32(1.3 / KAPPA0[band] / counts)), 0.0


def l2_cdl(band: int) -> Cdl:
    """An L2 CMIP header: the variables and dtypes of the CMIPF inventory, each block taken from the CONUS
    header where it is complete there (CMI, x, y, projection), else from the L1b header, else written here
    (L2-only variables: DQF's four flags, the CMI statistics)."""
    partial = parse_cdl(_read_header(CMIPC_HEADER))
    l1b = parse_cdl(_read_header(L1B_HEADER))
    inventory, inv_attrs = parse_inventory(_read_header(CMIPF_INVENTORY))
    emissive = band >= 7
    cdl = Cdl(name=partial.name, dims={"y": 1500, "x": 2500, "number_of_time_bounds": 2, "band": 1})
    cdl.dims["number_of_image_bounds"] = 2
    stat = "brightness_temperature" if emissive else "reflectance_factor"
    for name, _dims, dtype in inventory:
        if not emissive and name.endswith("_brightness_temperature"):
            name = name.replace("brightness_temperature", stat)
        ctype = _CDL_TYPE[dtype]
        if name in partial.variables and name not in partial.incomplete:
            cdl.copy_var(partial, name, dtype=ctype)
        elif name in l1b.variables and name != "DQF":
            cdl.copy_var(l1b, name, dtype=ctype)
        else:
            _add_l2_only(cdl, name, ctype, stat, emissive)
    for v in ("band_id",):  # an int in L2 files: drop the byte-typed attributes of the L1b block
        cdl.del_attr(v, "_Unsigned")
    for v in ("valid_pixel_count", "focal_plane_temperature_threshold_exceeded_count"):
        cdl.set_attr(v, "cell_methods", quote("t: sum area: sum (interval: 0.000056 rad)"))
    if emissive:
        cdl.set_attr("CMI", "long_name", quote("ABI L2+ Cloud and Moisture Imagery brightness temperature"))
        cdl.set_attr("CMI", "standard_name", quote("toa_brightness_temperature"))
        cdl.set_attr("CMI", "scale_factor", f"{CMI_EMISSIVE_PACKING[0]!r}f")
        cdl.set_attr("CMI", "add_offset", f"{CMI_EMISSIVE_PACKING[1]!r}f")
        cdl.set_attr("CMI", "units", quote("K"))
    cdl.set_attr("CMI", "resolution", quote("y: 0.000056 rad x: 0.000056 rad"))
    for key, printed in inv_attrs.items():  # the inventory truncates long values with "..."
        value = printed[:-3] if printed.endswith("...") else printed
        if printed.endswith("..."):
            full = l1b.globals.get(key, "").strip('"')
            value = full if full.startswith(value) else L2_GLOBALS.get(key, value)
        cdl.globals[key] = quote(value)
    if not emissive:
        cdl.globals["summary"] = quote(L2_GLOBALS["summary"].replace("emissive", "reflective"))
    return cdl


L2_GLOBALS = {  # full texts of attributes the inventory prints truncated and the L1b header spells otherwise
    "summary": "Single emissive band Cloud and Moisture Imagery Products are digital maps of clouds, moisture and "
    "atmospheric windows at IR bands.",
    "keywords": "SPECTRAL/ENGINEERING > INFRARED WAVELENGTHS > BRIGHTNESS TEMPERATURE",
    "processing_level": "National Aeronautics and Space Administration (NASA) L2",
    "instrument_type": "GOES R Series Advanced Baseline Imager",
}


def _add_l2_only(cdl: Cdl, name: str, ctype: str, stat: str, emissive: bool) -> None:
    units = quote("K" if emissive else "1")
    if name == "DQF":
        kind = "brightness temperature" if emissive else "reflectance factor"
        cdl.add(
            "DQF",
            "byte DQF(y, x)",
            {
                "_FillValue": "-1b",
                "long_name": quote(f"ABI L2+ Cloud and Moisture Imagery {kind} data quality flags"),
                "standard_name": quote("status_flag"),
                "_Unsigned": quote("true"),
                "valid_range": "0b, 3b",
                "units": quote("1"),
                "coordinates": quote("band_id band_wavelength t y x"),
                "grid_mapping": quote("goes_imager_projection"),
                "cell_methods": quote("t: point area: point"),
                "flag_values": "0b, 1b, 2b, 3b",
                "flag_meanings": quote(
                    "good_pixel_qf conditionally_usable_pixel_qf out_of_range_pixel_qf no_value_pixel_qf"
                ),
                "number_of_qf_values": "4b",
            },
        )
    elif name in ("total_number_of_points", "outlier_pixel_count"):
        cdl.add(name, f"{ctype} {name}", {"_FillValue": "-1", "units": quote("count")})
    elif name.endswith(stat):
        cdl.add(name, f"{ctype} {name}", {"_FillValue": "-999.f", "units": units, "long_name": quote(name)})
    elif name == "percent_uncorrectable_GRB_errors":
        cdl.add(name, f"{ctype} {name}", {"_FillValue": "-999.f", "units": quote("percent")})
    else:
        raise KeyError(f"no block for L2 variable {name!r}")


_PER_BAND = ("CMI", "DQF", "band_id", "band_wavelength")
_ONE_BAND = ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2", "esun", "kappa0", "outlier_pixel_count")


def mcmip_cdl(bands: Iterable[int]) -> Cdl:
    """A multi-band CMIP header: ``CMI_Cnn``/``DQF_Cnn``/``band_id_Cnn``/``band_wavelength_Cnn`` per band."""
    bands = sorted(set(int(b) for b in bands))
    base = l2_cdl(13)
    cdl = Cdl(name=base.name, dims=dict(base.dims), globals=dict(base.globals))
    for name, lines in base.variables.items():
        if name not in _PER_BAND + _ONE_BAND and not name.endswith(("_brightness_temperature", "_reflectance_factor")):
            cdl.variables[name] = list(lines)
    for b in bands:
        one = l2_cdl(b)
        for var in _PER_BAND:
            cdl.copy_var(one, var, f"{var}_C{b:02d}")
        cdl.set_attr(f"CMI_C{b:02d}", "ancillary_variables", quote(f"DQF_C{b:02d}"))
        for var in ("CMI", "DQF"):
            cdl.set_attr(f"{var}_C{b:02d}", "coordinates", quote(f"band_id_C{b:02d} band_wavelength_C{b:02d} t y x"))
    cdl.globals["title"] = quote("ABI L2 Cloud and Moisture Imagery")
    cdl.globals["summary"] = quote(
        "Multiband Cloud and Moisture Imagery Products are digital maps of clouds, moisture, and atmospheric "
        "windows at visible, near-IR, and IR bands."
    )
    return cdl


# --------------------------------------------------------------------------------------------------
# Files


def moving_field(shape: tuple[int, int], minutes: float, band: int = 13, velocity=(0.8, 0.3)) -> np.ndarray:
    """A smooth pattern advected by ``velocity`` (pixels per minute, x and y): K for emissive bands
    (about 205-300 K), reflectance factor (0.05-0.85) for reflective ones."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    x, y = xx - velocity[0] * minutes, yy - velocity[1] * minutes
    pattern = 0.5 + 0.3 * np.sin(2 * np.pi * x / 37.0) * np.cos(2 * np.pi * y / 23.0)
    pattern += 0.2 * np.sin(2 * np.pi * (x + y) / 53.0)
    pattern = np.clip(pattern, 0.0, 1.0)
    out = 300.0 - 95.0 * pattern if band >= 7 else 0.05 + 0.8 * pattern
    return out.astype(np.float32)


def grid(sector: str, shape: tuple[int, int], step: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre x and y (rad) of a ``shape`` grid over the sector (or, with ``step``, at that step centred
    on the sector), as (x, y) float64; y decreases down the image."""
    x0, x1, y0, y1 = SECTOR_EDGES[sector]
    ny, nx = shape
    if step is None:
        sx, sy = (x1 - x0) / nx, (y1 - y0) / ny
        return x0 + sx * (np.arange(nx) + 0.5), y0 + sy * (np.arange(ny) + 0.5)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx + step * (np.arange(nx) - (nx - 1) / 2), cy - step * (np.arange(ny) - (ny - 1) / 2)


def _abi_time(when: datetime) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 100_000}Z"


def _j2000(when: datetime) -> float:
    return (when - J2000).total_seconds()


def _split_product(product: str) -> tuple[str, str, str]:
    if product not in PRODUCTS:
        raise ValueError(f"product must be one of {', '.join(PRODUCTS)}, not {product!r}")
    level, rest = product.split("-")
    return level, rest[:-1], rest[-1]  # "L2", "MCMIP", "C"


def abi_name(product: str, band: int | None, start: datetime, satellite: str = "G16", created=None) -> str:
    """The OR_ABI file name of a scan starting at ``start`` (end and creation from the sector's timing)."""
    level, kind, sector = _split_product(product)
    end = start + timedelta(seconds=SCAN_SECONDS[sector])
    created = created or end + timedelta(seconds=CREATE_DELAY_S[sector])
    return format_goes_name(satellite, kind, sector, None if kind == "MCMIP" else band, start, end, created, level)


def make_abi_file(
    path_or_dir: str | os.PathLike[str],
    product: str = "L2-CMIPC",
    band: int = 13,
    start: datetime | None = None,
    shape: tuple[int, int] = (120, 200),
    field: np.ndarray | Mapping[int, np.ndarray] | None = None,
    satellite: str = "G16",
    lon_0: float | None = None,
    *,
    bands: Iterable[int] = range(1, 17),
    dqf: np.ndarray | Mapping[int, np.ndarray] | None = None,
    step: float | None = None,
    created: datetime | None = None,
    drop: Iterable[str] = (),
    attrs: Mapping[str, Mapping[str, Any]] | None = None,
    edit: Callable[[Cdl], None] | None = None,
) -> Path:
    """Write one ABI file of NOAA's structure and return its path (a directory gets the real OR_ABI name).

    ``field``: physical values (K for bands 7-16, reflectance factor for 1-6; NaN = no value), default
    :func:`moving_field` at minute 0; for MCMIP a mapping band -> field (missing bands get the default).
    ``bands``: the bands an MCMIP file holds. ``dqf``: flags (default 0, 3 where the field is NaN).
    ``step``: pixel size in rad (default: the grid spans the whole sector). ``created``: the ``_c`` time.
    ``drop``: variables left out (e.g. ``goes_imager_projection``); ``attrs``: {variable: {attr: value}}
    set after filling (e.g. ``{"t_star_look": {"units": "seconds since garbage"}}``); ``edit``: a last
    change to the header before ncgen.
    """
    level, kind, sector = _split_product(product)
    start = start or datetime(2024, 7, 1, 18, 1, 17, 100_000, tzinfo=timezone.utc)
    start = start.replace(tzinfo=timezone.utc) if start.tzinfo is None else start.astimezone(timezone.utc)
    end = start + timedelta(seconds=SCAN_SECONDS[sector])
    created = created or end + timedelta(seconds=CREATE_DELAY_S[sector])
    name = abi_name(product, band, start, satellite, created)
    path = Path(path_or_dir)
    if path.is_dir():
        path = path / name
    lon_0 = NOMINAL_LON[satellite] if lon_0 is None else float(lon_0)
    bands = sorted(set(int(b) for b in bands)) if kind == "MCMIP" else [int(band)]

    cdl = mcmip_cdl(bands) if kind == "MCMIP" else (l1b_cdl(band) if level == "L1b" else l2_cdl(band))
    cdl.name = name.removesuffix(".nc")
    ny, nx = shape
    cdl.dims.update(y=ny, x=nx)
    xs, ys = grid(sector, shape, step)
    for axis, values in (("x", xs), ("y", ys)):
        scale = float(np.float32(values[1] - values[0])) if len(values) > 1 else 5.6e-05
        cdl.set_attr(axis, "scale_factor", f"{scale!r}f")
        cdl.set_attr(axis, "add_offset", f"{float(np.float32(values[0]))!r}f")
    for var in list(cdl.variables):
        if var in drop:
            del cdl.variables[var]
    km = abs(float(xs[1] - xs[0])) * 35786.023 if nx > 1 else 2.0
    cdl.globals.update(
        dataset_name=quote(name),
        time_coverage_start=quote(_abi_time(start)),
        time_coverage_end=quote(_abi_time(end)),
        date_created=quote(_abi_time(created)),
        platform_ID=quote(satellite),
        orbital_slot=quote(ORBITAL_SLOT[satellite]),
        scene_id=quote(SCENE_ID[sector]),
        spatial_resolution=quote(f"{km:.0f}km at nadir"),
        id=quote(str(uuid.uuid5(uuid.NAMESPACE_URL, f"goesvfi-lab-fixture:{name}"))),
    )
    if edit is not None:
        edit(cdl)
    _ncgen(cdl, path)
    fields = _fields(field, bands, shape, kind)
    with NETCDF_LOCK:
        _fill(path, cdl, level, kind, bands, fields, dqf, xs, ys, start, end, lon_0, sector)
        if attrs:
            import netCDF4

            with netCDF4.Dataset(path, "a") as nc:
                for var, values in attrs.items():
                    nc[var].setncatts(dict(values))
    return path


def _ncgen(cdl: Cdl, path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        header = Path(tmp) / "header.cdl"
        header.write_text(cdl.render())
        out = Path(tmp) / "out.nc"
        done = subprocess.run([NCGEN, "-4", "-o", str(out), str(header)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ncgen failed on the {cdl.name} header: {done.stderr.strip()}")
        shutil.move(str(out), path)


def _fields(field, bands: list[int], shape, kind: str) -> dict[int, np.ndarray]:
    given = field if isinstance(field, Mapping) else ({bands[0]: field} if field is not None else {})
    out = {}
    for b in bands:
        values = given.get(b)
        values = moving_field(shape, 0.0, b) if values is None else np.asarray(values, dtype=np.float64)
        if values.shape != tuple(shape):
            raise ValueError(f"field of band {b} has shape {values.shape}, the file {tuple(shape)}")
        out[b] = values
    return out


def _counts(values: np.ndarray, scale: float, offset: float, fill: int, top: int) -> np.ndarray:
    """Physical values -> raw unsigned counts as stored int16 (NaN -> ``fill``)."""
    with np.errstate(invalid="ignore"):
        counts = np.clip(np.rint((values - offset) / scale), 0, top)
    counts[~np.isfinite(values)] = fill
    return counts.astype(np.uint16).view(np.int16)


def _fill(path, cdl, level, kind, bands, fields, dqf, xs, ys, start, end, lon_0, sector) -> None:
    import netCDF4

    with netCDF4.Dataset(path, "a") as nc:
        nc.set_auto_maskandscale(False)
        for axis, values in (("x", xs), ("y", ys)):
            nc[axis][:] = np.arange(len(values), dtype=np.int16)
        mid = start + (end - start) / 2
        nc["t"].assignValue(_j2000(mid))
        nc["time_bounds"][:] = [_j2000(start), _j2000(end)]
        for name, var in nc.variables.items():  # every other "seconds since" variable (t_star_look)
            units = getattr(var, "units", "")
            if units.startswith("seconds since") and name not in ("t", "time_bounds"):
                var[:] = np.linspace(_j2000(start), _j2000(end), var.size) if var.ndim else _j2000(mid)
        x0, x1, y0, y1 = SECTOR_EDGES[sector]
        half_x, half_y = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0, (ys[1] - ys[0]) / 2 if len(ys) > 1 else 0
        for name, value in (
            ("x_image", (xs[0] + xs[-1]) / 2),
            ("y_image", (ys[0] + ys[-1]) / 2),
            ("x_image_bounds", [xs[0] - half_x, xs[-1] + half_x]),
            ("y_image_bounds", [ys[0] - half_y, ys[-1] + half_y]),
            ("nominal_satellite_subpoint_lat", 0.0),
            ("nominal_satellite_subpoint_lon", lon_0),
            ("nominal_satellite_height", 35786.023),
            ("earth_sun_distance_anomaly_in_AU", 0.0167),
            ("percent_uncorrectable_L0_errors", 0.0),
        ):
            if name in nc.variables:
                nc[name][...] = np.asarray(value, dtype=np.float32)
        if "goes_imager_projection" in nc.variables:
            nc["goes_imager_projection"].setncattr("longitude_of_projection_origin", lon_0)
            nc["goes_imager_projection"].assignValue(-2147483647)
        if "geospatial_lat_lon_extent" in nc.variables:
            ext = nc["geospatial_lat_lon_extent"]
            ext.setncatts({"geospatial_lon_center": np.float32(lon_0), "geospatial_lon_nadir": np.float32(lon_0)})
        for b in bands:
            suffix = f"_C{b:02d}" if kind == "MCMIP" else ""
            flags = dqf.get(b) if isinstance(dqf, Mapping) else dqf
            _fill_band(nc, level, b, suffix, fields[b], flags)
        for name in ("valid_pixel_count", "total_number_of_points"):
            if name in nc.variables:
                nc[name].assignValue(int(np.isfinite(fields[bands[0]]).sum()))


def _fill_band(nc, level: str, band: int, suffix: str, values: np.ndarray, flags: np.ndarray | None) -> None:
    data = "Rad" if level == "L1b" else f"CMI{suffix}"
    if level == "L1b":
        scale, offset = _l1b_packing(band)
        fill = 2 ** L1B_BITS[band] - 1
        if band >= 7:
            physical = bt_to_radiance(values, *planck_constants(band))
        else:
            physical = values / KAPPA0.get(band, 0.002)
        nc[data][:] = _counts(physical, scale, offset, fill, fill - 1)
    else:
        scale, offset = CMI_EMISSIVE_PACKING if band >= 7 else CMI_REFLECTIVE_PACKING
        nc[data][:] = _counts(values, scale, offset, 0xFFFF, 4095)
    if flags is None:
        flags = np.where(np.isfinite(values), 0, 3)
    nc[f"DQF{suffix}"][:] = np.asarray(flags).astype(np.uint8).view(np.int8)
    for var, value in ((f"band_id{suffix}", band), (f"band_wavelength{suffix}", BAND_WAVELENGTH[band])):
        if var in nc.variables:
            nc[var][:] = [value]
    if not suffix:  # calibration scalars of one-band files: the other kind stays at its fill (-999), as NOAA's
        if band >= 7:
            for name, value in zip(("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2"), planck_constants(band)):
                nc[name].assignValue(np.float32(value))
        else:
            nc["kappa0"].assignValue(np.float32(KAPPA0.get(band, 0.002)))
            nc["esun"].assignValue(np.float32(ESUN.get(band, 1000.0)))


def make_abi_sequence(
    directory: str | os.PathLike[str],
    n: int = 4,
    cadence: timedelta | None = None,
    product: str = "L2-CMIPC",
    band: int = 13,
    start: datetime | None = None,
    shape: tuple[int, int] = (120, 200),
    velocity: tuple[float, float] = (0.8, 0.3),
    **kwargs: Any,
) -> list[Path]:
    """``n`` consecutive scans (the sector's cadence by default) of a field moving at ``velocity`` px/min."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sector = _split_product(product)[2]
    cadence = cadence or CADENCE[sector]
    start = start or datetime(2024, 7, 1, 18, 1, 17, 100_000, tzinfo=timezone.utc)
    kind = _split_product(product)[1]
    paths = []
    for k in range(n):
        minutes = k * cadence.total_seconds() / 60.0
        if kind == "MCMIP":
            wanted = kwargs.get("bands", range(1, 17))
            field = {b: moving_field(shape, minutes, b, velocity) for b in wanted}
        else:
            field = moving_field(shape, minutes, band, velocity)
        paths.append(make_abi_file(directory, product, band, start + k * cadence, shape, field, **kwargs))
    return paths
