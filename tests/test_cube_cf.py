"""Cubes that travel (issue 13 item 5): CF metadata checked on the cube itself, and a Zarr cube opened lazily
with ``xr.open_zarr`` equal to the NetCDF cube of the same job, from ``goesvfi-lab interpolate`` and from the
batch engine, on the package's own scans and on files of NOAA's real structure (tests/goes_fixtures.py).

Expectations come from the input files (opened here with xarray) and the ABI names, not from the writer.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timedelta, timezone

import dask
import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from _engine_support import NO_DASHBOARD
from distributed import Client, LocalCluster
from goes_fixtures import make_abi_sequence, require_ncgen

import goesvfi_lab
from goesvfi_lab import geo
from goesvfi_lab.cli import main
from goesvfi_lab.cli.inspect import check_folder
from goesvfi_lab.discover import parse_goes_name
from goesvfi_lab.engine import layout
from goesvfi_lab.errors import FrameError
from goesvfi_lab.frames import read_field, write_cube
from goesvfi_lab.frames.atomic import atomic_dir
from goesvfi_lab.frames.cube_cf import dangling_references, frame_types, resolve_references
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.sample import write_sample

PROJECTION = "goes_imager_projection"


def _interpolate(folder, out, cube, factor: int, *extra: str) -> None:
    argv = ["interpolate", str(folder), "-o", str(out), "--factor", str(factor), "--method", "linear"]
    assert main([*argv, "--cube", str(cube), *extra]) == 0


def _run_engine(tmp_path, inputs: list[str], factor: int, jobs: dict[str, dict]) -> dict[str, str]:
    """Run one job per entry of ``jobs`` (name -> settings) on a LocalCluster; their output folders."""
    folders = {name: str(tmp_path / "engine" / name) for name in jobs}
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": "inf"}),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=tmp_path / "q.sqlite3")
        ids = [
            q.add_job(
                BatchJob(name=n, inputs=inputs, output_dir=folders[n], factor=factor, method="linear", settings=s)
            )
            for n, s in jobs.items()
        ]
        q.start(preload=["linear"])
        try:
            assert q.wait(120)
            for jid in ids:
                assert q.job(jid).status == JobStatus.COMPLETED, q.job(jid).error
        finally:
            q.stop()
    return folders


def _references(ds: xr.Dataset) -> dict[str, dict]:
    """Every variable's attributes as written (``coordinates`` lives in the encoding once decoded)."""
    out = {}
    for name, var in ds.variables.items():
        attrs = dict(var.attrs)
        if "coordinates" in var.encoding:
            attrs["coordinates"] = var.encoding["coordinates"]
        out[str(name)] = attrs
    return out


