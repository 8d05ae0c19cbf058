"""``binder/`` follows repo2docker's conventions, every package it names resolves here, and what it sets up works.

repo2docker (``jupyter-repo2docker --no-build``) reads ``binder/requirements.txt`` (pip, before the repository
is copied in, so its layer is cached between commits), ``runtime.txt`` (Python 3.11), then ``postBuild`` and
``start`` (``R2D_ENTRYPOINT``). There is no ``environment.yml``: repo2docker would take it instead of
requirements.txt. Fast checks: requirements.txt states pyproject's runtime dependencies and the ``[lab]``
extra exactly, with the Makefile's torch pin as the CPU build; the scripts pass ``bash -n``, postBuild stops
on errors, start ends with ``exec "$@"``; the JSON files are valid and point at things that exist; ``start``
runs for real (in a private HOME). A slow test replays the Binder build and launch: a fresh venv from
binder/'s files, postBuild, then ``start jupyter lab`` on 127.0.0.1, and headless Chromium opens the imported
workspace, runs the quickstart, confirms a batch, and sees the app, the live Dask task-stream and progress
panes, and the jobs page listed by dask-labextension.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _lab_harness import LabServer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
QUICKSTART = "notebooks/01-quickstart.ipynb"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# repo2docker's files that would replace requirements.txt as the environment (its buildpack order)
OTHER_ENVIRONMENTS = ("environment.yml", "environment.yaml", "Pipfile", "Pipfile.lock", "Project.toml", "install.R")


def requirement_lines(text: str) -> tuple[list[str], list[Requirement]]:
    """(pip options, requirements) of a requirements file."""
    options, requirements = [], []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        (options if line.startswith("-") else requirements).append(line)
    return options, [Requirement(r) for r in requirements]


def test_requirements_txt_is_the_environment_and_states_pyproject_exactly():
    assert not [name for name in OTHER_ENVIRONMENTS if (BINDER / name).exists()]
    options, requirements = requirement_lines((BINDER / "requirements.txt").read_text())
    assert options == [f"--extra-index-url {TORCH_CPU_INDEX}"]  # CPU torch; everything else from PyPI
    listed = {canonicalize_name(r.name): r for r in requirements}
    assert len(listed) == len(requirements), "a package listed twice"
    torch = listed.pop("torch")
    make_pin = re.search(r"^TORCH\s*\?=\s*torch==(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
    assert str(torch.specifier) == f"=={make_pin}+cpu"  # the Makefile's version, the CPU build
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["lab"]]
    wanted = {canonicalize_name(r.name): r for r in wanted if canonicalize_name(r.name) != "torch"}
    missing = sorted(set(wanted) - set(listed))
    assert not missing, f"binder/requirements.txt lacks {missing} (pyproject.toml's dependencies and [lab] extra)"
    extra = sorted(set(listed) - set(wanted))
    assert not extra, f"binder/requirements.txt names {extra}, which pyproject.toml does not"
    differ = {
        n: (str(listed[n]), str(r))
        for n, r in wanted.items()
        if (listed[n].specifier, listed[n].extras) != (r.specifier, r.extras)
    }
    assert not differ, f"binder/requirements.txt and pyproject.toml disagree: {differ}"
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    from packaging.specifiers import SpecifierSet

    assert runtime.removeprefix("python-") in SpecifierSet(project["requires-python"])


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_scripts_are_executable_bash_that_parses(script):
    path = BINDER / script
    assert path.read_text().startswith("#!/bin/bash\n")
    assert path.stat().st_mode & stat.S_IXUSR, f"chmod +x binder/{script}"
    subprocess.run(["bash", "-n", str(path)], check=True)
    code = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert code[0].startswith("set -e") or code[0].startswith("set -euo"), "stop at the first failing command"


def test_postbuild_installs_the_package_and_the_lab_settings():
    text = (BINDER / "postBuild").read_text()
    assert re.search(r"pip install .*--no-deps.* \.\s*$", text, re.MULTILINE)  # the package; deps come from conda
    assert "share/jupyter/lab/settings" in text and "binder/overrides.json" in text
    overrides = json.loads((BINDER / "overrides.json").read_text())
    assert overrides["@jupyterlab/notebook-extension:tracker"]["autoStartDefaultKernel"] is True
    dask = overrides["dask-labextension:plugin"]
    assert dask["browserDashboardCheck"] is True  # Binder's proxy sits behind cookie authentication
    assert "goesvfi" in dask["defaultLayout"] and "individual-task-stream" in dask["defaultLayout"]


def test_start_ends_with_exec_and_exports_the_proxied_dashboard_link():
    text = (BINDER / "start").read_text()
    code = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert code[-1] == 'exec "$@"'
    assert re.search(r'^export DASK_DISTRIBUTED__DASHBOARD__LINK=".*proxy/\{port\}/status"', text, re.MULTILINE)
    assert "jupyter lab workspaces import" in text


def test_workspace_opens_the_quickstart_beside_dask_panes():
    ws = json.loads((BINDER / "workspace.json").read_text())
    data = ws["data"]
    assert ws["metadata"]["id"] == "default"
    assert data[f"notebook:{QUICKSTART}"]["data"]["path"] == QUICKSTART and (REPO / QUICKSTART).exists()
    dock = json.dumps(data["layout-restorer:data"]["main"]["dock"])
    for route in ("/individual-task-stream", "/individual-progress"):
        key = f"dask-dashboard-launcher:{route}"
        assert key in dock and data[key]["data"]["item"]["route"] == route
    assert f"notebook:{QUICKSTART}" in dock
    assert data["dask-dashboard-launcher"]["url"] == "DASK_DASHBOARD_URL"  # filled in by start


def jupyter_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (
        ("HOME", "home"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("JUPYTERLAB_SETTINGS_DIR", "user-settings"),
    ):
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / sub)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def test_start_runs_imports_the_workspace_and_execs(tmp_path):
    env = {**jupyter_env(tmp_path), "JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}
    env.pop("GOESVFI_DASHBOARD_PORT", None)
    env.pop("DASK_GOESVFI__CLUSTER__DASHBOARD_ADDRESS", None)
    show = "import os; print(os.environ['DASK_DISTRIBUTED__DASHBOARD__LINK'], os.environ[{!r}])"
    out = subprocess.run(
        ["bash", str(BINDER / "start"), sys.executable, "-c", show.format("DASK_GOESVFI__CLUSTER__DASHBOARD_ADDRESS")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["/user/ada/proxy/{port}/status", ":8787"]
    imported = list((tmp_path / "workspaces").glob("*.jupyterlab-workspace"))
    assert len(imported) == 1
    ws = json.loads(imported[0].read_text())
    assert ws["data"]["dask-dashboard-launcher"]["url"] == "/user/ada/proxy/8787"
    assert "DASK_DASHBOARD_URL" in (BINDER / "workspace.json").read_text()  # the template is left alone

    # another port (the replay below, where 8787 may be taken): the cluster and the workspace follow it
    out = subprocess.run(
        ["bash", str(BINDER / "start"), sys.executable, "-c", show.format("DASK_GOESVFI__CLUSTER__DASHBOARD_ADDRESS")],
        env={**env, "GOESVFI_DASHBOARD_PORT": "8790"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["/user/ada/proxy/{port}/status", ":8790"]
    ws = json.loads(imported[0].read_text())
    assert ws["data"]["dask-dashboard-launcher"]["url"] == "/user/ada/proxy/8790"


# ---- the Binder build and launch, replayed -------------------------------------------------------------------

# what a copy of the work tree leaves out: never part of a fresh clone
IGNORED = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "sample-data", "goesvfi-output*")


def binder_python() -> str:
    """The interpreter runtime.txt names (repo2docker's Python for this image)."""
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    found = shutil.which(f"python{version}")
    if found is None:
        raise RuntimeError(f"binder/runtime.txt says Python {version}, and there is no python{version} here")
    return found


def clean_env(venv_bin: Path, home: Path) -> dict[str, str]:
    """This process's environment less its venv, Dask settings and Python paths: what a Binder image has."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH") and not k.startswith("DASK_")
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != REPO / ".venv" / "bin"]
    home.mkdir(parents=True, exist_ok=True)
    env.update(PATH=os.pathsep.join([str(venv_bin), *path]), HOME=str(home), PYTHONNOUSERSITE="1", MPLBACKEND="Agg")
    return env


def build_like_binder(root: Path, venv_dir: Path, env: dict[str, str]) -> dict[str, float]:
    """repo2docker's steps: pip install -r binder/requirements.txt, then binder/postBuild, in the repository root.

    The one change: requirements.txt's ``--extra-index-url`` (PyTorch's CPU wheels) is left out, since only
    the registry configured here is reachable; the same CPU wheel, torch==2.13.0+cpu, is provided to pip here.
    """
    times = {}

    def step(name: str, args: list[str]) -> None:
        t0 = time.monotonic()
        proc = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        times[name] = round(time.monotonic() - t0, 1)
        assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"

    step("venv", [binder_python(), "-m", "venv", str(venv_dir)])
    text = (root / "binder" / "requirements.txt").read_text()
    index_line = f"--extra-index-url {TORCH_CPU_INDEX}"
    assert text.count(index_line) == 1
    here = root / "binder" / "requirements-here.txt"
    here.write_text(text.replace(index_line, "# (the CPU index: not reachable here)"))
    python = str(venv_dir / "bin" / "python")
    step("pip install -r binder/requirements.txt", [python, "-m", "pip", "install", "--no-cache-dir", "-r", str(here)])
    here.unlink()
    step("binder/postBuild", [str(root / "binder" / "postBuild")])
    return times


class BinderLab(LabServer):
    """``binder/start jupyter lab`` from the Binder venv, with the harness's port, token and private dirs."""

    def __init__(self, base: Path, root: Path, venv_dir: Path, env: dict[str, str]) -> None:
        super().__init__(base, root)
        self.venv_dir = venv_dir
        self.clean = env

    def env(self) -> dict[str, str]:
        private = super().env()  # this process's environment plus the harness's private directories
        return {**self.clean, **{k: v for k, v in private.items() if os.environ.get(k) != v}}

    def command(self) -> list[str]:  # app settings: postBuild's, in the venv (no override here)
        return [
            str(self.notebook_dir / "binder" / "start"),
            str(self.venv_dir / "bin" / "jupyter"),
            "lab",
            *self.server_args(),
        ]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(900)
