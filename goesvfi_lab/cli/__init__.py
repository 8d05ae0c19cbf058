"""The ``goesvfi-lab`` command. Each sub-module adds its sub-commands with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from goesvfi_lab import __version__

# sub-modules that contribute sub-commands, in help order
_COMMAND_MODULES = ("sample", "interpolate", "batch", "inspect", "fetch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="goesvfi-lab",
        description="Frame interpolation for GOES imagery, as prioritised batches on Dask.",
    )
    parser.add_argument("--version", action="version", version=f"goesvfi-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(f"goesvfi_lab.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for users; tracebacks with GOESVFI_DEBUG=1
        import os

        if os.environ.get("GOESVFI_DEBUG"):
            raise
        print(f"goesvfi-lab {args.command}: error: {exc}", file=sys.stderr)
        return 1
