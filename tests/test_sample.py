"""The synthetic GOES generator: deterministic, physically plausible, continuous in time, ABI-shaped files."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import xarray as xr

from goesvfi_lab.discover import FileFilter, group_sequences, parse_goes_name
from goesvfi_lab.frames import read_frame
from goesvfi_lab.sample import Scene, write_sample


def test_same_seed_same_field_other_seed_other_field():
    a = Scene(seed=7, size=(48, 64)).field(12.5)
    b = Scene(seed=7, size=(48, 64)).field(12.5)
    c = Scene(seed=8, size=(48, 64)).field(12.5)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 3.0


def test_values_look_like_band_13():
    values = np.concatenate(
        [Scene(seed=s, size=(96, 96), sector=sec).field(0.0).ravel() for s in range(3) for sec in ("C", "F", "M1")]
    )
    finite = values[np.isfinite(values)]
    assert finite.dtype == np.float32
    assert 190.0 <= finite.min() and finite.max() <= 312.0
    assert np.percentile(finite, 95) > 280.0  # clear sky is warm
    assert np.percentile(finite, 2) < 235.0  # some cold cloud tops
    c = Scene(seed=0, size=(64, 64), sector="C").field(0.0)
    assert np.isfinite(c).all()  # CONUS lies inside the disk


def test_rows_blocks_equal_whole_field():
    scene = Scene(seed=4, size=(300, 40), sector="M2")
    whole = scene.field(3.0)
    pieces = np.concatenate([b for _, b in scene.blocks(3.0, rows=37)])
    np.testing.assert_array_equal(whole, pieces)


def test_motion_is_continuous_in_time():
    scene = Scene(seed=1, size=(128, 128), sector="C")
    f = {t: scene.field(t).astype(np.float64) for t in (0.0, 2.5, 5.0, 10.0, 25.0)}
    mid = f[2.5]
    near = min(np.abs(mid - f[0.0]).mean(), np.abs(mid - f[5.0]).mean())
    far = np.abs(mid - f[25.0]).mean()
    assert 0 < near < 0.5 * far
    # smaller time steps -> proportionally smaller changes (no jumps anywhere)
    tiny = np.abs(scene.field(2.51) - mid).max()
    assert tiny < 0.5
    # the clouds move: the frame five minutes later is best matched by a shifted copy, not by itself
    assert np.abs(f[5.0] - f[0.0]).mean() > 0.2


@pytest.mark.parametrize("sector", ["C", "M1", "M2"])
def test_windows_are_placed_on_weather(sector):
    covers = [(Scene(seed=s, size=(96, 96), sector=sector).field(0.0) < 255).mean() for s in range(6)]
    assert min(covers) > 0.15 and max(covers) < 0.85, covers


def test_mesoscale_sectors_sit_inside_conus():
    for sector in ("M1", "M2"):
        scene = Scene(seed=3, size=(64, 64), sector=sector)
        assert -0.1013 <= scene.x.min() < scene.x.max() <= 0.0386
        assert 0.0443 <= scene.y.min() < scene.y.max() <= 0.1282
        assert np.allclose(np.diff(scene.x), 56e-6) and np.allclose(np.diff(scene.y), -56e-6)


def test_full_disk_is_nan_outside_the_earth():
    scene = Scene(seed=0, size=(101, 101), sector="F")
    field = scene.field(0.0)
    mask = scene.earth_mask()
    assert np.array_equal(np.isnan(field), ~mask)
    assert np.isnan(field[0, 0]) and np.isnan(field[0, -1]) and np.isnan(field[-1, 0])
    assert np.isfinite(field[50, 50]) and np.isfinite(field[50, 2]) and np.isfinite(field[2, 50])
    fraction = mask.mean()
    assert 0.72 < fraction < 0.80  # pi/4 for a disk in its square, minus the flattened poles


def test_sample_files_have_abi_names_cadence_and_metadata(tmp_path):
    t0 = time.perf_counter()
    paths = write_sample(tmp_path, frames=12, size=(256, 256), seed=2)
    elapsed = time.perf_counter() - t0
    assert elapsed < 20, elapsed
    assert len(paths) == 12 and paths == sorted(paths)
    names = [parse_goes_name(p) for p in paths]
    assert all(n is not None for n in names)
    assert {(n.satellite, n.level, n.product, n.sector, n.mode, n.band) for n in names} == {
        ("G16", "L2", "CMIP", "C", 6, 13)
    }
    starts = [n.start for n in names]
    assert {b - a for a, b in zip(starts, starts[1:])} == {timedelta(minutes=5)}
    assert all(n.start < n.end < n.created for n in names)
    assert len(FileFilter(band=13).scan(tmp_path)) == 12 and FileFilter(band=2).scan(tmp_path) == []
    seqs = group_sequences(paths)
    assert len(seqs) == 1 and seqs[0].n_frames == 12 and seqs[0].missing == []

    with xr.open_dataset(paths[3]) as ds:
        cmi = ds.CMI
        assert cmi.dims == ("y", "x") and cmi.shape == (256, 256)
        assert cmi.attrs["units"] == "K" and cmi.attrs["standard_name"] == "toa_brightness_temperature"
        assert cmi.encoding["dtype"] == np.int16 and "scale_factor" in cmi.encoding
        assert ds.x.attrs["units"] == "rad" and ds.y.attrs["units"] == "rad"
        assert ds.y.values[0] > ds.y.values[-1]  # north up
        assert int(ds.band_id.values[0]) == 13
        assert ds.goes_imager_projection.attrs["perspective_point_height"] == 35786023.0
        assert ds.attrs["platform_ID"] == "G16" and ds.attrs["scene_id"] == "CONUS"
        assert ds.attrs["dataset_name"] == os.path.basename(paths[3])
        assert ds.attrs["time_coverage_start"].startswith(names[3].start.strftime("%Y-%m-%dT%H:%M:%S"))
        mid = names[3].start + (names[3].end - names[3].start) / 2
        assert abs(ds.t.values - np.datetime64(mid.replace(tzinfo=None), "ns")) < np.timedelta64(1, "ms")
    # the file holds the analytic field at its scan start
    truth = Scene(seed=2, size=(256, 256)).field(15.0)
    assert np.abs(read_frame(paths[3]) - truth).max() <= 0.0021


@pytest.mark.parametrize(("sector", "minutes"), [("F", 10), ("M1", 1), ("M2", 1)])
def test_cadence_per_sector_and_other_satellites(tmp_path, sector, minutes):
    start = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    paths = write_sample(tmp_path, frames=3, size=(32, 32), sector=sector, satellite="G18", start=start)
    names = [parse_goes_name(p) for p in paths]
    assert [n.start for n in names] == [start + k * timedelta(minutes=minutes) for k in range(3)]
    assert {n.sector for n in names} == {sector} and {n.satellite for n in names} == {"G18"}
    assert names[0].cadence == timedelta(minutes=minutes)
    with xr.open_dataset(paths[0]) as ds:
        assert ds.goes_imager_projection.attrs["longitude_of_projection_origin"] == -137.0


def test_rad_product_is_l1b(tmp_path):
    paths = write_sample(tmp_path, frames=2, size=(32, 32), product="Rad", satellite="G19")
    name = parse_goes_name(paths[0])
    assert (name.level, name.product, name.satellite) == ("L1b", "Rad", "G19")
    truth = Scene(size=(32, 32), satellite="G19").field(5.0)
    assert np.abs(read_frame(paths[1]) - truth).max() < 0.05


def test_png_renders(tmp_path):
    grey = write_sample(tmp_path / "grey", frames=2, size=(40, 50), fmt="png")
    colour = write_sample(tmp_path / "colour", frames=1, size=(40, 50), fmt="png", cmap="enhanced", sector="F")
    deep = write_sample(tmp_path / "deep", frames=1, size=(40, 50), fmt="png", bit_depth=16)
    assert all(p.endswith(".png") and parse_goes_name(p).ext == ".png" for p in grey + colour + deep)
    g = read_frame(grey[0])
    assert g.dtype == np.uint8 and g.shape == (40, 50, 3)
    assert np.array_equal(g[..., 0], g[..., 1])
    c = read_frame(colour[0])
    assert (c.max(axis=2).astype(int) - c.min(axis=2)).max() > 60  # coloured cold tops
    assert tuple(c[0, 0]) == (0, 0, 0)  # space is black
    d = read_frame(deep[0])
    assert d.dtype == np.uint16 and d.shape == (40, 50)
    bt = 320.0 - d.astype(np.float64) / 65535.0 * 140.0
    truth = Scene(size=(40, 50)).field(0.0)
    assert np.abs(bt - truth).max() < 0.01


def test_reflective_band_is_reflectance(tmp_path):
    field = Scene(size=(64, 64), band=2).field(0.0)
    assert 0.0 <= field.min() and field.max() <= 1.0
    path = write_sample(tmp_path, frames=1, size=(16, 16), band=2)[0]
    assert read_frame(path).max() <= 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="sector"):
        Scene(sector="X")
    with pytest.raises(ValueError, match="band"):
        Scene(band=17)
    with pytest.raises(ValueError, match="fmt"):
        write_sample("/nonexistent", fmt="jpg")
    with pytest.raises(ValueError, match="frames"):
        write_sample("/nonexistent", frames=0)
