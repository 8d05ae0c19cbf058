"""``binder/`` follows repo2docker's conventions, and what it sets up works.

Syntax and consistency checks are fast: environment.yml parses and covers the package's runtime
dependencies, the scripts pass ``bash -n``, postBuild stops on errors, start ends with ``exec "$@"``,
the JSON files are valid and point at things that exist. ``start`` is also run for real (in a private
HOME), and a slow test opens the imported workspace in a real JupyterLab with headless Chromium:
the quickstart beside live Dask task-stream and progress panes, with the jobs page listed by
dask-labextension and opening in its own pane.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
QUICKSTART = "notebooks/01-quickstart.ipynb"


def conda_names(env: dict) -> set[str]:
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            names.add(re.split(r"[<>=!~ ]", dep, maxsplit=1)[0].lower())
    return names


def test_environment_yml_is_conda_forge_and_complete():
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    assert env["channels"][0] == "conda-forge"
    names = conda_names(env)
    assert {"dask-labextension", "jupyter-server-proxy", "jupyterlab", "pip"} <= names
    assert any(re.match(r"dask-labextension\s*>=\s*7", d) for d in env["dependencies"] if isinstance(d, str))
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    conda_name = {"torch": "pytorch-cpu", "matplotlib": "matplotlib-base"}  # conda-forge spellings
    missing = []
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()
        wanted = {"dask": ["dask", "distributed"]}.get(name, [conda_name.get(name, name)])
        missing += [w for w in wanted if w not in names]
    assert not missing, f"runtime dependencies missing from binder/environment.yml: {missing}"


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
    out = subprocess.run(
        [
            "bash",
            str(BINDER / "start"),
            sys.executable,
            "-c",
            "import os; print(os.environ['DASK_DISTRIBUTED__DASHBOARD__LINK'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "/user/ada/proxy/{port}/status"
    imported = list((tmp_path / "workspaces").glob("*.jupyterlab-workspace"))
    assert len(imported) == 1
    ws = json.loads(imported[0].read_text())
    assert ws["data"]["dask-dashboard-launcher"]["url"] == "/user/ada/proxy/8787"
    assert "DASK_DASHBOARD_URL" in (BINDER / "workspace.json").read_text()  # the template is left alone


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_binder_workspace_in_a_real_jupyterlab(tmp_path, monkeypatch):
    import _lab_harness as harness

    missing = harness.browser_available()
    if missing:
        if os.environ.get("CI"):
            raise RuntimeError(f"browser test cannot run under CI: {missing}")
        pytest.skip(missing)
    from distributed import Client, LocalCluster
    from playwright.sync_api import sync_playwright

    from goesvfi_lab.engine.dashboard import (
        PAGE_TITLE,
        attach_dashboard,
        publish_snapshot,
    )
    from goesvfi_lab.model import BatchJob, Stats

    monkeypatch.setattr(harness, "OVERRIDES", json.loads((BINDER / "overrides.json").read_text()))
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / QUICKSTART, root / QUICKSTART)
    port = harness.free_port()  # 8787 in Binder; any free port here
    server = harness.LabServer(tmp_path / "jupyter", root)
    workspace = tmp_path / "workspace.json"
    workspace.write_text((BINDER / "workspace.json").read_text().replace("DASK_DASHBOARD_URL", f"/proxy/{port}"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "workspaces",
            "import",
            str(workspace),
            f"--LabApp.workspaces_dir={tmp_path / 'jupyter' / 'workspaces'}",
        ],
        env=server.env(),
        check=True,
        capture_output=True,
    )
    shots = Path(os.environ.get("GOESVFI_SCREENSHOTS", tmp_path))
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=f"127.0.0.1:{port}"
        ) as cluster,
        Client(cluster) as client,
        server,
        sync_playwright() as pw,
    ):
        attach_dashboard(client)
        job = BatchJob(name="conus-0101", inputs=["a.nc", "b.nc", "c.nc"], output_dir="out", frames_done=3)
        assert publish_snapshot(client, [job], Stats(total=1, running=1, frames_done=3, frames_total=5), queue_id="q")
        browser = pw.chromium.launch(executable_path=harness.CHROMIUM, args=harness.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{server.url}/lab?token={server.token}")
            tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel")
            page.wait_for_function("() => document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab').length >= 3")
            assert {"01-quickstart.ipynb", "Task Stream", "Progress"} <= set(tabs.all_inner_texts())
            # the panes are live: the proxied Bokeh documents load inside their iframes
            page.wait_for_function(
                """() => [...document.querySelectorAll('iframe')].filter(f => {
                       try { return f.contentDocument
                                    && f.contentDocument.querySelector('.bk-Figure, .bk-root, [class*=bk]'); }
                       catch (e) { return false; } }).length >= 2"""
            )
            page.locator(".jp-SideBar [data-id='dask-dashboard-launcher']").first.click()
            page.locator("button", has_text=PAGE_TITLE).first.click()  # listed through /individual-plots.json
            page.wait_for_function(
                """(title) => [...document.querySelectorAll('iframe')].some(f => {
                       try { return f.contentDocument && f.contentDocument.body.innerText.includes('conus-0101')
                                    && f.contentDocument.title === title; }
                       catch (e) { return false; } })""",
                arg=PAGE_TITLE,
            )
            assert PAGE_TITLE in tabs.all_inner_texts()
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "07-binder-workspace.png"))
        finally:
            browser.close()
