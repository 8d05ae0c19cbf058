"""Issue 16.4, before/after: the player over a finished job's folder, after real small jobs.

Two jobs run through the real engine (an in-process LocalCluster): NetCDF scans with method flow and a
cube (it has a confidence map), and PNG scans with linear (none). The widgets talk through a recording
comm, clicked as the browser would.
"""

from __future__ import annotations

import io
import os
import shutil

import dask
import pytest
from _engine_support import NO_DASHBOARD
from _widget_wire import install

from goesvfi_lab.engine.layout import frame_path, player_steps
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.notebook import player
from goesvfi_lab.sample import write_sample
from goesvfi_lab.widgets import JobPlayer, QueueApp

pytestmark = pytest.mark.cluster

N, F = 3, 4  # three scans, factor 4: nine frames


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """(queue store path, {"flow": job, "png": job, "pending": job}) with the first two completed."""
    from distributed import Client, LocalCluster

    from goesvfi_lab.queue import BatchQueue

    tmp = tmp_path_factory.mktemp("player")
    nc = sorted(str(p) for p in write_sample(tmp / "nc", frames=N, size=(40, 48), fmt="nc", seed=5))
    png = sorted(str(p) for p in write_sample(tmp / "png", frames=N, size=(40, 48), fmt="png", seed=6))
    jobs = {
        "flow": BatchJob(
            name="flow", inputs=nc, output_dir=str(tmp / "out-flow"), factor=F, method="flow", settings={"cube": True}
        ),
        "png": BatchJob(name="png", inputs=png, output_dir=str(tmp / "out-png"), factor=F, method="linear"),
    }
    store = tmp / "q.sqlite3"
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": "inf"}),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=store)
        for job in jobs.values():
            q.add_job(job)
        q.start(preload=["flow", "linear"])
        try:
            assert q.wait(120), q.jobs()
            for job in jobs.values():
                assert q.job(job.id).status == JobStatus.COMPLETED, q.job(job.id)
        finally:
            q.stop()
    return store, jobs


@pytest.fixture
def wire(monkeypatch):
    return install(monkeypatch)


