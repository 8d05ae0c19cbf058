"""Command-line flags shared by ``interpolate`` and ``run``: how input files are read (field, pixels).

Both commands add the same flags with :func:`add_read_flags` and turn them into job settings with
:func:`read_settings`, spelled as ``BatchJob.settings`` spells them, so ``interpolate`` (through
:class:`~goesvfi_lab.frames.ReadOptions`) and ``run`` (through the batch engine) read the same pixels.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_read_flags(p: argparse.ArgumentParser) -> None:
    """The flags that choose what is read from each input: the NetCDF field and the crop."""
    p.add_argument("--variable", help="NetCDF variable to read (default: CMI, else Rad converted to K/reflectance)")
    crop = p.add_mutually_exclusive_group()
    crop.add_argument(
        "--bbox",
        nargs=4,
        type=float,
        metavar=("W", "S", "E", "N"),
        help="crop to the smallest fixed-grid window covering this lon/lat box (degrees; NetCDF inputs)",
    )
    crop.add_argument(
        "--window",
        nargs=4,
        type=int,
        metavar=("Y0", "Y1", "X0", "X1"),
        help="crop to these pixel rows Y0:Y1 and columns X0:X1 (half-open) before interpolating",
    )


def read_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Job settings from the read flags (only those given)."""
    settings: dict[str, Any] = {}
    if args.variable:
        settings["variable"] = args.variable
    if args.bbox:
        settings["crop"] = {"bbox": tuple(args.bbox)}
    elif args.window:
        settings["crop"] = {"window": tuple(args.window)}
    return settings
