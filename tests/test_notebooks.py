"""The notebooks under ``notebooks/`` run and still print what their committed outputs show (nbval).

Each notebook runs as ``pytest --nbval notebooks/NAME.ipynb --nbval-sanitize-with notebooks/sanitize.cfg``
in a subprocess whose environment keeps everything it writes out of the user's home: its own queue
store (the quickstart's ``gl.lab()`` uses the default store), Jupyter runtime, IPython and matplotlib
directories, and Dask scratch space. Cells with live values carry ``# NBVAL_IGNORE_OUTPUT``.

After changing a notebook, refresh its committed outputs in the same environment::

    .venv/bin/python tests/test_notebooks.py --execute [02-netcdf-cube ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
SANITIZE = REPO / "notebooks" / "sanitize.cfg"
MAX_BYTES = 1_000_000  # committed notebooks stay small: no widget state, modest figures


def isolated_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "mpl"),
        ("DASK_TEMPORARY_DIRECTORY", "dask-tmp"),
    ):
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / sub)
    env["DASK_GOESVFI__QUEUE__STORE"] = str(base / "queue.sqlite3")
    env.pop("MPLBACKEND", None)  # notebooks draw inline (tests/conftest.py sets Agg for the test process)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def nbval_command(notebook: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(SANITIZE),
        "--nbval-cell-timeout",
        "300",
        "--nbval-kernel-startup-timeout",
        "120",
        str(notebook),
    ]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_is_committed_executed_and_small(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code), "execute it: tests/test_notebooks.py --execute"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue")
    assert "widgets" not in nb.get("metadata", {}), "widget state is not committed (big, and stale at once)"
    assert notebook.stat().st_size < MAX_BYTES


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_and_matches_its_outputs(notebook, tmp_path):
    proc = subprocess.run(
        nbval_command(notebook),
        check=False,
        cwd=REPO,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert proc.returncode == 0, f"nbval failed for {notebook.name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


def execute(names: list[str]) -> None:
    """Re-run notebooks in place (outputs committed as they come out), in the same isolated environment."""
    chosen = [nb for nb in NOTEBOOKS if not names or nb.stem in names or nb.name in names]
    with tempfile.TemporaryDirectory(prefix="goesvfi-nbexec-") as tmp:
        env = isolated_env(Path(tmp))
        for nb in chosen:
            print("executing", nb.name, flush=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "jupyter",
                    "nbconvert",
                    "--to",
                    "notebook",
                    "--execute",
                    "--inplace",
                    "--ExecutePreprocessor.store_widget_state=False",
                    "--ExecutePreprocessor.timeout=300",
                    str(nb),
                ],
                cwd=REPO,
                env=env,
                check=True,
            )


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--execute":
        sys.exit("usage: python tests/test_notebooks.py --execute [NOTEBOOK ...]")
    execute(args[1:])
