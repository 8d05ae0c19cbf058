"""NOAA's real ABI file structures (fixtures from the headers in ../shared/goes, see goes_fixtures) through the
readers, the sequence grouping, the CLI and the batch engine: units, x/y radians, grid mapping, MCMIP bands,
DQF masking, scan times, odd auxiliary variables, missing projection, re-issued scans."""

from __future__ import annotations

import gc
import os
from datetime import datetime, timedelta, timezone

import netCDF4
import numpy as np
import pytest
import xarray as xr
from _engine_support import NO_DASHBOARD
from goes_fixtures import (
    CMIPC_HEADER,
    CMIPF_INVENTORY,
    L1B_HEADER,
    headers_dir,
    make_abi_file,
    make_abi_sequence,
    moving_field,
    parse_cdl,
    parse_inventory,
    require_ncgen,
)

from goesvfi_lab.cli import main
from goesvfi_lab.discover import check_job_inputs, group_sequences
from goesvfi_lab.errors import FrameError
from goesvfi_lab.frames import ReadOptions, read_field, read_frame, read_netcdf
from goesvfi_lab.frames.netcdf import NETCDF_LOCK

pytestmark = pytest.mark.usefixtures("ncgen")

T0 = datetime(2024, 7, 1, 18, 1, 17, 100_000, tzinfo=timezone.utc)
SHAPE = (48, 80)
_NUMPY = {"byte": "int8", "short": "int16", "int": "int32", "float": "float32", "double": "float64"}


@pytest.fixture
def ncgen():
    require_ncgen()


def _file_xy(path):
    with xr.open_dataset(path, decode_times=False) as ds:
        return ds["x"].values, ds["y"].values


# --- the fixtures have NOAA's structure ------------------------------------------------------------------


def test_l1b_fixture_has_every_variable_and_attribute_of_the_real_header(tmp_path):
    header = parse_cdl((headers_dir() / L1B_HEADER).read_text())
    path = make_abi_file(tmp_path, "L1b-RadF", band=1, shape=SHAPE)
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        assert set(nc.variables) == set(header.variables)
        assert set(nc.ncattrs()) == set(header.globals)
        for name, lines in header.variables.items():
            decl = lines[0].split()
            assert nc[name].dtype == np.dtype(_NUMPY[decl[0]]), name
            assert set(nc[name].ncattrs()) == {ln.split(":", 1)[1].split("=")[0].strip() for ln in lines[1:]}, name
        rad = nc["Rad"]
        assert rad._Unsigned == "true" and rad._FillValue == 1023 and list(rad.valid_range) == [0, 1022]
        assert np.float32(rad.scale_factor) == np.float32(0.8121064)
        assert nc["y"].scale_factor < 0 < nc["x"].scale_factor
        assert nc["t"].units == "seconds since 2000-01-01 12:00:00" and nc["t"].ndim == 0
        assert nc["goes_imager_projection"].sweep_angle_axis == "x"
        assert nc.dataset_name == os.path.basename(path)
        # the grid still spans the full disk: first/last pixel edges at +-0.151872 rad
        x = nc["x"][:] * np.float64(nc["x"].scale_factor) + nc["x"].add_offset
        step = x[1] - x[0]
        assert abs(x[0] - step / 2 + 0.151872) < 1e-6 and abs(x[-1] + step / 2 - 0.151872) < 1e-6


