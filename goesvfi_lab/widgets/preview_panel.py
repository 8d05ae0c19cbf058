"""Step 2: what the filter found, what the jobs will do, and the button that submits them.

Thumbnails and the time estimate are computed on background threads (reading a full-disk scan or
timing one interpolation takes a moment); the widgets they fill exist from the start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import ipywidgets as W

from .. import html as fmt
from ..model import BatchJob, JobPriority
from .checks import BatchCheck, check_files, check_folders, check_html, without_bad_inputs
from .common import ErrorArea, button, guard
from .state import (
    CropView,
    Estimate,
    JobSettings,
    ScanResult,
    crop_setting,
    crop_view,
    estimate,
    estimate_inputs,
    local_copies,
    make_jobs,
    timing_pair,
)
from .thumbnails import (
    COLORBAR_WIDTH,
    PLACEHOLDER_PNG,
    THUMB_SIZE,
    ThumbnailCache,
    colorbar_png,
    pick_frames,
    read_frame_locked,
    shared_cache,
)
from .updater import Debouncer

_LABEL = {"description_width": "8em"}


def _field() -> W.Layout:  # one Layout widget per field
    return W.Layout(width="16em")


def measure_seconds_per_frame(
    path0: str, path1: str, method: str, factor: int, concurrent: int = 1, crop: int = 512
) -> float:
    """Seconds per interpolated frame of one real pair on one thread (a CPU slot's share), timed here
    with ``concurrent`` copies at once (the slots this machine's cores will run side by side).

    See :func:`goesvfi_lab.estimator.time_interp` (large frames timed on a ``crop``² window).
    """
    from ..estimator import frame_info, time_interp

    pixels = frame_info(path0, read_frame_locked)[0]
    return (
        time_interp(path0, path1, method, factor, crop=crop, threads=1, read=read_frame_locked, concurrent=concurrent)
        * pixels
        / 1e6
    )


class PreviewPanel(W.VBox):
    """Sequences table, first/middle/last thumbnails, job settings, estimate, Back and Confirm."""

    def __init__(
        self,
        output_dir: str | None = None,
        on_confirm: Callable[[list[BatchJob]], str | None] | None = None,
        on_back: Callable[[], None] | None = None,
        slots: Callable[[], int] | None = None,
        methods: list[str] | None = None,
        errors: ErrorArea | None = None,
        thumbnails: ThumbnailCache | None = None,
        measure: Callable[[str, str, str, int], float] = measure_seconds_per_frame,
        history: Callable[[], list[BatchJob]] | None = None,
    ) -> None:
        self.errors = errors or ErrorArea()
        self.on_confirm = on_confirm
        self.on_back = on_back
        self.slots = slots or (lambda: 1)
        self.thumbs = thumbnails or shared_cache
        self.measure = measure
        self.history = history or list  # completed jobs of the store: they calibrate the estimate
        self.last_estimate: Estimate | None = None
        self.result: ScanResult | None = None
        self.submitted: list[BatchJob] = []
        self._cost: dict[tuple, float] = {}  # (method, shape-ish key, factor) -> s/frame

        if methods is None:
            from ..interp import available_methods

            methods = ["auto", *[m for m in available_methods() if m != "auto"]]
        d = JobSettings(output_dir=os.path.abspath(os.path.expanduser(output_dir or "goesvfi-output")))

        self.title = W.HTML('<span class="gvl-title">2 · Preview and confirm</span>')
        self.table = W.HTML()
        self.sequence = W.Dropdown(description="Thumbnails of", style=_LABEL, layout=W.Layout(width="40em"))
        self.images = [
            W.Image(
                value=PLACEHOLDER_PNG,  # not an empty image: a browser draws that as a broken-image icon
                format="png",
                layout=W.Layout(width=f"{THUMB_SIZE}px", height=f"{THUMB_SIZE}px"),
            )
            for _ in range(3)
        ]
        self.captions = [W.HTML() for _ in range(3)]
        for img in self.images:
            img.add_class("gvl-thumb-img")
        figures = [W.VBox([img, cap]) for img, cap in zip(self.images, self.captions, strict=True)]
        for f in figures:
            f.add_class("gvl-thumb")
        # the key to the thumbnails' colours, with units (NetCDF sequences only)
        self.colorbar = W.Image(format="png", layout=W.Layout(width=f"{COLORBAR_WIDTH}px", display="none"))
        self.colorbar.add_class("gvl-colorbar")
        self.factor = W.BoundedIntText(
            value=d.factor,
            min=1,
            max=64,
            description="Factor",
            style=_LABEL,
            layout=_field(),
            tooltip="frames per input interval (2 doubles the rate)",
        )
        self.method = W.Dropdown(
            options=methods,
            value="auto" if "auto" in methods else methods[0],
            description="Method",
            style=_LABEL,
            layout=_field(),
        )
        self.fps = W.BoundedIntText(value=d.fps, min=1, max=240, description="Video fps", style=_LABEL, layout=_field())
        self.video = W.Checkbox(value=d.video, description="MP4 video", indent=False)
        self.cube = W.Checkbox(value=d.cube, description="data cube", indent=False)
        self.cube_format = W.Dropdown(
            options=[("NetCDF (cube.nc)", "netcdf"), ("Zarr (cube.zarr)", "zarr")],
            value=d.cube_format,
            description="Cube as",
            style=_LABEL,
            layout=W.Layout(width="21em"),  # its choices in full
            tooltip="the data cube's format: one NetCDF-4 file, or a Zarr store (one frame per chunk) for lazy reads",
        )
        self.priority = W.Dropdown(
            options=[(p.name.lower(), p) for p in reversed(JobPriority)],
            value=d.priority,
            description="Priority",
            style=_LABEL,
            layout=_field(),
        )
        self.output_dir = W.Text(
            value=d.output_dir, description="Output folder", style=_LABEL, layout=W.Layout(width="40em")
        )
        self.overwrite = W.Checkbox(value=d.overwrite, description="overwrite existing outputs", indent=False)
        self.annotate = W.Checkbox(
            value=d.annotate,
            description="time and colour bar in frames",
            indent=False,
            tooltip="burn the UTC time ('(interp.)' on generated frames) and the colour bar into the PNGs and video",
        )
        self.box = W.Text(
            value=d.box,
            description="Crop box",
            placeholder="W S E N degrees, e.g. -90 25 -80 32 (empty: whole frames)",
            style=_LABEL,
            layout=W.Layout(width="40em"),
            tooltip="crop every frame to the smallest fixed-grid window covering this lon/lat box",
        )
        self.crop_note = W.HTML()  # the window the box gives on the shown sequence, or why it gives none
        self.crop_note.add_class("gvl-crop-note")
        self.cmap = W.Dropdown(
            options=[
                ("auto", "auto"),
                ("enhanced IR", "enhanced"),
                ("grey IR", "ir"),
                ("water vapour", "wv"),
                ("visible (gamma)", "vis"),
                ("grey", "grey"),
            ],
            value=d.cmap,
            description="Colours",
            style=_LABEL,
            layout=_field(),
            tooltip="how physical fields are coloured in thumbnails and video",
        )
        self.estimate = W.HTML()
        self.estimate.add_class("gvl-estimate-box")
        # broken files and output folders already in use, checked in the background before Confirm
        self.checks = W.HTML()
        self.checks.add_class("gvl-checks")
        self.use_overwrite = button(
            "Overwrite them", "replace the other results in those folders", "warning", "exclamation-triangle"
        )
        self.use_new_folder = button("New folder", "write this batch to a new, empty output folder", "", "folder")
        self.resolve = W.HBox([self.use_overwrite, self.use_new_folder], layout=W.Layout(display="none"))
        self.check = BatchCheck()
        self._file_checks: dict[tuple, str | None] = {}  # (path, size, mtime) -> reason or None
        self.back = button("Back", "return to the filter", "", "arrow-left")
        self.confirm = button("Confirm", "submit one job per sequence to the queue", "success", "check")
        self.status = W.HTML(layout=W.Layout(flex="1 1 0", min_width="0"))  # wraps beside the buttons
        self.status.add_class("gvl-preview-status")

        for w in (
            self.factor,
            self.method,
            self.fps,
            self.video,
            self.cube,
            self.cube_format,
            self.priority,
            self.output_dir,
            self.overwrite,
            self.annotate,
            self.box,
        ):
            w.observe(self._settings_changed, names="value")
        self.cmap.observe(lambda _c: self._refresh_thumbs(), names="value")
        self.box.observe(lambda _c: self._refresh_thumbs(), names="value")
        self.sequence.observe(self._sequence_changed, names="value")
        self.back.on_click(guard(self.errors, "Going back failed")(self._back))
        self.confirm.on_click(guard(self.errors, "Submitting the jobs failed")(self._confirm))
        self._thumbnailer = Debouncer(self._render_thumbs, self._show_thumbs, self._thumb_error, delay=0.0)
        self._estimator = Debouncer(self._measure, self._show_estimate, self._estimate_error, delay=0.2)
        self._checker = Debouncer(self._run_checks, self._show_checks, self._check_error, delay=0.2)
        self.use_overwrite.on_click(guard(self.errors, "Choosing overwrite failed")(self._choose_overwrite))
        self.use_new_folder.on_click(guard(self.errors, "Choosing a new folder failed")(self._choose_new_folder))

        super().__init__(
            children=[
                self.title,
                self.table,
                self.sequence,
                W.HBox(figures, layout=W.Layout(grid_gap="8px")),
                self.colorbar,
                self.crop_note,
                W.HBox(
                    [
                        W.VBox([self.factor, self.method, self.fps, self.priority]),
                        W.VBox([self.cmap, self.cube_format, self.video, self.cube, self.annotate, self.overwrite]),
                    ]
                ),
                self.box,
                self.output_dir,
                self.estimate,
                self.checks,
                self.resolve,
                W.HBox([self.back, self.confirm, self.status], layout=W.Layout(align_items="center")),
            ]
        )
        self.add_class("gvl-preview")

    # ---- state in
    def settings(self) -> JobSettings:
        return JobSettings(
            factor=int(self.factor.value),
            method=self.method.value,
            fps=int(self.fps.value),
            video=bool(self.video.value),
            cube=bool(self.cube.value),
            cube_format=self.cube_format.value,
            priority=JobPriority(self.priority.value),
            output_dir=self.output_dir.value,
            overwrite=bool(self.overwrite.value),
            cmap=self.cmap.value,
            annotate=bool(self.annotate.value),
            box=self.box.value,
        )

    def show(self, result: ScanResult) -> None:
        """Fill the panel from a filter result (main thread: called from the filter's button)."""
        self.result = result
        seqs = result.sequences
        self.table.value = fmt.sequences_table(seqs, selected=0 if seqs else None)
        with self.sequence.hold_sync():
            self.sequence.options = [(f"{s.name} ({len(s.paths)} frames)", i) for i, s in enumerate(seqs)]
            self.sequence.value = 0 if seqs else None
        self.status.value = ""
        self.confirm.disabled = not seqs
        self._refresh_thumbs()
        self._refresh_estimate()
        self._refresh_checks()

    def selected(self) -> Any:
        if self.result is None or self.sequence.value is None:
            return None
        return self.result.sequences[self.sequence.value]

    # ---- thumbnails (background)
    def _sequence_changed(self, change: Any) -> None:
        if self.result is not None:
            self.table.value = fmt.sequences_table(self.result.sequences, selected=change["new"])
        self._refresh_thumbs()
        self._refresh_estimate()

    def _refresh_thumbs(self) -> None:
        seq = self.selected()
        for cap in self.captions:
            cap.value = '<span class="gvl-muted">rendering…</span>' if seq is not None else ""
        self._thumbnailer(None if seq is None else list(seq.paths), self.cmap.value, self.box.value)

    def _render_thumbs(
        self, paths: list[str] | None, cmap: str, box: str = ""
    ) -> tuple[list[tuple[str, str, bytes]], bytes | None, CropView]:
        if not paths:
            return [], None, CropView()
        picks = pick_frames(paths)
        local = self._local([paths[0], *(p for _, p in picks)])  # archive scans: only these are fetched
        crop = crop_view(local[paths[0]], box)  # the window every job of the sequence will read
        thumbs = [(label, p, self.thumbs.get(local[p], cmap=cmap, window=crop.window)) for label, p in picks]
        return thumbs, colorbar_png(local[paths[0]], cmap), crop

    def _local(self, paths: list[str]) -> dict[str, str]:
        """Local files of ``paths``: NOAA archive scans fetched into the cache (once), local ones as they are."""
        return local_copies(paths, self.result.remote if self.result is not None else {})

    def _show_thumbs(self, rendered: tuple[list[tuple[str, str, bytes]], bytes | None, CropView]) -> None:
        thumbs, bar, crop = rendered
        self.crop_note.value = (
            fmt.error_box(crop.error) if crop.error else fmt.html_note(crop.text) if crop.text else ""
        )
        with self.colorbar.hold_sync():
            self.colorbar.value = bar or b""
            self.colorbar.layout.display = "block" if bar else "none"
        for i, (img, cap) in enumerate(zip(self.images, self.captions, strict=True)):
            if i < len(thumbs):
                label, path, png = thumbs[i]
                with img.hold_sync():
                    img.value = png
                    img.layout.visibility = "visible"
                cap.value = fmt.thumb_caption(label, path)
            else:
                img.value = b""
                img.layout.visibility = "hidden"
                cap.value = ""

    def _thumb_error(self, exc: BaseException) -> None:
        for cap in self.captions:
            cap.value = ""
        self.errors.show("Rendering thumbnails failed", exc)

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until thumbnails and estimate are shown (tests and scripts)."""
        return self._thumbnailer.wait(timeout) and self._estimator.wait(timeout) and self._checker.wait(timeout)

    # ---- estimate (background)
    def _settings_changed(self, change: Any = None) -> None:
        self.confirm.disabled = self.result is None or not self.result.sequences
        self.status.value = ""  # another batch now: "Submitted …" was about the last one
        self._refresh_estimate()
        self._refresh_checks()

    # ---- checks (background): broken files, output folders already in use
    def _refresh_checks(self) -> None:
        if self.result is None:
            return
        try:
            jobs = make_jobs(self.result.sequences, self.settings(), root=self.result.root)
        except ValueError:  # settings the Confirm button will explain
            jobs = []
        paths = list(dict.fromkeys(p for j in jobs for p in j.inputs))
        self.check = BatchCheck(total=len(paths), checked=0, overwrite=bool(self.overwrite.value))
        self.checks.value = check_html(self.check)
        self._checker(jobs, paths)

    def _run_checks(self, jobs: list[BatchJob], paths: list[str]) -> BatchCheck:
        def progress(n: int) -> None:  # trait updates from this thread reach the browser while cells run
            self.checks.value = check_html(BatchCheck(total=len(paths), checked=n))

        bad = check_files(paths, self._file_checks, progress)
        conflicts, complete = check_folders(without_bad_inputs(jobs, bad))
        return BatchCheck(len(paths), len(paths), bad, conflicts, complete, bool(self.overwrite.value))

    def _show_checks(self, check: BatchCheck) -> None:
        self.check = check
        self.checks.value = check_html(check)
        self.resolve.layout.display = "flex" if check.blocking else "none"
        if check.blocking:  # a setting change (Overwrite them, New folder) enables it again
            self.confirm.disabled = True

    def _check_error(self, exc: BaseException) -> None:
        self.checks.value = fmt.error_box(f"Checking the files failed: {type(exc).__name__}: {exc}")

    def _choose_overwrite(self, _b: Any = None) -> None:
        self.overwrite.value = True  # re-checks: the warning now says the folders will be replaced

    def _choose_new_folder(self, _b: Any = None) -> None:
        from ..engine.layout import unused_dir

        self.output_dir.value = unused_dir(os.path.abspath(os.path.expanduser(self.output_dir.value)))

    def _refresh_estimate(self) -> None:
        if self.result is None:
            return
        s = self.settings()
        base = estimate(self.result.sequences, s.factor, None)
        self.estimate.value = fmt.estimate_summary(base.jobs, base.frames_total, base.frames_new, None, "measuring…")
        seq = self.selected()
        if seq is None or len(seq.paths) < 2 or s.factor < 2:
            self._estimator.cancel()
            self._show_estimate((base, "nothing to interpolate" if s.factor < 2 else ""))
            return
        outputs = {"video": s.video, "cube": s.cube_setting}
        crop = crop_setting(s)  # a cropped batch is priced by its windows' pixels
        pair = timing_pair(seq.paths, self.result.remote)  # archive scans: frames the thumbnails fetch
        self._estimator((self.result.sequences, *pair, s.method, s.factor, outputs, crop))

    def _measure(self, args: tuple) -> tuple[Estimate, str]:
        """One pair timed here, then the whole batch through the cost model (estimator.estimate_jobs)."""
        from ..estimator import estimate_jobs, work_of

        seqs, p0, p1, method, factor, outputs, crop = args
        local = self._local([p0, p1])
        p0, p1 = local[p0], local[p1]
        work = work_of([p0, p1], factor, method, outputs, read=read_frame_locked)  # the whole frame: as timed
        slots = max(int(self.slots()), 1)
        side_by_side = min(slots, os.cpu_count() or 1)
        key = (work.key, factor, os.path.getsize(p0), os.path.splitext(p0)[1], side_by_side)
        if key not in self._cost:
            self._cost[key] = self.measure(p0, p1, method, factor, side_by_side)
        cost = self._cost[key]
        result = estimate_jobs(
            estimate_inputs([q.paths for q in seqs], local, p0),
            factor,
            method,
            {**outputs, **crop},
            slots=slots,
            finished=self.history(),
            measured={work.key: cost / (work.pixels / 1e6)},
            measure=False,
            read=read_frame_locked,
        )
        p = result.prediction
        plural = "s" if slots > 1 else ""
        cal = (
            f"calibrated ×{p.factor:.2g} by finished batches"
            if p.factor is not None
            else "not yet calibrated: no finished batch"
        )
        basis = (
            f"({cost * 1000:.1f} ms per frame with '{work.method}' measured here, {slots} slot{plural}; "
            f"reading, writing, video and start-up included{'; of the crop windows' if crop else ''}; {cal})"
        )
        return estimate(seqs, factor, p.seconds), basis

    def _show_estimate(self, value: tuple[Estimate, str]) -> None:
        est, basis = value
        self.last_estimate = est  # what the text says, for scripts and tests
        self.estimate.value = fmt.estimate_summary(est.jobs, est.frames_total, est.frames_new, est.seconds, basis)

    def _estimate_error(self, exc: BaseException) -> None:
        self.estimate.value = fmt.error_box(f"Could not time '{self.method.value}': {type(exc).__name__}: {exc}")

    # ---- buttons
    def _back(self, _b: Any = None) -> None:
        if self.on_back is not None:
            self.on_back()

    def _confirm(self, _b: Any = None) -> None:
        if self.result is None:
            return
        jobs = make_jobs(self.result.sequences, self.settings(), root=self.result.root)
        # the files again, now: a click right after a setting change comes before the background check
        # (cached by size and mtime: only files it has not read yet are read here)
        bad = check_files(dict.fromkeys(p for j in jobs for p in j.inputs), self._file_checks)
        jobs = without_bad_inputs(jobs, bad)
        if not jobs:
            self.status.value = fmt.error_box("No sequence has two or more frames to interpolate.")
            return
        conflicts, _ = check_folders(jobs)  # again, now: the folders may have changed since the check
        if conflicts and not self.overwrite.value:
            self.check = replace(self.check, conflicts=conflicts)
            self._show_checks(self.check)
            self.status.value = fmt.error_box(
                f"{len(conflicts)} output folder(s) already hold other results: "
                "choose Overwrite them or New folder first."
            )
            return
        note = self.on_confirm(jobs) if self.on_confirm is not None else None
        self.confirm.disabled = True  # one click, one batch: change a setting or go back to submit again
        self.submitted.extend(jobs)
        out = os.path.dirname(jobs[0].output_dir)
        self.status.value = (
            f'<span class="gvl-submitted" data-jobs="{len(jobs)}">Submitted {len(jobs)} '
            f"job{'' if len(jobs) == 1 else 's'}</span>: outputs (frames, video, cube) go to "
            f'<span class="gvl-mono">{fmt.esc(out)}</span>. {fmt.esc(note or "")}'
        )

    def close(self) -> None:
        self._thumbnailer.cancel()
        self._estimator.cancel()
        self._checker.cancel()
        super().close()
