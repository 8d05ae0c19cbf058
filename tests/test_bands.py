"""``cmap="auto"``: one rule by ABI band (reflective vis, water vapour wv, IR window enhanced) everywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from goesvfi_lab.bands import auto_cmap, band_type
from goesvfi_lab.cli import main
from goesvfi_lab.frames import read_frame, render
from goesvfi_lab.frames.render import WV_RANGE, value_range
from goesvfi_lab.sample import write_sample
from goesvfi_lab.widgets import state as S


def _name(band: int, ext: str = ".nc") -> str:
    return f"OR_ABI-L2-CMIPC-M6C{band:02d}_G16_s20233651200171_e20233651202544_c20233651203000{ext}"


def test_band_types_cover_the_sixteen_abi_bands():
    kinds = {b: band_type(b) for b in range(1, 17)}
    assert [b for b, k in kinds.items() if k == "reflective"] == [1, 2, 3, 4, 5, 6]
    assert [b for b, k in kinds.items() if k == "water_vapour"] == [8, 9, 10]
    assert [b for b, k in kinds.items() if k == "ir_window"] == [7, 11, 12, 13, 14, 15, 16]
    assert band_type(None) is None and band_type(17) is None


@pytest.mark.parametrize(
    ("band", "cmap"),
    [(2, "vis"), (7, "enhanced"), (8, "wv"), (9, "wv"), (10, "wv"), (13, "enhanced"), (16, "enhanced")],
)
def test_auto_cmap_by_band_from_names_and_numbers(band, cmap):
    assert auto_cmap(_name(band)) == auto_cmap(_name(band, ".png")) == auto_cmap(band) == cmap
    assert S.auto_cmap("/data/goes/" + _name(band)) == cmap  # the notebook's jobs and thumbnails use the rule


def test_files_without_a_band_take_the_callers_default():
    assert auto_cmap("frame_001.png") == "grey" and S.auto_cmap("frame_001.png") == "grey"
    assert auto_cmap("frame_001.nc", default="ir") == "ir"
    assert auto_cmap("OR_ABI-L2-ACMC-M6_G16_s20233651200171_e20233651202544_c20233651203000.nc") == "grey"


def test_band_rule_is_pure_python():
    code = (
        "import json, sys, goesvfi_lab.bands\n"
        "print(json.dumps([m for m in ('numpy', 'torch', 'dask', 'ipywidgets') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == []


def test_water_vapour_table_dry_brown_orange_moist_white_cold_blue_green():
    assert value_range(np.zeros((1, 1), np.float32), "wv", None, None) == WV_RANGE
    field = np.array([[275.0, 262.0, 250.0, 233.0, 220.0, 195.0, np.nan]], dtype=np.float32)
    rgb = render(field, "wv").astype(int)
    warm, brown, grey, moist, cold, coldest, space = (rgb[0, k] for k in range(7))
    assert warm[0] > warm[1] > warm[2] and warm[0] > 200  # dry: orange
    assert brown[0] > brown[2] and brown.max() < 160  # dark brown
    assert grey[0] == grey[1] == grey[2] and 40 < grey[0] < 200
    assert moist.min() > 240  # moist upper troposphere: white
    assert cold[2] > cold[0] and cold[2] > 200  # colder: blue
    assert coldest[1] > coldest[0] and coldest[1] > coldest[2] - 50 and coldest[0] < 50  # blue-green
    assert tuple(space) == (0, 0, 0)
    # not the IR cloud table: a 230 K water-vapour scene is white here, a cold-cloud colour in "enhanced"
    assert not np.array_equal(render(field, "wv"), render(field, "enhanced"))


def test_cli_interpolate_colours_water_vapour_with_the_wv_table(tmp_path, capsys):
    paths = write_sample(tmp_path / "in", frames=2, size=(24, 32), fmt="nc", band=8)
    assert (
        main(["interpolate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--factor", "2", "--method", "linear"])
        == 0
    )
    written = read_frame(tmp_path / "out" / "000000.png")
    np.testing.assert_array_equal(written, render(read_frame(paths[0]), "wv"))