def test_l2_fixtures_hold_the_inventory_and_the_conus_header(tmp_path):
    inventory, attrs = parse_inventory((headers_dir() / CMIPF_INVENTORY).read_text())
    full = make_abi_file(tmp_path, "L2-CMIPF", band=13, shape=SHAPE)
    with netCDF4.Dataset(full) as nc:
        nc.set_auto_maskandscale(False)
        for name, dims, dtype in inventory:
            assert nc[name].dtype == np.dtype(dtype), name
            assert "(" + ", ".join(nc[name].dimensions) + ")" == dims, name
        assert set(attrs) <= set(nc.ncattrs())
        assert np.float32(nc["CMI"].scale_factor) == np.float32(0.06145332) and nc["CMI"].units == "K"
        assert nc["CMI"]._FillValue == -1 and nc["planck_fk1"][...] > 0 and nc["kappa0"][...] == -999
    partial = parse_cdl((headers_dir() / CMIPC_HEADER).read_text())
    conus = make_abi_file(tmp_path, "L2-CMIPC", band=1, shape=SHAPE)
    with netCDF4.Dataset(conus) as nc:
        for line in partial.variables["CMI"][1:]:
            name = line.split(":", 1)[1].split("=")[0].strip()
            assert name in nc["CMI"].ncattrs()
        assert nc.scene_id == "CONUS"
    x, y = _file_xy(conus)  # CONUS: edges -0.10136 .. 0.03864 and 0.12824 .. 0.04424 rad
    assert abs(x[0] - (x[1] - x[0]) / 2 + 0.10136) < 1e-6 and abs(y[-1] - (y[0] - y[1]) / 2 - 0.04424) < 1e-6


def test_mcmip_fixture_holds_a_cmi_and_dqf_per_band(tmp_path):
    path = make_abi_file(tmp_path, "L2-MCMIPC", shape=SHAPE, bands=(1, 2, 13))
    assert "-MCMIPC-M6_G16_" in path.name
    with netCDF4.Dataset(path) as nc:
        names = set(nc.variables)
        assert {"CMI_C01", "DQF_C01", "CMI_C02", "DQF_C02", "CMI_C13", "DQF_C13"} <= names
        assert "CMI" not in names and "CMI_C03" not in names
        assert nc["CMI_C13"].ancillary_variables == "DQF_C13" and nc["CMI_C13"].units == "K"


# --- readers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "product, band, name, units, tolerance",
    [
        ("L1b-RadF", 1, "reflectance", "1", 0.0015),  # 10-bit counts of 0.81 W m-2 sr-1 um-1 x kappa0
        ("L1b-RadF", 13, "BT", "K", 0.06),
        ("L2-CMIPC", 13, "CMI", "K", 0.031),  # half of 0.06145 K
        ("L2-CMIPC", 1, "CMI", "1", 0.0002),
        ("L2-CMIPF", 13, "CMI", "K", 0.031),
        ("L2-MCMIPC", 13, "CMI_C13", "K", 0.031),
        ("L2-MCMIPC", 2, "CMI_C02", "1", 0.0002),
    ],
)
def test_each_product_reads_as_its_physical_field(tmp_path, product, band, name, units, tolerance):
    truth = moving_field(SHAPE, 0.0, band)
    path = make_abi_file(tmp_path, product, band=band, shape=SHAPE, field=truth if "MCMIP" not in product else None)
    da = read_field(path, ReadOptions(band=band))
    assert da.name == name and da.attrs["units"] == units and da.dtype == np.float32
    np.testing.assert_allclose(da.values, truth, atol=tolerance)
    np.testing.assert_array_equal(read_frame(path, options=ReadOptions(band=band)), da.values)
    x, y = _file_xy(path)
    np.testing.assert_array_equal(da.x.values, x)
    np.testing.assert_array_equal(da.y.values, y)
    assert da.x.attrs["units"] == "rad" and da.y.values[0] > da.y.values[-1]
    assert da.attrs["grid_mapping"] == "goes_imager_projection"
    assert da.coords["goes_imager_projection"].attrs["longitude_of_projection_origin"] == -75.0
    # scan start / end from the global attributes, mid-scan t from the variable
    start, end = da.coords["time_coverage_start"].values, da.coords["time_coverage_end"].values
    assert start == np.datetime64("2024-07-01T18:01:17.100")
    assert abs(da.coords["t"].values - (start + (end - start) / 2)) < np.timedelta64(1, "ms")


