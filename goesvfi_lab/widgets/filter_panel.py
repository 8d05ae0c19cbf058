"""Step 1: build a file filter and see how many frames and sequences it matches, live.

Two sources: a local folder (the form is read into a :class:`~goesvfi_lab.widgets.state.FilterState`)
or NOAA's open-data archive (an :class:`~goesvfi_lab.widgets.state.ArchiveState`: satellite or
GOES-East/West, product, sector, band, scan times, ``every``). The GOES fields are shared by both; the
folder scan or the archive listing runs on one debounced background thread, so typing stays responsive
and a slow answer for an old form never overwrites the count of the current one. The archive count
(scans, total size) is a listing only: nothing is downloaded before the preview.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from .. import html as fmt
from ..discover import SATELLITES, SECTORS
from ..errors import GoesVfiError
from .common import ErrorArea, button, guard
from .state import (
    ANY,
    ARCHIVE_PRODUCTS,
    ARCHIVE_SATELLITES,
    SOURCES,
    ArchiveState,
    FilterState,
    ScanResult,
    default_range,
    find_scans,
    scan,
    subfolders,
)
from .updater import Debouncer

_SECTOR_NAMES = {"F": "full disk", "C": "CONUS", "M1": "mesoscale 1", "M2": "mesoscale 2"}
_LABEL = {"description_width": "9em"}  # first column of labels
_LABEL2 = {"description_width": "4em"}  # the label of the second field in a row
# the GOES dropdowns' choices per source: local files may leave a field open, an archive query may not
_LOCAL_CHOICES = {
    "satellite": [("any", ANY), *[(s, s) for s in SATELLITES]],
    "band": [("any", 0), *[(f"C{b:02d}", b) for b in range(1, 17)]],  # 0: any
    "sector": [("any", ANY), *[(_SECTOR_NAMES[s], s) for s in SECTORS]],
    "product": [("any", ANY), ("CMIP", "CMIP"), ("Rad", "Rad")],
}
_ARCHIVE_CHOICES = {
    "satellite": [(s, s) for s in ARCHIVE_SATELLITES],
    "band": [(f"C{b:02d}", b) for b in range(1, 17)],
    "sector": [(_SECTOR_NAMES[s], s) for s in SECTORS],
    "product": list(ARCHIVE_PRODUCTS),
}
_ARCHIVE_DEFAULTS = {"satellite": "GOES-East", "band": 13, "sector": "C", "product": "CMIP"}


def _look(state: FilterState | ArchiveState) -> ScanResult:
    """The count's one background job: a folder scan or an archive listing (one debouncer for both)."""
    return find_scans(state) if isinstance(state, ArchiveState) else scan(state)


def _wide() -> W.Layout:  # a Layout is a widget: one per field, made when the panel is
    return W.Layout(width="36em")


def _half() -> W.Layout:  # 9em label + 12em input
    return W.Layout(width="21em")


def _half2() -> W.Layout:  # 4em label + 11em input
    return W.Layout(width="15em")


