"""The package as users get it: ``python -m build`` makes an sdist and a wheel that install and run alone.

The wheel is built once per session from a copy of the source tree (``python -m build``: the sdist first,
then the wheel from the unpacked sdist, so a file the sdist forgets fails here). A fast test reads what a
registry would show (summary, classifiers, project URLs, licence file, ``Requires-Python``) and checks that
the package data (YAML defaults, CSS, ``py.typed``) is inside and the version comes from one place. The slow
test installs ``torch==2.13.0`` (the Makefile's pin) and then the wheel alone into a fresh venv, and from a
folder outside the repository runs ``goesvfi-lab sample`` → ``interpolate`` → ``run`` → ``check``, builds
``gl.lab()`` headless on a LocalCluster and drives it to a finished job, then adds the ``[lab]`` extra and
sees JupyterLab list dask-labextension. It takes about 100 s here (2 cores), 60 s of it pip installing torch
and the dependencies.

Needs the ``build`` package (``pip install build``): without it the tests skip locally and fail under CI.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TORCH = re.search(r"^TORCH\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
PACKAGE_DATA = ("goesvfi_lab/goesvfi.yaml", "goesvfi_lab/widgets/style.css", "goesvfi_lab/py.typed")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# what a copy of the work tree leaves out: never part of a build from a fresh clone
IGNORED = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "sample-data", "goesvfi-output*")


def source_version() -> str:
    text = (REPO / "goesvfi_lab" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE).group(1)


@pytest.fixture(scope="session")
def dist(tmp_path_factory) -> dict[str, Path]:
    """``python -m build`` on a copy of the work tree: {'wheel': ..., 'sdist': ...}, built once a session."""
    try:
        import build  # noqa: F401
    except ImportError:
        message = "the 'build' package is not installed (pip install build)"
        if os.environ.get("CI"):
            raise RuntimeError(f"the wheel tests cannot run under CI: {message}") from None
        pytest.skip(message)
    base = tmp_path_factory.mktemp("dist")
    src = base / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*IGNORED))
    out = base / "out"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        cwd=base,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"python -m build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    print(f"python -m build: {time.monotonic() - t0:.1f} s")
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_version_has_one_source():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "goesvfi_lab.__version__"}
    import goesvfi_lab

    assert goesvfi_lab.__version__ == source_version()


def test_wheel_and_sdist_carry_metadata_and_package_data(dist):
    version = source_version()
    assert dist["wheel"].name == f"goesvfi_lab-{version}-py3-none-any.whl"
    assert dist["sdist"].name == f"goesvfi_lab-{version}.tar.gz"
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
        info = f"goesvfi_lab-{version}.dist-info"
        meta = email.message_from_bytes(whl.read(f"{info}/METADATA"))
        licence = whl.read(f"{info}/licenses/LICENSE").decode()
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
        css = whl.read("goesvfi_lab/widgets/style.css").decode()
    assert set(PACKAGE_DATA) <= names
    assert ".gvl-app" in css
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "binder/", "benchmarks/"))]
    assert "goesvfi-lab = goesvfi_lab.cli:main" in entry_points
    assert meta["Name"] == "goesvfi-lab" and meta["Version"] == version
    assert meta["Summary"].startswith("Frame interpolation for GOES ABI imagery")
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert licence.startswith("MIT License") and licence == (REPO / "LICENSE").read_text()
    assert meta["Description-Content-Type"] == "text/markdown" and "# goesvfi-lab" in meta.get_payload()
    classifiers = meta.get_all("Classifier")
    assert "Framework :: Jupyter :: JupyterLab" in classifiers and "Typing :: Typed" in classifiers
    pythons = {c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert min(pythons, key=lambda v: tuple(map(int, v.split(".")))) == "3.10"  # as Requires-Python says
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    requires = meta.get_all("Requires-Dist")
    assert "torch>=2.1" in requires  # users elsewhere get the torch build that suits them
    assert any(r.startswith("dask-labextension") and 'extra == "lab"' in r for r in requires)
    with tarfile.open(dist["sdist"]) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    assert {"pyproject.toml", "README.md", "LICENSE", *PACKAGE_DATA} <= members


class CleanVenv:
    """A venv of its own, used from a folder outside the repository, with nothing of the test's environment."""

    def __init__(self, base: Path, pip_cache: Path) -> None:
        self.dir = base / "venv"
        self.work = base / "work"
        self.work.mkdir()
        venv.create(self.dir, with_pip=True)
        self.bin = self.dir / "bin"
        home = base / "home"
        home.mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH") and not k.startswith("DASK_")
        }
        path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != REPO / ".venv" / "bin"]
        env.update(
            PATH=os.pathsep.join([str(self.bin), *path]),
            HOME=str(home),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CONFIG_HOME=str(home / ".config"),
            PIP_CACHE_DIR=str(pip_cache),
            MPLBACKEND="Agg",
            PYTHONNOUSERSITE="1",
            COLUMNS="200",
        )
        self.env = env
        self.times: dict[str, float] = {}

    def run(self, *args: str, timeout: float = 600, label: str | None = None) -> str:
        t0 = time.monotonic()
        proc = subprocess.run(list(args), cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout)
        self.times[label or " ".join([Path(args[0]).name, *args[1:2]])] = time.monotonic() - t0
        assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return ANSI.sub("", proc.stdout + proc.stderr)  # jupyter's lists colour "enabled" and "OK"

    def pip(self, *args: str, label: str) -> str:
        return self.run(str(self.bin / "python"), "-m", "pip", "install", "--no-input", *args, label=label)