def test_mcmip_needs_a_band_it_holds_and_one_band_files_are_checked(tmp_path):
    mcmip = make_abi_file(tmp_path, "L2-MCMIPC", shape=SHAPE, bands=(1, 2, 7))
    with pytest.raises(FrameError, match=r"multi-band \(MCMIP\) file with bands 1, 2, 7: choose one") as info:
        read_frame(mcmip)
    assert info.value.path == str(mcmip)
    with pytest.raises(FrameError, match=r"has no band 13 \(no CMI_C13\); bands present: 1, 2, 7") as info:
        read_frame(mcmip, options=ReadOptions(band=13))
    assert info.value.path == str(mcmip) and os.path.basename(mcmip) in str(info.value)
    assert read_netcdf(mcmip, band=7).attrs["units"] == "K"
    with pytest.raises(FrameError, match="'CMI_C01' is band 1, not the asked band 7"):
        read_netcdf(mcmip, variable="CMI_C01", band=7)
    cmip = make_abi_file(tmp_path, "L2-CMIPC", band=14, shape=SHAPE)
    with pytest.raises(FrameError, match=r"is band 14, not the asked band 13 \(CMI\)") as info:
        read_frame(cmip, options=ReadOptions(band=13))
    assert info.value.path == str(cmip)
    assert ReadOptions.from_settings({"band": "C13", "mask_dqf": True}) == ReadOptions(band=13, mask_dqf=True)
    for bad in ({"band": 17}, {"band": "x"}, {"band": True}, {"mask_dqf": "yes"}):
        with pytest.raises(ValueError):
            ReadOptions.from_settings(bad)


def _flags(shape):
    """DQF 0 everywhere but columns 0..3 = 1, 2, 3, 4 (L1b's five values)."""
    dqf = np.zeros(shape, np.uint8)
    dqf[:, :4] = [1, 2, 3, 4]
    return dqf


def test_dqf_masking_by_product_default_and_option(tmp_path):
    l1b = make_abi_file(tmp_path, "L1b-RadF", band=13, shape=SHAPE, dqf=_flags(SHAPE))
    nan_columns = {
        None: [2],  # L1b default: "no value" only
        True: [1, 2, 3],  # DQF > 1
        False: [],
    }
    for mask, columns in nan_columns.items():
        field = read_frame(l1b, options=ReadOptions(mask_dqf=mask))
        assert [c for c in range(6) if np.isnan(field[:, c]).all()] == columns, mask
        assert np.isfinite(field[:, 4:]).all()
    assert read_netcdf(l1b, mask_dqf=True).attrs["goesvfi_dqf_mask"] == "DQF > 1 set to NaN"
    dqf = _flags(SHAPE)
    dqf[:, 3] = 0  # L2 flags are 0..3
    l2 = make_abi_file(tmp_path, "L2-CMIPC", band=13, shape=SHAPE, dqf=dqf)
    assert np.isfinite(read_frame(l2)).all()  # L2 default: nothing beyond the fill
    masked = read_frame(l2, options=ReadOptions(mask_dqf=True))
    assert [c for c in range(6) if np.isnan(masked[:, c]).all()] == [1, 2]
    mcmip = make_abi_file(tmp_path, "L2-MCMIPC", shape=SHAPE, bands=(13,), dqf={13: dqf})
    assert np.isnan(read_netcdf(mcmip, band=13, mask_dqf=True).values[:, 1:3]).all()
    bare = tmp_path / "bare.nc"
    xr.Dataset({"CMI": (("y", "x"), np.ones((4, 4), np.float32))}).to_netcdf(bare)
    with pytest.raises(FrameError, match="no DQF variable for 'CMI'"):
        read_frame(bare, options=ReadOptions(mask_dqf=True))


def test_an_undecodable_time_variable_does_not_stop_the_read(tmp_path):
    odd = {"t_star_look": {"units": "seconds since garbage"}}
    path = make_abi_file(tmp_path, "L1b-RadF", band=13, shape=SHAPE, attrs=odd)
    with NETCDF_LOCK:
        with pytest.raises(ValueError, match="unable to decode time units"):
            xr.open_dataset(path)  # what a plain xarray open makes of it
        gc.collect()  # xarray leaves the file it failed on to the garbage collector: closed here, under the lock
    da = read_netcdf(path)
    assert da.attrs["units"] == "K" and "t" in da.coords
    worse = make_abi_file(tmp_path / "worse.nc", "L1b-RadF", band=13, shape=SHAPE, attrs={"t": odd["t_star_look"]})
    da = read_netcdf(worse)  # even ``t`` itself: the field reads, without a mid-scan time
    assert "t" not in da.coords and "time_coverage_start" in da.coords
    np.testing.assert_allclose(da.values, moving_field(SHAPE, 0.0, 13), atol=0.06)


