"""Path safety: job folder names made from untrusted text, and outputs kept inside their output folder.

Job names come from file and folder names found on disk (``add_directory``, ``goesvfi-lab run``),
which anyone who can write to an input tree controls. Turning them into output folders must never
climb out of the chosen output folder (``..``, absolute paths, symlinks), never produce a name
the file system refuses (NUL, more than 255 bytes) and never produce a name that means something
to a shell or to ffmpeg (``$(…)``, ``;``, backticks, quotes, ``pipe:``). Pure Python, no imports
beyond the standard library.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata

#: longest folder name we make, in UTF-8 bytes: 255 is the usual limit, and the lock file, the
#: temporaries of atomic writes and ``-fields`` style suffixes need some room next to it
MAX_NAME_BYTES = 120

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@,-]+")  # everything else (separators, quotes, $, ;, `, spaces...) -> "_"


class UnsafePathError(ValueError):
    """A path would land outside the output folder it belongs to."""


def safe_name(name: str, fallback: str = "job") -> str:
    """``name`` as a safe folder name: ASCII letters, digits and ``._+=@,-`` only, no leading dot or dash,
    at most :data:`MAX_NAME_BYTES` bytes (long names keep a hash of the full name so they stay distinct)."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text).strip("._-")
    text = re.sub(r"_{2,}", "_", text)
    if not text or set(text) <= {"."}:
        text = fallback
    if text != name or len(text) > MAX_NAME_BYTES:  # distinct inputs must not collapse onto one folder
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = f"{text[: MAX_NAME_BYTES - 9]}-{digest}"
    return text


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """The absolute, symlink-resolved ``path``, if it lies inside ``root``; else :class:`UnsafePathError`.

    A relative ``path`` is taken relative to ``root``. Resolution follows symlinks that exist
    already, so a link planted in the output tree cannot redirect writes elsewhere.
    """
    base = os.path.realpath(os.fspath(root))
    target = os.path.realpath(os.path.join(base, os.fspath(path)))
    if target != base and not target.startswith(base.rstrip(os.sep) + os.sep):
        raise UnsafePathError(f"{os.fspath(path)}: resolves to {target}, outside the output folder {base}")
    return target


def job_output_dir(root: str | os.PathLike[str], name: str) -> str:
    """The output folder for a job called ``name`` under ``root``: ``root/<safe_name(name)>``, checked."""
    folder = inside(root, safe_name(name))
    if folder == os.path.realpath(os.fspath(root)):
        raise UnsafePathError(f"{name!r}: a job cannot write into the output root itself")
    return folder
