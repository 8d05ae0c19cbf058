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
    try:
        p.add_argument(
            "--band",
            metavar="N",
            help="ABI band 1..16: picks CMI_CNN of a multi-band (MCMIP) file (needed there); checked on one-band files",
        )
    except argparse.ArgumentError:  # ``run`` has --band as a file filter already: one band there is also read
        pass
    p.add_argument(
        "--mask-dqf",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="set pixels whose DQF > 1 to NaN (--no-mask-dqf: none; default: L1b 'no value' pixels only)",
    )
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
    band = args.band
    if isinstance(band, list):  # ``run``'s repeatable --band filter: one band also says which MCMIP band to read
        band = band[0] if len(set(band)) == 1 else None
    if band is not None:
        from goesvfi_lab.frames.read import parse_band  # lazily: the frames package is heavy for --help

        settings["band"] = parse_band(band)
    if args.mask_dqf is not None:
        settings["mask_dqf"] = args.mask_dqf
    if args.bbox:
        settings["crop"] = {"bbox": tuple(args.bbox)}
    elif args.window:
        settings["crop"] = {"window": tuple(args.window)}
    return settings