def test_a_file_without_projection_reads_and_geolocation_refuses(tmp_path):
    from goesvfi_lab.geo import lonlat

    path = make_abi_file(tmp_path, "L2-CMIPC", shape=SHAPE, drop=("goes_imager_projection",))
    da = read_field(path)
    assert "goes_imager_projection" not in da.coords and da.attrs["units"] == "K"
    with pytest.raises(FrameError, match="geolocation refused") as info:
        lonlat(da)
    assert info.value.path == str(path)


# --- sequences: re-issued scans ------------------------------------------------------------------------


def test_a_reissued_scan_is_replaced_by_the_newest(tmp_path):
    paths = make_abi_sequence(tmp_path / "in", 3, shape=SHAPE, start=T0)
    fixed = moving_field(SHAPE, 5.0, 13) + 4.0  # the re-issue differs from the first issue
    start = T0 + timedelta(minutes=5)
    reissue = make_abi_file(
        tmp_path / "in", "L2-CMIPC", start=start, shape=SHAPE, field=fixed, created=start + timedelta(hours=1)
    )
    assert reissue != paths[1] and reissue.name[:-20] == paths[1].name[:-20]  # same _s and _e, later _c
    (seq,) = group_sequences(str(p) for p in (tmp_path / "in").iterdir())
    assert seq.paths == [str(paths[0]), str(reissue), str(paths[2])] and seq.duplicates == [str(paths[1])]
    assert "re-issue of this scan was created later: kept " + str(reissue) in seq.notes[0]
    kept, notes = check_job_inputs([str(paths[1]), str(paths[0]), str(reissue), str(paths[2])])
    assert kept == seq.paths and any(str(paths[1]) in n and "re-issue" in n for n in notes)
    # end to end: the CLI's cube holds the re-issued field at that scan's time
    cube = tmp_path / "c.nc"
    rc = main(
        ["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--factor", "2"]
        + _LINEAR
        + ["--cube", str(cube)]
    )
    assert rc == 0
    with xr.open_dataset(cube) as ds:
        np.testing.assert_allclose(ds["CMI"].values[2], fixed, atol=0.031)


_LINEAR = ["--method", "linear"]


# --- CLI and batch engine -------------------------------------------------------------------------------


def _check_cube(cube_path, name, source):
    """The cube has units K, x/y in radians equal to ``source``'s and its grid mapping."""
    x, y = _file_xy(source)
    with xr.open_dataset(cube_path) as ds:
        var = ds[name]
        assert var.dims == ("time", "y", "x") and var.attrs["units"] == "K"
        np.testing.assert_array_equal(ds["x"].values, x)
        np.testing.assert_array_equal(ds["y"].values, y)
        assert ds["x"].attrs["units"] == ds["y"].attrs["units"] == "rad"
        assert var.attrs["grid_mapping"] == "goes_imager_projection"
        assert ds["goes_imager_projection"].attrs["grid_mapping_name"] == "geostationary"
        return var.values


@pytest.mark.parametrize(
    "product, name, flags",
    [("L1b-RadF", "BT", []), ("L2-CMIPC", "CMI", []), ("L2-MCMIPC", "CMI_C13", ["--band", "13"])],
)
def test_cli_interpolate_writes_a_kelvin_cube_on_the_files_grid(tmp_path, product, name, flags):
    paths = make_abi_sequence(tmp_path / "in", 3, product=product, shape=SHAPE, start=T0, bands=(2, 13))
    cube = tmp_path / "c.nc"
    args = ["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--factor", "2", *_LINEAR]
    assert main([*args, *flags, "--cube", str(cube)]) == 0
    values = _check_cube(cube, name, paths[0])
    assert values.shape == (5, *SHAPE)
    np.testing.assert_allclose(values[2], read_frame(paths[1], options=ReadOptions(band=13)), atol=1e-4)


