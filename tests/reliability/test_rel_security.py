"""Security: outputs stay inside their output folder, names from disk become safe folder names, the
dashboard page escapes every job value, and no text from an input file is ever executed.

Hostile names are real folders and files here, run as a real batch (ffmpeg included) on a real
scheduler whose dashboard page is then fetched over HTTP.
"""

from __future__ import annotations

import ast
import os
import re
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import dask
import numpy as np
import pytest
from _engine_support import make_frames, wait_for
from _rel_support import REPO, assert_completed_on_disk, leftovers

from goesvfi_lab import safety
from goesvfi_lab.engine import layout
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue

HOSTILE_FOLDERS = [
    "..dots..",
    "$(touch pwned1)",
    "x; touch pwned2 #",
    "`touch pwned3`",
    'it\'s "quoted" & <b>',
    "n" * 255,
    "pipe:1",
    "-rf",
    "<img src=x onerror=alert(1)>",
    "café ünïcode",
    "tab\tand\nnewline",
]
SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]*$")


# --- names and paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [*HOSTILE_FOLDERS, "../../etc", "/etc/cron.d/evil", "a\x00b", "..", ".", "", "C:\\Windows", "~root", "a/../../b"],
)
def test_safe_name_is_one_plain_folder_name(name):
    safe = safety.safe_name(name)
    assert SAFE.match(safe), safe
    assert not safe.startswith((".", "-")) and "/" not in safe and "\x00" not in safe
    assert len(safe.encode()) <= safety.MAX_NAME_BYTES


def test_safe_names_stay_distinct_and_plain_names_stay_as_they_are():
    names = ["a b", "a_b", "a;b", "a:b", "n" * 300, "n" * 301, "x" * 119 + "y", "x" * 119 + "z"]
    assert len({safety.safe_name(n) for n in names}) == len(names)
    for plain in ("G16-L2-CMIP-C-C13-20231231T1200", "conus_2024-05-16", "frames-tif"):
        assert safety.safe_name(plain) == plain


def test_output_paths_resolve_inside_the_output_folder(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    assert safety.inside(root, "job/video.mp4") == str(root / "job" / "video.mp4")
    for bad in ("../x", "job/../../x", "/etc/passwd", str(tmp_path / "elsewhere")):
        with pytest.raises(safety.UnsafePathError, match="outside the output folder"):
            safety.inside(root, bad)
    (root / "link").symlink_to(tmp_path)  # a link planted in the output tree cannot redirect writes
    with pytest.raises(safety.UnsafePathError):
        safety.inside(root, "link/x.png")
    for name in ("../../escape", "/abs/evil", ".."):
        folder = safety.job_output_dir(root, name)
        assert os.path.dirname(folder) == str(root.resolve())


def test_relative_video_and_cube_paths_are_inside_the_job_folder(tmp_path):
    out = str(tmp_path / "job")
    assert layout.video_path(out, {"video": "movies/v.mp4"}) == os.path.join(out, "movies/v.mp4")  # not the cwd
    assert layout.video_path(out, {"video": "/data/v.mp4"}) == "/data/v.mp4"  # absolute: the user's explicit choice
    with pytest.raises(safety.UnsafePathError, match="outside the output folder"):
        layout.cube_path(out, {"cube": "../../etc/cube.nc"})


def test_ffmpeg_is_given_a_file_never_an_option_or_a_protocol(tmp_path, monkeypatch):
    """Relative names that mean something to ffmpeg ("pipe:1", "-y") still name plain files."""
    from goesvfi_lab.frames import count_video_frames, read_video, write_video

    monkeypatch.chdir(tmp_path)
    frames = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(4)]
    for folder in ("pipe:1", "-y", "tcp:127.0.0.1:9"):
        os.makedirs(folder)
        path = write_video(f"{folder}/v.mp4", frames, fps=4)
        assert os.path.getsize(path) > 0
        assert count_video_frames(path) == 4 and len(read_video(path)) == 4


# --- nothing from an input is executed ------------------------------------------------------------

_FORBIDDEN_CALLS = {
    "eval",
    "exec",
    "os.system",
    "os.popen",
    "pickle.load",
    "pickle.loads",
    "marshal.loads",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "yaml.load",
    "yaml.unsafe_load",
}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def test_the_package_never_runs_a_shell_or_evaluates_text():
    """No shell=True, no os.system/popen, no eval/exec, no pickle or unsafe YAML on data, no np.load with pickles."""
    package = Path(REPO) / "goesvfi_lab"
    problems = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if name in _FORBIDDEN_CALLS:
                problems.append(f"{where}: {name}()")
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append(f"{where}: {name}(shell=...)")
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append(f"{where}: {name}(allow_pickle=...)")
            if name.startswith("subprocess.") and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
                problems.append(f"{where}: {name} with a command string")
    assert problems == []


# --- a real batch with hostile names, and the dashboard page over HTTP ----------------------------


def _hostile_netcdf(directory: Path) -> list[str]:
    """Two ABI scans whose attributes hold shell and Python text (copied into the cube as plain text)."""
    import netCDF4

    from goesvfi_lab.sample import write_sample

    paths = write_sample(directory, frames=2, size=(32, 32), fmt="nc", seed=3)
    for p in paths:
        with netCDF4.Dataset(p, "a") as nc:
            nc.title = "$(touch pwned-attr)"
            nc["CMI"].comment = "__import__('os').system('touch pwned-eval')"
    return paths


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode("utf-8")


