"""Background threads for the panels: the periodic updater and a debouncer for slow look-ups.

Measured in this project (a real JupyterLab, ipywidgets 8): trait changes made from a background thread
reach the browser even while a cell is busy, whereas asyncio tasks on the kernel loop starve. So one
daemon thread per app pushes state to the widgets a few times a second; nothing here creates or displays
widgets (that stays on the main thread). Every exception is handed to ``on_error`` so the panel can show
it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

ErrorHandler = Callable[[str, BaseException], None]


class Updater:
    """Calls ``refresh()`` every ``interval`` seconds (or at once after :meth:`poke`) on one daemon thread."""

    def __init__(
        self,
        refresh: Callable[[], None],
        interval: float = 0.3,
        on_error: ErrorHandler | None = None,
        on_recover: Callable[[], None] | None = None,
        name: str = "goesvfi-lab-updater",
    ) -> None:
        if not 0 < interval <= 10:
            raise ValueError("interval must be in (0, 10] seconds")
        self.refresh = refresh
        self.interval = interval
        self.on_error = on_error
        self.on_recover = on_recover
        self.name = name
        self.ticks = 0
        self.errors = 0
        self.last_error: BaseException | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Updater:
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def poke(self) -> None:
        """Refresh now rather than at the next tick (safe from any thread, e.g. a queue event)."""
        self._wake.set()

    def tick(self) -> bool:
        """One refresh; False if it raised (the error went to ``on_error``)."""
        try:
            self.refresh()
        except Exception as exc:  # shown in the panel, never lost in a thread
            self.errors += 1
            self.last_error = exc
            if self.on_error is not None:
                self.on_error("Updating the panel failed", exc)
            return False
        finally:
            self.ticks += 1
        if self.last_error is not None:
            self.last_error = None
            if self.on_recover is not None:
                self.on_recover()
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.tick()
            # sleep the rest of the interval, but wake early when poked
            remaining = self.interval - (time.monotonic() - started)
            if remaining > 0:
                self._wake.wait(remaining)
            self._wake.clear()


class Debouncer:
    """Runs ``fn(*args)`` on a background thread ``delay`` s after the last call.

    Results of calls that a newer call superseded are dropped, so a slow folder scan started on one
    keystroke never overwrites the count for the next. ``on_result``/``on_error`` run on that thread.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        on_result: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        delay: float = 0.3,
    ) -> None:
        self.fn = fn
        self.on_result = on_result
        self.on_error = on_error
        self.delay = delay
        self.calls = 0  # how many times fn actually ran
        self._gen = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._idle = threading.Event()
        self._idle.set()

    def __call__(self, *args: Any) -> None:
        with self._lock:
            self._gen += 1
            gen = self._gen
            if self._timer is not None:
                self._timer.cancel()
            self._idle.clear()
            self._timer = threading.Timer(self.delay, self._run, (gen, args))
            self._timer.daemon = True
            self._timer.start()

    def _run(self, gen: int, args: tuple) -> None:
        try:
            result = self.fn(*args)
            error = None
        except Exception as exc:
            result, error = None, exc
        with self._lock:
            self.calls += 1
            current = gen == self._gen
        try:
            if current:
                if error is not None:
                    self.on_error(error)
                else:
                    self.on_result(result)
        finally:
            with self._lock:
                if gen == self._gen:
                    self._idle.set()

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until the newest call has finished (tests, scripts); True if it did."""
        return self._idle.wait(timeout)

    def cancel(self) -> None:
        with self._lock:
            self._gen += 1
            if self._timer is not None:
                self._timer.cancel()
            self._idle.set()
