"""Crop to a region (issue 13 item 3): a lon/lat box becomes the smallest fixed-grid window that covers it,
the same window for ``goesvfi-lab interpolate --bbox`` and the batch engine, applied before interpolation.

The expected window is computed here from the file alone (pyproj on its x/y and goes_imager_projection),
not by goesvfi_lab.geo, on NetCDF files of NOAA's real CONUS / full-disk structure (tests/goes_fixtures.py).
"""

from __future__ import annotations

import os

import dask
import numpy as np
import pytest
import xarray as xr
from _engine_support import NO_DASHBOARD
from distributed import Client, LocalCluster
from goes_fixtures import make_abi_sequence, require_ncgen
from PIL import Image
from pyproj import CRS, Transformer

from goesvfi_lab import geo
from goesvfi_lab.cli import main
from goesvfi_lab.engine import layout
from goesvfi_lab.errors import FrameError
from goesvfi_lab.frames import ReadOptions, read_field, read_frame
from goesvfi_lab.frames.read import parse_crop
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.sample import write_sample

FLORIDA = (-90.0, 25.0, -80.0, 32.0)
SHAPE = (150, 250)  # CONUS at 10 km: every test file spans the real sector's angles


@pytest.fixture(scope="module")
def conus(tmp_path_factory) -> list[str]:
    require_ncgen()
    folder = tmp_path_factory.mktemp("conus")
    return [str(p) for p in make_abi_sequence(folder, n=3, product="L2-CMIPC", shape=SHAPE)]


def inside_box(path: str, bbox) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, mask of pixels whose centre is in the box, mask of pixels on the Earth's disk), by pyproj on the
    file's own x/y and projection."""
    with xr.open_dataset(path) as ds:
        x, y = ds["x"].values.astype(np.float64), ds["y"].values.astype(np.float64)
        p = ds["goes_imager_projection"].attrs
    h = float(p["perspective_point_height"])
    crs = CRS.from_proj4(
        f"+proj=geos +h={h} +a={p['semi_major_axis']} +b={p['semi_minor_axis']} "
        f"+lon_0={p['longitude_of_projection_origin']} +sweep={p['sweep_angle_axis']} +no_defs"
    )
    to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    lon, lat = to_lonlat.transform(*np.meshgrid(x * h, y * h))
    west, south, east, north = bbox
    with np.errstate(invalid="ignore"):
        mask = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    return x, y, mask, np.isfinite(lon) & np.isfinite(lat)


def check_smallest_window(cube_x: np.ndarray, cube_y: np.ndarray, path: str, bbox) -> None:
    """Every pixel of ``path`` inside ``bbox`` is in the cube, and the cube is no larger than that (± 1 pixel)."""
    x, y, mask, _ = inside_box(path, bbox)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    assert rows.size and cols.size
    need_x, need_y = x[cols[0] : cols[-1] + 1], y[rows[0] : rows[-1] + 1]
    # x/y of the cube are a contiguous run of the file's
    c0 = int(np.argmin(np.abs(x - cube_x[0])))
    r0 = int(np.argmin(np.abs(y - cube_y[0])))
    np.testing.assert_allclose(cube_x, x[c0 : c0 + len(cube_x)], rtol=0, atol=1e-9)
    np.testing.assert_allclose(cube_y, y[r0 : r0 + len(cube_y)], rtol=0, atol=1e-9)
    assert c0 <= cols[0] and c0 + len(cube_x) - 1 >= cols[-1], "a column inside the box is missing"
    assert r0 <= rows[0] and r0 + len(cube_y) - 1 >= rows[-1], "a row inside the box is missing"
    assert len(need_x) <= len(cube_x) <= len(need_x) + 2 and len(need_y) <= len(cube_y) <= len(need_y) + 2
    assert mask.sum() > 100  # a real box, not a pixel


def cli(*args: str) -> int:
    return main([str(a) for a in args])


