"""The sample generator's weather: synthetic GOES ABI scenes that behave like the real thing, with ground
truth at any time (:mod:`goesvfi_lab.sample` writes them as ABI files).

The field is analytic in time, so interpolated frames can be scored against the exact answer:

    BT(p, t) = cloud_bt(surface(p), depth(texture(p - D(p, t)) + growth(p, t)))

- ``p`` are kilometres on the ABI fixed-grid plane (scan angle x satellite height); ``D(p, t) =
  u(p) t + a(p) t^2 / 2`` with ``u`` a mean westerly plus a divergence-free perturbation and ``a`` a
  slow change of it (closed form, separable sinusoids), so clouds drift and shear smoothly;
- ``texture`` is a sum of octaves (wavelengths 4000 km down to ~2.5 pixels), each a 256^2
  band-limited periodic tile from spectral synthesis, rotated (the large scales stretched west-east)
  and sampled bilinearly: memory is bounded whatever the frame size, and one seed gives the same
  weather on the plane at any size;
- a latitude-dependent bias puts cloud bands in the ITCZ and storm tracks, clear skies in the subtropics;
- ``growth`` is a slowly oscillating large-scale pattern (cells deepen and decay in place);
- ``surface`` is ~303 K at the equator cooling with latitude, plus a static terrain pattern;
  outside the Earth's disk (full disk, or windows reaching past the limb) the field is NaN.

Sector F shows the whole disk at any size. C and M1/M2 are windows at the IR bands' native 2 km
sampling, placed inside CONUS where the seed's weather is (as forecasters place mesoscale sectors).
Frames are computed in row blocks, so a 5424^2 full-disk scan is written to NetCDF without ever
holding more than a block of temporaries; see :func:`goesvfi_lab.sample.write_sample`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import numpy as np

# --- ABI fixed grid (GOES-R PUG) -----------------------------------------------------------------
PERSPECTIVE_HEIGHT_M = 35786023.0
SEMI_MAJOR_M = 6378137.0
SEMI_MINOR_M = 6356752.31414
NATIVE_STEP_RAD = 56e-6  # 2 km at nadir: the IR bands
FULL_DISK_PIXELS = 5424
_H_KM = (PERSPECTIVE_HEIGHT_M + SEMI_MAJOR_M) / 1000.0  # from the Earth's centre
_PLANE_KM = PERSPECTIVE_HEIGHT_M / 1000.0  # scan angle (rad) -> km on the plane at nadir

SUB_LONGITUDE = {"G16": -75.0, "G17": -137.2, "G18": -137.0, "G19": -75.2}
ORBITAL_SLOT = {"G16": "GOES-East", "G17": "GOES-West", "G18": "GOES-West", "G19": "GOES-East"}
CADENCE = {
    "F": timedelta(minutes=10),
    "C": timedelta(minutes=5),
    "M1": timedelta(minutes=1),
    "M2": timedelta(minutes=1),
}
SCENE_ID = {"F": "Full Disk", "C": "CONUS", "M1": "Mesoscale", "M2": "Mesoscale"}
# window centres (scan angle rad) of the sectors that are not the full disk; mesoscale ones are movable
# Windows are placed on weather, as forecasters place mesoscale sectors: inside these boxes (x0, x1,
# y0, y1 in rad; CONUS for C, its western / eastern half for M1 / M2) the generator picks the spot
# whose cloud cover at minute 0 is closest to _TARGET_COVER.
_WINDOW_BOX = {
    "C": (-0.1013, 0.0386, 0.0443, 0.1282),
    "M1": (-0.1013, -0.0314, 0.0443, 0.1282),
    "M2": (-0.0314, 0.0386, 0.0443, 0.1282),
}
_TARGET_COVER = 0.45
# seconds after the minute a mode-6 scan starts, how long it lasts, and when the file is created
SCAN_TIMING = {"F": (20.6, 579.7, 38.0), "C": (77.1, 157.3, 25.4), "M1": (24.6, 28.0, 6.3), "M2": (54.6, 28.0, 6.3)}

# ABI band central wavelengths (um); bands 1-6 are reflective, 7-16 emissive
BAND_WAVELENGTH = {
    1: 0.47,
    2: 0.64,
    3: 0.865,
    4: 1.378,
    5: 1.61,
    6: 2.25,
    7: 3.90,
    8: 6.19,
    9: 6.93,
    10: 7.34,
    11: 8.44,
    12: 9.61,
    13: 10.33,
    14: 11.21,
    15: 12.29,
    16: 13.28,
}
# GOES-16 band 13 Planck constants as its L1b files carry them; other emissive bands use the
# monochromatic values at the central wavenumber (bc1 = 0, bc2 = 1)
_PLANCK_G16_C13 = (10803.3, 1392.74, 0.07550, 0.99975)
_C1 = 1.191042e-5  # mW m-2 sr-1 cm^4 (first radiation constant for radiance per wavenumber)
_C2 = 1.4387752  # K cm

J2000 = datetime(2000, 1, 1, 12, tzinfo=timezone.utc)

# --- texture / weather parameters -----------------------------------------------------------------
_TILE = 256  # periodic tile side; content at ~32 tile pixels per wavelength
_TILE_CYCLES = 8.0
_LONGEST_KM = 4000.0
_SHORTEST_PX = 2.5  # finer octaves would alias
_ROUGHNESS = 0.5  # octave amplitude ~ wavelength^0.5: large systems dominate, detail stays visible
_ROWS_PER_BLOCK = 128


def planck_constants(band: int) -> tuple[float, float, float, float]:
    """(fk1, fk2, bc1, bc2) for an emissive band, rounded to float32 as files store them."""
    if band == 13:
        consts = _PLANCK_G16_C13
    else:
        nu = 1e4 / BAND_WAVELENGTH[band]  # cm-1
        consts = (_C1 * nu**3, _C2 * nu, 0.0, 1.0)
    return tuple(float(np.float32(c)) for c in consts)  # type: ignore[return-value]


def is_emissive(band: int) -> bool:
    return int(band) >= 7


def _default_start(sector: str) -> datetime:
    offset = SCAN_TIMING[sector][0]
    return datetime(2024, 5, 16, 18, 0, tzinfo=timezone.utc) + timedelta(seconds=offset)


class _Waves:
    """Sum of plane waves A cos(kx X + ky Y + phase), evaluated separably on a (Y, X) grid."""

    def __init__(self, rng: np.random.Generator, n: int, wavelengths_km: tuple[float, float]) -> None:
        lam = np.exp(rng.uniform(np.log(wavelengths_km[0]), np.log(wavelengths_km[1]), n))
        angle = rng.uniform(0, 2 * np.pi, n)
        self.kx = 2 * np.pi / lam * np.cos(angle)
        self.ky = 2 * np.pi / lam * np.sin(angle)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self.amp = rng.normal(0, 1, n) / math.sqrt(n)

    def terms(self, xs: np.ndarray, ys: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(index, cos(kx X + ky Y + phase)) for each wave as a (len(ys), len(xs)) array."""
        for j in range(len(self.kx)):
            ax = self.kx[j] * xs
            by = self.ky[j] * ys + self.phase[j]
            yield j, np.cos(by)[:, None] * np.cos(ax)[None, :] - np.sin(by)[:, None] * np.sin(ax)[None, :]

    def curl(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) = (d psi/dY, -d psi/dX) of the stream function psi = sum A sin(...): divergence free."""
        u = np.zeros((len(ys), len(xs)))
        v = np.zeros_like(u)
        for j, c in self.terms(xs, ys):
            u += self.amp[j] * self.ky[j] * c
            v -= self.amp[j] * self.kx[j] * c
        return u, v


def _octave_tile(rng: np.random.Generator) -> np.ndarray:
    """A periodic 256^2 noise tile band-limited around 8 cycles per tile (log-Gaussian, ~1 octave wide)."""
    f = np.fft.fftfreq(_TILE) * _TILE
    radius = np.hypot(f[:, None], f[None, :])
    radius[0, 0] = 1.0
    weight = np.exp(-0.5 * (np.log(radius / _TILE_CYCLES) / 0.35) ** 2)
    weight[0, 0] = 0.0
    tile = np.fft.ifft2(np.fft.fft2(rng.standard_normal((_TILE, _TILE))) * weight).real
    tile /= tile.std()
    return tile.astype(np.float32).ravel()


class Scene:
    """A deterministic GOES-like band-13 scene; ``field(minutes)`` is the exact field at any time.

    ``size`` is (rows, columns). Sector F spans the whole disk at any size; C and M1/M2 are windows at
    the IR bands' native 2 km sampling (so motion per scan is realistic: a few pixels per CONUS scan).
    ``wind_scale`` multiplies all winds. Minute 0 is ``start``, the first scan's start time.
    """

    def __init__(
        self,
        seed: int = 0,
        size: tuple[int, int] = (256, 256),
        sector: str = "C",
        band: int = 13,
        satellite: str = "G16",
        start: datetime | None = None,
        wind_scale: float = 1.0,
    ) -> None:
        if sector not in CADENCE:
            raise ValueError(f"sector must be one of {', '.join(CADENCE)}, not {sector!r}")
        if satellite not in SUB_LONGITUDE:
            raise ValueError(f"satellite must be one of {', '.join(SUB_LONGITUDE)}, not {satellite!r}")
        if int(band) not in BAND_WAVELENGTH:
            raise ValueError(f"band must be 1..16, not {band!r}")
        rows, cols = (int(s) for s in size)
        if not (1 <= rows <= 32767 and 1 <= cols <= 32767):
            raise ValueError(f"size must be 1..32767 pixels per side, not {size!r}")
        self.seed, self.size, self.sector, self.band, self.satellite = (
            int(seed),
            (rows, cols),
            sector,
            int(band),
            satellite,
        )
        start = start or _default_start(sector)
        self.start = start.replace(tzinfo=timezone.utc) if start.tzinfo is None else start.astimezone(timezone.utc)
        self.wind_scale = float(wind_scale)

        # scan angles: y decreases down the image (north up), like ABI files
        if sector == "F":
            step = NATIVE_STEP_RAD * FULL_DISK_PIXELS / min(rows, cols)  # the whole disk fits
            cx, cy = 0.0, 0.0
        else:
            step = NATIVE_STEP_RAD
        self.step = step
        self.pixel_km = step * _PLANE_KM
        self._columns = (np.arange(cols) - (cols - 1) / 2) * step
        self._rows = -(np.arange(rows) - (rows - 1) / 2) * step  # y decreases down the image

        # the weather depends on the seed only (not on size or sector), so crops agree with each other
        rng = np.random.default_rng([self.seed, 1])
        self._wind = _Waves(rng, 6, (2500.0, 8000.0))  # stream function of the perturbation
        self._accel = _Waves(rng, 4, (2500.0, 8000.0))  # how the perturbation drifts over hours
        self._growth = _Waves(rng, 4, (400.0, 1500.0))
        self._growth_omega = 2 * np.pi / rng.uniform(120.0, 300.0, 4)  # rad/min: periods of 2-5 h
        self._growth_phase = rng.uniform(0, 2 * np.pi, 4)
        self._terrain = [
            self._make_octave(np.random.default_rng([self.seed, 3, k]), lam, 1.0)
            for k, lam in enumerate((1600.0, 500.0))
        ]
        self._mean_wind = np.array([rng.uniform(0.5, 1.1), rng.uniform(-0.25, 0.25)])  # km/min (8-18 m/s)
        # perturbation wind ~ 0.6 km/min (10 m/s) rms; acceleration changes it by ~0.4 km/min per 3 h
        self._wind_gain = 0.6 / np.sqrt(np.mean(self._wind.kx**2 + self._wind.ky**2) / len(self._wind.kx))
        self._accel_gain = 0.4 / 180.0 / np.sqrt(np.mean(self._accel.kx**2 + self._accel.ky**2) / len(self._accel.kx))
        self._octaves = []
        n_octaves = 0
        while _LONGEST_KM / 2**n_octaves >= _SHORTEST_PX * self.pixel_km and n_octaves < 14:
            n_octaves += 1
        for k in range(max(n_octaves, 1)):
            orng = np.random.default_rng([self.seed, 2, k])
            # the large scales are elongated roughly west-east, like frontal bands and the ITCZ
            stretch = 2.5 if k < 3 else 1.0
            octave = self._make_octave(orng, _LONGEST_KM / 2**k, stretch)
            octave["coarse"] = k < 3
            self._octaves.append(octave)
        # normalise the coarse and fine sums to unit variance as the full spectrum would have them
        self._coarse_norm = 1 / math.sqrt(sum(o["amp"] ** 2 for o in self._octaves if o["coarse"]) or 1)
        self._fine_norm = 1 / math.sqrt(sum(o["amp"] ** 2 for o in self._octaves if not o["coarse"]) or 1)
        self._n_octaves = n_octaves
        cx, cy = (0.0, 0.0) if sector == "F" else self._weather_window()
        self.x = cx + self._columns
        self.y = cy + self._rows

    @staticmethod
    def _make_octave(rng: np.random.Generator, wavelength: float, stretch: float) -> dict:
        """A tile and the affine map plane km -> tile pixels; ``stretch`` elongates features along ``angle``."""
        angle = rng.uniform(-0.5, 0.5) if stretch != 1.0 else rng.uniform(0, 2 * np.pi)
        scale = _TILE / _TILE_CYCLES / wavelength  # tile pixels per km
        c, s = math.cos(angle), math.sin(angle)
        # rows: tile u along the feature axis (compressed by stretch), tile w across it
        matrix = np.array([[c / stretch, s / stretch], [-s, c]]) * scale
        return {
            "tile": _octave_tile(rng),
            "matrix": matrix,
            "offset": rng.uniform(0, _TILE, 2),
            "amp": (wavelength / _LONGEST_KM) ** _ROUGHNESS,
        }

    def __repr__(self) -> str:
        return (
            f"Scene(seed={self.seed}, size={self.size}, sector={self.sector!r}, band={self.band}, "
            f"satellite={self.satellite!r}, start={self.start.isoformat()})"
        )

    # --- time --------------------------------------------------------------------------------
    @property
    def cadence(self) -> timedelta:
        return CADENCE[self.sector]

    def scan_start(self, k: int) -> datetime:
        """Start time of scan k (scan 0 is ``start``)."""
        return self.start + k * self.cadence

    def minutes(self, when: datetime) -> float:
        """Minutes since the scene's start for a datetime (naive = UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return (when - self.start).total_seconds() / 60.0

    # --- fields ------------------------------------------------------------------------------
    def field(self, minutes: float) -> np.ndarray:
        """The exact field (float32, size) at ``minutes`` after ``start``: K, or reflectance for bands 1-6."""
        out = np.empty(self.size, dtype=np.float32)
        for r0, block in self.blocks(minutes):
            out[r0 : r0 + block.shape[0]] = block
        return out

    def blocks(self, minutes: float, rows: int = _ROWS_PER_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float32 block) pieces of ``field(minutes)``: bounded memory for huge frames."""
        for r0 in range(0, self.size[0], rows):
            yield r0, self._block(float(minutes), self.x, self.y[r0 : r0 + rows])

    def earth_mask(self) -> np.ndarray:
        """True where the line of sight hits the Earth (False in space beyond the limb)."""
        return np.isfinite(self._geometry(self.x, self.y)[0])

    def _weather_window(self) -> tuple[float, float]:
        """Centre (rad) of the window inside its sector box whose cloud cover is closest to the target."""
        x0, x1, y0, y1 = _WINDOW_BOX[self.sector]
        half_w = (self._columns[-1] - self._columns[0]) / 2
        half_h = (self._rows[0] - self._rows[-1]) / 2
        lo_x, hi_x = x0 + half_w, x1 - half_w
        lo_y, hi_y = y0 + half_h, y1 - half_h
        if lo_x > hi_x:
            lo_x = hi_x = (x0 + x1) / 2
        if lo_y > hi_y:
            lo_y = hi_y = (y0 + y1) / 2
        # a coarse look at the box (~100 km spacing) is enough to tell weather from clear sky
        xs = np.linspace(x0, x1, 72)
        ys = np.linspace(y1, y0, 48)
        cloudy = self._block(0.0, xs, ys) < 255.0 if is_emissive(self.band) else self._block(0.0, xs, ys) > 0.3
        best, best_score = ((lo_x + hi_x) / 2, (lo_y + hi_y) / 2), np.inf
        for cy in np.linspace(hi_y, lo_y, 9):
            for cx in np.linspace(lo_x, hi_x, 13):
                inside = cloudy[np.abs(ys - cy) <= max(half_h, 0.002)][:, np.abs(xs - cx) <= max(half_w, 0.002)]
                score = abs(inside.mean() - _TARGET_COVER) if inside.size else np.inf
                if score < best_score - 1e-9:
                    best, best_score = (float(cx), float(cy)), score
        return best

    @staticmethod
    def _geometry(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(latitude in radians, cosine of the satellite zenith angle) at scan angles; NaN off the disk."""
        x = xs[None, :]
        y = ys[:, None]
        req, rpol, h = SEMI_MAJOR_M / 1000, SEMI_MINOR_M / 1000, _H_KM
        cosx, sinx, cosy, siny = np.cos(x), np.sin(x), np.cos(y), np.sin(y)
        a = sinx**2 + cosx**2 * (cosy**2 + (req / rpol) ** 2 * siny**2)
        b = -2 * h * cosx * cosy
        c = h**2 - req**2
        disc = b**2 - 4 * a * c
        with np.errstate(invalid="ignore"):
            rs = (-b - np.sqrt(disc)) / (2 * a)
        rs = np.where(disc >= 0, rs, np.nan)
        sx, sy, sz = rs * cosx * cosy, -rs * sinx, rs * cosx * siny
        lat = np.arctan((req / rpol) ** 2 * sz / np.hypot(h - sx, sy))
        # satellite zenith angle: between the local vertical (Earth-centred surface point P = s - (h, 0, 0))
        # and the view back to the satellite (-s)
        norm = np.sqrt((sx - h) ** 2 + sy**2 + sz**2)
        cos_zenith = ((h - sx) * sx - sy**2 - sz**2) / (norm * rs)
        return lat, np.clip(cos_zenith, 0.0, 1.0)

    def _block(self, t: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The field at scan angles x (columns) and y (rows), time t minutes."""
        xs, ys = x * _PLANE_KM, y * _PLANE_KM  # km on the fixed-grid plane
        # displacement D = u t + a t^2 / 2 (km), u = mean + curl(psi)
        u, v = self._wind.curl(xs, ys)
        au, av = self._accel.curl(xs, ys)
        s = self.wind_scale
        dx = s * ((self._mean_wind[0] + self._wind_gain * u) * t + 0.5 * self._accel_gain * au * t * t)
        dy = s * ((self._mean_wind[1] + self._wind_gain * v) * t + 0.5 * self._accel_gain * av * t * t)
        del u, v, au, av
        # float32 from here: 0.5 m resolution on a full disk, half the memory traffic of float64
        px = (xs[None, :] - dx).astype(np.float32)
        py = (ys[:, None] - dy).astype(np.float32)
        del dx, dy
        coarse = np.zeros(px.shape, dtype=np.float32)
        fine = np.zeros(px.shape, dtype=np.float32)
        for octave in self._octaves:
            sample = self._sample(octave, px, py)
            (coarse if octave["coarse"] else fine).__iadd__(np.float32(octave["amp"]) * sample)
        coarse *= np.float32(self._coarse_norm)
        fine *= np.float32(self._fine_norm)
        # intermittency: small-scale structure is strong inside cloud systems, weak in clear air
        envelope = 0.5 * (1.0 + np.tanh(1.5 * coarse))
        growth = 0.35 * self._growing(xs, ys, t).astype(np.float32)
        cloud = 0.85 * coarse + 0.6 * fine * envelope + growth
        width = np.float32(0.25)  # of the softplus that turns "cloudiness" into a smooth optical depth

        lat, cos_zenith = self._geometry(x, y)
        cloud += self._climate(lat).astype(np.float32)
        depth = width * np.logaddexp(np.float32(0.0), (cloud - np.float32(0.35)) / width)
        px0 = np.broadcast_to(xs.astype(np.float32)[None, :], px.shape)
        py0 = np.broadcast_to(ys.astype(np.float32)[:, None], px.shape)
        terrain = 0.8 * self._sample(self._terrain[0], px0, py0) + 0.6 * self._sample(self._terrain[1], px0, py0)
        if is_emissive(self.band):
            surface = 303.0 - 26.0 * np.sin(lat) ** 2 + 2.5 * terrain
            surface -= np.minimum(8.0 * (1.0 / np.maximum(cos_zenith, 0.05) - 1.0), 15.0) * 0.4  # limb cooling
            cold = 192.0
            out = cold + (surface - cold) * np.exp(-depth / 1.05)
        else:
            surface = 0.06 + 0.025 * terrain
            out = surface + (0.95 - surface) * (1.0 - np.exp(-depth / 0.6))
        return np.asarray(out, dtype=np.float32)

    @staticmethod
    def _climate(lat: np.ndarray) -> np.ndarray:
        """Cloudiness bias by latitude: the ITCZ near 7 N, clear subtropics, mid-latitude storm tracks."""
        deg = np.degrees(np.nan_to_num(lat))
        return (
            0.7 * np.exp(-(((deg - 7.0) / 7.0) ** 2))
            - 0.6 * np.exp(-(((np.abs(deg) - 24.0) / 8.0) ** 2))
            + 0.4 * np.exp(-(((np.abs(deg) - 50.0) / 12.0) ** 2))
        )

    def _growing(self, xs: np.ndarray, ys: np.ndarray, t: float) -> np.ndarray:
        """Growth/decay pattern: standing waves whose sign flips over a few hours, fixed in space."""
        out = np.zeros((len(ys), len(xs)))
        gain = 2.0 / math.sqrt(len(self._growth_omega))  # rms ~ 1
        for j, c in self._growth.terms(xs, ys):
            out += gain * math.sin(self._growth_omega[j] * t + self._growth_phase[j]) * c
        return out

    @staticmethod
    def _sample(octave: dict, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Bilinear lookup of a periodic tile, mapped affinely onto plane coordinates (km)."""
        a, b, c, d = octave["matrix"].astype(np.float32).ravel()
        u = a * px + b * py + np.float32(octave["offset"][0])
        w = c * px + d * py + np.float32(octave["offset"][1])
        iu = np.floor(u)
        iw = np.floor(w)
        fu = u - iu
        fw = w - iw
        del u, w
        mask = _TILE - 1
        i0 = iu.astype(np.int32) & mask
        j0 = iw.astype(np.int32) & mask
        del iu, iw
        i1 = (i0 + 1) & mask
        j0 *= _TILE
        j1 = (j0 + _TILE) & (_TILE * _TILE - 1)
        tile = octave["tile"]
        top = tile[j0 + i0]
        top += (tile[j0 + i1] - top) * fu
        bottom = tile[j1 + i0]
        bottom += (tile[j1 + i1] - bottom) * fu
        top += (bottom - top) * fw
        return top


# --- files ------------------------------------------------------------------------------------------
# packing of the int16 (_Unsigned) counts as (scale_factor, add_offset); count 65535 is fill
