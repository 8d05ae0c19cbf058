"""Geolocation (goesvfi_lab.geo) against values that do not come from pyproj: the sub-satellite point, the
GOES-R PUG's own fixed-grid formulas, and numbers NOAA writes into real GOES-16 files."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import goesvfi_lab as gl
from goesvfi_lab import geo
from goesvfi_lab.errors import FrameError
from goesvfi_lab.frames import ReadOptions, read_field, read_frame
from goesvfi_lab.sample import write_sample

EAST = {"height": 35786023.0, "semi_major": 6378137.0, "semi_minor": 6356752.31414, "lon_0": -75.0}


def grid(x, y, **kw) -> geo.FixedGrid:
    return geo.FixedGrid("test", x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float), **{**EAST, **kw})


def pug_lonlat(x: np.ndarray, y: np.ndarray, lon_0: float) -> tuple[np.ndarray, np.ndarray]:
    """GOES-R Product User Guide vol. 3, 4.2.8.1: scan angles -> geodetic lat/lon, written out by hand."""
    req, rpol = EAST["semi_major"], EAST["semi_minor"]
    big_h = EAST["height"] + req
    a = np.sin(x) ** 2 + np.cos(x) ** 2 * (np.cos(y) ** 2 + (req / rpol) ** 2 * np.sin(y) ** 2)
    b = -2 * big_h * np.cos(x) * np.cos(y)
    c = big_h**2 - req**2
    with np.errstate(invalid="ignore"):
        rs = (-b - np.sqrt(b**2 - 4 * a * c)) / (2 * a)
    sx, sy, sz = rs * np.cos(x) * np.cos(y), -rs * np.sin(x), rs * np.cos(x) * np.sin(y)
    lat = np.degrees(np.arctan((req / rpol) ** 2 * sz / np.hypot(big_h - sx, sy)))
    lon = lon_0 - np.degrees(np.arctan(sy / (big_h - sx)))
    return lon, lat


@pytest.mark.parametrize("lon_0", [-75.0, -137.0, -89.5])
def test_the_sub_satellite_point_is_lon_0_on_the_equator(lon_0):
    lon, lat = geo.lonlat(grid([0.0], [0.0], lon_0=lon_0))
    assert lon.shape == (1, 1)
    assert lon[0, 0] == pytest.approx(lon_0, abs=1e-9) and lat[0, 0] == pytest.approx(0.0, abs=1e-9)


def test_lonlat_agrees_with_the_pug_formulas_over_conus_and_the_limb():
    # real CONUS extent at 2 km (x_image_bounds / y_image_bounds of GOES-16 CMIPC files), plus the full disk
    for x, y in (
        (np.linspace(-0.101332, 0.038612, 250), np.linspace(0.128212, 0.044268, 150)),
        (np.linspace(-0.1519, 0.1519, 301), np.linspace(0.1519, -0.1519, 301)),
    ):
        lon, lat = geo.lonlat(grid(x, y))
        ref_lon, ref_lat = pug_lonlat(*np.meshgrid(x, y), -75.0)
        np.testing.assert_array_equal(np.isnan(lon), np.isnan(ref_lon))  # the same pixels are off the disk
        assert np.isnan(lat).sum() == np.isnan(lon).sum()
        np.testing.assert_allclose(lon, ref_lon, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(lat, ref_lat, atol=1e-6, equal_nan=True)
    assert np.isnan(lon).sum() > 0.15 * lon.size  # the full disk's corners are space


def test_real_goes16_conus_centre_and_full_disk_extent():
    # geospatial_lat_center / lon_center of real GOES-16 CONUS files (30.083002 N, 87.096954 W) at the centre of
    # their image bounds
    lon, lat = geo.lonlat(grid([(-0.101360 + 0.038640) / 2], [(0.128240 + 0.044240) / 2]))
    assert (lon[0, 0], lat[0, 0]) == (pytest.approx(-87.096954, abs=1e-4), pytest.approx(30.083002, abs=1e-4))
    # the full-disk extent of the real L1b header in shared/goes (geospatial_lat_lon_extent): the horizon
    # seen from -75 is at lon -156.2995 .. 6.2995 and lat +-81.3282
    limb = np.linspace(0.15180, 0.15190, 1_000_001)  # 1e-10 rad steps across the horizon (lon ~ sqrt there)
    v = np.concatenate([-limb[::-1], limb])
    lon, _ = geo.lonlat(grid(v, [0.0]))
    assert np.nanmin(lon) == pytest.approx(-156.2995, abs=0.01) and np.nanmax(lon) == pytest.approx(6.2995, abs=0.01)
    limb = np.linspace(0.15130, 0.15140, 1_000_001)  # the polar horizon is nearer (b < a)
    _, lat = geo.lonlat(grid([0.0], np.concatenate([limb[::-1], -limb])))
    assert np.nanmax(lat) == pytest.approx(81.3282, abs=0.01) and np.nanmin(lat) == pytest.approx(-81.3282, abs=0.01)


def test_a_known_place_round_trips():
    # Miami: forward to scan angles, back to lon/lat; the scan angles agree with the PUG's inverse too
    x, y = geo.scan_angles(grid([0.0], [0.0]), -80.19, 25.76)
    assert -0.02 < float(x) < 0 and 0.06 < float(y) < 0.08  # west of the sub-satellite point, north of the equator
    lon, lat = geo.lonlat(grid([float(x)], [float(y)]))
    assert (lon[0, 0], lat[0, 0]) == (pytest.approx(-80.19, abs=1e-8), pytest.approx(25.76, abs=1e-8))
    ref_lon, ref_lat = pug_lonlat(np.array(float(x)), np.array(float(y)), -75.0)
    assert (float(ref_lon), float(ref_lat)) == (pytest.approx(-80.19, abs=1e-6), pytest.approx(25.76, abs=1e-6))
    # the far side of the Earth is not seen
    assert np.isnan(geo.scan_angles(grid([0.0], [0.0]), 105.0, 0.0)[0])


def test_lonlat_of_a_file_a_field_and_a_cropped_field(tmp_path):
    path = write_sample(tmp_path, frames=1, size=(40, 60), sector="C", seed=3)[0]
    field = read_field(path)
    assert {"x", "y", "goes_imager_projection"} <= set(field.coords)  # what lonlat relies on
    lon, lat = gl.lonlat(field)
    assert lon.shape == lat.shape == (40, 60) and np.isfinite(lon).all()
    ref_lon, ref_lat = pug_lonlat(*np.meshgrid(field.x.values, field.y.values), -75.0)
    np.testing.assert_allclose(lon, ref_lon, atol=1e-6)
    np.testing.assert_allclose(lat, ref_lat, atol=1e-6)
    by_path = gl.lonlat(path)
    np.testing.assert_array_equal(by_path[0], lon)
    np.testing.assert_array_equal(by_path[1], lat)
    cropped = read_field(path, ReadOptions(window=(5, 25, 10, 50)))
    assert cropped.shape == (20, 40)
    np.testing.assert_array_equal(gl.lonlat(cropped)[0], lon[5:25, 10:50])
    # lat decreases down the image (north up), lon increases to the east
    assert (np.diff(lat, axis=0) < 0).all() and (np.diff(lon, axis=1) > 0).all()


def test_full_disk_edges_are_nan(tmp_path):
    path = write_sample(tmp_path, frames=1, size=(64, 64), sector="F")[0]
    lon, lat = gl.lonlat(path)
    space = np.isnan(read_frame(path))
    np.testing.assert_array_equal(np.isnan(lon), space)  # the generator's own disk (PUG formulas) agrees
    assert space[0, 0] and not space[32, 32]


def test_a_file_without_projection_refuses_geolocation_but_still_reads(tmp_path):
    src = write_sample(tmp_path / "src", frames=1, size=(20, 30), seed=1)[0]
    path = tmp_path / src.rsplit("/", 1)[1]
    with xr.open_dataset(src) as ds:
        ds.drop_vars("goes_imager_projection").to_netcdf(path)
    with pytest.raises(FrameError, match="geolocation refused") as err:
        gl.lonlat(str(path))
    assert str(path) in str(err.value)
    with pytest.raises(FrameError, match="geolocation refused"):
        gl.lonlat(read_field(path))
    assert read_frame(path).shape == (20, 30)  # interpolation without a crop needs no projection
    assert read_frame(path, options=ReadOptions(window=(0, 10, 0, 10))).shape == (10, 10)  # nor a pixel window
    with pytest.raises(FrameError, match="geolocation refused"):
        geo.read_options({"crop": {"bbox": (-90, 25, -80, 32)}}, str(path))


def test_a_png_has_no_grid(tmp_path):
    path = write_sample(tmp_path, frames=1, size=(20, 30), fmt="png")[0]
    with pytest.raises(FrameError, match="no fixed grid") as err:
        gl.lonlat(path)
    assert path in str(err.value)


def test_lonlat_of_a_sequence_and_of_a_cropped_job(tmp_path):
    paths = write_sample(tmp_path, frames=2, size=(40, 60), sector="C", seed=3)
    seq = gl.group_sequences(paths)[0]
    full = gl.lonlat(paths[0])
    np.testing.assert_array_equal(gl.lonlat(seq)[0], full[0])
    job = gl.BatchJob(
        name="j", inputs=paths, output_dir=str(tmp_path / "out"), settings={"crop": {"window": (5, 25, 10, 50)}}
    )
    lon, lat = gl.lonlat(job)  # the lon/lat of the job's frames: its crop applied
    np.testing.assert_array_equal(lon, full[0][5:25, 10:50])
    np.testing.assert_array_equal(lat, full[1][5:25, 10:50])
    lon0, lon1, mid, top = np.nanmin(full[0]) - 1, np.nanmax(full[0]) + 1, np.nanmedian(full[1]), np.nanmax(full[1])
    box = (float(lon0), float(mid), float(lon1), float(top) + 1)  # the northern half
    job.settings = {"crop": {"bbox": box}}
    y0, y1, x0, x1 = geo.bbox_window(paths[0], box).window
    assert (y0, y1) == (0, pytest.approx(20, abs=2)) and (x0, x1) == (0, 60)
    np.testing.assert_array_equal(gl.lonlat(job)[1], full[1][y0:y1, x0:x1])


def test_bbox_window_equals_a_brute_force_search_for_random_boxes_across_the_disk_and_limb():
    # every pixel of a coarse full disk geolocated by the PUG formulas; the window of each box is the bounding
    # rows/columns of the pixels inside it (or an error when there are none)
    n = 400
    v = (np.arange(n) - (n - 1) / 2) * (2 * 0.151872 / n)
    full = grid(v, -v)
    lon, lat = pug_lonlat(*np.meshgrid(v, -v), -75.0)
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(150):
        west = rng.uniform(-200, 60)
        south = rng.uniform(-89, 80)
        box = (west, south, west + rng.uniform(0.5, 80), min(90.0, south + rng.uniform(0.5, 40)))
        inside = geo._in_box(lon, lat, box)
        rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        if not rows.size:
            with pytest.raises(FrameError, match="off the Earth's disk|outside"):
                geo.bbox_window(full, box)
            continue
        found += 1
        assert geo.bbox_window(full, box).window == (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1), box
    assert found > 80  # most boxes touch the disk (boxes reach from -200 to 140 E: many cross the limb)
