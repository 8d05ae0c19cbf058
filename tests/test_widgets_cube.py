"""The preview's cube format (issue 13 item 5, notebook): NetCDF or Zarr, handed to each job as
``settings["cube"]`` (True: cube.nc, "zarr": cube.zarr, see goesvfi_lab.engine.layout) and priced as
benchmarks/cube.py measured the writes — on real files, through the real panel on a recording comm
(tests/_widget_wire.py)."""

from __future__ import annotations

import os

import pytest
from _widget_wire import install

from goesvfi_lab.engine import layout
from goesvfi_lab.sample import write_sample
from goesvfi_lab.widgets.preview_panel import PreviewPanel
from goesvfi_lab.widgets.state import FilterState, JobSettings, make_jobs, scan


@pytest.fixture
def wire(monkeypatch):
    return install(monkeypatch)


def test_the_preview_offers_the_cube_as_netcdf_or_zarr(wire, tmp_path):
    write_sample(tmp_path / "nc", frames=3, size=(48, 64), fmt="nc")
    submitted = []
    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"),
        on_confirm=lambda jobs: submitted.extend(jobs) or "ok",
        methods=["linear"],
        measure=lambda *a: 0.01,
    )
    panel.show(scan(FilterState(root=str(tmp_path / "nc"), extensions=".nc")))
    assert panel.wait()
    assert [v for _, v in panel.cube_format.options] == ["netcdf", "zarr"] and panel.cube_format.value == "netcdf"
    wire.set(panel.cube, value=True)  # ticked in the browser
    assert panel.wait()
    netcdf = panel.last_estimate.seconds
    wire.set(panel.cube_format, index=1)  # the browser picks Zarr
    assert panel.wait() and panel.cube_format.value == "zarr"
    assert panel.last_estimate.seconds < netcdf  # a Zarr cube writes faster than a NetCDF-4 one
    wire.click(panel.confirm)
    (job,) = submitted
    assert job.settings["cube"] == "zarr"
    assert layout.cube_path(job.output_dir, job.settings) == os.path.join(job.output_dir, "cube.zarr")
    wire.set(panel.cube_format, index=0)  # a setting change: Confirm is offered again
    wire.click(panel.confirm)
    assert len(submitted) == 2 and submitted[1].settings["cube"] is True
    assert layout.cube_path(submitted[1].output_dir, submitted[1].settings).endswith("cube.nc")
    wire.set(panel.cube, value=False)
    wire.click(panel.confirm)
    assert len(submitted) == 3 and submitted[2].settings["cube"] is False  # the format alone asks for no cube


def test_a_zarr_cube_needs_netcdf_inputs_and_a_known_format(tmp_path):
    write_sample(tmp_path / "png", frames=3, size=(40, 50), fmt="png")
    seqs = scan(FilterState(root=str(tmp_path / "png"), extensions=".png")).sequences
    out = str(tmp_path / "out")
    with pytest.raises(ValueError, match="a Zarr cube needs NetCDF inputs; .* \\(untick 'data cube'\\)"):
        make_jobs(seqs, JobSettings(cube=True, cube_format="zarr", output_dir=out))
    with pytest.raises(ValueError, match="cube format must be one of netcdf, zarr, not 'hdf5'"):
        JobSettings(cube=True, cube_format="hdf5").validate()
    assert make_jobs(seqs, JobSettings(cube_format="zarr", output_dir=out))[0].settings["cube"] is False