@pytest.mark.slow
@pytest.mark.cluster
def test_hostile_names_run_safely_and_the_dashboard_escapes_them(tmp_path):
    from distributed import Client, LocalCluster

    from goesvfi_lab.engine import dashboard as dash
    from goesvfi_lab.frames import count_video_frames

    root, out = tmp_path / "in", tmp_path / "out"
    for i, name in enumerate(HOSTILE_FOLDERS):
        make_frames(root / name, 3, 32, seed=i, prefix="f $(touch pwned-file) ")  # metacharacters in file names too
    user_dir = tmp_path / "user's $(touch pwned4) `x` dir"  # a folder the user chose: used as given
    bad_input = tmp_path / "bad" / '<b onmouseover="alert(2)">.png'
    bad_input.parent.mkdir()
    bad_input.write_bytes(b"not an image at all")
    config = {
        "distributed.scheduler.worker-saturation": "inf",
        "goesvfi.queue.metrics-interval": 0.1,
        "goesvfi.dashboard.interval": 0.1,
        "goesvfi.retry.max-attempts": 1,
    }
    with (
        dask.config.set(config),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        q = BatchQueue(cluster=client, store=tmp_path / "queue.sqlite3")
        hostile_ids = q.add_directory(root, out, settings={"video": True}, method="linear")
        assert len(hostile_ids) == len(HOSTILE_FOLDERS)
        script = q.add_job(
            BatchJob(
                name="<script>alert(3)</script>",
                inputs=make_frames(tmp_path / "in2", 3, 32),
                output_dir=str(user_dir),
                method="linear",
                settings={"video": True},
            )
        )
        failing = q.add_job(
            BatchJob(
                name="bad-input",
                inputs=[make_frames(tmp_path / "in3", 1, 32)[0], str(bad_input)],
                output_dir=str(out / "bad"),
                method="linear",
            )
        )
        escaping = q.add_job(
            BatchJob(
                name="escape",
                inputs=make_frames(tmp_path / "in4", 2, 32),
                output_dir=str(out / "escape"),
                method="linear",
                settings={"video": "../../escaped.mp4"},
            )
        )
        attrs = q.add_job(
            BatchJob(
                name="attrs",
                inputs=_hostile_netcdf(tmp_path / "nc"),
                output_dir=str(out / "nc"),
                method="linear",
                settings={"cube": True},
            )
        )
        q.start(preload=["linear"])
        try:
            assert q.wait(180)
            url = f"http://127.0.0.1:{urlparse(client.dashboard_link).port}/{dash.PAGE}"
            wait_for(
                lambda: (
                    '"completed": ' in _get(url + ".json")
                    and sum(
                        j["status"] in ("completed", "failed")
                        for q_ in __import__("json").loads(_get(url + ".json"))["queues"]
                        for j in q_["jobs"]
                    )
                    == len(HOSTILE_FOLDERS) + 4
                ),
                30,
                0.1,
                "the page to show every job finished",
            )
            page = _get(url)
        finally:
            q.stop()

    # every hostile folder became a safe folder directly under out/, and ran (ffmpeg included)
    for jid in hostile_ids:
        job = q.job(jid)
        assert os.path.dirname(job.output_dir) == str(out.resolve()) and SAFE.match(os.path.basename(job.output_dir))
        assert_completed_on_disk([job])
        assert count_video_frames(os.path.join(job.output_dir, "video.mp4")) == 5
    assert_completed_on_disk([q.job(script)])
    assert count_video_frames(str(user_dir / "video.mp4")) == 5
    bad = q.job(failing)
    assert bad.status == JobStatus.FAILED and str(bad_input) in bad.error and "not a PNG" in bad.error
    esc = q.job(escaping)
    assert esc.status == JobStatus.FAILED and "outside the output folder" in esc.error
    assert not (tmp_path / "escaped.mp4").exists() and not list(tmp_path.rglob("escaped.mp4"))
    nc = q.job(attrs)
    assert_completed_on_disk([nc])
    import xarray as xr

    with xr.open_dataset(os.path.join(nc.output_dir, "cube.nc")) as ds:
        assert ds["CMI"].shape == (3, 32, 32)
        assert ds["CMI"].attrs.get("comment") == "__import__('os').system('touch pwned-eval')"  # text, never run
    # nothing ran: no side-effect file anywhere a shell or eval could have put one
    for place in (Path(REPO), tmp_path, Path.cwd()):
        assert not list(place.glob("pwned*")), place
    assert not [p for p in tmp_path.rglob("pwned*")]
    assert leftovers(out) == []
    # the dashboard page: every name and error escaped, no markup from a job reaches the page
    for raw in (
        "<script>alert(3)</script>",
        "<img src=x onerror=alert(1)>",
        '<b onmouseover="alert(2)">',
        'it\'s "quoted" & <b>',
    ):
        assert raw not in page
    assert "it&#x27;s &quot;quoted&quot; &amp; &lt;b&gt;" in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b onmouseover=&quot;alert(2)&quot;&gt;.png" in page
    assert "<script" not in page and "<img" not in page and 'onmouseover="' not in page
