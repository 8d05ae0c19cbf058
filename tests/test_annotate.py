"""Standard enhancements for people who look: the GOES colour tables, a colour bar with units, and
annotated frames (UTC time, "(interp.)" on generated frames, colour bar) through the CLI and the engine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from goesvfi_lab.bands import auto_cmap
from goesvfi_lab.discover import parse_goes_name
from goesvfi_lab.engine import layout
from goesvfi_lab.frames import read_frame, read_video, render
from goesvfi_lab.frames.annotate import annotate, annotation_layout, burn_in, frame_label
from goesvfi_lab.frames.colorbar import (
    ColorBar,
    colorbar_for,
    colorbar_geometry,
    colorbar_image,
    nice_ticks,
    strip_values,
    units_for,
)
from goesvfi_lab.frames.render import IR_CLOUD_COLOURS, IR_CLOUD_GREYS, VIS_RANGE, WV_RANGE, value_range


def _rgb(temps, cmap="enhanced") -> np.ndarray:
    return render(np.array([temps], dtype=np.float32), cmap)[0].astype(int)


def _is_grey(c) -> bool:
    return c[0] == c[1] == c[2]


def _saturation(c) -> int:
    return int(max(c) - min(c))


# --- colour tables -------------------------------------------------------------------------------------


def test_enhanced_ir_is_the_colorized_ir_clouds_convention():
    assert IR_CLOUD_COLOURS == (193.0, 253.0) and IR_CLOUD_GREYS == (253.0, 303.0)
    at = dict(zip((300.0, 280.0, 253.5, 252.5, 220.0, 193.5, 190.0), _rgb([300, 280, 253.5, 252.5, 220, 193.5, 190])))
    assert _is_grey(at[300.0]) and _is_grey(at[280.0]) and _is_grey(at[253.5])  # warm: grey
    assert at[300.0][0] < at[280.0][0] < at[253.5][0]  # colder is lighter
    assert _saturation(at[220.0]) > 150 and _saturation(at[252.5]) > 60  # cloud tops: colours
    assert _saturation(at[193.5]) > 100  # still coloured at the cold end
    assert tuple(at[190.0]) == (255, 255, 255)  # colder than the scale: white

    colours = _rgb(np.arange(193.5, 253.0, 0.5))
    assert all(_saturation(c) > 40 for c in colours), "every temperature of 193-253 K is coloured"
    assert len({tuple(c) for c in colours}) > 100  # a colour per 0.5 K, not a few bands
    greys = _rgb(np.arange(253.5, 303.5, 0.5))
    assert all(_is_grey(c) for c in greys) and np.all(np.diff(greys[:, 0]) <= 0)
    assert greys[0, 0] - greys[-1, 0] > 150  # a real ramp across 253-303 K
    assert all(_is_grey(c) and c[0] < 45 for c in _rgb([303.5, 310, 320, 330]))  # hot surfaces near black


def test_water_vapour_table_range_and_reflectance_gamma():
    assert value_range(np.zeros((1, 1), np.float32), "wv", None, None) == WV_RANGE == (190.0, 280.0)
    assert value_range(np.zeros((1, 1), np.float32), "vis", None, None) == VIS_RANGE == (0.0, 1.0)
    refl = np.array([0.0, 0.05, 0.18, 0.5, 1.0, 1.2])
    got = _rgb(refl, "vis")
    assert all(_is_grey(c) for c in got)
    expected = np.round(255 * np.clip(refl, 0, 1) ** (1 / 2.2))
    np.testing.assert_allclose(got[:, 0], expected, atol=1)  # 18 % grey card -> 117, half -> 186
    assert got[3, 0] - 128 > 50  # gamma lifts mid reflectance well above linear grey
    assert tuple(_rgb([np.nan], "vis")[0]) == (0, 0, 0)


@pytest.mark.parametrize(("band", "cmap", "units"), [(2, "vis", "%"), (8, "wv", "K"), (13, "enhanced", "K")])
def test_bands_pick_table_and_units(band, cmap, units):
    name = f"OR_ABI-L2-CMIPC-M6C{band:02d}_G16_s20241831800171_e20241831802544_c20241831803000.nc"
    assert auto_cmap(band) == auto_cmap(name) == cmap
    assert units_for(cmap) == units_for("grey", name) == units
    assert units_for("grey") == "" and units_for("grey", "frame_001.nc") == ""


# --- colour bar ------------------------------------------------------------------------------------------


def test_nice_ticks():
    assert nice_ticks(180, 320, 8) == [180, 200, 220, 240, 260, 280, 300, 320]
    assert nice_ticks(190, 280, 6) == [200, 220, 240, 260, 280]
    assert nice_ticks(0, 100, 5) == [0, 25, 50, 75, 100]
    assert nice_ticks(0.2, 0.9, 4) == [0.25, 0.5, 0.75]
    assert nice_ticks(5, 5, 4) == [5]


def test_colorbar_image_strip_is_the_table_with_ticks_and_units():
    bar = ColorBar("enhanced", 180.0, 320.0, "K")
    image = colorbar_image(bar, 400, size=12)
    geo = colorbar_geometry(bar, 400, 12)
    assert image.shape == (geo.height, 400, 3) and image.dtype == np.uint8
    y0, y1, x0, x1 = geo.strip
    expected = render(strip_values(bar, x1 - x0)[None, :], "enhanced", 180.0, 320.0)[0]
    for row in range(y0, y1):
        np.testing.assert_array_equal(image[row, x0:x1], expected)
    values = strip_values(bar, x1 - x0)
    assert values[0] == 180 and values[-1] == 320
    below = image[y1:]
    assert (below.min(axis=2) > 180).sum() > 100  # tick marks and their white labels
    right = image[y0:y1, x1:]
    assert (right.max(axis=2) > 200).sum() > 10  # the units, right of the strip
    no_units = colorbar_image(ColorBar("enhanced", 180.0, 320.0, ""), 400, size=12)
    assert not (no_units[y0:y1, -10:] > 200).any()  # no units: nothing there, the strip runs on

    refl = colorbar_image(ColorBar("vis", 0.0, 1.0, "%"), 400, size=12)
    assert colorbar_geometry(ColorBar("vis", 0.0, 1.0, "%"), 400, 12).strip[3] < x1  # "reflectance %" is wider
    assert not np.array_equal(refl, image)


def test_colorbar_for_fields_only():
    field = np.full((4, 4), 250.0, np.float32)
    assert colorbar_for(field, "enhanced") == ColorBar("enhanced", 180.0, 320.0, "K")
    assert colorbar_for(field, "grey", source="x.nc") == ColorBar("grey", 250.0, 251.0, "")
    assert colorbar_for(np.zeros((4, 4), np.uint8), "enhanced") is None  # stored images: no table applied


# --- labels and annotate ---------------------------------------------------------------------------------


def test_frame_label_scan_and_interpolated():
    scan = datetime(2024, 7, 1, 18, 0, 0)
    assert frame_label(scan, False) == "2024-07-01 18:00:00Z"
    assert frame_label(scan + timedelta(seconds=150), True) == "2024-07-01 18:02:30Z (interp.)"
    assert frame_label(scan + timedelta(seconds=85.714286), True) == "2024-07-01 18:01:26Z (interp.)"  # rounded
    assert frame_label(scan + timedelta(seconds=29.9999996), False) == "2024-07-01 18:00:30Z"
    eastern = timezone(timedelta(hours=-4))
    assert frame_label(datetime(2024, 7, 1, 14, 0, tzinfo=eastern), False) == "2024-07-01 18:00:00Z"
    assert frame_label(None, True) is None


@pytest.mark.parametrize("width", [320, 960])  # narrow: label above the bar; wide: left of it
def test_annotate_draws_in_a_bottom_panel_only(width):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (240, width, 3), dtype=np.uint8)
    bar = ColorBar("enhanced", 180.0, 320.0, "K")
    label = "2024-07-01 18:02:30Z (interp.)"
    out = annotate(rgb, label, bar)
    lay = annotation_layout(rgb.shape, label, bar)
    top = lay.panel[0]
    assert out.shape == rgb.shape and 0 < top < 240 - 30
    np.testing.assert_array_equal(out[:top], rgb[:top])  # the image above the panel is untouched
    ly0, ly1, lx0, lx1 = lay.label
    text = out[ly0:ly1, lx0:lx1]
    if width == 960:
        assert lx1 <= lay.strip[2] and ly0 < lay.strip[1] and lay.strip[0] < ly1  # one row
        assert lay.bar[0] == lay.panel[0]  # the panel is one bar high
    else:
        assert ly1 <= lay.strip[0] and lx1 == width  # stacked
    assert (text.min(axis=2) > 180).sum() > 100 and (text == 0).all(axis=2).mean() > 0.6  # white on black
    y0, y1, x0, x1 = lay.strip
    expected = render(strip_values(bar, x1 - x0)[None, :], "enhanced", 180.0, 320.0)[0]
    np.testing.assert_array_equal(out[(y0 + y1) // 2, x0:x1], expected)
    assert not np.array_equal(annotate(rgb, label.replace("(interp.)", ""), bar)[ly0:ly1, lx0:lx1], text)
    assert annotate(rgb, None, None) is rgb
    only_label = annotation_layout(rgb.shape, label, None)
    assert only_label.strip is None and only_label.panel[0] > top
    with pytest.raises(ValueError, match="uint8 RGB"):
        annotate(rgb[..., 0], label, bar)


def test_burn_in_stored_images_get_the_time_only():
    grey16 = np.arange(200 * 320, dtype=np.uint16).reshape(200, 320)
    out = burn_in(grey16, grey16, "enhanced", None, None, "2024-07-01 18:00:00Z")
    lay = annotation_layout(out.shape, "2024-07-01 18:00:00Z", None)
    assert out.dtype == np.uint8 and out.shape == (200, 320, 3) and lay.strip is None
    np.testing.assert_array_equal(out[: lay.panel[0]], render(grey16)[: lay.panel[0]])  # 8-bit RGB above the label
    assert burn_in(grey16, grey16, "enhanced", None, None, None) is grey16  # nothing known: written as it is


def test_result_spec_counts_annotate_only_when_on():
    inputs = ["/d/a.nc", "/d/b.nc"]
    plain = layout.result_spec(inputs, 2, "linear", {"video": True})
    assert layout.result_spec(inputs, 2, "linear", {"video": True, "annotate": False}) == plain
    annotated = layout.result_spec(inputs, 2, "linear", {"video": True, "annotate": True})
    assert annotated != plain and annotated["settings"]["annotate"] is True


# --- annotated frames and MP4s: CLI and batch engine, real files -----------------------------------------

SIZE = (200, 320)  # rows, cols: wide enough for a legible label


def _sample(tmp_path):
    from goesvfi_lab.sample import write_sample

    start = datetime(2024, 7, 1, 18, 0)
    paths = write_sample(tmp_path / "in", frames=3, size=SIZE, fmt="nc", band=13, seed=7, start=start)
    return paths, [parse_goes_name(p).start for p in paths]


def _cli(tmp_path, name, *extra) -> None:
    from goesvfi_lab.cli import main

    out = tmp_path / name
    argv = ["interpolate", str(tmp_path / "in"), "-o", str(out), "--factor", "2", "--method", "linear"]
    assert main([*argv, "--video", str(out / "video.mp4"), *extra]) == 0


def _expected_labels(starts):
    mid = [a + (b - a) / 2 for a, b in zip(starts, starts[1:])]
    return [
        frame_label(starts[0], False),
        frame_label(mid[0], True),
        frame_label(starts[1], False),
        frame_label(mid[1], True),
        frame_label(starts[2], False),
    ]


def _check_annotated(folder, plain_folder, labels):
    """PNG frames are exactly the plain render with the expected label and bar burnt in; the MP4's frames
    show them (label region changed, colour strip close to the table, image above the panel unchanged)."""
    bar = ColorBar("enhanced", 180.0, 320.0, "K")
    for i, label in enumerate(labels):
        plain = read_frame(plain_folder / layout.frame_name(i))
        got = read_frame(folder / layout.frame_name(i))
        np.testing.assert_array_equal(got, annotate(plain, label, bar))
        assert label.endswith("(interp.)") == (i % 2 == 1)

    video, plain_video = read_video(folder / "video.mp4"), read_video(plain_folder / "video.mp4")
    assert len(video) == len(plain_video) == len(labels)
    lay = annotation_layout((*SIZE, 3), labels[1], bar)
    top = lay.panel[0]
    frame, plain = video[1].astype(int), plain_video[1].astype(int)
    assert np.abs(frame[: top - 16] - plain[: top - 16]).mean() < 8  # the picture: as without (x264 noise ~4)
    ly0, ly1 = lay.label[:2]
    assert np.abs(frame[ly0:ly1] - plain[ly0:ly1]).mean() > 60  # the label's black panel and white text
    y0, y1, x0, x1 = lay.strip
    table = render(strip_values(bar, x1 - x0)[None, :], "enhanced", 180.0, 320.0)[0].astype(int)
    row = frame[(y0 + y1) // 2, x0:x1]
    err = np.abs(row - table).max(axis=1)
    assert np.median(err) < 8 and np.mean(err < 40) > 0.95, "the strip shows the table's colours (4:2:0 video)"
    assert np.abs(plain[(y0 + y1) // 2, x0:x1] - table).max(axis=1).mean() > 40  # not so without annotation
    other = video[0].astype(int)[ly0:ly1]  # the scan's label differs from the generated frame's
    assert np.abs(other - frame[ly0:ly1]).mean() > 3


def test_cli_annotates_png_and_mp4_frames(tmp_path):
    paths, starts = _sample(tmp_path)
    _cli(tmp_path, "plain")
    _cli(tmp_path, "annotated", "--annotate")
    labels = _expected_labels(starts)
    assert labels[:2] == ["2024-07-01 18:00:00Z", "2024-07-01 18:02:30Z (interp.)"]  # CONUS: 5-minute scans, x2
    _check_annotated(tmp_path / "annotated", tmp_path / "plain", labels)


def test_engine_annotates_like_the_cli(tmp_path):
    import dask
    from _engine_support import NO_DASHBOARD
    from distributed import Client, LocalCluster

    from goesvfi_lab.model import BatchJob, JobStatus
    from goesvfi_lab.queue import BatchQueue

    paths, starts = _sample(tmp_path)
    _cli(tmp_path, "plain")
    _cli(tmp_path, "cli", "--annotate")
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": "inf"}),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=tmp_path / "q.sqlite3")
        settings = {"video": True, "cmap": "enhanced", "annotate": True, "cube": True}
        job = BatchJob(name="a", inputs=paths, output_dir=str(tmp_path / "engine"), factor=2, method="linear")
        job.settings = settings
        jid = q.add_job(job)
        q.start(preload=["linear"])
        try:
            assert q.wait(120) and q.job(jid).status == JobStatus.COMPLETED, q.job(jid)
        finally:
            q.stop()
    labels = _expected_labels(starts)
    _check_annotated(tmp_path / "engine", tmp_path / "plain", labels)
    for i in range(len(labels)):  # one label formatter, one drawing: the same pixels as the CLI's
        np.testing.assert_array_equal(
            read_frame(tmp_path / "engine" / layout.frame_name(i)), read_frame(tmp_path / "cli" / layout.frame_name(i))
        )
    manifest = layout.read_manifest(str(tmp_path / "engine"))
    assert [frame_label(datetime.fromisoformat(t), i % 2 == 1) for i, t in enumerate(manifest["frame_times"])] == labels
    import xarray as xr

    with xr.open_dataset(tmp_path / "engine" / "cube.nc") as cube:  # the field itself: never annotated
        np.testing.assert_allclose(cube["CMI"].values[0], read_frame(paths[0]), atol=1e-3)


# --- the notebook's preview: a colour bar with units under the thumbnails of NetCDF sequences --------------


@pytest.fixture
def wire(monkeypatch):
    from _widget_wire import install

    return install(monkeypatch)


def _png(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_preview_shows_the_colour_bar_of_netcdf_thumbnails_and_asks_for_annotation(wire, tmp_path):
    from _engine_support import make_frames

    from goesvfi_lab.sample import write_sample
    from goesvfi_lab.widgets.preview_panel import PreviewPanel
    from goesvfi_lab.widgets.state import FilterState, make_jobs, scan
    from goesvfi_lab.widgets.thumbnails import COLORBAR_FONT, COLORBAR_WIDTH, ThumbnailCache

    write_sample(tmp_path / "nc", frames=3, size=(60, 80), fmt="nc", band=13, seed=2)
    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"), methods=["linear"], measure=lambda *a: 0.01, thumbnails=ThumbnailCache()
    )
    wire.clear()
    panel.show(scan(FilterState(root=str(tmp_path / "nc"), extensions=".nc")))
    assert panel.wait()
    assert panel.colorbar.layout.display == "block"
    sent = [m for m in wire.log if m["comm_id"] == panel.colorbar.model_id and m["buffers"]]
    assert sent and _png(bytes(sent[-1]["buffers"][0])).shape[1] == COLORBAR_WIDTH  # went to the browser
    expected = colorbar_image(ColorBar("enhanced", 180.0, 320.0, "K"), COLORBAR_WIDTH, COLORBAR_FONT)
    np.testing.assert_array_equal(_png(panel.colorbar.value), expected)  # band 13, auto: enhanced IR in K

    wire.set(panel.cmap, index=[v for _, v in panel.cmap.options].index("ir"))  # another table: the bar follows
    assert panel.wait()
    grey = _png(panel.colorbar.value)
    np.testing.assert_array_equal(
        grey, colorbar_image(ColorBar("ir", 180.0, 320.0, "K"), COLORBAR_WIDTH, COLORBAR_FONT)
    )

    wire.set(panel.annotate, value=True)
    (job,) = make_jobs(panel.result.sequences, panel.settings())
    assert job.settings["annotate"] is True and job.settings["cmap"] == "ir"

    make_frames(tmp_path / "png", 3, 32)  # stored images: no table, no bar
    panel.show(scan(FilterState(root=str(tmp_path / "png"), extensions=".png")))
    assert panel.wait()
    assert panel.colorbar.layout.display == "none" and panel.colorbar.value == b""


def test_cli_run_annotates_like_interpolate(tmp_path):
    """``goesvfi-lab run --annotate`` (here on a running scheduler) writes the frames ``interpolate --annotate``
    writes, with the same table (both default to ``auto``: by band, as the notebook)."""
    from _engine_support import NO_DASHBOARD
    from distributed import LocalCluster

    from goesvfi_lab.cli import main

    paths, _starts = _sample(tmp_path)
    _cli(tmp_path, "cli", "--annotate")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster:
        argv = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "run"), "--factor", "2", "--method", "linear"]
        assert main([*argv, "--annotate", "--scheduler", cluster.scheduler_address, "--quiet"]) == 0
    (folder,) = [p for p in (tmp_path / "run").iterdir() if p.is_dir()]
    assert layout.read_manifest(str(folder))["settings"]["annotate"] is True
    for i in range(5):
        np.testing.assert_array_equal(
            read_frame(folder / layout.frame_name(i)), read_frame(tmp_path / "cli" / layout.frame_name(i))
        )
