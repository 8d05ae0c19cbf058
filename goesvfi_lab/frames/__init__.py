"""Frame I/O: PNG/JPEG/TIFF and ABI NetCDF in, PNG, MP4 and NetCDF cubes out, every write atomic.

Readers raise :class:`goesvfi_lab.errors.FrameError` naming the file and the reason.
"""

from __future__ import annotations

from .atomic import atomic_path
from .cube import write_cube, write_interpolated_cube
from .images import IMAGE_EXTENSIONS, read_image, sniff_format, write_png
from .netcdf import bt_to_radiance, radiance_to_bt, read_netcdf
from .read import ReadOptions, read_field, read_frame
from .render import COLORMAPS, IR_RANGE, colour_table, image_to_rgb8, render, to_grey16
from .video import available_encoders, count_video_frames, read_video, write_video

__all__ = [
    "COLORMAPS",
    "IMAGE_EXTENSIONS",
    "IR_RANGE",
    "ReadOptions",
    "atomic_path",
    "available_encoders",
    "bt_to_radiance",
    "colour_table",
    "count_video_frames",
    "image_to_rgb8",
    "radiance_to_bt",
    "read_field",
    "read_frame",
    "read_image",
    "read_netcdf",
    "read_video",
    "render",
    "sniff_format",
    "to_grey16",
    "write_cube",
    "write_interpolated_cube",
    "write_png",
    "write_video",
]
