"""Filter and preview panels, the thumbnails and the background threads, without a kernel.

Widgets talk through a recording comm (tests/_widget_wire.py): the tests play the browser (typed
values, clicks) and assert on what would go over the wire.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from datetime import date

import numpy as np
import pytest
from _widget_wire import install
from PIL import Image
from test_widgets_state import goes_tree

from goesvfi_lab.model import JobPriority
from goesvfi_lab.widgets.common import ErrorArea, guard
from goesvfi_lab.widgets.filter_panel import FilterPanel
from goesvfi_lab.widgets.preview_panel import PreviewPanel
from goesvfi_lab.widgets.state import FilterState, scan
from goesvfi_lab.widgets.thumbnails import ThumbnailCache, pick_frames, thumbnail_png
from goesvfi_lab.widgets.updater import Debouncer, Updater

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def wire(monkeypatch):
    return install(monkeypatch)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    goes_tree(root, "G16", 13, n=6, sub="east")
    goes_tree(root, "G18", 13, n=4, sub="west")
    return root


def last_html(wire, widget) -> str:
    values = wire.sent(widget, "value")
    assert values, "nothing was sent"
    return values[-1]


# ------------------------------------------------------------------------------------------- filter


def test_filter_panel_counts_and_follows_the_form(wire, tree):
    panel = FilterPanel(root=str(tree), debounce=0.05)
    assert panel.wait()
    assert 'data-count="10"' in panel.count.value and "2 sequences" in panel.count.value
    assert panel.next.disabled is False

    wire.clear()
    wire.set(panel.satellite, index=panel.satellite.options.index(("G18", "G18")))  # as the browser sends it
    assert panel.satellite.value == "G18"
    assert panel.wait()
    assert 'data-count="4"' in last_html(wire, panel.count)
    assert "1 sequence" in last_html(wire, panel.count)

    wire.clear()
    wire.set(panel.name_pattern, value="(unclosed")
    assert panel.wait()
    assert "name pattern" in last_html(wire, panel.count) and 'role="alert"' in last_html(wire, panel.count)
    assert wire.sent(panel.next, "disabled")[-1] is True

    wire.set(panel.name_pattern, value="")
    wire.set(panel.min_date, value={"year": 2000, "month": 0, "date": 1})  # JS months start at 0
    assert panel.min_date.value == date(2000, 1, 1)
    assert panel.wait()
    assert 'data-count="4"' in panel.count.value
    wire.set(panel.max_date, value={"year": 2001, "month": 0, "date": 1})
    assert panel.wait()
    assert 'data-count="0"' in panel.count.value and panel.next.disabled


def test_filter_panel_debounces_typing(wire, tree):
    panel = FilterPanel(root=str(tree), debounce=0.2)
    assert panel.wait()
    runs = panel._scanner.calls
    for text in ("G", "G1", "G18"):  # three keystrokes in quick succession
        wire.set(panel.name_pattern, value=text)
    assert panel.wait()
    assert panel._scanner.calls - runs == 1
    assert 'data-count="4"' in panel.count.value


def test_folder_browser_navigates(wire, tree):
    panel = FilterPanel(root=str(tree), debounce=0.01)
    labels = [label for label, _ in panel.folders.options]
    assert labels == ["..", "east/", "west/"]
    assert panel.open_folder.disabled
    wire.set(panel.folders, index=labels.index("west/"))
    assert panel.root.value == str(tree)  # choosing alone does not move
    wire.click(panel.open_folder)
    assert panel.root.value == str(tree / "west")
    assert [label for label, _ in panel.folders.options] == [".."]
    assert panel.wait() and 'data-count="4"' in panel.count.value
    wire.set(panel.folders, index=0)
    wire.click(panel.open_folder)
    assert panel.root.value == str(tree)


def test_filter_panel_next_hands_over_the_result(wire, tree):
    got = []
    panel = FilterPanel(root=str(tree), on_next=got.append, debounce=0.01)
    assert panel.wait()
    wire.click(panel.next)
    assert len(got) == 1 and len(got[0].paths) == 10 and len(got[0].sequences) == 2


def test_filter_panel_reports_a_missing_root(wire, tmp_path):
    panel = FilterPanel(root=str(tmp_path / "nope"), debounce=0.01)
    assert panel.wait()
    assert "is not a directory" in panel.count.value and panel.next.disabled


# ------------------------------------------------------------------------------------------- thumbnails


@pytest.fixture
def png_sequence(tmp_path):
    from goesvfi_lab.frames import write_png

    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        img = np.zeros((300, 400), np.uint8)
        img[:, : 80 * (i + 1)] = 200  # a bar that grows frame by frame
        img += rng.integers(0, 20, img.shape, dtype=np.uint8)
        paths.append(write_png(str(folder / f"frame{i}.png"), img))
    return paths


def test_thumbnail_png_and_cache(png_sequence, tmp_path):
    png = thumbnail_png(png_sequence[0], size=64)
    img = Image.open(io.BytesIO(png))
    assert png.startswith(PNG_MAGIC) and img.size == (64, 48) and img.mode == "RGB"
    cache = ThumbnailCache(capacity=2)
    a = cache.get(png_sequence[0], 64)
    assert cache.get(png_sequence[0], 64) is a and (cache.hits, cache.misses) == (1, 1)
    cache.get(png_sequence[1], 64)
    cache.get(png_sequence[2], 64)
    assert len(cache) == 2  # least recently used dropped
    os.utime(png_sequence[2], ns=(0, 0))  # a changed file is rendered again
    cache.get(png_sequence[2], 64)
    assert cache.misses == 4
    assert [label for label, _ in pick_frames(png_sequence)] == ["first", "middle", "last"]
    assert pick_frames(png_sequence[:2]) == [("first", png_sequence[0]), ("last", png_sequence[1])]
    assert pick_frames([]) == []


def test_netcdf_thumbnails_are_coloured(tmp_path):
    from goesvfi_lab.sample import write_sample

    (path,) = write_sample(tmp_path, frames=1, size=(120, 200), fmt="nc", band=13, seed=4)
    cache = ThumbnailCache()
    enhanced = np.asarray(Image.open(io.BytesIO(cache.get(path, size=100))))  # auto: band 13 is emissive
    grey = np.asarray(Image.open(io.BytesIO(cache.get(path, size=100, cmap="ir"))))
    assert enhanced.shape == grey.shape == (60, 100, 3)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    r, g, b = (enhanced[..., k].astype(int) for k in range(3))
    assert (np.abs(r - g) + np.abs(g - b)).max() > 50  # cold cloud tops drawn in colour
    assert cache.misses == 2


def test_importing_the_widgets_opens_no_comm():
    """Widgets made at import time would open comms before any cell asks for them."""
    import subprocess
    import sys

    code = (
        "import comm\n"
        "opened = []\n"
        "real = comm.create_comm\n"
        "comm.create_comm = lambda *a, **k: opened.append(k) or real(*a, **k)\n"
        "import goesvfi_lab.widgets, goesvfi_lab.widgets.app\n"
        "assert opened == [], opened\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ------------------------------------------------------------------------------------------- preview


def test_preview_panel_thumbnails_estimate_and_confirm(wire, png_sequence, tmp_path):
    result = scan(FilterState(root=str(tmp_path / "pngs"), extensions=".png"))
    submitted = []
    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"),
        on_confirm=lambda jobs: submitted.extend(jobs) or "ok",
        slots=lambda: 2,
        methods=["linear", "flow"],
        thumbnails=ThumbnailCache(),
    )
    wire.clear()
    panel.show(result)
    assert panel.wait()
    assert "pngs/*.png" in panel.table.value and '<td class="gvl-num">5</td>' in panel.table.value
    # the three thumbnails went to the browser as binary buffers holding PNGs
    sent = [m for m in wire.log if m["comm_id"] in {i.model_id for i in panel.images} and m["buffers"]]
    assert len(sent) == 3 and all(bytes(m["buffers"][0]).startswith(PNG_MAGIC) for m in sent)
    labels = [re.search(r'gvl-thumb-label">(\w+)<', c.value).group(1) for c in panel.captions]
    assert labels == ["first", "middle", "last"]

    assert panel.method.value == "linear"  # no "auto" offered: the first method is the default
    wire.set(panel.factor, value=3)
    assert panel.wait()
    est = panel.estimate.value
    assert "<b>1</b> job" in est and "<b>13</b> frames" in est and "<b>8</b> interpolated" in est
    assert "measured here, 2 slots" in est and "with &#x27;linear&#x27;" in est

    wire.set(panel.priority, index=[p for _, p in panel.priority.options].index(JobPriority.URGENT))
    wire.set(panel.cube, value=True)
    wire.click(panel.confirm)  # a cube needs NetCDF inputs: refused, with the reason
    assert submitted == [] and "NetCDF cube needs NetCDF inputs" in panel.errors.value
    wire.set(panel.cube, value=False)
    wire.click(panel.confirm)
    assert len(submitted) == 1
    job = submitted[0]
    assert (job.factor, job.method, job.priority) == (3, "linear", JobPriority.URGENT)
    assert job.settings["cube"] is False and job.settings["video"] is True
    assert job.output_dir.startswith(str(tmp_path / "out"))
    assert 'data-jobs="1"' in panel.status.value and panel.confirm.disabled  # no double submit
    wire.set(panel.fps, value=24)
    assert panel.confirm.disabled is False


def test_preview_panel_shows_confirm_errors(wire, png_sequence, tmp_path):
    errors = ErrorArea()

    def refuse(jobs):
        raise RuntimeError("store is read-only <x>")

    panel = PreviewPanel(
        output_dir=str(tmp_path), on_confirm=refuse, methods=["linear"], errors=errors, measure=lambda *a: 0.01
    )
    panel.show(scan(FilterState(root=str(tmp_path / "pngs"))))
    wire.clear()
    wire.click(panel.confirm)  # no exception escapes into the kernel log
    html_ = last_html(wire, errors)
    assert "Submitting the jobs failed" in html_ and "store is read-only &lt;x&gt;" in html_
    assert "Traceback" in html_ and panel.confirm.disabled is False

    wire.set(panel.video, value=False)
    wire.click(panel.confirm)
    assert "choose at least one output" in errors.value


def test_preview_back_button(wire, tmp_path):
    went_back = []
    panel = PreviewPanel(on_back=lambda: went_back.append(True), methods=["linear"])
    wire.click(panel.back)
    assert went_back == [True]


def test_preview_buttons_keep_their_labels_beside_the_status(wire, png_sequence, tmp_path):
    """Issue 11.5: after Confirm the status note took the row and squeezed the buttons to "B…" and "Con…"."""
    import ipywidgets as W

    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"),
        on_confirm=lambda jobs: "The queue is running.",
        methods=["linear"],
        measure=lambda *a: 0.01,
        thumbnails=ThumbnailCache(),
    )
    panel.show(scan(FilterState(root=str(tmp_path / "pngs"))))
    wire.click(panel.confirm)
    assert "Submitted 1 job" in panel.status.value
    row = next(c for c in panel.children if panel.confirm in getattr(c, "children", ()))
    buttons = [c for c in row.children if isinstance(c, W.Button)]
    assert panel.back in buttons and all(b.layout.flex == "0 0 auto" for b in buttons)  # never shrink
    assert panel.status.layout.flex == "1 1 0" and panel.status.layout.min_width == "0"  # the note wraps
    wire.set(panel.method, value="linear")  # unchanged: still the batch just sent
    assert "Submitted 1 job" in panel.status.value
    wire.set(panel.fps, value=24)  # another batch now: the note about the last one goes
    assert panel.status.value == ""
    panel.close()


# ------------------------------------------------------------------------------------------- threads


def test_updater_pushes_from_its_thread_and_shows_errors(wire):
    errors = ErrorArea()
    target = ErrorArea()  # any HTML widget will do as the thing being updated
    calls = []
    fail = threading.Event()

    def refresh():
        calls.append(threading.current_thread().name)
        if fail.is_set():
            raise ValueError("scheduler went away")
        target.value = f"tick {len(calls)}"

    up = Updater(refresh, interval=0.05, on_error=errors.show, on_recover=errors.clear).start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert set(calls) == {"goesvfi-lab-updater"}
        assert wire.sent(target, "value")[-1].startswith("tick")
        fail.set()
        deadline = time.monotonic() + 5
        while "scheduler went away" not in errors.value and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "Updating the panel failed: ValueError: scheduler went away" in errors.value
        assert up.running  # an error does not end the thread
        fail.clear()
        deadline = time.monotonic() + 5
        while errors.value and time.monotonic() < deadline:
            time.sleep(0.01)
        assert errors.value == ""  # recovered: the message goes away
    finally:
        up.stop()
    assert not up.running


def test_updater_poke_wakes_early():
    ticks = []
    up = Updater(lambda: ticks.append(time.monotonic()), interval=5.0).start()
    try:
        deadline = time.monotonic() + 2
        while not ticks and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        up.poke()
        while len(ticks) < 2 and time.monotonic() < t0 + 2:
            time.sleep(0.01)
        assert len(ticks) == 2 and ticks[1] - t0 < 1.0
    finally:
        up.stop()


def test_debouncer_drops_superseded_results():
    results, errors = [], []
    started = threading.Event()

    def slow(x):
        if x == "slow":
            started.set()
            time.sleep(0.3)
        if x == "bad":
            raise KeyError(x)
        return x

    d = Debouncer(slow, results.append, errors.append, delay=0.0)
    d("slow")
    assert started.wait(2)
    d("fast")  # arrives while "slow" still runs: "slow" must not overwrite it
    assert d.wait(5)
    time.sleep(0.35)
    assert results == ["fast"]
    d("bad")
    assert d.wait(5) and isinstance(errors[0], KeyError)


def test_guard_keeps_exceptions_in_the_panel(wire):
    errors = ErrorArea()

    @guard(errors, "Cancel failed")
    def handler():
        raise KeyError("job-1")

    assert handler() is None
    assert "Cancel failed: KeyError" in errors.value and errors.history == ["Cancel failed: KeyError: 'job-1'"]
