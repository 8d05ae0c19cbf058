"""``goesvfi-lab interpolate``: one folder of frames → a denser sequence (PNG, optional MP4, NetCDF/Zarr cube).

OUT_DIR receives the whole output sequence as ``000000.png, 000001.png, …`` in time order: input k sits
at index ``k * factor`` and the generated frames lie between. Frames are processed pair by pair, so memory
stays bounded by one pair whatever the sequence length.
"""

from __future__ import annotations

import argparse
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from .options import add_cmap_flag, add_read_flags, job_cmap, read_settings

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".nc")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate",
        help="insert frames between the scans of one folder",
        description="Interpolate FACTOR-1 frames between consecutive frames of INPUT_DIR. OUT_DIR receives "
        "000000.png, 000001.png, … in time order (input k at index k*FACTOR).",
    )
    p.add_argument("input_dir", metavar="INPUT_DIR")
    p.add_argument("-o", "--output", dest="out_dir", metavar="OUT_DIR", required=True)
    p.add_argument("--factor", type=int, default=2, help="output frames per input interval (default 2)")
    p.add_argument("--method", default="auto", help="interpolation method: auto, linear, flow, rife")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--kind",
        default="auto",
        choices=("auto", "field", "video"),
        help="what the frames show: field (satellite data and renders), video (camera footage); "
        "auto: field unless 8-bit frames without ABI names",
    )
    p.add_argument("--video", metavar="OUT.mp4", help="also encode the sequence as an MP4")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default from config, 30)")
    p.add_argument(
        "--cube",
        metavar="OUT.nc|OUT.zarr",
        help="NetCDF inputs: also write a CF cube with interpolated times (a Zarr store for a name ending .zarr)",
    )
    p.add_argument("--latlon", action="store_true", help="with --cube: add 2-D lat/lon coordinates (NaN off the disk)")
    add_cmap_flag(p)
    p.add_argument(
        "--annotate",
        action="store_true",
        help="burn the UTC time (generated frames marked '(interp.)') and the colour bar into the frames",
    )
    p.add_argument("--sequence", help="name of the sequence to use when INPUT_DIR holds several")
    p.add_argument("--overwrite", action="store_true", help="replace frames already in OUT_DIR")
    add_read_flags(p)
    p.set_defaults(func=run)


