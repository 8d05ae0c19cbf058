"""Small pieces every panel uses: an error area and a guard for click handlers.

ipywidgets sends an exception raised in a click handler to the kernel log, which JupyterLab hides in
its log console; the guard shows it in the panel instead, with the traceback folded under it.
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from ..html import error_box


class ErrorArea(W.HTML):
    """Shows the latest error (or nothing); safe to call from any thread."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(value="", **kwargs)
        self.add_class("gvl-errors")
        self._lock = threading.Lock()
        self.history: list[str] = []

    def show(self, title: str, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        message = f"{title}: {type(exc).__name__}: {exc}"
        with self._lock:
            self.history.append(message)
            del self.history[:-50]
            self.value = error_box(message, detail)

    def clear(self) -> None:
        with self._lock:
            self.value = ""


def guard(errors: ErrorArea, title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for widget callbacks: exceptions go to ``errors`` (and nowhere else)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                errors.show(title, exc)
                return None

        return wrapper

    return deco


def button(description: str, tooltip: str, style: str = "", icon: str = "", width: str = "auto") -> W.Button:
    """A labelled button that keeps its label: flex ``0 0 auto``, so a long note beside it in a row
    wraps or shrinks instead of squeezing the button to "Con…"."""
    return W.Button(
        description=description,
        tooltip=tooltip,
        button_style=style,
        icon=icon,
        layout=W.Layout(width=width, flex="0 0 auto"),
    )
