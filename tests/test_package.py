"""Packaging promises: a light import, lazy public names, the console script, the config namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "distributed", "ipywidgets", "xarray", "matplotlib")


def _fresh(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=True,
    )
    return result.stdout


def test_core_imports_stay_light():
    code = (
        "import json, sys\n"
        "import goesvfi_lab, goesvfi_lab.model, goesvfi_lab.policy, goesvfi_lab.discover, goesvfi_lab.errors, "
        "goesvfi_lab.plan, goesvfi_lab.safety, goesvfi_lab.events, goesvfi_lab.store, goesvfi_lab.store_schema, "
        "goesvfi_lab.goes_names, goesvfi_lab.sequences\n"
        f"print(json.dumps([m for m in {HEAVY!r} + ('dask', 'numpy') if m in sys.modules]))\n"
    )
    assert json.loads(_fresh(code)) == []


def test_public_names_resolve_lazily():
    code = (
        "import json, sys, goesvfi_lab as gl\n"
        "before = 'torch' in sys.modules\n"
        "fn = gl.interpolate\n"
        "print(json.dumps([before, 'torch' in sys.modules, callable(fn)]))\n"
    )
    assert json.loads(_fresh(code)) == [False, True, True]


def test_every_public_name_exists():
    import goesvfi_lab as gl

    missing = [name for name in gl.__all__ if not hasattr(gl, name)]
    assert missing == []


def test_unknown_attribute_is_an_attribute_error():
    import goesvfi_lab as gl

    with pytest.raises(AttributeError, match="no_such_thing"):
        gl.no_such_thing  # noqa: B018


def test_console_script_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "goesvfi_lab", "--help"], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for command in ("sample", "interpolate", "run", "status"):
        assert command in out


def test_config_defaults_and_env_override():
    import yaml

    import goesvfi_lab

    with open(os.path.join(os.path.dirname(goesvfi_lab.__file__), "goesvfi.yaml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f)["goesvfi"]
    code = "from goesvfi_lab import config; print(config.get('interp.tile-size'), config.get('video.crf'))"
    shipped = [str(defaults["interp"]["tile-size"]), str(defaults["video"]["crf"])]
    assert _fresh(code).split() == shipped
    other = str(int(shipped[0]) + 512)
    assert _fresh(code, DASK_GOESVFI__INTERP__TILE_SIZE=other).split() == [other, shipped[1]]


def test_html_layer_stays_pure():
    # the scheduler renders /goesvfi and the CLI prints numbers with these: no widgets, Dask or arrays
    code = (
        "import json, sys\n"
        "import goesvfi_lab.html, goesvfi_lab.html_page\n"
        "heavy = ('ipywidgets', 'dask', 'distributed', 'numpy', 'torch', 'xarray', 'matplotlib')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    assert json.loads(_fresh(code)) == []


def test_query_layer_stays_pure():
    # goesvfi-lab status reads a store through goesvfi_lab.query: no cluster, widgets, arrays or torch
    code = (
        "import json, sys\n"
        "import goesvfi_lab.query\n"
        "heavy = ('dask', 'distributed', 'numpy', 'torch', 'ipywidgets')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    assert json.loads(_fresh(code)) == []
