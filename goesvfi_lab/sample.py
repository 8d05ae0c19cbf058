"""``goesvfi-lab sample``: synthetic GOES ABI sequences written as real ABI files (NetCDF, or PNG renders).

The weather comes from :class:`goesvfi_lab.sample_scene.Scene` (analytic in time, so interpolated
frames can be scored against the exact answer); this module writes its scans with the structure of
NOAA's L2 CMIP and L1b Rad files (packed shorts, fixed-grid x/y, the projection variable, calibration
scalars, ABI file names). :func:`write_sample` is the entry point.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta

import numpy as np

from .sample_scene import (  # noqa: F401 (Scene and the constants are also this module's public names)
    BAND_WAVELENGTH,
    CADENCE,
    FULL_DISK_PIXELS,
    J2000,
    NATIVE_STEP_RAD,
    ORBITAL_SLOT,
    PERSPECTIVE_HEIGHT_M,
    SCAN_TIMING,
    SCENE_ID,
    SEMI_MAJOR_M,
    SEMI_MINOR_M,
    SUB_LONGITUDE,
    Scene,
    is_emissive,
    planck_constants,
)

_CMI_PACKING_IR = (0.004, 150.0)  # 150 .. 412 K in 0.004 K steps
_CMI_PACKING_VIS = (2e-5, 0.0)  # reflectance 0 .. 1.31
_FILL_COUNT = 65535


def _pack(values: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """Physical values -> int16 counts that mean unsigned 0..65534, fill 65535 (-1 as int16)."""
    with np.errstate(invalid="ignore"):
        counts = np.rint((values.astype(np.float64) - offset) / scale)
        counts = np.clip(counts, 0, _FILL_COUNT - 1)
    counts[~np.isfinite(values)] = _FILL_COUNT
    return counts.astype(np.uint16).view(np.int16)


def _abi_time(when: datetime) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 100_000}Z"


def _kappa0(band: int) -> float:
    """Radiance -> reflectance factor (pi d^2 / E_sun): a fixed plausible value per reflective band."""
    return float(np.float32({1: 0.0015, 2: 0.0019, 3: 0.0031, 4: 0.0085, 5: 0.0125, 6: 0.0378}[band]))


def _radiance_packing(band: int) -> tuple[float, float]:
    from .frames.netcdf import bt_to_radiance

    if not is_emissive(band):
        return (float(np.float32(2e-5 / _kappa0(band))), 0.0)
    top = float(bt_to_radiance(np.array(340.0), *planck_constants(band)))
    return (float(np.float32(top / 65000.0)), 0.0)


def _scan_times(scene: Scene, k: int) -> tuple[datetime, datetime, datetime]:
    _, duration, delay = SCAN_TIMING[scene.sector]
    start = scene.scan_start(k)
    end = start + timedelta(seconds=duration)
    return start, end, end + timedelta(seconds=delay)


def scan_name(scene: Scene, k: int, product: str = "CMIP", ext: str = ".nc", mode: int = 6) -> str:
    """The ABI file name of scan ``k``: ``OR_ABI-L2-CMIPC-M6C13_G16_s..._e..._c....nc``."""
    from .discover import format_goes_name

    start, end, created = _scan_times(scene, k)
    level = "L2" if product == "CMIP" else "L1b"
    return format_goes_name(
        scene.satellite, product, scene.sector, scene.band, start, end, created, level=level, mode=mode, ext=ext
    )


def _data_attrs(product: str, emissive: bool) -> dict:
    if product == "CMIP" and emissive:
        return {
            "long_name": "ABI L2+ Cloud and Moisture Imagery brightness temperature",
            "standard_name": "toa_brightness_temperature",
            "units": "K",
        }
    if product == "CMIP":
        return {
            "long_name": "ABI L2+ Cloud and Moisture Imagery reflectance factor",
            "standard_name": "toa_lambertian_equivalent_albedo_multiplied_by_cosine_solar_zenith_angle",
            "units": "1",
        }
    if emissive:
        return {
            "long_name": "ABI L1b Radiances",
            "standard_name": "toa_outgoing_radiance_per_unit_wavenumber",
            "units": "mW m-2 sr-1 (cm-1)-1",
        }
    return {
        "long_name": "ABI L1b Radiances",
        "standard_name": "toa_outgoing_radiance_per_unit_wavelength",
        "units": "W m-2 sr-1 um-1",
    }


def write_netcdf_scan(path: str, scene: Scene, k: int, product: str = "CMIP", mode: int = 6) -> str:
    """Write scan ``k`` of ``scene`` as an ABI-like L2 CMIP or L1b Rad NetCDF-4 file (atomically).

    Written with the netCDF4 library row block by row block: memory stays small for full disks.
    """
    import netCDF4

    from .frames.atomic import atomic_path
    from .frames.netcdf import bt_to_radiance, netcdf4_library

    if product not in ("CMIP", "Rad"):
        raise ValueError(f"product must be 'CMIP' or 'Rad', not {product!r}")
    rows, cols = scene.size
    band, emissive = scene.band, is_emissive(scene.band)
    start, end, created = _scan_times(scene, k)
    if product == "CMIP":
        name, (scale, offset) = "CMI", (_CMI_PACKING_IR if emissive else _CMI_PACKING_VIS)
    else:
        name, (scale, offset) = "Rad", _radiance_packing(band)
    scale, offset = float(np.float32(scale)), float(np.float32(offset))  # as the file stores them
    planck = planck_constants(band) if emissive else None
    with atomic_path(path) as tmp, netcdf4_library():  # netCDF-C/HDF5 are not thread-safe
        nc = netCDF4.Dataset(tmp, "w", format="NETCDF4")
        try:
            nc.createDimension("y", rows)
            nc.createDimension("x", cols)
            nc.createDimension("number_of_time_bounds", 2)
            nc.createDimension("band", 1)
            chunks = (min(rows, 226), min(cols, 226))
            var = nc.createVariable(
                name, "i2", ("y", "x"), zlib=True, complevel=1, shuffle=True, chunksizes=chunks, fill_value=np.int16(-1)
            )
            var.set_auto_maskandscale(False)
            var.setncatts(
                {
                    **_data_attrs(product, emissive),
                    "_Unsigned": "true",
                    "scale_factor": np.float32(scale),
                    "add_offset": np.float32(offset),
                    "grid_mapping": "goes_imager_projection",
                    "coordinates": "band_id band_wavelength t y x",
                    "cell_methods": "t: point area: point",
                    "ancillary_variables": "DQF",
                }
            )
            dqf = nc.createVariable(
                "DQF", "i1", ("y", "x"), zlib=True, complevel=1, chunksizes=chunks, fill_value=np.int8(-1)
            )
            dqf.set_auto_maskandscale(False)
            dqf.setncatts(
                {
                    "long_name": "data quality flags",
                    "_Unsigned": "true",
                    "units": "1",
                    "flag_values": np.array([0, 1, 2, 3], np.int8),
                    "flag_meanings": "good_pixel_qf conditionally_usable_pixel_qf out_of_range_pixel_qf "
                    "no_value_pixel_qf",
                    "grid_mapping": "goes_imager_projection",
                }
            )
            for r0, block in scene.blocks(scene.minutes(start)):
                if product == "Rad":
                    block = bt_to_radiance(block, *planck) if emissive else block / _kappa0(band)
                r1 = r0 + block.shape[0]
                var[r0:r1, :] = _pack(block, scale, offset)
                dqf[r0:r1, :] = np.where(np.isfinite(block), 0, -1).astype(np.int8)
            _write_coordinates(nc, scene, start, end)
            if product == "Rad":
                _write_calibration(nc, band, planck)
            nc.setncatts(_global_attrs(scene, os.path.basename(path), start, end, created, product, mode))
        finally:
            nc.close()
    return path


def _write_calibration(nc, band: int, planck: tuple[float, ...] | None) -> None:
    if planck is not None:
        for cname, value, units in zip(
            ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2"), planck, ("mW m-2 sr-1 (cm-1)-1", "K", "K", "1")
        ):
            v = nc.createVariable(cname, "f4")
            v.assignValue(np.float32(value))
            v.setncatts({"long_name": f"Planck constant {cname[7:]}", "units": units})
    else:
        v = nc.createVariable("kappa0", "f4")
        v.assignValue(np.float32(_kappa0(band)))
        v.setncatts({"long_name": "inverse of the incoming top of atmosphere radiance", "units": "(W m-2 um-1)-1"})


def _write_coordinates(nc, scene: Scene, start: datetime, end: datetime) -> None:
    rows, cols = scene.size
    for axis, values, n in (("x", scene.x, cols), ("y", scene.y, rows)):
        v = nc.createVariable(axis, "i2", (axis,))
        v.set_auto_maskandscale(False)
        step = scene.step if axis == "x" else -scene.step
        v.setncatts(
            {
                "scale_factor": np.float64(step),
                "add_offset": np.float64(values[0]),
                "units": "rad",
                "axis": axis.upper(),
                "long_name": f"GOES fixed grid projection {axis}-coordinate",
                "standard_name": f"projection_{axis}_coordinate",
            }
        )
        v[:] = np.arange(n, dtype=np.int16)
    mid = start + (end - start) / 2
    t = nc.createVariable("t", "f8")
    t.setncatts(
        {
            "long_name": "J2000 epoch mid-point between the start and end image scan in seconds",
            "standard_name": "time",
            "units": "seconds since 2000-01-01 12:00:00",
            "axis": "T",
            "bounds": "time_bounds",
        }
    )
    t.assignValue((mid - J2000).total_seconds())
    tb = nc.createVariable("time_bounds", "f8", ("number_of_time_bounds",))
    tb.setncatts(
        {
            "long_name": "Scan start and end times in seconds since epoch (2000-01-01 12:00:00)",
            "units": "seconds since 2000-01-01 12:00:00",
        }
    )
    tb[:] = [(start - J2000).total_seconds(), (end - J2000).total_seconds()]
    band_id = nc.createVariable("band_id", "i1", ("band",))
    band_id.setncatts({"long_name": "ABI band number", "standard_name": "sensor_band_identifier", "units": "1"})
    band_id[:] = [scene.band]
    wavelength = nc.createVariable("band_wavelength", "f4", ("band",))
    wavelength.setncatts(
        {
            "long_name": "ABI band central wavelength",
            "standard_name": "sensor_band_central_radiation_wavelength",
            "units": "um",
        }
    )
    wavelength[:] = [BAND_WAVELENGTH[scene.band]]
    proj = nc.createVariable("goes_imager_projection", "i4")
    proj.setncatts(
        {
            "long_name": "GOES-R ABI fixed grid projection",
            "grid_mapping_name": "geostationary",
            "perspective_point_height": PERSPECTIVE_HEIGHT_M,
            "semi_major_axis": SEMI_MAJOR_M,
            "semi_minor_axis": SEMI_MINOR_M,
            "inverse_flattening": 298.2572221,
            "latitude_of_projection_origin": 0.0,
            "longitude_of_projection_origin": SUB_LONGITUDE[scene.satellite],
            "sweep_angle_axis": "x",
        }
    )
    proj.assignValue(-2147483647)


def _global_attrs(
    scene: Scene, name: str, start: datetime, end: datetime, created: datetime, product: str, mode: int
) -> dict:
    level = "L2" if product == "CMIP" else "L1b"
    return {
        "naming_authority": "gov.nesdis.noaa",
        "Conventions": "CF-1.7",
        "Metadata_Conventions": "Unidata Dataset Discovery v1.0",
        "standard_name_vocabulary": "CF Standard Name Table (v35, 20 July 2016)",
        "institution": "goesvfi-lab (synthetic; modelled on DOC/NOAA/NESDIS GOES-R ABI products)",
        "project": "GOES",
        "production_site": "goesvfi-lab sample generator",
        "orbital_slot": ORBITAL_SLOT[scene.satellite],
        "platform_ID": scene.satellite,
        "instrument_type": "GOES R Series Advanced Baseline Imager (synthetic)",
        "scene_id": SCENE_ID[scene.sector],
        "spatial_resolution": f"{scene.pixel_km:.1f}km at nadir",
        "title": "ABI L2 Cloud and Moisture Imagery" if product == "CMIP" else "ABI L1b Radiances",
        "summary": "Synthetic ABI-like scan: multi-scale cloud texture advected by a smooth, slowly changing wind "
        "field; the field is analytic in time (goesvfi_lab.sample.Scene.field gives the truth).",
        "comment": f"NOT real observations. goesvfi_lab.sample seed={scene.seed} size={scene.size[0]}x{scene.size[1]} "
        f"wind_scale={scene.wind_scale:g}",
        "processing_level": f"National Aeronautics and Space Administration (NASA) {level}",
        "dataset_name": name,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"goesvfi-lab:{scene.seed}:{name}")),
        "date_created": _abi_time(created),
        "time_coverage_start": _abi_time(start),
        "time_coverage_end": _abi_time(end),
        "timeline_id": f"ABI Mode {mode}",
        "cdm_data_type": "Image",
    }


def _write_png_scan(path: str, scene: Scene, k: int, cmap: str, bit_depth: int) -> str:
    from .frames import render, to_grey16, write_png

    field = scene.field(scene.minutes(scene.scan_start(k)))
    if is_emissive(scene.band):
        image = to_grey16(field) if bit_depth == 16 else render(field, cmap=cmap)
    else:  # reflectance: bright cloud white
        image = to_grey16(field, 0.0, 1.0, invert=False) if bit_depth == 16 else render(field, "grey", 0.0, 1.0)
    return write_png(path, image)


def write_sample(
    out_dir: str | os.PathLike[str],
    frames: int = 12,
    size: tuple[int, int] = (256, 256),
    fmt: str = "nc",
    sector: str = "C",
    band: int = 13,
    satellite: str = "G16",
    seed: int = 0,
    product: str = "CMIP",
    start: datetime | None = None,
    *,
    cmap: str = "ir",
    bit_depth: int = 8,
    wind_scale: float = 1.0,
) -> list[str]:
    """Write ``frames`` consecutive scans of a synthetic scene into ``out_dir``; returns the paths in time order.

    ``fmt="nc"``: ABI-like NetCDF-4 (L2 ``CMIP`` with CMI, or L1b ``Rad`` with Planck constants).
    ``fmt="png"``: renders with the same ABI names and a .png extension: ``cmap`` "ir" (grey, cold
    white) or "enhanced" at 8 bits, or ``bit_depth=16`` grey (IR convention over 180-320 K).
    Scan k starts at ``start + k * cadence`` and equals ``Scene(...).field(k * cadence in minutes)``.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, not {frames}")
    if fmt not in ("nc", "png"):
        raise ValueError(f"fmt must be 'nc' or 'png', not {fmt!r}")
    if product not in ("CMIP", "Rad"):
        raise ValueError(f"product must be 'CMIP' or 'Rad', not {product!r}")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, not {bit_depth!r}")
    scene = Scene(
        seed=seed, size=size, sector=sector, band=band, satellite=satellite, start=start, wind_scale=wind_scale
    )
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for k in range(frames):
        path = os.path.join(out_dir, scan_name(scene, k, product, "." + fmt))
        if fmt == "nc":
            paths.append(write_netcdf_scan(path, scene, k, product))
        else:
            paths.append(_write_png_scan(path, scene, k, cmap, bit_depth))
    return paths
