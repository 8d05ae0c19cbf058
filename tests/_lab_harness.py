"""Drive a real JupyterLab from a test: an isolated server, headless Debian Chromium via Playwright.

Findings this follows: point Playwright at the system chromium (no browser download);
a fresh workspace asks "Select Kernel" unless the lab settings override
``@jupyterlab/notebook-extension:tracker`` ``autoStartDefaultKernel``; ``port_retries=0``, a private
token and private JUPYTER_* directories keep the run from touching (or being touched by) anything else.
The settings override goes into an app-settings directory of the test's own (``LabApp.app_settings_dir``)
rather than into ``<sys.prefix>/share/jupyter/lab/settings``, so the environment is left as it was.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("GOESVFI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    # no news / update checks: the test machine is offline and the toast would cover the page
    "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` on 127.0.0.1 with everything it writes under ``base``."""

    def __init__(self, base: Path, notebook_dir: Path) -> None:
        self.base = Path(base)
        self.notebook_dir = Path(notebook_dir)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.base / "jupyter-lab.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var, sub in (
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("IPYTHONDIR", "ipython"),
            ("JUPYTERLAB_SETTINGS_DIR", "user-settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("MPLCONFIGDIR", "mpl"),
            ("XDG_DATA_HOME", "xdg-data"),
            ("DASK_TEMPORARY_DIRECTORY", "dask-tmp"),
        ):
            path = self.base / sub
            path.mkdir(parents=True, exist_ok=True)
            env[var] = str(path)
        env["DASK_GOESVFI__QUEUE__STORE"] = str(self.base / "queue.sqlite3")  # a store of its own
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env.pop("JUPYTER_PATH", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def server_args(self) -> list[str]:
        """``jupyter lab`` options: this port and token, 127.0.0.1, its own settings and workspaces."""
        args = [
            "--no-browser",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebook_dir}",
            f"--LabApp.user_settings_dir={self.base / 'user-settings'}",
            f"--LabApp.workspaces_dir={self.base / 'workspaces'}",
            "--LabApp.news_url=",
            "--ServerApp.open_browser=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers often run as root
            args.append("--allow-root")
        return args

    def command(self) -> list[str]:
        """The test environment's JupyterLab, with OVERRIDES as its app settings."""
        app_settings = self.base / "app-settings"
        app_settings.mkdir(parents=True, exist_ok=True)
        (app_settings / "overrides.json").write_text(json.dumps(OVERRIDES, indent=1))
        return [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            *self.server_args(),
            f"--LabApp.app_settings_dir={app_settings}",
        ]

    def start(self, timeout: float = 90.0) -> LabServer:
        cmd = self.command()
        self.base.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=self.notebook_dir, env=self.env(), stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"jupyter lab did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # shutting down the server also shuts down its kernels (and their LocalCluster)
            try:
                req = urllib.request.Request(f"{self.url}/api/shutdown?token={self.token}", method="POST")
                urllib.request.urlopen(req, timeout=5).close()
                self.proc.wait(20)
            except Exception:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def browser_available() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} missing: run .ci/install-browser.sh"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "python playwright not installed (pip install playwright; no browser download needed)"
    if shutil.which("jupyter-lab", path=os.path.dirname(sys.executable)) is None:
        try:
            import jupyterlab  # noqa: F401
        except ImportError:
            return "jupyterlab not installed (the 'lab' extra)"
    return None
