"""The `goesvfi-lab sample` and `goesvfi-lab interpolate` commands, on real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from goesvfi_lab.cli import main
from goesvfi_lab.discover import FileFilter, group_sequences, parse_goes_name
from goesvfi_lab.frames import count_video_frames, read_frame, write_png


def test_sample_command_writes_an_abi_sequence(tmp_path):
    out = tmp_path / "D"
    # the console script itself, as a user runs it
    exe = shutil.which("goesvfi-lab", path=os.path.dirname(sys.executable))
    assert exe, "console script not installed next to the interpreter"
    subprocess.run(
        [exe, "sample", str(out), "--frames", "12", "--size", "256", "256", "--format", "nc"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    files = sorted(os.listdir(out))
    assert len(files) == 12 and all(parse_goes_name(f) for f in files)
    with xr.open_dataset(out / files[0]) as ds:
        assert ds["CMI"].shape == (256, 256)
        assert ds["CMI"].attrs["units"] == "K"
    assert len(FileFilter(band=13).scan(out)) == 12
    assert FileFilter(band=2).scan(out) == []
    seqs = group_sequences(FileFilter(band=13).scan(out))
    assert len(seqs) == 1 and seqs[0].n_frames == 12 and seqs[0].missing == []


def _write_frames(folder, n=4, size=(24, 32)):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(*size, 3), dtype=np.uint8) for _ in range(n)]
    for i, f in enumerate(frames):
        write_png(folder / f"frame{i + 1}.png", f)  # natural order: frame1 … frame4
    return frames


@pytest.mark.parametrize(
    "fmt, named, expected",
    [
        ("nc", True, "flow, field"),  # brightness temperatures
        ("png", True, "flow, field"),  # 8-bit renders with ABI names: satellite imagery
        ("png", False, "video"),  # the same pixels under camera-like names
    ],
)
def test_auto_follows_what_the_frames_show(tmp_path, capsys, fmt, named, expected):
    from goesvfi_lab.sample import write_sample

    paths = write_sample(tmp_path / "in", frames=3, size=(32, 40), fmt=fmt)
    if not named:
        for i, p in enumerate(sorted(paths)):
            os.rename(p, tmp_path / "in" / f"frame{i + 1}.png")
    assert main(["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--factor", "2"]) == 0
    assert f"{expected})" in capsys.readouterr().out.replace("\n", "")
    assert len(os.listdir(tmp_path / "out")) == 5


def test_interpolate_names_frames_in_time_order(tmp_path, capsys):
    frames = _write_frames(tmp_path / "in")
    out = tmp_path / "out"
    video = tmp_path / "clip.mp4"
    rc = main(
        [
            "interpolate",
            str(tmp_path / "in"),
            "-o",
            str(out),
            "--factor",
            "3",
            "--method",
            "linear",
            "--video",
            str(video),
            "--fps",
            "12",
        ]
    )
    assert rc == 0
    names = sorted(os.listdir(out))
    assert names == [f"{i:06d}.png" for i in range(10)]  # (4-1)*3+1
    for k, frame in enumerate(frames):  # input k passes through unchanged at index k*factor
        np.testing.assert_array_equal(read_frame(out / f"{3 * k:06d}.png"), frame)
    mid = read_frame(out / "000001.png").astype(float)  # linear at t=1/3
    expected = (2 * frames[0].astype(float) + frames[1]) / 3
    assert np.abs(mid - expected).max() <= 1
    assert count_video_frames(video) == 10


def test_interpolate_refuses_to_mix_with_existing_frames(tmp_path, capsys):
    _write_frames(tmp_path / "in", n=3)
    out = tmp_path / "out"
    assert main(["interpolate", str(tmp_path / "in"), "-o", str(out), "--factor", "4", "--method", "linear"]) == 0
    assert len(os.listdir(out)) == 9
    assert main(["interpolate", str(tmp_path / "in"), "-o", str(out), "--factor", "2", "--method", "linear"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (
        main(
            ["interpolate", str(tmp_path / "in"), "-o", str(out), "--factor", "2", "--method", "linear", "--overwrite"]
        )
        == 0
    )
    assert sorted(os.listdir(out)) == [f"{i:06d}.png" for i in range(5)]  # stale frames 5..8 removed


def test_interpolate_netcdf_to_cube(tmp_path, sample_nc):
    folder = os.path.dirname(sample_nc[0])
    cube = tmp_path / "cube.nc"
    rc = main(
        ["interpolate", folder, "-o", str(tmp_path / "out"), "--factor", "2", "--method", "linear", "--cube", str(cube)]
    )
    assert rc == 0
    with xr.open_dataset(cube) as ds:
        assert ds.sizes["time"] == 23
        t = ds["time"].values
        assert (np.diff(t) == np.timedelta64(150, "s")).all()  # 5-min cadence, factor 2
        first = read_frame(sample_nc[0])
        np.testing.assert_allclose(ds["CMI"].values[0], first, atol=1e-3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d.mkdir(), "no frames found"),
        (lambda d: _write_frames(d, n=1), "at least 2 frames"),
    ],
)
def test_interpolate_clear_errors(tmp_path, capsys, make, message):
    make(tmp_path / "in")
    assert main(["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--method", "linear"]) == 1
    assert message in capsys.readouterr().err


def test_interpolate_bad_frame_names_the_file(tmp_path, capsys):
    _write_frames(tmp_path / "in", n=3)
    bad = tmp_path / "in" / "frame2.png"
    bad.write_bytes(b"not a png at all")
    assert main(["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--method", "linear"]) == 1
    assert str(bad) in capsys.readouterr().err
