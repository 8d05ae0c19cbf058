"""Atomic file output: readers (a Dask worker, a video encoder, a notebook) never see half a file.

The temporary file sits in the destination directory so ``os.replace`` is a rename on one file
system; its name keeps the real extension at the end because ffmpeg and some libraries pick the
container format from it.
"""

from __future__ import annotations

import contextlib
import os
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