def test_cli_interpolate_without_projection_still_interpolates(tmp_path):
    make_abi_sequence(tmp_path / "in", 2, shape=SHAPE, start=T0, drop=("goes_imager_projection",))
    cube = tmp_path / "c.nc"
    args = ["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--factor", "2", *_LINEAR]
    assert main([*args, "--cube", str(cube)]) == 0
    with xr.open_dataset(cube) as ds:
        assert ds["CMI"].shape == (3, *SHAPE) and "goes_imager_projection" not in ds.variables
        assert "grid_mapping" not in ds["CMI"].attrs  # no reference to a variable the cube lacks


def test_cli_run_mcmip_band_and_a_file_lacking_it(tmp_path, capsys):
    from distributed import LocalCluster

    root, out = tmp_path / "in", tmp_path / "out"
    good = make_abi_sequence(root / "good", 3, product="L2-MCMIPC", shape=SHAPE, start=T0, bands=(2, 13))
    lacking = make_abi_sequence(
        root / "lacking", 2, product="L2-MCMIPC", shape=SHAPE, start=T0 + timedelta(hours=3), bands=(1, 2)
    )
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, **NO_DASHBOARD) as cluster:
        rc = main(
            ["run", str(root), "-o", str(out), "--band", "13", "--cube", *_LINEAR]
            + ["--scheduler", cluster.scheduler_address, "--quiet"]
        )
    text = capsys.readouterr().out
    assert rc == 1  # one job failed, the other completed
    flat = " ".join(text.split()).replace("OR_ABI- L2", "OR_ABI-L2")  # the console wraps long lines
    assert "failed G16-L2-MCMIP-C-20240701T2101" in flat and "has no band 13 (no CMI_C13); bands present: 1, 2" in flat
    assert os.path.basename(lacking[0]) in flat.replace(" ", "")
    (cube,) = [p for p in out.rglob("cube.nc")]
    _check_cube(cube, "CMI_C13", good[0])


def test_batch_engine_reads_real_structures(tmp_path):
    import dask
    from distributed import Client, LocalCluster

    from goesvfi_lab.model import BatchJob, JobStatus
    from goesvfi_lab.queue import BatchQueue

    l1b = make_abi_sequence(tmp_path / "l1b", 3, product="L1b-RadF", shape=SHAPE, start=T0, dqf=_flags(SHAPE))
    mcmip = [str(p) for p in make_abi_sequence(tmp_path / "mc", 3, product="L2-MCMIPC", shape=SHAPE, start=T0)]
    jobs = {
        "l1b": ([str(p) for p in l1b], {"cube": True, "mask_dqf": True}),
        "mcmip": (mcmip, {"cube": True, "band": 13}),
        "no-band": (mcmip, {"cube": True}),
        "absent-band": (
            [
                str(p)
                for p in make_abi_sequence(tmp_path / "mc2", 2, product="L2-MCMIPC", shape=SHAPE, start=T0, bands=(1,))
            ],
            {"cube": True, "band": 13},
        ),
    }
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": "inf", "goesvfi.retry.max-attempts": 1}),
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, **NO_DASHBOARD) as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=tmp_path / "q.sqlite3")
        ids = {
            name: q.add_job(
                BatchJob(
                    name=name,
                    inputs=inputs,
                    output_dir=str(tmp_path / "out" / name),
                    factor=2,
                    method="linear",
                    settings=settings,
                )
            )
            for name, (inputs, settings) in jobs.items()
        }
        q.start(preload=["linear"])
        try:
            assert q.wait(120)
            status = {name: q.job(jid) for name, jid in ids.items()}
        finally:
            q.stop()
    assert status["l1b"].status == status["mcmip"].status == JobStatus.COMPLETED, status
    bt = _check_cube(tmp_path / "out" / "l1b" / "cube.nc", "BT", l1b[0])
    assert np.isnan(bt[0][:, 1:4]).all() and np.isfinite(bt[0][:, 4:]).all()  # DQF 2, 3, 4 masked
    _check_cube(tmp_path / "out" / "mcmip" / "cube.nc", "CMI_C13", mcmip[0])
    for name, why in (("no-band", "choose one"), ("absent-band", "has no band 13")):
        job = status[name]
        assert job.status == JobStatus.FAILED and why in (job.error or ""), job
        assert os.path.basename(jobs[name][0][0]) in job.error or os.path.basename(jobs[name][0][1]) in job.error
