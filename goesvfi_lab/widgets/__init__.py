"""Notebook panels (ipywidgets 8): filter → preview → confirm → live queue and stats.

``gl.lab()`` is the one-call entry; ``q.panel()`` (:func:`panel`) shows the queue and stats of an
existing :class:`goesvfi_lab.BatchQueue`. Views only render state and forward clicks to the queue;
the logic they need lives in :mod:`.state` and :mod:`.formatting`, testable without a browser.
"""

from __future__ import annotations

import weakref
from typing import Any

from .app import Lab, QueueApp
from .filter_panel import FilterPanel
from .preview_panel import PreviewPanel
from .queue_panel import QueuePanel
from .stats_panel import StatsPanel

__all__ = ["FilterPanel", "Lab", "PreviewPanel", "QueueApp", "QueuePanel", "StatsPanel", "lab", "panel"]


def lab(root: str | None = None, output_dir: str | None = None, cluster: Any = None, *,
        queue: Any = None, **queue_options: Any) -> Lab:
    """Create (or reuse ``queue``) a :class:`~goesvfi_lab.BatchQueue` and return the composed app.

    ``cluster`` is passed to the queue: None starts a LocalCluster, or give a Cluster, a Client or a
    scheduler address. Display the returned object (make it the last expression of a cell).

    Running the cell again replaces the previous app: its queue (when ``lab`` made it) is stopped
    first, which hands unfinished jobs back to the store, so the new queue picks them up instead of
    a second cluster competing with the first.
    """
    global _previous
    old = _previous() if _previous is not None else None
    if old is not None and old.owns_queue and queue is None:
        old.close()
    owns = queue is None
    if queue is None:
        from ..queue import BatchQueue

        queue = BatchQueue(cluster=cluster, **queue_options)
    app = Lab(queue, root=root, output_dir=output_dir)
    app.owns_queue = owns
    _previous = weakref.ref(app)
    return app


_previous: weakref.ReferenceType[Lab] | None = None


def panel(queue: Any, **options: Any) -> QueueApp:
    """Stats and job table of an existing queue (what ``BatchQueue.panel()`` returns)."""
    return QueueApp(queue, **options)
