"""Before/after for people who look: a finished job's scans, frames and confidence side by side.

:class:`JobPlayer` is an ipywidgets view over files already on disk (no server): a Play control
linked in the browser to a slider over the job's frames, step buttons, and three panes: the input
scan at or before the frame, the frame itself, and its confidence map (0–1 in viridis) read lazily
from the cube's ``VAR_confidence`` or from ``.fields/NNNNNN.confidence.npy`` while those remain.
Where there is no confidence (PNG inputs, no cube, a method that gives none) the pane says why.

The data loading lives in the small functions at the top; the view only calls them and caches the
PNG bytes it made per frame.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as W
import numpy as np

from ..engine import layout
from ..html import esc, html_note

PANE_WIDTH = 300  # px: three panes and their gaps fit a 1400 px JupyterLab with the file browser open
MAX_FRAME_BYTES = 2_000_000  # a frame PNG larger than this is sent as a smaller copy (full-disk scans)
RENDER_SIZE = 2 * PANE_WIDTH  # longest side of the copies made here (sharp on a 2x display)
CONFIDENCE_CMAP = "viridis"
CACHE_SIZE = 128  # PNGs kept per player


# ---- data: plain functions over the job's folder


@dataclass(frozen=True)
class ConfidenceSource:
    """Where a job's confidence maps are: ``kind`` "cube" (``path``, ``variable``), "fields" (the
    ``.fields`` maps still there) or None, with ``reason`` saying why there are none."""

    kind: str | None
    path: str | None = None
    variable: str | None = None
    reason: str = ""


def _methods(manifest: dict[str, Any]) -> str:
    used = manifest.get("methods_used") or []
    return ", ".join(used) if used else str(manifest.get("method") or "?")


def _open_cube(path: str) -> Any:
    import xarray as xr

    from ..frames.cube import cube_format

    if cube_format(path) == "zarr":
        return xr.open_zarr(path)
    return xr.open_dataset(path)


def _cube_lock() -> Any:
    from ..frames.netcdf import NETCDF_LOCK  # the netCDF library is not safe from two threads at once

    return NETCDF_LOCK


def find_confidence(output_dir: str, manifest: dict[str, Any]) -> ConfidenceSource:
    """Where the confidence maps of the job in ``output_dir`` are, or why it has none."""
    cube = manifest.get("cube")
    if cube:
        path = os.path.normpath(os.path.join(output_dir, cube))
        if not layout.output_exists(path):
            return ConfidenceSource(None, reason=f"no confidence map: the cube {cube} is gone")
        with _cube_lock():
            ds = _open_cube(path)
            try:
                names = [str(n) for n in ds.data_vars if str(n).endswith("_confidence")]
            finally:
                ds.close()
        if names:
            return ConfidenceSource("cube", path, names[0])
        return ConfidenceSource(None, path, reason=f"no confidence map: method {_methods(manifest)} gives none")
    if os.path.isdir(os.path.join(output_dir, layout.FIELDS_DIR)):
        factor = max(int(manifest.get("factor") or 1), 1)
        total = int(manifest.get("frames") or 0)
        if any(os.path.isfile(layout.confidence_path(output_dir, i)) for i in range(total) if i % factor):
            return ConfidenceSource("fields")
    inputs = manifest.get("inputs") or []
    if inputs and not layout.is_physical(inputs[0]):
        return ConfidenceSource(None, reason="no confidence map: PNG inputs have no cube to keep one in")
    return ConfidenceSource(None, reason="no confidence map: no cube (cube=True keeps it for NetCDF inputs)")


def read_confidence(output_dir: str, source: ConfidenceSource, index: int) -> np.ndarray | None:
    """Frame ``index``'s confidence (2-D, 0–1), read lazily (one time slice); None where there is none."""
    if source.kind == "cube" and source.path and source.variable:
        with _cube_lock():
            ds = _open_cube(source.path)
            try:
                var = ds[source.variable]
                if index >= var.sizes.get("time", 0):
                    return None
                return np.asarray(var.isel(time=index).values, dtype=np.float32)
            finally:
                ds.close()
    if source.kind == "fields":
        path = layout.confidence_path(output_dir, index)
        if os.path.isfile(path):
            return np.asarray(np.load(path), dtype=np.float32)
    return None


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb))
    img.thumbnail((RENDER_SIZE, RENDER_SIZE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def confidence_png(array: np.ndarray, cmap: str = CONFIDENCE_CMAP) -> bytes:
    """A confidence map (0–1; NaN grey) as PNG bytes through a matplotlib colour map, at most
    :data:`RENDER_SIZE` pixels on its longer side."""
    import matplotlib

    arr = np.asarray(array, dtype=np.float32)
    step = max(1, max(arr.shape[:2]) // RENDER_SIZE)
    arr = np.clip(arr[::step, ::step], 0.0, 1.0)
    table = matplotlib.colormaps[cmap].with_extremes(bad=(0.5, 0.5, 0.5, 1.0))
    rgba = table(np.ma.masked_invalid(arr), bytes=True)
    return _png(rgba[..., :3])


def confidence_summary(array: np.ndarray) -> str | None:
    """The map in a few words, ``mean 0.83 · min 0.12`` over its valid pixels; None when it has none."""
    valid = np.asarray(array, dtype=np.float32)
    valid = valid[np.isfinite(valid)]
    return f"mean {float(valid.mean()):.2f} · min {float(valid.min()):.2f}" if valid.size else None


def colour_key_png(cmap: str = CONFIDENCE_CMAP, width: int = PANE_WIDTH, height: int = 10) -> bytes:
    """A horizontal strip of ``cmap`` from 0 (left) to 1 (right): the key under the confidence pane."""
    import matplotlib
    from PIL import Image

    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    rgba = matplotlib.colormaps[cmap](ramp, bytes=True)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[..., :3])).save(buf, format="PNG")
    return buf.getvalue()


def frame_png(path: str, max_bytes: int = MAX_FRAME_BYTES) -> bytes | None:
    """The PNG bytes of a frame as they are on disk (a smaller copy when larger than ``max_bytes``);
    None when the file is missing."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if size <= max_bytes:
        with open(path, "rb") as fh:
            return fh.read()
    from PIL import Image

    with Image.open(path) as img:
        return _png(np.asarray(img.convert("RGB")))


# ---- captions


def scan_caption(step: layout.Step) -> str:
    k = step.scan // step.factor
    return f"scan {k} (this frame)" if step.is_scan else f"scan {k} (before)"


def frame_caption(step: layout.Step) -> str:
    kind = "scan" if step.is_scan else "interpolated"
    return f"frame {step.index} (t = {step.position:.4g}) · {kind}"


def _caption_html(text: str, detail: str | None = None) -> str:
    extra = f'<br><span class="gvl-muted">{esc(detail)}</span>' if detail else ""
    return f"<b>{esc(text)}</b>{extra}"


def _time_label(step: layout.Step) -> str | None:
    return step.time.replace("T", " ")[:19] + " UTC" if step.time else None


# ---- the view


class _Pane(W.VBox):
    """A caption, an image, and a line of text shown instead of the image when there is none."""

    def __init__(self, cls: str) -> None:
        # children fill the pane less their margins (ipywidgets gives every widget 2 px a side): at the
        # pane's own width they would reach 4 px past it and the pane would scroll sideways
        fill = "calc(100% - 4px)"
        self.caption = W.HTML(layout=W.Layout(width=fill))
        self.image = W.Image(format="png", layout=W.Layout(width=fill, height="auto"))
        self.text = W.HTML(layout=W.Layout(width=fill, display="none"))
        super().__init__(
            [self.caption, self.image, self.text],
            layout=W.Layout(width=f"{PANE_WIDTH}px", flex="0 0 auto", margin="0 8px 4px 0"),
        )
        self.add_class(cls)

    def show(self, caption: str, png: bytes | None, text: str = "", detail: str | None = None) -> None:
        self.caption.value = _caption_html(caption, detail)
        if png is not None:
            self.image.value = png
            self.image.layout.display = "block"
            self.text.layout.display = "none"
        else:
            self.text.value = html_note(text)
            self.image.layout.display = "none"
            self.text.layout.display = "block"

    @property
    def showing_image(self) -> bool:
        return self.image.layout.display != "none"

    def close(self) -> None:
        for w in (self.caption, self.image, self.text):
            w.close()
        super().close()


class JobPlayer(W.VBox):
    """Steps through a finished job: scan before | frame | confidence, with Play, a slider and ◀ ▶.

    ``on_close`` (e.g. the queue panel hiding it) adds a close button that calls it; ``style`` brings the
    panels' stylesheet along (a player shown on its own, ``gl.player(job)``; inside an app it is there).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        interval: int = 400,
        on_close: Callable[[], None] | None = None,
        style: bool = False,
    ) -> None:
        self.output_dir = os.fspath(output_dir)
        self.steps = layout.player_steps(self.output_dir)  # ValueError: not a finished job
        self.manifest = layout.read_manifest(self.output_dir) or {}
        self.source = find_confidence(self.output_dir, self.manifest)
        self._cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._lock = threading.RLock()
        last = len(self.steps) - 1
        self.play = W.Play(value=0, min=0, max=last, step=1, interval=interval, description="play")
        self.slider = W.IntSlider(
            value=0, min=0, max=last, step=1, readout=False, layout=W.Layout(width=f"{PANE_WIDTH}px")
        )
        self.link = W.jslink((self.play, "value"), (self.slider, "value"))
        self.prev = W.Button(icon="step-backward", tooltip="previous frame", layout=W.Layout(width="34px"))
        self.next = W.Button(icon="step-forward", tooltip="next frame", layout=W.Layout(width="34px"))
        self.prev.on_click(lambda _b: self.step_by(-1))
        self.next.on_click(lambda _b: self.step_by(+1))
        self.position = W.HTML()
        self.title = W.HTML(self._title_html())
        self.before = _Pane("gvl-player-before")
        self.frame = _Pane("gvl-player-frame")
        self.confidence = _Pane("gvl-player-confidence")
        self.key = W.Image(value=colour_key_png(), format="png", layout=W.Layout(width="calc(100% - 4px)"))
        self.key_label = W.HTML(html_note("0 (disagree) … 1 (agree)"))
        if self.source.kind is None:
            self.key.layout.display = self.key_label.layout.display = "none"
        self.confidence.children = (*self.confidence.children, self.key, self.key_label)
        head = [self.title]
        self.close_button = None
        if on_close is not None:
            self.close_button = W.Button(icon="times", tooltip="close the player", layout=W.Layout(width="30px"))
            self.close_button.add_class("gvl-player-close")
            self.close_button.on_click(lambda _b: on_close())
            head.append(self.close_button)
        controls = W.HBox(
            [self.play, self.prev, self.slider, self.next, self.position], layout=W.Layout(align_items="center")
        )
        # row wrap: in a narrow page the panes go under each other rather than scroll sideways
        panes = W.HBox(
            [self.before, self.frame, self.confidence], layout=W.Layout(flex_flow="row wrap", max_width="100%")
        )
        top = W.HBox(head, layout=W.Layout(align_items="center", justify_content="space-between"))
        self._boxes: tuple[W.Widget, ...] = (top, controls, panes)
        if style:
            from .formatting import style_tag

            self._boxes = (W.HTML(style_tag()), *self._boxes)
        super().__init__(list(self._boxes), layout=W.Layout(max_width="100%", overflow="hidden"))
        self.add_class("gvl-player")
        if style:
            self.add_class("gvl-app")
        self.slider.observe(lambda c: self.show(c["new"]), names="value")
        self.show(0)

    @property
    def index(self) -> int:
        return int(self.slider.value)

    def _title_html(self) -> str:
        m = self.manifest
        name = m.get("name") or os.path.basename(self.output_dir.rstrip(os.sep))
        inputs = len(m.get("inputs") or [])
        detail = f"{inputs} scans → {len(self.steps)} frames · ×{m.get('factor')} · {_methods(m)}"
        return f'<span class="gvl-title">{esc(name)}</span> <span class="gvl-muted">{esc(detail)}</span>'

    def step_by(self, delta: int) -> None:
        self.slider.value = min(max(self.index + delta, 0), len(self.steps) - 1)

    def _cached(self, kind: str, index: int, make: Callable[[], Any]) -> Any:
        key = (kind, index)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        png = make()
        with self._lock:
            self._cache[key] = png
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return png

    def frame_bytes(self, index: int) -> bytes | None:
        return self._cached("frame", index, lambda: frame_png(self.steps[index].path))

    def confidence_view(self, index: int) -> tuple[bytes | None, str | None]:
        """(PNG bytes, "mean 0.83 · min 0.12") of frame ``index``'s confidence; (None, None) where none."""

        def make() -> tuple[bytes | None, str | None]:
            array = read_confidence(self.output_dir, self.source, index)
            return (None, None) if array is None else (confidence_png(array), confidence_summary(array))

        return self._cached("confidence", index, make) if self.source.kind else (None, None)

    def confidence_bytes(self, index: int) -> bytes | None:
        return self.confidence_view(index)[0]

    def confidence_text(self, step: layout.Step) -> str:
        if self.source.kind is None:
            return self.source.reason
        if step.is_scan:
            return "scan: an input, exact (confidence 1)"
        return "no confidence map for this frame"

    def show(self, index: int) -> None:
        """Draw step ``index`` into the three panes (the slider's observer; call it to jump)."""
        step = self.steps[index]
        scan = self.steps[step.scan]
        missing = "frame file missing: {}"
        self.before.show(
            scan_caption(step),
            self.frame_bytes(scan.index),
            missing.format(os.path.basename(scan.path)),
            _time_label(scan),
        )
        self.frame.show(
            frame_caption(step),
            self.frame_bytes(index),
            missing.format(os.path.basename(step.path)),
            _time_label(step),
        )
        png, summary = self.confidence_view(index)
        self.confidence.show("confidence", png, self.confidence_text(step), summary)
        self.position.value = html_note(f"{index + 1} / {len(self.steps)}")
        self.prev.disabled = index <= 0
        self.next.disabled = index >= len(self.steps) - 1

    def close(self) -> None:
        # also called by ipywidgets' __del__ when __init__ failed half way (no finished job there)
        names = ("link", "play", "slider", "prev", "next", "position", "title", "key", "key_label", "close_button")
        for name in names:
            widget = getattr(self, name, None)
            if widget is not None:
                widget.close()
        for widget in (getattr(self, "before", None), getattr(self, "frame", None), getattr(self, "confidence", None)):
            if widget is not None:
                widget.close()
        for box in getattr(self, "_boxes", ()):
            box.close()
        super().close()
