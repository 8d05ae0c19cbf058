"""What the preview checks before Confirm: broken files (header and end, not a decode) and output
folders that already hold results — on real files, through the real panel on a recording comm."""

from __future__ import annotations

import json
import os

import pytest
from _engine_support import make_frames
from _widget_wire import install

from goesvfi_lab.engine import layout
from goesvfi_lab.frames.check import check_file
from goesvfi_lab.model import BatchJob
from goesvfi_lab.widgets.checks import BatchCheck, check_files, check_html, without_bad_inputs
from goesvfi_lab.widgets.preview_panel import PreviewPanel
from goesvfi_lab.widgets.state import FilterState, scan


@pytest.fixture
def wire(monkeypatch):
    return install(monkeypatch)


def _truncate(path, keep: float = 0.5) -> None:
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])


def test_check_file_finds_truncated_png_and_netcdf(tmp_path):
    from goesvfi_lab.sample import write_sample

    png = make_frames(tmp_path / "png", 2, 32)
    nc = sorted(str(p) for p in write_sample(tmp_path / "nc", frames=2, size=(48, 48), fmt="nc", seed=1))
    assert [check_file(p) for p in png + nc] == [None] * 4
    _truncate(png[1], 0.9)
    _truncate(nc[1], 0.6)
    assert "truncated PNG" in check_file(png[1])
    assert "truncated NetCDF-4" in check_file(nc[1]) and "interrupted download" in check_file(nc[1])
    (tmp_path / "empty.png").write_bytes(b"")
    assert check_file(tmp_path / "empty.png") == "empty file (0 bytes)"
    assert check_file(tmp_path / "gone.png") == "no such file"


def test_bad_inputs_are_left_out_with_a_note_and_cached(tmp_path):
    paths = make_frames(tmp_path, 4, 32)
    _truncate(paths[2])
    cache: dict = {}
    bad = check_files(paths, cache)
    assert list(bad) == [paths[2]] and len(cache) == 4
    assert check_files(paths, cache) == bad  # from the cache: nothing read again
    job = BatchJob(name="j", inputs=paths, output_dir=str(tmp_path / "out"))
    tiny = BatchJob(name="t", inputs=paths[1:3], output_dir=str(tmp_path / "out2"))
    kept = without_bad_inputs([job, tiny], bad)
    assert [j.name for j in kept] == ["j"]  # one good frame is no job
    assert kept[0].inputs == [paths[0], paths[1], paths[3]] and kept[0].id == job.id
    assert kept[0].notes == [f"input left out: f002.png: {bad[paths[2]]}"]


def test_check_html_says_what_it_found():
    busy = check_html(BatchCheck(total=200, checked=50))
    assert "checking files 50/200" in busy
    html_ = check_html(
        BatchCheck(
            total=3,
            checked=3,
            bad_files={"/d/a<b>.png": "truncated PNG"},
            conflicts=[("/o/seq-1", "finished linear ×2 from job x: factor 2 → 4")],
            complete=["/o/seq-2"],
        )
    )
    assert "checking" not in html_
    assert "1 unreadable file</b> will be left out" in html_ and "a&lt;b&gt;.png" in html_ and "/d/" not in html_
    assert "1 folder already holds these results (same settings): skipped" in html_
    assert "1 folder already holds other results</b>: choose: overwrite them, or write to a new folder" in html_
    assert "factor 2 → 4" in html_
    assert "will be replaced" in check_html(BatchCheck(conflicts=[("/o/a", "x")], overwrite=True))
    assert not BatchCheck(conflicts=[("/o/a", "x")], overwrite=True).blocking


def test_preview_warns_about_folders_in_use_and_offers_overwrite_or_a_new_folder(wire, tmp_path):
    paths = make_frames(tmp_path / "pngs", 4, 48)
    _truncate(paths[3])
    result = scan(FilterState(root=str(tmp_path / "pngs"), extensions=".png"))
    out = tmp_path / "out"
    submitted = []
    panel = PreviewPanel(
        output_dir=str(out),
        on_confirm=lambda jobs: submitted.extend(jobs) or "ok",
        methods=["linear", "flow"],
        measure=lambda *a: 0.01,
    )
    panel.show(result)
    assert panel.wait()
    assert panel.check.bad_files == {paths[3]: check_file(paths[3])}
    assert 'class="gvl-warn gvl-bad-files" data-n="1"' in panel.checks.value
    assert not panel.check.conflicts and panel.resolve.layout.display == "none"

    # an earlier batch left another result (linear ×2) in the folder this batch would use
    wire.click(panel.confirm)
    job = submitted.pop()
    assert paths[3] not in job.inputs and any("input left out: f003.png" in n for n in job.notes)
    os.makedirs(job.output_dir)
    held = layout.result_spec(job.inputs, 2, "linear", job.settings)
    with open(os.path.join(job.output_dir, layout.MANIFEST), "w") as f:
        json.dump({"format": layout.MANIFEST_FORMAT, "job_id": "earlier1", "frames": 5, **held}, f)

    wire.set(panel.factor, value=3)  # another factor (the default is 4): the folder is in the way
    assert panel.wait()
    assert panel.check.blocking and panel.confirm.disabled and panel.resolve.layout.display == "flex"
    assert "other results" in panel.checks.value and "earlier1" in panel.checks.value

    wire.click(panel.use_new_folder)
    assert panel.wait()
    assert panel.output_dir.value == str(out) + "-2"
    assert not panel.check.conflicts and not panel.confirm.disabled
    wire.click(panel.confirm)
    assert submitted[-1].output_dir.startswith(str(out) + "-2" + os.sep)

    wire.set(panel.output_dir, value=str(out))
    assert panel.wait() and panel.check.blocking
    wire.click(panel.use_overwrite)
    assert panel.wait()
    assert panel.overwrite.value and not panel.check.blocking and "will be replaced" in panel.checks.value
    wire.click(panel.confirm)
    assert submitted[-1].settings["overwrite"] is True and submitted[-1].output_dir.startswith(str(out) + os.sep)


def test_confirm_before_the_background_check_still_leaves_out_a_broken_file(wire, tmp_path):
    # a click on Confirm right after a setting change (the browser test's user) comes before the
    # debounced check has run: the broken file must still be left out, not sent to fail on a worker
    paths = make_frames(tmp_path / "pngs", 4, 48)
    _truncate(paths[1])
    result = scan(FilterState(root=str(tmp_path / "pngs"), extensions=".png"))
    submitted = []
    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"),
        on_confirm=lambda jobs: submitted.extend(jobs) or "ok",
        methods=["linear", "flow"],
        measure=lambda *a: 0.01,
    )
    panel.show(result)
    assert panel.wait()
    wire.set(panel.factor, value=3)  # a new check starts: nothing known about the files yet
    panel._checker.cancel()  # … and has not finished when Confirm is clicked
    assert not panel.check.done and not panel.check.bad_files
    wire.click(panel.confirm)
    (job,) = submitted
    assert paths[1] not in job.inputs and len(job.inputs) == 3
    assert any("input left out: f001.png" in n for n in job.notes)