def on_disk(path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def test_steps_follow_the_layout(done):
    _store, jobs = done
    for job in jobs.values():
        steps = player_steps(job.output_dir)
        assert len(steps) == (N - 1) * F + 1
        assert [s.index for s in steps if s.is_scan] == [k * F for k in range(N)]
        assert [s.index for s in steps] == list(range(len(steps)))
        assert all(s.path == frame_path(job.output_dir, s.index) and os.path.isfile(s.path) for s in steps)
        s = steps[F + 1]  # a quarter of the way from scan 1 to scan 2
        assert (s.pair, s.t, s.scan, s.position, s.is_scan) == (1, 0.25, F, 1.25, False)
        last = steps[-1]
        assert (last.pair, last.t, last.scan, last.is_scan) == (N - 2, 1.0, (N - 1) * F, True)
    flow = player_steps(jobs["flow"].output_dir)
    assert all(s.time for s in flow)  # NetCDF scans carry their times
    assert flow[0].time < flow[1].time < flow[F].time


def test_a_folder_without_manifest_is_refused_by_name(tmp_path, done):
    _store, jobs = done
    partial = tmp_path / "unfinished"
    shutil.copytree(jobs["png"].output_dir, partial)
    os.remove(partial / "job.json")
    with pytest.raises(ValueError, match="unfinished.*no job.json") as err:
        player_steps(str(partial))
    assert str(partial) in str(err.value)
    with pytest.raises(ValueError, match="no job.json"):
        player(str(tmp_path / "nothing-here"))


def test_player_shows_scan_frame_and_confidence(wire, done):
    _store, jobs = done
    job = jobs["flow"]
    p = player(job)  # a BatchJob: its output folder
    assert isinstance(p, JobPlayer) and p.output_dir == job.output_dir
    steps = p.steps
    assert p.index == 0 and p.frame.image.value == on_disk(steps[0].path)
    assert p.play.max == p.slider.max == len(steps) - 1
    assert p.source.kind == "cube" and p.source.variable.endswith("_confidence")

    wire.clear()
    wire.set(p.slider, value=F + 1)  # the browser moves the slider (Play moves it through the jslink)
    assert p.frame.image.value == on_disk(steps[F + 1].path)
    assert p.before.image.value == on_disk(steps[F].path)  # the scan before it
    assert "scan 1 (before)" in p.before.caption.value
    assert "frame 5 (t = 1.25)" in p.frame.caption.value and "interpolated" in p.frame.caption.value
    assert p.confidence.showing_image and p.confidence.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mean 0." in p.confidence.caption.value
    conf_5 = p.confidence.image.value
    sent = [m for m in wire.log if m["comm_id"] == p.frame.image.model_id and m["type"] == "comm_msg"]
    assert any(m["buffers"] for m in sent)  # the new frame went to the browser (bytes travel as buffers)

    wire.click(p.next)
    assert p.index == F + 2 and p.frame.image.value == on_disk(steps[F + 2].path)
    assert p.confidence.image.value != conf_5  # another frame, another map
    wire.click(p.prev)
    assert p.index == F + 1 and p.confidence.image.value == conf_5  # cached
    wire.set(p.slider, value=2 * F)  # a scan: the frame is the scan itself
    assert p.frame.image.value == p.before.image.value == on_disk(steps[2 * F].path)
    assert "scan" in p.frame.caption.value and "this frame" in p.before.caption.value
    assert p.next.disabled and not p.prev.disabled
    for pane in (p.before, p.frame, p.confidence):  # three modest panes: they fit beside the file browser
        assert pane.layout.width == "300px"  # three fit beside the file browser at 1400 px (browser test)
    p.close()


def test_player_says_why_there_is_no_confidence(wire, done):
    _store, jobs = done
    p = JobPlayer(jobs["png"].output_dir)
    assert p.source.kind is None
    wire.set(p.slider, value=1)
    assert p.frame.image.value == on_disk(p.steps[1].path)
    assert not p.confidence.showing_image and "no confidence map" in p.confidence.text.value
    assert "PNG" in p.confidence.text.value
    p.close()


def test_cube_without_confidence_names_the_method(tmp_path, done):
    """The same cube with its confidence variable dropped reads as a method that gives none."""
    import xarray as xr

    _store, jobs = done
    out = tmp_path / "linear-like"
    shutil.copytree(jobs["flow"].output_dir, out)
    with xr.open_dataset(out / "cube.nc") as ds:
        ds.drop_vars([v for v in ds.data_vars if str(v).endswith("_confidence")]).load().to_netcdf(out / "c2.nc")
    os.replace(out / "c2.nc", out / "cube.nc")
    p = JobPlayer(out)
    p.show(1)
    assert "no confidence map: method flow gives none" in p.confidence.text.value
    p.close()


def test_queue_panel_plays_finished_jobs_only(wire, done):
    from goesvfi_lab.queue import BatchQueue

    store, jobs = done
    q = BatchQueue(store=store)  # no cluster needed to show the table
    (waiting,) = q.add_jobs([BatchJob(name="waiting", inputs=["a.png", "b.png"], output_dir=str(store.parent / "w"))])
    app = QueueApp(q, start=False)
    qp = app.queue_panel
    rows = {r.job_id: r for r in qp.rows if r.job_id}
    for name in ("flow", "png"):
        assert rows[jobs[name].id].play.layout.visibility == "visible" and not rows[jobs[name].id].play.disabled
    assert rows[waiting].play.layout.visibility == "hidden" and rows[waiting].play.disabled
    assert qp.player is None and qp.player_box.children == ()

    wire.click(rows[jobs["flow"].id].play)
    assert isinstance(qp.player, JobPlayer) and qp.player.output_dir == jobs["flow"].output_dir
    assert qp.player_box.children == (qp.player,) and qp.player_box in qp.children
    assert qp.player_box.layout.display == "flex"
    first = qp.player
    wire.click(rows[jobs["png"].id].play)  # one player at a time
    assert qp.player is not first and qp.player.output_dir == jobs["png"].output_dir and first.comm is None
    wire.click(rows[jobs["png"].id].play)  # the same row again hides it
    assert qp.player is None and qp.player_box.children == ()
    wire.click(rows[jobs["flow"].id].play)
    wire.click(qp.player.close_button)  # the player's own close button
    assert qp.player is None and qp.player_box.children == () and qp.player_box.layout.display == "none"
    app.refresh()
    assert rows[jobs["flow"].id].play.layout.visibility == "visible"
    assert not app.errors.value

    q.store.update(waiting, status=JobStatus.COMPLETED)  # completed, but its folder holds no finished job
    app.refresh()
    wire.click(rows[waiting].play)
    assert "Cannot play waiting" in qp.player.value and "no job.json" in qp.player.value
    assert not app.errors.value
    app.close()


def test_confidence_from_fields_while_they_remain(tmp_path, done):
    """Before a cube is written the maps wait in .fields/: the player reads them there (scans say why not)."""
    import json

    import numpy as np

    from goesvfi_lab.engine.layout import confidence_path

    _store, jobs = done
    out = tmp_path / "fields"
    shutil.copytree(jobs["flow"].output_dir, out)
    os.remove(out / "cube.nc")
    manifest = json.loads((out / "job.json").read_text())
    manifest["cube"] = None
    (out / "job.json").write_text(json.dumps(manifest))
    os.makedirs(out / ".fields")
    for i in range((N - 1) * F + 1):
        if i % F:
            np.save(confidence_path(str(out), i), np.full((40, 48), i / 10, np.float32))
    p = JobPlayer(out)
    assert p.source.kind == "fields"
    p.show(3)
    assert p.confidence.showing_image and "mean 0.30" in p.confidence.caption.value
    p.show(F)
    assert not p.confidence.showing_image and "scan" in p.confidence.text.value
    p.close()


def test_large_frames_are_sent_as_smaller_copies(done):
    from PIL import Image

    from goesvfi_lab.widgets.player import RENDER_SIZE, frame_png

    _store, jobs = done
    path = player_steps(jobs["png"].output_dir)[1].path
    assert frame_png(path) == on_disk(path)
    small = frame_png(path, max_bytes=10)  # as a full-disk frame would be
    assert small != on_disk(path)
    with Image.open(io.BytesIO(small)) as img, Image.open(path) as src:
        assert img.size == src.size and max(img.size) <= RENDER_SIZE  # never enlarged
    assert frame_png(path + ".gone") is None