def test_cli_bbox_gives_the_smallest_covering_window_of_a_conus_sequence(conus, tmp_path, capsys):
    folder = os.path.dirname(conus[0])
    cube = tmp_path / "c.nc"
    out = tmp_path / "out"
    bbox = [str(v) for v in FLORIDA]
    assert (
        cli("interpolate", folder, "-o", out, "--factor", 2, "--method", "linear", "--bbox", *bbox, "--cube", cube) == 0
    )
    with xr.open_dataset(cube) as ds:
        check_smallest_window(ds["x"].values, ds["y"].values, conus[0], FLORIDA)
        assert ds["CMI"].shape[0] == 5 and ds["CMI"].attrs["units"] == "K"
        assert ds["CMI"].attrs["grid_mapping"] == "goes_imager_projection"
        # the scans in the cube are the inputs' pixels of the window
        full = read_field(conus[0])
        crop = full.sel(x=ds["x"].values, y=ds["y"].values, method="nearest")
        np.testing.assert_allclose(ds["CMI"].values[0], crop.values, atol=1e-3)
        lon, lat = geo.lonlat(ds)  # the cube geolocates as its window
        assert np.nanmin(lon) < -89.5 and np.nanmax(lon) > -80.5 and np.nanmin(lat) < 25.5 and np.nanmax(lat) > 31.5
        shape = ds["CMI"].shape[1:]
    frames = sorted(os.listdir(out))
    assert len(frames) == 5 and Image.open(out / frames[2]).size == (shape[1], shape[0])  # PNGs are cropped too


def test_cli_bbox_outside_the_sector_or_the_disk_names_the_file_and_the_box(conus, tmp_path, capsys):
    folder = os.path.dirname(conus[0])
    assert cli("interpolate", folder, "-o", tmp_path / "o", "--method", "linear", "--bbox", -60, -20, -50, -10) != 0
    err = capsys.readouterr().err
    assert conus[0] in err and "box (W -60, S -20, E -50, N -10) lies outside the file's CONUS sector (lon" in err
    assert cli("interpolate", folder, "-o", tmp_path / "o2", "--method", "linear", "--bbox", 100, 0, 110, 10) != 0
    err = capsys.readouterr().err
    assert conus[0] in err and "off the Earth's disk seen from the satellite at lon -75" in err
    assert not os.listdir(tmp_path / "o2")  # nothing written


def test_a_box_across_the_limb_says_how_many_pixels_are_off_disk(tmp_path, capsys):
    require_ncgen()
    paths = [str(p) for p in make_abi_sequence(tmp_path / "fd", n=2, product="L2-CMIPF", shape=(200, 200))]
    bbox = (-170.0, -20.0, -140.0, 20.0)  # the western limb is at -156.3 on the equator
    crop = geo.bbox_window(paths[0], bbox)
    _, _, mask, on_disk = inside_box(paths[0], bbox)
    y0, y1, x0, x1 = crop.window
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    assert (y0, y1 - 1, x0, x1 - 1) == (rows[0], rows[-1], cols[0], cols[-1])
    space = int((~on_disk[y0:y1, x0:x1]).sum())
    assert crop.off_disk == space > 0  # space in the corners of the window beside the limb
    assert "reaches past the Earth's limb" in crop.notes[0]
    assert f"has {space} pixels" in crop.notes[1] and "off the Earth's disk" in crop.notes[1]
    assert cli("interpolate", tmp_path / "fd", "-o", tmp_path / "o", "--method", "linear", "--bbox", *bbox) == 0
    assert f"has {space} pixels" in capsys.readouterr().out
    # a pixel window entirely in space is refused, one beside the limb counted
    with pytest.raises(FrameError, match="entirely off the Earth's disk"):
        geo.read_options({"crop": {"window": (0, 10, 0, 10)}}, paths[0])
    _, notes = geo.read_options({"crop": {"window": (40, 60, 0, 30)}}, paths[0])
    assert "off the Earth's disk" in notes[0]


def test_a_pixel_window_crops_png_and_netcdf_alike(conus, tmp_path):
    pngs = write_sample(tmp_path / "png", frames=3, size=(40, 60), fmt="png")
    out = tmp_path / "out"
    assert cli("interpolate", tmp_path / "png", "-o", out, "--method", "linear", "--window", 5, 25, 10, 50) == 0
    assert Image.open(out / "000000.png").size == (40, 20)
    np.testing.assert_array_equal(read_frame(out / "000000.png"), read_frame(pngs[0])[5:25, 10:50])
    field = read_field(conus[0], ReadOptions.from_settings({"crop": {"window": [10, 30, 20, 70]}}))
    full = read_field(conus[0])
    assert field.shape == (20, 50)
    np.testing.assert_array_equal(field.x.values, full.x.values[20:70])
    np.testing.assert_array_equal(field.values, full.values[10:30, 20:70])
    with pytest.raises(FrameError, match=r"crop window rows 10:300, columns 0:10 does not fit the 150×250") as err:
        read_frame(conus[0], options=ReadOptions(window=(10, 300, 0, 10)))
    assert conus[0] in str(err.value)
    with pytest.raises(FrameError, match="a crop bbox need"):
        geo.read_options({"crop": {"bbox": FLORIDA}}, pngs[0])  # PNG frames have no fixed grid


