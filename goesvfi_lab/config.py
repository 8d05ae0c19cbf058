"""The ``goesvfi.*`` namespace in dask.config: package defaults, overridable by YAML and env vars.

Follows Dask's own convention: defaults ship in ``goesvfi.yaml``; users override them in
``~/.config/dask/*.yaml`` or with ``DASK_GOESVFI__INTERP__TILE_SIZE=2048``-style variables.
"""

from __future__ import annotations

import os
from typing import Any

import dask.config
import yaml

_DEFAULTS_FILE = os.path.join(os.path.dirname(__file__), "goesvfi.yaml")

with open(_DEFAULTS_FILE, encoding="utf-8") as _f:
    defaults: dict[str, Any] = yaml.safe_load(_f)

dask.config.update_defaults(defaults)


def get(key: str, default: Any = dask.config.no_default) -> Any:
    """``dask.config.get("goesvfi." + key)``.

    No fallback unless ``default`` is given: every key has its default in ``goesvfi.yaml``, so a key
    missing there is a KeyError (a typo, or a default to add to the YAML), not a silent None.
    """
    return dask.config.get(f"goesvfi.{key}", default=default)
