"""Command-line flags shared by ``interpolate`` and ``run``: how input files are read (field, pixels).

Both commands add the same flags with :func:`add_read_flags` and turn them into job settings with
:func:`read_settings`, spelled as ``BatchJob.settings`` spells them, so ``interpolate`` (through
:class:`~goesvfi_lab.frames.ReadOptions`) and ``run`` (through the batch engine) read the same pixels.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_read_flags(p: argparse.ArgumentParser) -> None:
    """The flags that choose what is read from each NetCDF input."""
    p.add_argument("--variable", help="NetCDF variable to read (default: CMI, else Rad converted to K/reflectance)")


def read_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Job settings from the read flags (only those given)."""
    settings: dict[str, Any] = {}
    if args.variable:
        settings["variable"] = args.variable
    return settings
