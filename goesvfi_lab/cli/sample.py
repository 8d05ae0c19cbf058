"""``goesvfi-lab sample``: synthetic GOES-like sequences for demos and tests."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="write a synthetic GOES-like sequence (NetCDF or PNG)",
        description="Write a deterministic, GOES-ABI-like band-13 sequence: clouds advected by a smooth wind "
        "field, ABI file names at the sector's cadence.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--frames", type=int, default=12, help="number of scans (default 12)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=(256, 256))
    p.add_argument("--format", dest="fmt", choices=("nc", "png"), default="nc")
    p.add_argument("--sector", choices=("M1", "M2", "C", "F"), default="C")
    p.add_argument("--band", type=int, default=13)
    p.add_argument("--satellite", choices=("G16", "G17", "G18", "G19"), default="G16")
    p.add_argument("--product", choices=("CMIP", "Rad"), default="CMIP")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cmap", choices=("ir", "enhanced", "wv", "grey"), default="ir", help="PNG colour table")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="PNG bit depth (16: grey only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goesvfi_lab.sample import write_sample

    if args.frames < 1:
        raise ValueError("--frames must be at least 1")
    paths = write_sample(
        args.out_dir,
        frames=args.frames,
        size=tuple(args.size),
        fmt=args.fmt,
        sector=args.sector,
        band=args.band,
        satellite=args.satellite,
        seed=args.seed,
        product=args.product,
        cmap=args.cmap,
        bit_depth=args.bit_depth,
    )
    print(f"wrote {len(paths)} files to {args.out_dir}")
    return 0
