"""One cube writer for the batch engine and ``goesvfi-lab interpolate --cube``: both cubes carry the
fixed-grid x/y, the grid-mapping variable and units of their NetCDF inputs (the CLI's once had none)."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr
from _engine_support import NO_DASHBOARD
from distributed import Client, LocalCluster

from goesvfi_lab.cli import main
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.sample import write_sample


@pytest.mark.parametrize("method", ["linear", "flow"])
def test_engine_and_cli_write_the_same_cf_cube(tmp_path, method):
    """Flow also checks that both see the same neighbouring scans (curved paths) and write the same
    confidence; linear has none (no ``CMI_confidence``)."""
    inputs = sorted(str(p) for p in write_sample(tmp_path / "in", frames=3, size=(40, 48), fmt="nc", seed=5))
    cli_cube = tmp_path / "cli.nc"
    assert (
        main(
            [
                "interpolate",
                str(tmp_path / "in"),
                "-o",
                str(tmp_path / "cli"),
                "--factor",
                "3",
                "--method",
                method,
                "--cube",
                str(cli_cube),
            ]
        )
        == 0
    )

    with (
        dask.config.set({"distributed.scheduler.worker-saturation": "inf"}),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=tmp_path / "q.sqlite3")
        jid = q.add_job(
            BatchJob(
                name="c",
                inputs=inputs,
                output_dir=str(tmp_path / "engine"),
                factor=3,
                method=method,
                settings={"cube": True},
            )
        )
        q.start(preload=[method])
        try:
            assert q.wait(60) and q.job(jid).status == JobStatus.COMPLETED, q.job(jid)
        finally:
            q.stop()

    with (
        xr.open_dataset(tmp_path / "engine" / "cube.nc") as eng,
        xr.open_dataset(cli_cube) as cli,
        xr.open_dataset(inputs[0]) as src,
    ):
        for ds in (eng, cli):
            cmi = ds["CMI"]
            assert cmi.dims == ("time", "y", "x") and ds.sizes["time"] == 7
            assert cmi.attrs["units"] == src["CMI"].attrs["units"] == "K"
            assert cmi.attrs["grid_mapping"] == "goes_imager_projection"
            proj = ds["goes_imager_projection"].attrs
            assert proj["grid_mapping_name"] == "geostationary"
            assert proj["perspective_point_height"] == src["goes_imager_projection"].attrs["perspective_point_height"]
            np.testing.assert_allclose(ds["x"].values, src["x"].values)
            np.testing.assert_allclose(ds["y"].values, src["y"].values)
            assert ds["x"].attrs["units"] == "rad"
            assert (cmi.attrs["goesvfi_factor"], cmi.attrs["goesvfi_method"]) == (3, method)
            if method == "linear":
                assert "CMI_confidence" not in ds
                continue
            conf = ds["CMI_confidence"]
            assert conf.dims == cmi.dims and conf.attrs["units"] == "1"
            assert conf.attrs["grid_mapping"] == "goes_imager_projection"
            scans = ds["frame_type"].values == 0
            np.testing.assert_array_equal(conf.values[scans], 1.0)
            assert 0.0 <= float(conf.min()) <= float(conf.max()) <= 1.0
            assert float(conf.values[~scans].mean()) < 1.0  # between scans it says something
        np.testing.assert_array_equal(eng["time"].values, cli["time"].values)
        np.testing.assert_allclose(eng["CMI"].values, cli["CMI"].values, atol=1e-4)
        if method == "flow":
            np.testing.assert_allclose(eng["CMI_confidence"].values, cli["CMI_confidence"].values, atol=1e-5)