class FilterPanel(W.VBox):
    """Source (local folder | NOAA archive), its fields and the GOES fields; ``on_next(result)`` opens the preview."""

    def __init__(
        self,
        root: str | None = None,
        on_next: Callable[[ScanResult], None] | None = None,
        errors: ErrorArea | None = None,
        debounce: float = 0.3,
        source: str = "local",
    ) -> None:
        self.errors = errors or ErrorArea()
        self.on_next = on_next
        self.result: ScanResult | None = None
        st = FilterState(root=os.path.abspath(os.path.expanduser(root or os.getcwd())))
        if source not in {v for _, v in SOURCES}:
            raise ValueError(f"source must be 'local' or 'archive', not {source!r}")
        self._switching = False

        self.source = W.ToggleButtons(
            options=SOURCES,
            value="local",
            style={"button_width": "9em"},
            tooltips=["files in a folder on this machine", "NOAA's open-data buckets (noaa-goes16..19), listed live"],
        )
        self.source.add_class("gvl-source")
        self.root = W.Text(value=st.root, description="Root folder", style=_LABEL, layout=_wide())
        self.recursive = W.Checkbox(value=st.recursive, description="include sub-folders", indent=False)
        self.folders = W.Select(options=[], rows=5, layout=W.Layout(width="26.6em", margin="0 0 0 9.4em"))
        self.folders.add_class("gvl-folders")
        self.open_folder = button("Open", "make the selected folder the root", "", "folder-open")
        self.open_folder.disabled = True
        self.extensions = W.Text(value=st.extensions, description="Extensions", style=_LABEL, layout=_wide())
        self.min_size = W.Text(placeholder="MB", description="Size from", style=_LABEL, layout=_half())
        self.max_size = W.Text(placeholder="MB", description="to", style=_LABEL2, layout=_half2())
        self.min_date = W.DatePicker(description="Modified from", style=_LABEL, layout=_half())
        self.max_date = W.DatePicker(description="to", style=_LABEL2, layout=_half2())
        self.name_pattern = W.Text(placeholder="regular expression", description="Name", style=_LABEL, layout=_wide())
        self.exclude_paths = W.Textarea(
            placeholder="one path per line", description="Exclude paths", rows=2, style=_LABEL, layout=_wide()
        )
        self.exclude_patterns = W.Text(
            placeholder="regexes on the path, comma-separated",
            description="Exclude",
            style=_LABEL,
            layout=_wide(),
        )
        c = _LOCAL_CHOICES
        self.satellite = W.Dropdown(options=c["satellite"], description="Satellite", style=_LABEL, layout=_half())
        self.band = W.Dropdown(options=c["band"], description="Band", style=_LABEL2, layout=_half2())
        self.sector = W.Dropdown(options=c["sector"], description="Sector", style=_LABEL, layout=_half())
        self.product = W.Dropdown(options=c["product"], description="Product", style=_LABEL2, layout=_half2())
        self.start = W.Text(
            placeholder="YYYY-MM-DD hh:mm", description="Scans (UTC)", style=_LABEL, layout=W.Layout(width="23em")
        )
        self.end = W.Text(
            placeholder="YYYY-MM-DD hh:mm", description="to", style=_LABEL2, layout=W.Layout(width="17em")
        )
        # the archive's own fields
        self.every = W.Text(
            placeholder="e.g. 10min",
            description="Every",
            style=_LABEL,
            layout=_half(),
            tooltip="one scan per step, e.g. 10-minute steps from 5-minute CONUS scans",
        )
        self.endpoint = W.HTML(layout=W.Layout(margin="0 0 0 9.4em"))  # under the fields, past their labels
        self.endpoint.add_class("gvl-archive-endpoint")
        self.count = W.HTML(value="")
        self.count.add_class("gvl-match-count")
        self.next = button("Preview", "show the sequences, thumbnails and job settings", "primary", "arrow-right")
        self.next.disabled = True

        inputs = [
            self.root,
            self.recursive,
            self.extensions,
            self.min_size,
            self.max_size,
            self.min_date,
            self.max_date,
            self.name_pattern,
            self.exclude_paths,
            self.exclude_patterns,
            self.satellite,
            self.band,
            self.sector,
            self.product,
            self.start,
            self.end,
            self.every,
        ]
        for w in inputs:
            w.observe(self._changed, names="value")
        self.root.observe(self._root_changed, names="value")
        self.folders.observe(lambda c: setattr(self.open_folder, "disabled", c["new"] is None), names="value")
        self.open_folder.on_click(guard(self.errors, "Opening the folder failed")(self._open_folder))
        self.next.on_click(guard(self.errors, "Opening the preview failed")(self._next))
        self.source.observe(self._source_changed, names="value")
        self._scanner = Debouncer(_look, self._show_result, self._show_error, delay=debounce)

        self.title = title = W.HTML('<span class="gvl-title">1 · Choose files</span>')
        # what only a local folder has, and what only the archive has; the GOES fields are shared
        self.local_fields = W.VBox(
            [
                W.HBox([self.root, self.recursive]),
                W.HBox([self.folders, self.open_folder], layout=W.Layout(align_items="flex-start")),
                self.extensions,
                W.HBox([self.min_size, self.max_size]),
                W.HBox([self.min_date, self.max_date]),
                self.name_pattern,
                self.exclude_paths,
                self.exclude_patterns,
            ]
        )
        self.local_fields.add_class("gvl-local-fields")
        self.archive_fields = W.VBox([self.endpoint], layout=W.Layout(display="none"))
        self.archive_fields.add_class("gvl-archive-fields")
        every_hint = W.HTML(fmt.html_note("empty: every scan; the preview downloads its 3 thumbnails"))
        self.every_row = W.HBox([self.every, every_hint], layout=W.Layout(display="none", grid_gap="8px"))
        super().__init__(
            children=[
                title,
                W.HBox([_row_label("Source"), self.source], layout=W.Layout(align_items="center")),
                self.local_fields,
                self.archive_fields,
                W.HBox([self.satellite, self.band]),
                W.HBox([self.sector, self.product]),
                W.HBox([self.start, self.end]),
                self.every_row,
                W.HBox([self.count, self.next], layout=W.Layout(align_items="center", grid_gap="16px")),
            ]
        )
        self.add_class("gvl-filter")
        self._list_folders()
        if source == "archive":
            self.source.value = "archive"  # switches the form and counts
        else:
            self._changed()

    # ---- form → state
    def form_state(self) -> FilterState | ArchiveState:
        """What the form asks for: a :class:`FilterState` (local folder) or an :class:`ArchiveState`."""
        if self.source.value == "archive":
            return ArchiveState(
                satellite=self.satellite.value,
                product=self.product.value,
                sector=self.sector.value,
                band=self.band.value,
                start=self.start.value,
                end=self.end.value,
                every=self.every.value,
            )
        return FilterState(
            root=self.root.value,
            recursive=self.recursive.value,
            extensions=self.extensions.value,
            min_size_mb=self.min_size.value,
            max_size_mb=self.max_size.value,
            min_date=self.min_date.value,
            max_date=self.max_date.value,
            name_pattern=self.name_pattern.value,
            exclude_paths=self.exclude_paths.value,
            exclude_patterns=self.exclude_patterns.value,
            satellite=self.satellite.value,
            band=self.band.value or None,
            sector=self.sector.value,
            product=self.product.value,
            start=self.start.value,
            end=self.end.value,
        )

    def _changed(self, change: Any = None) -> None:
        if self._switching:  # the source switch swaps choices field by field: count once, after
            return
        self.next.disabled = True
        archive = self.source.value == "archive"
        self.count.value = f'<span class="gvl-muted">{"listing the archive" if archive else "counting"}…</span>'
        self._scanner(self.form_state())

    def _source_changed(self, change: Any) -> None:
        """Local folder ⇄ NOAA archive: show that source's fields, give the GOES fields its choices, count."""
        archive = change["new"] == "archive"
        choices = _ARCHIVE_CHOICES if archive else _LOCAL_CHOICES
        self._switching = True
        try:
            for name, options in choices.items():
                widget = getattr(self, name)
                keep, values = widget.value, [v for _, v in options]
                widget.options = options  # may pick the first choice for a moment (not counted: switching)
                widget.value = keep if keep in values else (_ARCHIVE_DEFAULTS[name] if archive else values[0])
            if archive and not (self.start.value.strip() or self.end.value.strip()):
                self.start.value, self.end.value = default_range()  # a range the archive has: the last hour
            self.local_fields.layout.display = "none" if archive else "flex"
            self.archive_fields.layout.display = "flex" if archive else "none"
            self.every_row.layout.display = "flex" if archive else "none"
            what = "scans in the NOAA archive" if archive else "files"
            self.title.value = f'<span class="gvl-title">1 · Choose {what}</span>'
            if archive:
                self.endpoint.value = fmt.html_note(_endpoint_text())
        finally:
            self._switching = False
        self._changed()

    def _show_result(self, result: ScanResult) -> None:
        self.result = result
        with self.count.hold_sync():
            if result.remote or self.source.value == "archive":
                self.count.value = fmt.remote_summary(
                    len(result.paths), len(result.sequences), result.size_bytes, result.cached, result.notes
                )
            else:
                self.count.value = fmt.match_summary(len(result.paths), len(result.sequences), result.size_bytes)
        self.next.disabled = not result.sequences

    def _show_error(self, exc: BaseException) -> None:
        self.result = None
        self.next.disabled = True
        if isinstance(exc, ValueError):  # a form mistake: say which field, no traceback
            self.count.value = fmt.error_box(str(exc))
        elif self.source.value == "archive" and isinstance(exc, (GoesVfiError, OSError)):
            self.count.value = fmt.error_box(f"Listing the archive failed: {exc}")  # the network, a bucket
        else:
            self.count.value = fmt.error_box("Scanning failed (see the error above)")
            self.errors.show("Scanning the folder failed", exc)

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until the latest count is shown (tests and scripts)."""
        return self._scanner.wait(timeout)

    # ---- folder browser
    def _list_folders(self) -> None:
        root = os.path.expanduser(self.root.value)
        parent = [("..", "..")] if os.path.dirname(os.path.abspath(root)) != os.path.abspath(root) else []
        with self.folders.hold_sync():
            self.folders.options = parent + [(f"{name}/", name) for name in subfolders(root)]
            self.folders.value = None

    def _root_changed(self, change: Any) -> None:
        self._list_folders()

    def _open_folder(self, _button: Any = None) -> None:
        picked = self.folders.value
        if picked is not None:
            here = os.path.abspath(os.path.expanduser(self.root.value))
            self.root.value = os.path.normpath(os.path.join(here, picked))

    def _next(self, _button: Any = None) -> None:
        if self.result is not None and self.result.sequences and self.on_next is not None:
            self.on_next(self.result)

    def close(self) -> None:
        scanner = getattr(self, "_scanner", None)  # absent when __init__ refused its arguments
        if scanner is not None:
            scanner.cancel()
        super().close()


def _row_label(text: str) -> W.HTML:
    """A label in the form's first column (9em, right-aligned like the fields' descriptions)."""
    label = W.HTML(fmt.esc(text), layout=W.Layout(width="9em", min_width="9em"))
    label.add_class("gvl-row-label")
    return label


def _endpoint_text() -> str:
    """Where the archive is read from: NOAA's buckets on AWS (anonymous), or the configured endpoint."""
    from .. import config

    url = config.get("archive.endpoint-url")
    where = f"{url} (goesvfi.archive.endpoint-url)" if url else "AWS S3 (anonymous)"
    return f"noaa-goes16 … 19 at {where}: the count only lists"
