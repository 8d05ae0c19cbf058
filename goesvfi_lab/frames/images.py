"""Read and write raster images (PNG, JPEG, TIFF) exactly as stored: uint8/uint16, grey/RGB/RGBA.

PNG goes through imagecodecs (libpng) because Pillow silently reduces 16-bit colour PNGs to 8 bits;
JPEG through Pillow; TIFF through tifffile. The format is sniffed from the file's first bytes, not
its name, so a mislabelled file is still read and a text file called ``.png`` gets a clear error.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from ..errors import FrameError
from .atomic import atomic_path

# first bytes -> format
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x89HDF\r\n\x1a\n", "netcdf"),  # NetCDF-4 (HDF5)
    (b"CDF\x01", "netcdf"),  # NetCDF classic
    (b"CDF\x02", "netcdf"),  # 64-bit offset
    (b"CDF\x05", "netcdf"),  # 64-bit data
)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def sniff_format(path: str | os.PathLike[str]) -> str:
    """'png' | 'jpeg' | 'tiff' | 'netcdf' from the file's first bytes; FrameError if unreadable or unknown."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise FrameError(path, "no such file", transient=True) from None
    except IsADirectoryError:
        raise FrameError(path, "is a directory, not a frame file") from None
    except OSError as e:
        raise FrameError(path, f"cannot open: {e.strerror or e}", transient=True) from None
    except ValueError as e:  # "embedded null byte": a name no file system can hold
        raise FrameError(repr(path), f"not a usable file name ({e})") from None
    if not head:
        raise FrameError(path, "empty file (0 bytes)")
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    raise FrameError(path, f"not a PNG, JPEG, TIFF or NetCDF file (starts with {head[:8]!r})")


def _read_png(path: str) -> np.ndarray:
    import imagecodecs

    with open(path, "rb") as f:
        return imagecodecs.png_decode(f.read())


def _read_jpeg(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("L", "RGB"):  # CMYK / YCCK JPEGs
            im = im.convert("RGB")
        return np.asarray(im)


def _read_tiff(path: str) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        data = page.asarray()
        # samples stored as separate planes come back channel-first; make them channel-last
        if data.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
            data = np.moveaxis(data, 0, -1)
    return data


_READERS: dict[str, Callable[[str], np.ndarray]] = {"png": _read_png, "jpeg": _read_jpeg, "tiff": _read_tiff}

_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # IHDR colour type -> samples per pixel once decoded


def max_frame_bytes() -> int:
    """Largest decoded frame we agree to read: config ``goesvfi.frames.max-frame-bytes``, else a
    quarter of the memory available now (interpolation needs several float copies of each frame)."""
    from .. import config

    configured = config.get("frames.max-frame-bytes")
    if configured:
        return int(configured)
    import psutil

    return int(psutil.virtual_memory().available // 4)


def check_frame_size(path: str, shape: tuple[int, ...], itemsize: int) -> None:
    """Refuse, before any pixel is allocated, a frame whose decoded size exceeds :func:`max_frame_bytes`."""
    need = itemsize
    for n in shape:
        need *= int(n)
    limit = max_frame_bytes()
    if need > limit:
        dims = "×".join(str(int(n)) for n in shape)
        raise FrameError(
            path,
            f"frame of {dims} samples needs {need / 2**30:.2f} GiB once decoded, more than the "
            f"{limit / 2**30:.2f} GiB allowed (goesvfi.frames.max-frame-bytes; default a quarter "
            f"of available memory): refused before reading it",
        )


def _declared_shape(path: str, fmt: str) -> tuple[tuple[int, ...], int] | None:
    """(shape, bytes per sample) the file's header announces, read without decoding pixels; None if unknown."""
    try:
        if fmt == "png":
            with open(path, "rb") as f:
                head = f.read(26)
            if len(head) < 26 or head[12:16] != b"IHDR":
                return None
            width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            return (height, width, _PNG_CHANNELS.get(head[25], 4)), 2 if head[24] == 16 else 1
        if fmt == "jpeg":
            from PIL import Image

            with Image.open(path) as im:  # lazy: reads the header only
                return (im.size[1], im.size[0], len(im.getbands())), 1
        if fmt == "tiff":
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return tuple(page.shape), page.dtype.itemsize if page.dtype is not None else 1
    except Exception:  # a header we cannot parse: the decoder reports the corruption
        return None
    return None


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Pixels of a PNG/JPEG/TIFF file as stored (HxW or HxWxC, uint8/uint16); FrameError if unreadable."""
    path = os.fspath(path)
    fmt = sniff_format(path)
    if fmt not in _READERS:
        raise FrameError(path, f"is {fmt}, not an image (use read_frame)")
    declared = _declared_shape(path, fmt)
    if declared is not None:
        check_frame_size(path, *declared)
    try:
        data = _READERS[fmt](path)
    except Exception as e:  # the libraries raise anything from ValueError to UnicodeDecodeError
        raise FrameError(path, f"corrupt or truncated {fmt.upper()}: {brief_error(e)}") from e
    if data.size == 0:
        raise FrameError(path, f"{fmt.upper()} holds no pixels")
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    return np.ascontiguousarray(data)


def brief_error(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception message, shortened: enough to act on, not a traceback."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_image_array(array: np.ndarray) -> np.ndarray:
    """Validate an array a PNG can hold exactly: uint8/uint16, HxW or HxWx{1,2,3,4}."""
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"PNG needs uint8 or uint16 pixels, got {array.dtype}; map physical fields with render() first"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4))):
        raise ValueError(f"PNG needs HxW or HxWx(2|3|4) pixels, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"PNG needs at least one pixel, got shape {array.shape}")
    return np.ascontiguousarray(array)


def write_png(path: str | os.PathLike[str], array: np.ndarray, *, level: int = 6) -> str:
    """Write ``array`` (uint8/uint16 grey/grey+alpha/RGB/RGBA) as a PNG, atomically; returns the path.

    Float or other dtypes raise ValueError (nothing is written): a physical field needs a colour
    table, which is :func:`goesvfi_lab.frames.render`'s job, not a silent cast here.
    """
    import imagecodecs

    path = os.fspath(path)
    data = imagecodecs.png_encode(check_image_array(array), level=level)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(data)
    except OSError as e:  # full disk, read-only or missing folder: say which file and why
        raise FrameError(path, f"cannot write: {e.strerror or e}", transient=True) from e
    return path
