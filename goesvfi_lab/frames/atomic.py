"""Atomic file output: readers (a Dask worker, a video encoder, a notebook) never see half a file.

The temporary file sits in the destination directory so ``os.replace`` is a rename on one file
system; its name keeps the real extension at the end because ffmpeg and some libraries pick the
container format from it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator


def temp_name(path: str | os.PathLike[str]) -> str:
    """A hidden, unique sibling of ``path`` that ends with the same extension."""
    path = os.fspath(path)
    directory, base = os.path.split(path)
    ext = os.path.splitext(base)[1]
    return os.path.join(directory, f".{base}.{uuid.uuid4().hex[:12]}.tmp{ext}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on error delete it.

    The temporary file is not created in advance, so writers create it with the usual permissions.
    Missing parent directories are created.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"the writer produced no file at {tmp}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def remove_path(path: str | os.PathLike[str]) -> bool:
    """Delete a file or a whole directory (a Zarr store); False if nothing was there."""
    path = os.fspath(path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
        return True
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[str]:
    """Like :func:`atomic_path` for a writer that makes a directory (a Zarr store): yield a hidden sibling
    path (not created), rename it onto ``path`` on success, delete it on error.

    A directory cannot be renamed over a non-empty one, so an existing ``path`` is first renamed to another
    hidden sibling and deleted after the swap: a reader sees the old store or the new one, never a mix.
    """
    path = os.fspath(path).rstrip(os.sep) or os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        if not os.path.isdir(tmp):
            raise FileNotFoundError(f"the writer produced no directory at {tmp}")
        old = None
        if os.path.lexists(path):
            old = temp_name(path)
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)  # put the previous store back
            raise
        if old is not None:
            remove_path(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
