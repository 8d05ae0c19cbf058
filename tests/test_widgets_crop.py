"""The preview's crop box (issue 13 item 3): typed as W S E N, shown on the thumbnails as the window the
engine will read, and handed to the jobs as settings["crop"] — on NOAA-structure files, through the real
panel on a recording comm (tests/_widget_wire.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from _engine_support import make_frames
from _widget_wire import install
from goes_fixtures import make_abi_sequence, require_ncgen
from PIL import Image

from goesvfi_lab import geo
from goesvfi_lab.widgets.preview_panel import PreviewPanel
from goesvfi_lab.widgets.state import FilterState, JobSettings, crop_view, parse_box, scan
from goesvfi_lab.widgets.thumbnails import CROP_COLOUR, ThumbnailCache, thumb_rectangle

FLORIDA = "-90 25 -80 32"


@pytest.fixture
def wire(monkeypatch):
    return install(monkeypatch)


@pytest.fixture
def conus(tmp_path) -> list[str]:
    require_ncgen()
    return [str(p) for p in make_abi_sequence(tmp_path / "conus", n=3, product="L2-CMIPC", shape=(150, 250))]


def test_parse_box_takes_spaces_or_commas_and_says_what_it_wants():
    assert parse_box("") is None and parse_box("   ") is None
    assert parse_box(FLORIDA) == parse_box("-90, 25, -80, 32") == (-90.0, 25.0, -80.0, 32.0)
    for bad in ("florida", "-90 25 -80", "-90 32 -80 25", "1 2 3 4 5"):
        with pytest.raises(ValueError, match="four numbers W S E N"):
            parse_box(bad)
    with pytest.raises(ValueError, match="crop box"):
        JobSettings(box="nowhere").validate()


def test_thumb_rectangle_keeps_even_a_one_pixel_window_visible():
    assert thumb_rectangle((0, 150, 0, 250), (150, 250), (192, 115)) == (0, 0, 191, 114)
    assert thumb_rectangle((75, 76, 125, 126), (150, 250), (192, 115)) == (
        96,
        57,
        96,
        58,
    )  # rows 57.5..58.3 of the thumbnail
    assert thumb_rectangle((10, 20, 240, 250), (150, 250), (192, 115)) == (184, 7, 191, 15)


def test_the_preview_shows_the_window_and_submits_the_crop(wire, conus, tmp_path):
    submitted = []
    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"),
        on_confirm=lambda jobs: submitted.extend(jobs) or "ok",
        methods=["linear"],
        thumbnails=ThumbnailCache(),
        measure=lambda *a: 0.01,
    )
    panel.show(scan(FilterState(root=str(tmp_path / "conus"), extensions=".nc")))
    assert panel.wait() and panel.crop_note.value == ""
    whole = panel.last_estimate.seconds
    wire.clear()
    wire.set(panel.box, value=FLORIDA)  # typed in the browser
    assert panel.wait()
    # the estimate now prices the window's pixels, not the whole frame's
    assert "of the crop windows" in panel.estimate.value and panel.last_estimate.seconds < whole
    window = geo.bbox_window(conus[0], (-90, 25, -80, 32)).window
    y0, y1, x0, x1 = window
    assert f"crop: rows {y0}:{y1}, columns {x0}:{x1} ({y1 - y0} × {x1 - x0} px" in panel.crop_note.value
    assert "of the 150 × 250 frame" in panel.crop_note.value
    # the three thumbnails went out again, each with the window outlined where it lies on the frame
    sent = [m for m in wire.log if m["comm_id"] in {i.model_id for i in panel.images} and m["buffers"]]
    assert len(sent) == 3
    thumb = np.asarray(Image.open(io.BytesIO(bytes(sent[0]["buffers"][0]))).convert("RGB"))
    left, top, right, bottom = thumb_rectangle(window, (150, 250), (thumb.shape[1], thumb.shape[0]))
    red = np.all(thumb == CROP_COLOUR, axis=-1)
    assert red[top, left:right].all() and red[bottom, left:right].all() and red[top:bottom, left].all()
    assert not red[:top].any() and not red[bottom + 1 :].any()  # nothing drawn outside the box
    panel.cube.value = True
    wire.click(panel.confirm)
    assert len(submitted) == 1 and submitted[0].settings["crop"] == {"bbox": (-90.0, 25.0, -80.0, 32.0)}


def test_the_preview_says_why_a_box_gives_no_window(wire, conus, tmp_path):
    panel = PreviewPanel(output_dir=str(tmp_path / "out"), methods=["linear"], measure=lambda *a: 0.01)
    panel.show(scan(FilterState(root=str(tmp_path / "conus"), extensions=".nc")))
    wire.set(panel.box, value="-60 -20 -50 -10")  # South America: on the disk, not in CONUS
    assert panel.wait()
    assert "lies outside the file&#x27;s CONUS sector" in panel.crop_note.value and "gvl-error" in panel.crop_note.value
    assert all(img.value for img in panel.images)  # the thumbnails still show, without an outline
    wire.set(panel.box, value="florida")
    assert panel.wait() and "four numbers W S E N" in panel.crop_note.value
    wire.click(panel.confirm)
    assert "four numbers W S E N" in panel.errors.value  # nothing submitted with a box that means nothing


def test_a_crop_box_needs_netcdf_inputs(wire, tmp_path):
    make_frames(tmp_path / "pngs", 3, 32)
    submitted = []
    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"),
        on_confirm=lambda jobs: submitted.extend(jobs),
        methods=["linear"],
        measure=lambda *a: 0.01,
    )
    panel.show(scan(FilterState(root=str(tmp_path / "pngs"), extensions=".png")))
    wire.set(panel.box, value=FLORIDA)
    assert panel.wait() and "no fixed grid" in panel.crop_note.value
    wire.click(panel.confirm)
    assert submitted == [] and "a crop box needs NetCDF inputs" in panel.errors.value


def test_crop_view_reads_only_what_it_needs(conus):
    assert crop_view(conus[0], "") == crop_view(conus[0], "  ")
    view = crop_view(conus[0], FLORIDA)
    assert view.window == geo.bbox_window(conus[0], (-90, 25, -80, 32)).window and view.error is None