def _flags(shape: tuple[int, int]) -> np.ndarray:
    """DQF 0 but a block of each L1b value 1..4 (rows 20.., columns 30..), so a window cuts through them."""
    dqf = np.zeros(shape, np.uint8)
    for k in range(1, 5):
        dqf[20 + 8 * k : 28 + 8 * k, 30 + 10 * k : 45 + 10 * k] = k
    return dqf


@pytest.mark.parametrize(
    "product, band, mask_dqf",
    [
        ("L1b-RadF", 13, None),  # Rad -> K through the file's Planck constants; L1b default: DQF "no value"
        ("L1b-RadF", 13, True),  # DQF > 1
        ("L1b-RadF", 1, True),  # Rad -> reflectance factor (kappa0)
        ("L2-CMIPC", 13, True),
        ("L2-MCMIPC", 13, True),  # CMI_C13 + DQF_C13
    ],
)
def test_a_window_read_alone_equals_the_whole_field_cut_to_it(tmp_path, product, band, mask_dqf):
    """Only the window's rows/columns are read (field, DQF, x/y), and the result is the whole read's isel."""
    require_ncgen()
    from goes_fixtures import make_abi_file, moving_field

    shape = (96, 160)
    truth = moving_field(shape, 0.0, band)
    truth[50:54, 100:104] = np.nan  # fill counts inside the window
    kw = {"bands": (1, 13), "dqf": {13: _flags(shape)}} if "MCMIP" in product else {"dqf": _flags(shape)}
    kw["field"] = {13: truth} if "MCMIP" in product else truth
    path = make_abi_file(tmp_path, product, band=band, shape=shape, **kw)
    options = ReadOptions(band=band, mask_dqf=mask_dqf)
    full = read_field(path, options)
    for window in [(25, 70, 35, 120), (0, 96, 0, 160), (95, 96, 0, 1)]:
        y0, y1, x0, x1 = window
        cut = read_field(path, ReadOptions(band=band, mask_dqf=mask_dqf, window=window))
        expected = full.isel(y=slice(y0, y1), x=slice(x0, x1))
        xr.testing.assert_identical(cut, expected)  # values (NaN where masked), x/y, t, projection, attrs
        np.testing.assert_array_equal(cut.values, full.values[y0:y1, x0:x1])
        assert cut.encoding["source"] == str(path) and cut.values.flags.c_contiguous
    cut = read_field(path, ReadOptions(band=band, mask_dqf=mask_dqf, window=(25, 70, 35, 120))).values
    assert np.isnan(cut).any() and np.isfinite(cut).any()  # the window holds masked and fill pixels
    with pytest.raises(FrameError, match=r"crop window rows 10:97, columns 0:10 does not fit the 96×160") as err:
        read_field(path, ReadOptions(band=band, window=(10, 97, 0, 10)))
    assert err.value.path == str(path)


def test_a_window_of_a_field_too_big_to_decode_whole_is_read(conus):
    """The size check is of what is decoded: the window, not the whole field (the whole is never read)."""
    with dask.config.set({"goesvfi.frames.max-frame-bytes": 150 * 250 * 4 - 1}):
        with pytest.raises(FrameError, match="refused before reading it"):
            read_field(conus[0])
        cut = read_field(conus[0], ReadOptions(window=(10, 60, 20, 120)))
    np.testing.assert_array_equal(cut.values, read_field(conus[0]).values[10:60, 20:120])


@pytest.mark.parametrize(
    "crop, message",
    [
        ({"box": (1, 2, 3, 4)}, "crop must be"),
        ({"bbox": (1, 2, 3)}, "needs 4 numbers"),
        ({"window": (0, 10, 5, 5)}, "0 <= x0 < x1"),
        ({"window": (0, 10.5, 0, 5)}, "whole pixel"),
        ("florida", "crop must be"),
    ],
)
def test_bad_crop_settings_are_refused_with_what_is_expected(crop, message):
    with pytest.raises(ValueError, match=message):
        parse_crop(crop)