LAB_SCRIPT = """
import json, sys, time, urllib.request
import goesvfi_lab as gl

app = gl.lab(root="data", output_dir="lab-out", store="lab.sqlite3")  # a LocalCluster of 1 worker (env)
q = app.queue
try:
    assert app.filter.wait(60), "the filter did not count the files"
    assert 'data-count="4"' in app.filter.count.value, app.filter.count.value
    app.filter.next.click()
    app.preview.method.value = "linear"
    assert app.preview.wait(60), "the preview did not finish"
    app.preview.confirm.click()
    deadline = time.monotonic() + 120
    while q.stats().completed < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    plots = q.client.dashboard_link.replace("/status", "/individual-plots.json")
    with urllib.request.urlopen(plots, timeout=10) as r:
        listed = json.load(r)
    (job,) = q.jobs()
    print(json.dumps({
        "module": gl.__file__, "version": gl.__version__, "completed": q.stats().completed,
        "status": job.status.value, "output_dir": job.output_dir, "listed": listed,
        "workers": len(q.client.scheduler_info()["workers"]),
    }))
finally:
    app.close()
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_installs_alone_and_runs_from_outside_the_repo(dist, tmp_path, tmp_path_factory):
    t0 = time.monotonic()
    pip_cache = tmp_path_factory.getbasetemp().parent / "goesvfi-pip-cache"  # kept between runs
    env = CleanVenv(tmp_path, pip_cache)
    python = str(env.bin / "python")
    before = subprocess.run([python, "-c", "import goesvfi_lab"], cwd=env.work, env=env.env, capture_output=True)
    assert before.returncode != 0, "the clean venv sees the repository's package"
    env.pip(TORCH, label=f"pip install {TORCH}")
    env.pip(str(dist["wheel"]), label="pip install the wheel")
    env.run(python, "-m", "pip", "check", label="pip check")
    version = source_version()
    assert env.run(str(env.bin / "goesvfi-lab"), "--version").strip() == f"goesvfi-lab {version}"
    installed = env.run(python, "-m", "pip", "show", "-f", "goesvfi-lab", label="pip show")
    assert "Editable project location" not in installed and f"Version: {version}" in installed
    assert all(f"  {p}" in installed for p in PACKAGE_DATA)

    cli = str(env.bin / "goesvfi-lab")
    out = env.run(cli, "sample", "data", "--frames", "4", "--size", "64", "64", "--format", "nc")
    assert "wrote 4 files" in out
    env.run(cli, "interpolate", "data", "-o", "frames", "--factor", "2", "--method", "linear", "--video", "clip.mp4")
    assert sorted(p.name for p in (env.work / "frames").glob("*.png")) == [f"{i:06d}.png" for i in range(7)]
    assert (env.work / "clip.mp4").stat().st_size > 1000  # imageio-ffmpeg's own ffmpeg, from its wheel
    run = env.run(
        *(cli, "run", "data", "-o", "batch", "--method", "linear", "--video", "--cube"),
        *("--workers", "1", "--threads", "2", "--quiet"),
    )
    (job_dir,) = [p for p in (env.work / "batch").iterdir() if p.is_dir()]
    assert {"000006.png", "video.mp4", "cube.nc", "job.json"} <= {p.name for p in job_dir.iterdir()}, run
    env.run(cli, "check", "batch")

    env.env.update(DASK_GOESVFI__CLUSTER__WORKERS="1", DASK_GOESVFI__CLUSTER__THREADS_PER_WORKER="2")
    shown = json.loads(env.run(python, "-c", LAB_SCRIPT, label="gl.lab").strip().splitlines()[-1])
    assert shown["module"].startswith(str(env.dir)) and shown["version"] == version
    assert shown["completed"] == 1 and shown["status"] == "completed" and shown["workers"] == 1
    assert (Path(shown["output_dir"]) / "000006.png").is_file()
    assert shown["listed"].get("GOES-VFI Jobs") == "/goesvfi"  # what dask-labextension lists, from the wheel's plugin

    env.pip(f"{dist['wheel']}[lab]", label="pip install the wheel[lab]")
    env.run(python, "-m", "pip", "check", label="pip check [lab]")
    extensions = env.run(str(env.bin / "jupyter"), "labextension", "list")
    assert re.search(r"dask-labextension v\S+ enabled OK", extensions), extensions
    servers = env.run(str(env.bin / "jupyter"), "server", "extension", "list")
    for server_extension in ("dask_labextension", "jupyter_server_proxy"):
        assert re.search(rf"^\s+{server_extension} \S+ OK$", servers, re.MULTILINE), servers
    times = {k: round(v, 1) for k, v in env.times.items()}
    print(f"clean-venv install and run: {time.monotonic() - t0:.0f} s; {json.dumps(times)}")