def check_cf(ds: xr.Dataset, inputs: list[str], factor: int, name: str) -> None:
    """The CF promises of a cube, against its inputs (the first opened raw for x/y and the projection)."""
    field = read_field(inputs[0])  # the physics the package reads from the file (BT from L1b Rad, …)
    var = ds[name]
    assert var.dims == ("time", "y", "x") and var.dtype == np.float32
    for key in ("units", "standard_name", "long_name"):
        if key in field.attrs:
            assert var.attrs[key] == field.attrs[key], key
    assert "ancillary_variables" in field.attrs  # the input names DQF …
    assert "ancillary_variables" not in var.attrs and "DQF" not in ds.variables  # … which the cube does not hold
    assert dangling_references(_references(ds)) == []
    assert var.attrs["grid_mapping"] == PROJECTION
    with xr.open_dataset(inputs[0]) as src:
        for axis in ("x", "y"):
            np.testing.assert_array_equal(ds[axis].values, src[axis].values)
            for key in ("units", "axis", "standard_name", "long_name"):
                assert ds[axis].attrs[key] == src[axis].attrs[key], (axis, key)
        assert ds["x"].attrs["units"] == "rad"
        assert ds[PROJECTION].attrs.keys() == src[PROJECTION].attrs.keys()
        for key, value in src[PROJECTION].attrs.items():
            np.testing.assert_array_equal(ds[PROJECTION].attrs[key], value)
    # provenance
    assert ds.attrs["Conventions"] == "CF-1.8"
    assert ds.attrs["source"] == ", ".join(os.path.basename(p) for p in inputs)
    history = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ): goesvfi-lab (\S+) .*", ds.attrs["history"])
    assert history, ds.attrs["history"]
    written = datetime.strptime(history[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - written) < timedelta(minutes=10)
    assert history[2] == goesvfi_lab.__version__
    assert "method=linear" in ds.attrs["history"] and f"factor={factor}" in ds.attrs["history"]
    times = ds["time"].values
    assert ds.attrs["time_coverage_start"] == np.datetime_as_string(times[0], unit="ms") + "Z"
    assert ds.attrs["time_coverage_end"] == np.datetime_as_string(times[-1], unit="ms") + "Z"
    # which times are scans: exactly the inputs' scan starts (from their ABI names)
    flags = ds["frame_type"]
    assert flags.dims == ("time",) and ds.sizes["time"] == (len(inputs) - 1) * factor + 1
    assert list(np.asarray(flags.attrs["flag_values"])) == [0, 1]
    assert flags.attrs["flag_meanings"].split() == ["scan", "interpolated"]
    scans = [np.datetime64(parse_goes_name(p).start.replace(tzinfo=None), "ns") for p in inputs]
    assert list(times[flags.values == 0]) == scans
    assert int((flags.values == 1).sum()) == (len(inputs) - 1) * (factor - 1)


def same_cube(nc: xr.Dataset, other: xr.Dataset, name: str, atol: float = 0.0) -> None:
    """Values, times, x/y, frame types and the attributes that matter agree (history up to its date)."""
    np.testing.assert_array_equal(nc["time"].values, other["time"].values)
    for coord in ("x", "y", *(c for c in ("lat", "lon") if c in nc.coords)):
        np.testing.assert_array_equal(nc[coord].values, other[coord].values)
        assert nc[coord].attrs == other[coord].attrs
    np.testing.assert_allclose(other[name].values, nc[name].values, rtol=0, atol=atol)  # NaN where NaN
    np.testing.assert_array_equal(nc["frame_type"].values, other["frame_type"].values)
    assert {k: v for k, v in nc[name].attrs.items()} == {k: v for k, v in other[name].attrs.items()}
    assert nc[name].encoding.get("coordinates") == other[name].encoding.get("coordinates")
    for key, value in nc[PROJECTION].attrs.items():
        np.testing.assert_array_equal(other[PROJECTION].attrs[key], value)

    def undated(attrs: dict) -> dict:  # and without the self-check's score, which only a queue's job has (issue 16)
        kept = {k: v for k, v in attrs.items() if not k.startswith("goesvfi_quality_")}
        return {**kept, "history": attrs["history"].split(": ", 1)[1]}

    assert undated(nc.attrs) == undated(other.attrs)


def assert_lazy_one_frame_per_chunk(ds: xr.Dataset, name: str) -> None:
    data = ds[name].data
    assert isinstance(data, dsa.Array)  # nothing read yet
    n, height, width = data.shape
    assert data.chunks == ((1,) * n, (height,), (width,))


def test_zarr_cube_equals_netcdf_cube_from_cli_and_engine(tmp_path):
    inputs = sorted(str(p) for p in write_sample(tmp_path / "in", frames=3, size=(40, 48), fmt="nc", seed=5))
    _interpolate(tmp_path / "in", tmp_path / "cli", tmp_path / "cli.nc", 3)
    _interpolate(tmp_path / "in", tmp_path / "cli-z", tmp_path / "cli.zarr", 3)
    folders = _run_engine(tmp_path, inputs, 3, {"nc": {"cube": True}, "zarr": {"cube": "zarr"}})
    assert os.path.isdir(os.path.join(folders["zarr"], "cube.zarr"))
    with (
        xr.open_dataset(tmp_path / "cli.nc") as cli_nc,
        xr.open_zarr(tmp_path / "cli.zarr") as cli_z,
        xr.open_dataset(os.path.join(folders["nc"], "cube.nc")) as eng_nc,
        xr.open_zarr(os.path.join(folders["zarr"], "cube.zarr")) as eng_z,
    ):
        for ds in (cli_z, eng_z):
            assert_lazy_one_frame_per_chunk(ds, "CMI")
        for ds in (cli_nc, cli_z, eng_nc, eng_z):
            check_cf(ds, inputs, 3, "CMI")
        same_cube(cli_nc, cli_z, "CMI")  # the same job in the two formats: identical
        same_cube(eng_nc, eng_z, "CMI")
        same_cube(cli_nc, eng_z, "CMI", atol=1e-4)  # the two paths agree
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary store left behind

    # the engine's layout knows cube.zarr: a complete result, partial without its store, removed as a whole
    assert check_folder(folders["zarr"]) == []  # goesvfi-lab check: the store listed in job.json is there
    spec = layout.result_spec(inputs, 3, "linear", {"cube": "zarr"})
    assert layout.existing_result(folders["zarr"], spec).state == "complete"
    assert layout.existing_result(folders["zarr"], layout.result_spec(inputs, 3, "linear", {"cube": True})).state == (
        "other"
    )
    shutil.copytree(os.path.join(folders["zarr"], "cube.zarr"), tmp_path / "kept.zarr")
    shutil.rmtree(os.path.join(folders["zarr"], "cube.zarr"))
    assert layout.existing_result(folders["zarr"], spec).state == "partial"
    assert check_folder(folders["zarr"]) == ["cube cube.zarr listed in job.json is missing"]
    shutil.copytree(tmp_path / "kept.zarr", os.path.join(folders["zarr"], "cube.zarr"))
    layout.remove_outputs(folders["zarr"])
    assert not os.path.exists(folders["zarr"])


@pytest.fixture(scope="module")
def conus(tmp_path_factory) -> list[str]:
    require_ncgen()
    folder = tmp_path_factory.mktemp("conus")
    return [str(p) for p in make_abi_sequence(folder, n=3, product="L2-CMIPC", shape=(30, 50))]


def test_real_structure_cube_with_latlon_from_cli_and_engine(tmp_path, conus):
    folder = os.path.dirname(conus[0])
    with xr.open_dataset(conus[0], mask_and_scale=False) as raw:  # NOAA's structure, as the header has it
        assert raw["CMI"].attrs["_Unsigned"] == "true" and raw["CMI"].dtype == np.int16
        assert raw["y"].attrs["scale_factor"] < 0
    _interpolate(folder, tmp_path / "cli", tmp_path / "cli.nc", 2, "--latlon")
    folders = _run_engine(tmp_path, conus, 2, {"zarr": {"cube": "zarr", "latlon": True}})
    lon, lat = geo.lonlat(read_field(conus[0]))
    with (
        xr.open_dataset(tmp_path / "cli.nc") as cli_nc,
        xr.open_zarr(os.path.join(folders["zarr"], "cube.zarr")) as eng_z,
    ):
        assert_lazy_one_frame_per_chunk(eng_z, "CMI")
        for ds in (cli_nc, eng_z):
            check_cf(ds, conus, 2, "CMI")
            assert ds["CMI"].encoding["coordinates"] == "lat lon"
            assert ds["lat"].dims == ds["lon"].dims == ("y", "x")
            assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["standard_name"] == "longitude"
            np.testing.assert_allclose(ds["lat"].values, lat, atol=1e-4)
            np.testing.assert_allclose(ds["lon"].values, lon, atol=1e-4)
            np.testing.assert_allclose(geo.lonlat(ds)[1], lat)  # the cube alone geolocates (x/y + grid mapping)
            assert ds.attrs["platform_ID"] == "G16" and ds.attrs["scene_id"] == "CONUS"
            assert ds["CMI"].attrs["units"] == "K"
        same_cube(cli_nc, eng_z, "CMI", atol=1e-4)


@pytest.mark.parametrize(
    "product, band, name, units",
    [
        ("L1b-RadC", 13, "BT", "K"),
        ("L1b-RadF", 1, "reflectance", "1"),  # NOAA's band-1 header as is: 10-bit, kappa0
        ("L2-MCMIPC", 13, "CMI_C13", "K"),
        ("sample-Rad", 2, "reflectance", "1"),
    ],
)
def test_cube_keeps_the_name_read(tmp_path, product, band, name, units):
    if product.startswith("sample"):  # the package's own L1b writer (kappa0 for a reflective band)
        write_sample(tmp_path / "in", frames=2, size=(24, 24), product="Rad", band=band)
    else:
        require_ncgen()
        bands = {"bands": (2, 13)} if "MCMIP" in product else {}
        make_abi_sequence(tmp_path / "in", n=2, product=product, band=band, shape=(24, 24), **bands)
    variable = ["--variable", name] if "MCMIP" in product else []
    _interpolate(tmp_path / "in", tmp_path / "out", tmp_path / "c.nc", 2, *variable)
    _interpolate(tmp_path / "in", tmp_path / "out-z", tmp_path / "c.zarr", 2, *variable)
    with xr.open_dataset(tmp_path / "c.nc") as nc, xr.open_zarr(tmp_path / "c.zarr") as z:
        assert name in nc.data_vars and nc[name].attrs["units"] == units
        assert dangling_references(_references(nc)) == [] and "ancillary_variables" not in nc[name].attrs
        if "cell_methods" in nc[name].attrs:  # the input's scalar t is the cube's time dimension
            assert nc[name].attrs["cell_methods"].startswith("time: ")
        same_cube(nc, z, name)
        assert list(nc["frame_type"].values) == [0, 1, 0]


def test_resolve_references_keeps_only_what_the_cube_holds():
    attrs = {
        "ancillary_variables": "DQF",
        "grid_mapping": "goes_imager_projection",
        "coordinates": "band_id t y x",
        "cell_methods": "t: point area: point",
        "units": "K",
    }
    present = {"CMI", "time", "y", "x", "goes_imager_projection"}
    out = resolve_references(attrs, present, {"t": "time"})
    assert out == {
        "grid_mapping": "goes_imager_projection",
        "coordinates": "y x",
        "cell_methods": "time: point area: point",
        "units": "K",
    }
    assert resolve_references(attrs, {"CMI", "DQF"}, {}) == {"ancillary_variables": "DQF", "units": "K"}
    assert resolve_references({"cell_measures": "area: cell_area", "bounds": "tb"}, {"x"}) == {}
    assert dangling_references({"CMI": attrs, "y": {}, "x": {}}) == [
        "CMI: ancillary_variables -> DQF",
        "CMI: coordinates -> band_id",
        "CMI: coordinates -> t",
        "CMI: grid_mapping -> goes_imager_projection",
    ]
    assert list(frame_types(7, 3)) == [0, 1, 1, 0, 1, 1, 0] and list(frame_types(2, 1)) == [0, 0]
    with pytest.raises(ValueError, match="factor"):
        frame_types(3, 0)


def test_zarr_writes_are_atomic(tmp_path):
    frames = [np.full((4, 5), k, np.float32) for k in range(3)]
    times = [np.datetime64("2024-01-01T00:00") + np.timedelta64(5 * k, "m") for k in range(3)]
    store = write_cube(tmp_path / "c.zarr", frames, times)
    with pytest.raises(ValueError, match=r"c\.zarr: frame 1 is \(3, 3\)"):
        write_cube(store, [frames[0], np.zeros((3, 3), np.float32)], times[:2])
    with xr.open_zarr(store) as ds:  # the failed rewrite left the old store as it was
        np.testing.assert_array_equal(ds["CMI"].values, np.stack(frames))
    write_cube(store, frames[:2], times[:2])  # a good rewrite replaces it
    with xr.open_zarr(store) as ds:
        assert ds.sizes["time"] == 2
    with pytest.raises(RuntimeError, match="boom"), atomic_dir(tmp_path / "d.zarr") as tmp:
        os.makedirs(tmp)
        raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["c.zarr"]  # no temporaries, no half store
    (tmp_path / "a-file").write_text("not a folder")
    for name in ("c.zarr", "c.nc"):
        with pytest.raises(FrameError, match=rf"a-file/{name}: cannot write the (zarr|netcdf) cube"):
            write_cube(tmp_path / "a-file" / name, frames, times)


def test_cli_cube_flags(tmp_path, capsys):
    write_sample(tmp_path / "in", frames=2, size=(8, 8))
    assert main(["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--latlon"]) == 1
    assert "--latlon adds lat/lon coordinates to the cube: it needs --cube" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "r"), "--cube", "hdf"])
    assert "--cube takes no value or 'zarr', not 'hdf'" in capsys.readouterr().err