def test_a_bbox_cannot_bypass_resolution_and_flags_exclude_each_other(capsys):
    with pytest.raises(ValueError, match="resolved on the first input"):
        ReadOptions.from_settings({"crop": {"bbox": FLORIDA}})
    with pytest.raises(SystemExit):
        main(["interpolate", "in", "-o", "out", "--bbox", "0", "0", "1", "1", "--window", "0", "1", "0", "1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_crop_changes_the_result_spec():
    spec = lambda crop: layout.result_spec(["a.nc", "b.nc"], 2, "linear", {"crop": crop})  # noqa: E731
    assert spec({"bbox": FLORIDA}) == spec({"bbox": list(FLORIDA)})  # as a manifest holds it
    assert spec({"bbox": FLORIDA}) != spec({"bbox": (-85.0, 25.0, -80.0, 32.0)})
    assert spec({"bbox": FLORIDA}) != spec(None) != spec({"window": (0, 10, 0, 10)})


def test_the_batch_engine_crops_as_the_cli_and_a_bad_box_fails_its_job_only(conus, tmp_path):
    outside = (-60.0, -20.0, -50.0, -10.0)
    jobs = [
        BatchJob(name="fl", inputs=conus, output_dir=str(tmp_path / "fl"), factor=2, method="linear",
                 settings={"cube": True, "crop": {"bbox": FLORIDA}}),
        BatchJob(name="brazil", inputs=conus, output_dir=str(tmp_path / "br"), factor=2, method="linear",
                 settings={"cube": True, "crop": {"bbox": outside}}),
    ]  # fmt: skip
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": "inf"}),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=tmp_path / "q.sqlite3")
        fl, br = (q.add_job(j) for j in jobs)
        q.start(preload=["linear"])
        try:
            assert q.wait(90), [q.job(j) for j in (fl, br)]
            assert q.job(fl).status == JobStatus.COMPLETED, q.job(fl)
            failed = q.job(br)
            assert failed.status == JobStatus.FAILED
            assert "lies outside the file's CONUS" in failed.error and conus[0] in failed.error
            assert "W -60, S -20, E -50, N -10" in failed.error
            with xr.open_dataset(tmp_path / "fl" / "cube.nc") as ds:  # the window the CLI test checks
                check_smallest_window(ds["x"].values, ds["y"].values, conus[0], FLORIDA)
                assert ds["CMI"].shape[0] == 5
            # a rerun with another box is another result: not skipped as complete (the folder holds the first)
            east = (-85.0, 25.0, -80.0, 32.0)
            again = q.add_job(
                BatchJob(name="fl-east", inputs=conus, output_dir=str(tmp_path / "fl"), factor=2, method="linear",
                         settings={"cube": True, "crop": {"bbox": east}, "overwrite": True})
            )  # fmt: skip
            assert q.wait(90) and q.job(again).status == JobStatus.COMPLETED, q.job(again)
            assert not any("skipped" in n for n in q.job(again).notes)
        finally:
            q.stop()
    with xr.open_dataset(tmp_path / "fl" / "cube.nc") as ds:
        check_smallest_window(ds["x"].values, ds["y"].values, conus[0], east)
    assert not os.path.exists(tmp_path / "br" / "cube.nc")


@pytest.mark.slow
def test_goesvfi_lab_run_crops_with_bbox(conus, tmp_path):
    from goesvfi_lab.cli.batch import STORE_NAME
    from goesvfi_lab.store import Store

    out = tmp_path / "out"
    folder = os.path.dirname(conus[0])
    bbox = [str(v) for v in FLORIDA]
    args = ["run", folder, "-o", out, "--method", "linear", "--cube", "--bbox", *bbox, "--workers", "1", "--quiet"]
    assert cli(*args) == 0
    with Store(os.path.join(out, STORE_NAME)) as store:
        (job,) = store.jobs()
    assert job.status == JobStatus.COMPLETED and job.settings["crop"] == {"bbox": list(FLORIDA)}
    with xr.open_dataset(os.path.join(job.output_dir, "cube.nc")) as ds:
        check_smallest_window(ds["x"].values, ds["y"].values, conus[0], FLORIDA)


def test_a_crop_of_remote_inputs(tmp_path):
    remote = "s3://noaa-goes16/ABI-L2-CMIPC/2024/183/18/OR_ABI-L2-CMIPC-M6C13_G16_s20241831801171_e1_c2.nc"
    options, notes = geo.read_options({"crop": {"window": (0, 10, 0, 20)}}, remote)  # fetched by the workers
    assert options.window == (0, 10, 0, 20) and notes == ()
    with pytest.raises(FrameError, match="fetch the scans first") as err:
        geo.read_options({"crop": {"bbox": FLORIDA}}, remote)
    assert remote in str(err.value)
