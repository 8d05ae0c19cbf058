"""Step 1: build a file filter and see how many frames and sequences it matches, live.

The form is read into a :class:`~goesvfi_lab.widgets.state.FilterState`; the folder scan runs on a
debounced background thread so typing stays responsive on large trees.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from .. import html as fmt
from ..discover import SATELLITES, SECTORS
from .common import ErrorArea, button, guard
from .state import ANY, FilterState, ScanResult, scan, subfolders
from .updater import Debouncer

_SECTOR_NAMES = {"F": "full disk", "C": "CONUS", "M1": "mesoscale 1", "M2": "mesoscale 2"}
_LABEL = {"description_width": "9em"}  # first column of labels
_LABEL2 = {"description_width": "4em"}  # the label of the second field in a row


def _wide() -> W.Layout:  # a Layout is a widget: one per field, made when the panel is
    return W.Layout(width="36em")


def _half() -> W.Layout:  # 9em label + 12em input
    return W.Layout(width="21em")


def _half2() -> W.Layout:  # 4em label + 11em input
    return W.Layout(width="15em")


class FilterPanel(W.VBox):
    """Root folder, file attributes and GOES fields; ``on_next(result)`` opens the preview."""

    def __init__(
        self,
        root: str | None = None,
        on_next: Callable[[ScanResult], None] | None = None,
        errors: ErrorArea | None = None,
        debounce: float = 0.3,
    ) -> None:
        self.errors = errors or ErrorArea()
        self.on_next = on_next
        self.result: ScanResult | None = None
        st = FilterState(root=os.path.abspath(os.path.expanduser(root or os.getcwd())))

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
            placeholder="regular expressions on the path, comma separated",
            description="Exclude",
            style=_LABEL,
            layout=_wide(),
        )
        self.satellite = W.Dropdown(
            options=[("any", ANY), *[(s, s) for s in SATELLITES]], description="Satellite", style=_LABEL, layout=_half()
        )
        self.band = W.Dropdown(
            options=[("any", 0), *[(f"C{b:02d}", b) for b in range(1, 17)]],  # 0: any
            description="band",
            style=_LABEL2,
            layout=_half2(),
        )
        self.sector = W.Dropdown(
            options=[("any", ANY), *[(_SECTOR_NAMES[s], s) for s in SECTORS]],
            description="Sector",
            style=_LABEL,
            layout=_half(),
        )
        self.product = W.Dropdown(
            options=[("any", ANY), ("CMIP", "CMIP"), ("Rad", "Rad")],
            description="product",
            style=_LABEL2,
            layout=_half2(),
        )
        self.start = W.Text(placeholder="2023-12-31 12:00", description="Scans (UTC)", style=_LABEL, layout=_half())
        self.end = W.Text(placeholder="2023-12-31 18:00", description="to", style=_LABEL2, layout=_half2())
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
        ]
        for w in inputs:
            w.observe(self._changed, names="value")
        self.root.observe(self._root_changed, names="value")
        self.folders.observe(lambda c: setattr(self.open_folder, "disabled", c["new"] is None), names="value")
        self.open_folder.on_click(guard(self.errors, "Opening the folder failed")(self._open_folder))
        self.next.on_click(guard(self.errors, "Opening the preview failed")(self._next))
        self._scanner = Debouncer(scan, self._show_result, self._show_error, delay=debounce)

        title = W.HTML('<span class="gvl-title">1 · Choose files</span>')
        super().__init__(
            children=[
                title,
                W.HBox([self.root, self.recursive]),
                W.HBox([self.folders, self.open_folder], layout=W.Layout(align_items="flex-start")),
                self.extensions,
                W.HBox([self.min_size, self.max_size]),
                W.HBox([self.min_date, self.max_date]),
                self.name_pattern,
                self.exclude_paths,
                self.exclude_patterns,
                W.HBox([self.satellite, self.band]),
                W.HBox([self.sector, self.product]),
                W.HBox([self.start, self.end]),
                W.HBox([self.count, self.next], layout=W.Layout(align_items="center", grid_gap="16px")),
            ]
        )
        self.add_class("gvl-filter")
        self._list_folders()
        self._changed()

    # ---- form → state
    def form_state(self) -> FilterState:
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
        self.next.disabled = True
        self.count.value = '<span class="gvl-muted">counting…</span>'
        self._scanner(self.form_state())

    def _show_result(self, result: ScanResult) -> None:
        self.result = result
        with self.count.hold_sync():
            self.count.value = fmt.match_summary(len(result.paths), len(result.sequences), result.size_bytes)
        self.next.disabled = not result.sequences

    def _show_error(self, exc: BaseException) -> None:
        self.result = None
        self.next.disabled = True
        if isinstance(exc, ValueError):  # a form mistake: say which field, no traceback
            self.count.value = fmt.error_box(str(exc))
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
        self._scanner.cancel()
        super().close()
