"""Cheap checks that a frame file is whole, without decoding it: a few bytes at its start and end.

The preview runs them on every file of a batch before Confirm, so a truncated PNG or a NetCDF file
cut short by a failed download is flagged there, not found by a worker after the batch started.
Each check reads at most a few hundred bytes (fast on a network file system too).
"""

from __future__ import annotations

import os
import struct

from .images import sniff_format

_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_HDF5 = b"\x89HDF\r\n\x1a\n"


def _tail(fh, n: int) -> bytes:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(size - n, 0))
    return fh.read(n)


def _png(fh, size: int) -> str | None:
    head = fh.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        return "truncated PNG: no image header (IHDR)"
    width, height = struct.unpack(">II", head[16:24])
    if width == 0 or height == 0:
        return f"PNG header says {width}×{height} pixels"
    if _tail(fh, 12) != _PNG_IEND:
        return f"truncated PNG: no end chunk (IEND) in its {size} bytes"
    return None


def _jpeg(fh, size: int) -> str | None:
    if _tail(fh, 2) != b"\xff\xd9":
        return f"truncated JPEG: no end marker in its {size} bytes"
    return None


def _hdf5_end(head: bytes) -> int | None:
    """The end-of-file address an HDF5 superblock (NetCDF-4) records, None if the layout is unknown."""
    version = head[8]
    if version in (0, 1):
        offsets = head[13]
        start = 24 + (4 if version == 1 else 0)  # base, free-space, end-of-file addresses follow
        field = start + 2 * offsets
    elif version in (2, 3):
        offsets = head[9]
        field = 12 + 2 * offsets  # base, superblock-extension, end-of-file addresses
    else:
        return None
    if offsets not in (4, 8) or len(head) < field + offsets:
        return None
    return int.from_bytes(head[field : field + offsets], "little")


def _netcdf(fh, size: int) -> str | None:
    head = fh.read(96)
    if head.startswith(_HDF5):
        end = _hdf5_end(head)
        if end is not None and end > size:
            return f"truncated NetCDF-4: {size} bytes of the {end} its header records (an interrupted download?)"
    elif head.startswith(b"CDF") and len(head) < 32:
        return f"truncated NetCDF: {size} bytes"
    return None


_CHECKS = {"png": _png, "jpeg": _jpeg, "netcdf": _netcdf}


def check_file(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be a whole frame file (a short reason), or None when it looks whole.

    Not a full decode: a file that passes can still hold damaged pixels (the job then fails, naming it).
    """
    from goesvfi_lab.errors import FrameError

    path = os.fspath(path)
    try:
        fmt = sniff_format(path)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            check = _CHECKS.get(fmt)
            return None if check is None else check(fh, size)
    except FrameError as e:
        return e.reason
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