@pytest.mark.slow
def test_run_cube_zarr_with_latlon_and_rerun_skips(tmp_path, conus, capsys, monkeypatch):
    """``goesvfi-lab run --cube zarr --latlon``: each job's cube.zarr, and a second run finds it complete."""
    monkeypatch.setenv("COLUMNS", "220")  # the summary table on one line per row
    args = ["run", os.path.dirname(conus[0]), "-o", str(tmp_path / "out"), "--factor", "2", "--method", "linear"]
    args += ["--cube", "zarr", "--latlon", "--workers", "1", "--threads", "1", "--quiet"]
    assert main(args) == 0
    (job,) = [d for d in os.listdir(tmp_path / "out") if (tmp_path / "out" / d).is_dir()]
    with xr.open_zarr(tmp_path / "out" / job / "cube.zarr") as ds:
        assert_lazy_one_frame_per_chunk(ds, "CMI")
        check_cf(ds, conus, 2, "CMI")
        assert ds["CMI"].encoding["coordinates"] == "lat lon"
        np.testing.assert_allclose(ds["lat"].values, geo.lonlat(read_field(conus[0]))[1], atol=1e-4)
    capsys.readouterr()
    assert main(args) == 0
    assert "│    1 │    0 │                  1 │" in capsys.readouterr().out  # jobs, done, skipped as complete
