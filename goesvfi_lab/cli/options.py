"""Command-line flags shared by ``interpolate`` and ``run``: how input files are read (field, pixels), and
the colours physical fields are rendered with.

Both commands add the same flags with :func:`add_read_flags` and turn them into job settings with
:func:`read_settings`, spelled as ``BatchJob.settings`` spells them, so ``interpolate`` (through
:class:`~goesvfi_lab.frames.ReadOptions`) and ``run`` (through the batch engine) read the same pixels;
:func:`add_cmap_flag` and :func:`job_cmap` give both (and, through the same band rule, the notebook) the
same colours.
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


CMAPS = ("auto", "ir", "enhanced", "wv", "vis", "grey")  # goesvfi_lab.frames.render's tables, and auto (by band)


def add_cmap_flag(p: argparse.ArgumentParser) -> None:
    """``--cmap``: the colour table of physical fields in PNG/MP4 frames (default auto, as the notebook)."""
    p.add_argument(
        "--cmap",
        default="auto",
        choices=CMAPS,
        help="colour table for physical fields; auto: by ABI band (IR window enhanced, water vapour "
        "wv, reflective vis), ir for files without ABI names",
    )


def job_cmap(cmap: str, first_input: str) -> str:
    """The colour table a ``--cmap`` gives a sequence: ``auto`` resolved by the band of its first input
    (:func:`goesvfi_lab.bands.auto_cmap`; ``ir`` for names without a band), so the job's settings and its
    result spec name the colours really used."""
    from goesvfi_lab.bands import auto_cmap

    return auto_cmap(first_input, default="ir") if cmap == "auto" else cmap


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