def _pick_sequence(input_dir: str, wanted: str | None):
    from goesvfi_lab.discover import FileFilter, group_sequences

    if not os.path.isdir(input_dir):
        raise FileNotFoundError(f"{input_dir}: not a directory")
    paths = FileFilter(extensions=list(FRAME_EXTENSIONS)).scan(input_dir, recursive=False)
    seqs = group_sequences(paths)
    if not seqs:
        raise ValueError(f"{input_dir}: no frames found ({', '.join(FRAME_EXTENSIONS)})")
    if wanted is not None:
        chosen = [s for s in seqs if s.name == wanted]
        if not chosen:
            raise ValueError(f"no sequence named {wanted!r}; found: {', '.join(s.name for s in seqs)}")
        return chosen[0]
    if len(seqs) > 1:
        names = ", ".join(f"{s.name} ({len(s.paths)} frames)" for s in seqs)
        raise ValueError(f"{input_dir} holds {len(seqs)} sequences; pick one with --sequence: {names}")
    return seqs[0]


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from goesvfi_lab import config
    from goesvfi_lab.engine import layout
    from goesvfi_lab.frames import read_frame, render, write_interpolated_cube, write_png, write_video
    from goesvfi_lab.frames.annotate import burn_in, frame_label
    from goesvfi_lab.geo import read_options
    from goesvfi_lab.interp import get_backend, interpolate_times, resolve_method, uses_context
    from goesvfi_lab.interp.api import has_confidence
    from goesvfi_lab.interp.kind import input_kind
    from goesvfi_lab.plan import context_gaps, n_frames

    if args.factor < 1:
        raise ValueError("--factor must be at least 1")
    if args.latlon and args.cube is None:
        raise ValueError("--latlon adds lat/lon coordinates to the cube: it needs --cube OUT.nc or OUT.zarr")
    seq = _pick_sequence(args.input_dir, args.sequence)
    if len(seq.paths) < 2:
        raise ValueError(f"{seq.paths[0]}: a sequence needs at least 2 frames, found 1")
    for note in seq.notes:  # e.g. a scan NOAA re-issued: the newest file is used
        print(note)

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in os.listdir(out) if layout.is_frame_name(p))
    if existing and not args.overwrite:
        raise FileExistsError(f"{out}: already holds {len(existing)} frames; pass --overwrite to replace them")
    n_out = n_frames(len(seq.paths), args.factor)
    for stale in existing:  # frames beyond this run's range would otherwise linger in the sequence
        if int(stale[:6]) >= n_out:
            os.remove(out / stale)

    options, crop_notes = read_options(read_settings(args), seq.paths[0])  # a crop bbox resolved once, on input 0
    for note in crop_notes:
        print(note)
    first = read_frame(seq.paths[0], options=options)
    cmap = job_cmap(args.cmap, seq.paths[0])
    kind = input_kind(first.dtype, seq.paths, args.kind)
    method = resolve_method(args.method, args.device, kind)
    times = [j / args.factor for j in range(1, args.factor)]
    keep_cube = args.cube is not None
    cube_frames: list = []
    cube_conf: list = []  # None at the scans
    cube_times: list = []

    def emit(index: int, frame, when, interpolated: bool) -> str:
        if np.issubdtype(frame.dtype, np.floating):
            image = render(frame, cmap=cmap)
        else:
            image = frame
        if args.annotate:  # the PNG (and so the MP4) only; the cube keeps the field
            image = burn_in(image, frame, cmap, None, None, frame_label(when, interpolated), seq.paths[0])
        return write_png(out / f"{index:06d}.png", image)

    written: list[str] = []
    columns = (
        TextColumn("[bold]interpolate[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"{seq.name} ×{args.factor} ({method}, {kind})", total=n_out)
        backend = get_backend(method, args.device, kind) if times else None
        curved = backend is not None and uses_context(backend)
        with_conf = keep_cube and backend is not None and has_confidence(backend)  # the cube's VAR_confidence
        seconds = [None if t is None else t.timestamp() for t in seq.times]
        read: dict[int, Any] = {0: first}  # scans read and still needed: the pair and, curved, one either side

        def scan(j: int):
            if j not in read:
                read[j] = read_frame(seq.paths[j], options=options)
            return read[j]

        frame0 = first
        for k in range(len(seq.paths) - 1):
            frame1 = scan(k + 1)
            before = after = None
            gaps = (1.0, 1.0)
            if curved:
                gb, ga = context_gaps(seconds, k, len(seq.paths))
                before = scan(k - 1) if gb is not None else None
                after = scan(k + 2) if ga is not None else None
                gaps = (gb or 1.0, ga or 1.0)
            for j in [j for j in read if j < k]:
                del read[j]
            generated = (
                interpolate_times(
                    frame0,
                    frame1,
                    times,
                    method=method,
                    device=args.device,
                    kind=kind,
                    before=before,
                    after=after,
                    gaps=gaps,
                    confidence=with_conf,
                )
                if times
                else []
            )
            if with_conf:
                cube_conf.extend([None, *(c for _, c in generated)])
                generated = [y for y, _ in generated]
            for j, frame in enumerate([frame0, *generated]):
                written.append(emit(k * args.factor + j, frame, _time_at(seq, k, j / args.factor), j > 0))
                if keep_cube:
                    cube_frames.append(np.asarray(frame, dtype=np.float32))
                    cube_times.append(_time_at(seq, k, j / args.factor))
            progress.advance(task, 1 + len(generated))
            frame0 = frame1
        written.append(emit(n_out - 1, frame0, _time_at(seq, len(seq.paths) - 1, 0.0), False))
        if keep_cube:
            cube_frames.append(np.asarray(frame0, dtype=np.float32))
            cube_times.append(_time_at(seq, len(seq.paths) - 1, 0.0))
        progress.advance(task, 1)

    print(f"wrote {len(written)} frames to {out}")
    if args.video:
        fps = args.fps if args.fps is not None else float(config.get("video.fps"))
        write_video(args.video, written, fps=fps)
        print(f"wrote {args.video} ({len(written)} frames at {fps:g} fps)")
    if keep_cube:  # as the batch engine writes it: x/y, grid mapping and units from the first input
        write_interpolated_cube(
            args.cube,
            cube_frames,
            cube_times,
            seq.paths,
            args.factor,
            method,
            options,
            latlon=args.latlon,
            confidence=[*cube_conf, None] if cube_conf else None,
        )
        print(f"wrote {args.cube} ({len(cube_frames)} time steps)")
    return 0


def _time_at(seq, k: int, fraction: float):
    """Scan time of input k plus a fraction of the interval to the next scan (None for non-ABI names)."""
    t0 = seq.times[k]
    if t0 is None:
        return None
    if fraction == 0.0:
        return t0
    t1 = seq.times[k + 1]
    return t0 + timedelta(seconds=(t1 - t0).total_seconds() * fraction)