def test_binder_build_and_launch_replayed(tmp_path):
    import _lab_harness as harness

    missing = harness.browser_available()
    if missing:
        if os.environ.get("CI"):
            raise RuntimeError(f"browser test cannot run under CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    from goesvfi_lab.html_page import PAGE_TITLE

    t0 = time.monotonic()
    root = tmp_path / "repo"  # a fresh clone's files, as repo2docker copies them in
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(*IGNORED))
    venv_dir = tmp_path / "binder-venv"
    env = clean_env(venv_dir / "bin", tmp_path / "home")
    times = build_like_binder(root, venv_dir, env)
    settings = venv_dir / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert json.loads(settings.read_text()) == json.loads((BINDER / "overrides.json").read_text())

    port = harness.free_port()  # 8787 on Binder; a free one here
    env.update(GOESVFI_DASHBOARD_PORT=str(port), DASK_GOESVFI__CLUSTER__DASHBOARD_ADDRESS=f"127.0.0.1:{port}")
    server = BinderLab(tmp_path / "jupyter", root, venv_dir, env)
    shots = Path(os.environ.get("GOESVFI_SCREENSHOTS", tmp_path))
    t1 = time.monotonic()
    with server, sync_playwright() as pw:
        assert "the workspace was not imported" not in server.log()
        browser = pw.chromium.launch(executable_path=harness.CHROMIUM, args=harness.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{server.url}/lab?token={server.token}")  # the default workspace: what Binder opens
            tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel")
            page.wait_for_function("() => document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab').length >= 3")
            assert {"01-quickstart.ipynb", "Task Stream", "Progress"} <= set(tabs.all_inner_texts())
            # the kernel starts by itself (postBuild's overrides.json): no "Select Kernel" dialog
            page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=120_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
            page.wait_for_selector('.gvl-count[data-count="36"]', timeout=120_000)  # the app, counting the sample
            page.locator(".gvl-filter button", has_text="Preview").click()
            page.locator(".gvl-preview .widget-dropdown:has(label:text-is('Method')) select").select_option(
                label="linear"
            )
            page.wait_for_function(
                "() => (document.querySelector('.gvl-estimate')?.textContent || '').includes('3 jobs')", timeout=60_000
            )
            page.locator(".gvl-preview button", has_text="Confirm").click()
            page.wait_for_function(
                """() => (document.querySelector('.gvl-tile[data-key="progress"] .gvl-tile-value')?.textContent
                          || '').trim() === '100 %'""",
                timeout=180_000,
            )
            # the panes from the workspace are live: the notebook's cluster, proxied, in their iframes
            page.wait_for_function(
                """() => [...document.querySelectorAll('iframe')].filter(f => {
                       try { return f.contentDocument
                                    && f.contentDocument.querySelector('.bk-Figure, .bk-root, [class*=bk]'); }
                       catch (e) { return false; } }).length >= 2""",
                timeout=120_000,
            )
            page.locator(".jp-SideBar [data-id='dask-dashboard-launcher']").first.click()
            page.locator("button", has_text=PAGE_TITLE).first.click()  # listed through /individual-plots.json
            page.wait_for_function(
                """(title) => [...document.querySelectorAll('iframe')].some(f => {
                       try { return f.contentDocument && f.contentDocument.title === title
                                    && f.contentDocument.body.innerText.includes('G18-'); }
                       catch (e) { return false; } })""",
                arg=PAGE_TITLE,
                timeout=60_000,
            )
            assert PAGE_TITLE in tabs.all_inner_texts()
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "07-binder-workspace.png"))
        finally:
            browser.close()
    videos = sorted((root / "notebooks" / "goesvfi-output").glob("*/video.mp4"))
    assert len(videos) == 3, server.log()
    times.update(lab=round(time.monotonic() - t1, 1), total=round(time.monotonic() - t0, 1))
    print(f"binder replay: {json.dumps(times)}")
