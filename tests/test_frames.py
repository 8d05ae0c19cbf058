"""Frame I/O against real files: every reader and writer, corrupt input, atomic output, MP4 and cubes."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import xarray as xr

from goesvfi_lab.errors import FrameError
from goesvfi_lab.frames import (
    atomic_path,
    available_encoders,
    count_video_frames,
    read_frame,
    read_netcdf,
    read_video,
    render,
    to_grey16,
    write_cube,
    write_png,
    write_video,
)
from goesvfi_lab.sample import Scene, write_sample


def _image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return rng.integers(0, top + 1, size=shape, dtype=np.int64).astype(dtype)


def _leftovers(directory) -> list[str]:
    return [n for n in os.listdir(directory) if ".tmp" in n]


# --- PNG / JPEG / TIFF ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [None, 2, 3, 4])
def test_png_round_trip_is_exact(tmp_path, dtype, channels):
    shape = (13, 17) if channels is None else (13, 17, channels)
    image = _image(shape, dtype)
    path = write_png(tmp_path / "frame.png", image)
    back = read_frame(path)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, image)
    assert _leftovers(tmp_path) == []


def test_png_written_by_pillow_palette_and_bilevel(tmp_path):
    from PIL import Image

    grey = _image((20, 30), np.uint8)
    Image.fromarray(grey).convert("P").save(tmp_path / "p.png")
    Image.fromarray(grey).convert("1").save(tmp_path / "bw.png")
    assert read_frame(tmp_path / "p.png").shape == (20, 30, 3)  # palette expanded to RGB
    bw = read_frame(tmp_path / "bw.png")
    assert bw.shape == (20, 30) and set(np.unique(bw)) <= {0, 255}


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg_read(tmp_path, mode):
    from PIL import Image

    yy, xx = np.mgrid[0:32, 0:48]
    grey = (xx * 4 + yy * 2).astype(np.uint8)  # smooth, so JPEG keeps it close
    image = grey if mode == "L" else np.stack([grey, grey[::-1], 255 - grey], axis=2)
    Image.fromarray(image).save(tmp_path / "f.jpg", quality=95)
    back = read_frame(tmp_path / "f.jpg")
    assert back.dtype == np.uint8 and back.shape == image.shape
    assert np.abs(back.astype(int) - image.astype(int)).mean() < 3


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_tiff_read(tmp_path, dtype, channels):
    import tifffile

    shape = (9, 11) if channels is None else (9, 11, channels)
    image = _image(shape, dtype)
    extra = {"photometric": "rgb"} if channels else {"photometric": "minisblack"}
    if channels == 4:
        extra["extrasamples"] = ["unassalpha"]
    tifffile.imwrite(tmp_path / "f.tif", image, compression="zlib", **extra)
    np.testing.assert_array_equal(read_frame(tmp_path / "f.tif"), image)


def test_tiff_planar_separate_comes_back_channel_last(tmp_path):
    import tifffile

    image = _image((3, 8, 10), np.uint16)  # planes
    tifffile.imwrite(tmp_path / "planar.tiff", image, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_frame(tmp_path / "planar.tiff"), np.moveaxis(image, 0, -1))


def test_png_with_the_wrong_extension_is_sniffed(tmp_path):
    image = _image((5, 6, 3), np.uint8)
    write_png(tmp_path / "frame.png", image)
    os.rename(tmp_path / "frame.png", tmp_path / "frame.jpg")
    np.testing.assert_array_equal(read_frame(tmp_path / "frame.jpg"), image)


# --- unreadable input ---------------------------------------------------------------------------------


def _corrupt_files(tmp_path):
    png = write_png(tmp_path / "good.png", _image((64, 64, 3), np.uint8))
    data = open(png, "rb").read()
    nc = write_sample(tmp_path / "nc", frames=1, size=(16, 16))[0]
    nc_data = open(nc, "rb").read()
    cases = {
        "empty.png": (b"", "empty file"),
        "truncated.png": (data[: len(data) // 2], "corrupt or truncated PNG"),
        "header_only.png": (data[:8], "corrupt or truncated PNG"),
        "notes.png": (b"this is a text file, not an image\n", "not a PNG, JPEG, TIFF or NetCDF"),
        "truncated.jpg": (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "corrupt or truncated JPEG"),
        "truncated.tif": (b"II*\x00\x08\x00\x00\x00\x05", "corrupt or truncated TIFF"),
        "truncated.nc": (nc_data[: len(nc_data) // 3], "cannot open as NetCDF"),
    }
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    return {str(tmp_path / n): reason for n, (_, reason) in cases.items()}


def test_corrupt_files_raise_frame_error_naming_file_and_reason(tmp_path):
    for path, reason in _corrupt_files(tmp_path).items():
        with pytest.raises(FrameError) as info:
            read_frame(path)
        assert info.value.path == path
        assert str(info.value).startswith(f"{path}: ")
        assert reason in info.value.reason, (path, info.value.reason)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FrameError, match="no such file") as info:
        read_frame(tmp_path / "absent.png")
    assert info.value.path == str(tmp_path / "absent.png")
    with pytest.raises(FrameError, match="is a directory"):
        read_frame(tmp_path)


def test_netcdf_without_cmi_or_rad(tmp_path):
    path = tmp_path / "other.nc"
    xr.Dataset({"DQF": (("y", "x"), np.zeros((4, 4), np.int8))}).to_netcdf(path, engine="netcdf4")
    with pytest.raises(FrameError, match="no CMI or Rad variable .*DQF") as info:
        read_frame(path)
    assert info.value.path == str(path)
    with pytest.raises(FrameError, match="no 'Rad' variable"):
        read_netcdf(path, variable="Rad")


# --- NetCDF ------------------------------------------------------------------------------------------------


def test_netcdf_cmi_matches_the_scene_and_keeps_metadata(tmp_path):
    path = write_sample(tmp_path, frames=2, size=(40, 48), seed=3)[1]
    truth = Scene(seed=3, size=(40, 48)).field(5.0)  # CONUS: scan 1 is 5 minutes after scan 0
    field = read_frame(path)
    assert field.dtype == np.float32 and field.shape == (40, 48)
    assert np.abs(field - truth).max() <= 0.0021  # int16 packing with 0.004 K steps
    da = read_netcdf(path)
    assert da.attrs["units"] == "K" and da.attrs["standard_name"] == "toa_brightness_temperature"
    assert "scale_factor" not in da.attrs and "_FillValue" not in da.attrs
    assert da.x.attrs["units"] == "rad" and da.x.size == 48
    assert "goes_imager_projection" in da.coords
    assert da.coords["goes_imager_projection"].attrs["grid_mapping_name"] == "geostationary"
    assert np.datetime64(da.t.values, "s") > np.datetime64("2024-05-16T18:06:17")


def test_netcdf_rad_converts_to_brightness_temperature(tmp_path):
    path = write_sample(tmp_path, frames=1, size=(48, 48), sector="F", product="Rad")[0]
    with xr.open_dataset(path) as ds:
        assert float(ds.Rad.max()) < 200  # really radiance, not temperature
        assert {"planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2"} <= set(ds.variables)
    truth = Scene(size=(48, 48), sector="F").field(0.0)
    bt = read_frame(path)
    assert np.array_equal(np.isnan(bt), np.isnan(truth))
    assert np.nanmax(np.abs(bt - truth)) < 0.05
    assert read_netcdf(path).attrs["units"] == "K"


def test_netcdf_fill_becomes_nan_and_explicit_planck_formula(tmp_path):
    fk1, fk2, bc1, bc2 = 10803.3, 1392.74, 0.0755, 0.99975
    counts = np.array([[0, 1000, 20000], [40000, 65534, 65535]], dtype=np.uint16).view(np.int16)
    ds = xr.Dataset(
        {
            "Rad": (
                ("y", "x"),
                counts,
                {
                    "scale_factor": np.float32(0.003),
                    "add_offset": np.float32(-0.5),
                    "_FillValue": np.int16(-1),
                    "_Unsigned": "true",
                },
            ),
            "planck_fk1": ((), np.float32(fk1)),
            "planck_fk2": ((), np.float32(fk2)),
            "planck_bc1": ((), np.float32(bc1)),
            "planck_bc2": ((), np.float32(bc2)),
        }
    )
    path = tmp_path / "rad.nc"
    ds.to_netcdf(path, engine="netcdf4")
    bt = read_frame(path)
    rad = counts.view(np.uint16).astype(np.float64) * np.float32(0.003) + np.float32(-0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = (np.float32(fk2) / np.log(np.float32(fk1) / rad + 1) - np.float32(bc1)) / np.float32(bc2)
    assert np.isnan(bt[0, 0])  # negative radiance has no temperature
    assert np.isnan(bt[1, 2])  # fill
    np.testing.assert_allclose(bt[0, 1:], expected[0, 1:], rtol=1e-5)
    np.testing.assert_allclose(bt[1, :2], expected[1, :2], rtol=1e-5)


def test_reflective_rad_uses_kappa0(tmp_path):
    path = write_sample(tmp_path, frames=1, size=(16, 16), band=2, product="Rad")[0]
    truth = Scene(size=(16, 16), band=2).field(0.0)
    assert np.nanmax(np.abs(read_frame(path) - truth)) < 1e-4
    assert read_netcdf(path).attrs["units"] == "1"


# --- render ---------------------------------------------------------------------------------------------


def test_render_ir_cold_white_warm_dark_nan_black():
    field = np.array([[180.0, 250.0, 320.0, np.nan]], dtype=np.float32)
    rgb = render(field, "ir")
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    assert tuple(rgb[0, 0]) == (255, 255, 255) and tuple(rgb[0, 2]) == (0, 0, 0)
    assert 0 < rgb[0, 1, 0] < 255 and rgb[0, 1, 0] == rgb[0, 1, 1] == rgb[0, 1, 2]
    assert tuple(rgb[0, 3]) == (0, 0, 0)
    assert np.array_equal(render(np.array([[100.0, 400.0]]), "ir"), [[[255] * 3, [0] * 3]])  # clipped


def test_render_enhanced_colours_only_cold_cloud():
    field = np.array([[290.0, 260.0, 238.0, 228.0, 218.0, 208.0, 198.0]], dtype=np.float32)
    rgb = render(field, "enhanced").astype(int)
    grey = rgb[0, :2]
    assert np.all(grey[:, 0] == grey[:, 1]) and np.all(grey[:, 1] == grey[:, 2])  # warm: grey
    assert grey[0, 0] < grey[1, 0]  # colder is brighter
    colours = rgb[0, 2:]
    assert np.all(colours.max(axis=1) - colours.min(axis=1) > 60)  # cold: saturated colours
    assert len({tuple(c) for c in colours}) == len(colours)


def test_render_grey_range_and_images_pass_through():
    field = np.array([[0.0, 0.5, 1.0]])
    assert list(render(field, "grey")[0, :, 0]) == [0, 128, 255]
    assert list(render(field, "grey", vmin=0, vmax=2)[0, :, 0]) == [0, 64, 128]
    image = _image((4, 5, 3), np.uint8)
    np.testing.assert_array_equal(render(image), image)
    rgba = np.dstack([image, np.full((4, 5), 255, np.uint8)])
    np.testing.assert_array_equal(render(rgba), image)
    with pytest.raises(ValueError, match="unknown colour table"):
        render(field, "viridis")
    g16 = to_grey16(np.array([[180.0, 320.0, np.nan]]))
    assert g16.dtype == np.uint16 and list(g16[0]) == [65535, 0, 0]


# --- atomic writes ------------------------------------------------------------------------------------


def test_write_png_rejects_float_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="render"):
        write_png(tmp_path / "f.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        write_png(tmp_path / "f.png", np.zeros((4, 4, 5), np.uint8))
    assert os.listdir(tmp_path) == []


def test_atomic_path_removes_partial_file_and_keeps_old_content(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".bin")
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("writer died")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["out.bin"]


# --- video -----------------------------------------------------------------------------------------------


def _moving_frames(n=7, shape=(33, 47)):
    scene = Scene(seed=2, size=shape, sector="M1", wind_scale=20)
    return [scene.field(float(k)) for k in range(n)]


def test_mp4_round_trip_with_odd_size_padded(tmp_path):
    frames = _moving_frames()
    path = write_video(tmp_path / "clip.mp4", frames, fps=10, crf=12, preset="ultrafast")
    assert count_video_frames(path) == 7
    decoded = read_video(path)
    assert len(decoded) == 7 and decoded[0].shape == (34, 48, 3)  # padded to even
    expected = render(frames[3])
    error = np.abs(decoded[3][:33, :47].astype(int) - expected.astype(int)).mean()
    assert error < 6, error
    assert _leftovers(tmp_path) == []


def test_video_from_png_paths_and_config_defaults(tmp_path):
    paths = [write_png(tmp_path / f"{k:03d}.png", render(f)) for k, f in enumerate(_moving_frames(4, (32, 32)))]
    out = write_video(tmp_path / "from_files.mp4", paths, preset="ultrafast")
    assert count_video_frames(out) == 4


@pytest.mark.skipif("libx265" not in available_encoders(), reason="bundled ffmpeg has no libx265")
def test_libx265(tmp_path):
    path = write_video(tmp_path / "clip.mp4", _moving_frames(5, (32, 48)), codec="libx265", preset="ultrafast", crf=20)
    assert count_video_frames(path) == 5
    assert read_video(path)[0].shape == (32, 48, 3)


def test_video_failures_leave_no_temp_file(tmp_path):
    frames = _moving_frames(3, (32, 32))
    bad = [*frames, np.zeros((16, 16), np.float32)]
    with pytest.raises(ValueError, match="frame 3 is 16x16"):
        write_video(tmp_path / "bad.mp4", bad, preset="ultrafast")
    with pytest.raises(FrameError, match="ffmpeg .* failed") as info:
        write_video(tmp_path / "bad_preset.mp4", frames, preset="no-such-preset")
    assert info.value.path == str(tmp_path / "bad_preset.mp4")
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [])
    with pytest.raises(ValueError, match="no 'nope' encoder"):
        write_video(tmp_path / "x.mp4", frames, codec="nope")
    assert os.listdir(tmp_path) == []


def test_unreadable_video(tmp_path):
    (tmp_path / "fake.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(FrameError, match="fake.mp4: cannot"):
        count_video_frames(tmp_path / "fake.mp4")
    with pytest.raises(FrameError, match="fake.mp4: cannot decode"):
        read_video(tmp_path / "fake.mp4")
    with pytest.raises(FrameError, match="no such file"):
        read_video(tmp_path / "absent.mp4")


# --- cube ------------------------------------------------------------------------------------------------


def test_cube_round_trip_with_times_coords_and_attrs(tmp_path):
    paths = write_sample(tmp_path / "in", frames=3, size=(24, 20), sector="F")
    template = read_netcdf(paths[0])
    start = datetime(2024, 5, 16, 18, 0, 20, 600000, tzinfo=timezone.utc)
    times = [start + timedelta(minutes=2.5 * k) for k in range(5)]
    scene = Scene(size=(24, 20), sector="F")
    frames = [scene.field(2.5 * k) for k in range(5)]
    out = write_cube(tmp_path / "cube.nc", frames, times, attrs={"comment": "every 2.5 min"}, template=template)
    assert _leftovers(tmp_path) == []
    with xr.open_dataset(out) as ds:
        cmi = ds.CMI
        assert cmi.dims == ("time", "y", "x") and cmi.dtype == np.float32
        assert list(ds.time.values) == [np.datetime64(t.replace(tzinfo=None), "ns") for t in times]
        assert re.match(r"microseconds since 2024-05-16[ T]18:00:20", ds.time.encoding["units"])
        assert cmi.encoding["zlib"] or cmi.encoding.get("compression") == "zlib"
        np.testing.assert_array_equal(ds.x.values, template.x.values)
        assert ds.y.attrs["units"] == "rad"
        assert cmi.attrs["units"] == "K" and cmi.attrs["comment"] == "every 2.5 min"
        assert ds.goes_imager_projection.attrs["grid_mapping_name"] == "geostationary"
        np.testing.assert_array_equal(cmi.values, np.stack(frames))  # NaN off the disk survives
    with pytest.raises(ValueError, match="strictly increase"):
        write_cube(tmp_path / "bad.nc", frames[:2], [times[1], times[0]])
    with pytest.raises(ValueError, match=r"frame 1 is \(3, 3\)"):
        write_cube(tmp_path / "bad.nc", [frames[0], np.zeros((3, 3))], times[:2])
    assert sorted(os.listdir(tmp_path)) == ["cube.nc", "in"]


def test_cube_from_netcdf_paths_without_template(tmp_path):
    paths = write_sample(tmp_path / "in", frames=2, size=(8, 8))
    times = [np.datetime64("2024-01-01T00:00:00"), np.datetime64("2024-01-01T00:05:00")]
    out = write_cube(tmp_path / "c.nc", paths, times)
    with xr.open_dataset(out) as ds:
        assert ds.CMI.shape == (2, 8, 8)
        np.testing.assert_allclose(ds.CMI.values[1], read_frame(paths[1]))


def test_netcdf_reads_are_safe_from_several_threads(tmp_path):
    """netCDF-C/HDF5 are not thread-safe; a multi-threaded Dask worker reads frames concurrently."""
    import threading

    from goesvfi_lab.sample import write_sample

    paths = write_sample(tmp_path, frames=4, size=(48, 48))
    expected = [read_frame(p) for p in paths]
    errors: list[BaseException] = []

    def loop():
        try:
            for i in range(150):
                np.testing.assert_array_equal(read_frame(paths[i % 4]), expected[i % 4])
        except BaseException as e:  # collected: an assertion in a thread would otherwise be lost
            errors.append(e)

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
