"""The notebook entry points ``gl.lab()`` and ``gl.panel(q)`` (they make or reuse a queue and hand it to a
view) and ``gl.player(job)`` (a finished job's frames side by side, from disk).

This module sits on top of both the facade (:class:`~goesvfi_lab.BatchQueue`) and the views
(:mod:`goesvfi_lab.widgets`), so that neither imports the other: the queue never imports widgets,
and the widgets never build a queue. ipywidgets loads only when one of these is called.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .widgets.app import Lab, QueueApp, SharedQueue
    from .widgets.player import JobPlayer

__all__ = ["current_cell", "lab", "panel", "player"]


def lab(
    root: str | None = None,
    output_dir: str | None = None,
    cluster: Any = None,
    *,
    queue: Any = None,
    source: str = "local",
    **queue_options: Any,
) -> Lab:
    """Create (or reuse ``queue``) a :class:`~goesvfi_lab.BatchQueue` and return the composed app.

    ``cluster`` is passed to the queue: None starts a LocalCluster, or give a Cluster, a Client or a
    scheduler address. Display the returned object (make it the last expression of a cell).
    ``source="archive"`` opens the filter on NOAA's open-data archive instead of the ``root`` folder
    (the endpoint is ``goesvfi.archive.endpoint-url``; the switch at the top of the panel changes it).

    Every call makes a new app, and earlier ones stay live: apps made for the same cluster, store and
    options share one queue (each app its own view of it), so two apps in a notebook never run two
    dispatchers on one store; the queue stops when the last of them is closed. Running the *same* cell
    again closes the app that cell showed before (its output is gone from the page); the queue stays.
    """
    from .widgets.app import Lab, SharedQueue

    cell = current_cell()
    key = _queue_key(cluster, queue_options)
    share = None
    if queue is None:
        share = next((s for s in _shares if s.key == key and s.open_apps()), None)
        if share is None:
            from .queue import BatchQueue

            share = SharedQueue(BatchQueue(cluster=cluster, **queue_options), key)
            _shares[:] = [s for s in _shares if s.open_apps()] + [share]
        queue = share.queue
    app = Lab(queue, root=root, output_dir=output_dir, source=source)
    if share is not None:
        share.join(app)
    app.cell = cell
    replaced = [a for a in _apps if a.comm is not None and a.cell and cell and a.cell[0] == cell[0] and a.cell != cell]
    _apps.add(app)
    for old in replaced:  # after the new app joined: a shared queue is not stopped on the way
        old.close()
    return app


def panel(queue: Any, **options: Any) -> QueueApp:
    """Stats, job table and controls of an existing queue (a script's ``BatchQueue``, or another app's)."""
    from .widgets.app import QueueApp

    return QueueApp(queue, **options)


def player(job_or_output_dir: Any, **options: Any) -> JobPlayer:
    """Step through a finished job's scans, frames and confidence side by side (files on disk only).

    Give a :class:`~goesvfi_lab.BatchJob` (its ``output_dir``) or the output folder; a folder without
    ``job.json`` (the job has not finished) raises ValueError naming it.
    """
    from .widgets.player import JobPlayer

    output_dir = getattr(job_or_output_dir, "output_dir", job_or_output_dir)
    options.setdefault("style", True)  # shown on its own: it brings the panels' stylesheet
    return JobPlayer(os.fspath(output_dir), **options)


def current_cell() -> tuple[str, str] | None:
    """(cell id, message id) of the notebook cell running now, from the kernel's request; None outside
    a kernel or when the frontend sends no cell id (JupyterLab and Notebook 7 do)."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent("shell") if kernel is not None else None
    except Exception:
        return None
    if not parent:
        return None
    cell_id = (parent.get("metadata") or {}).get("cellId")
    msg_id = (parent.get("header") or {}).get("msg_id")
    return (str(cell_id), str(msg_id)) if cell_id and msg_id else None


def _queue_key(cluster: Any, options: dict[str, Any]) -> tuple:
    """Which ``lab()`` calls share a queue: the same cluster (address, or the same object) and options."""
    where = cluster if cluster is None or isinstance(cluster, str) else ("object", id(cluster))
    opts = []
    for name, value in sorted(options.items()):
        if isinstance(value, (str, os.PathLike)) and name == "store":
            value = os.path.abspath(os.path.expanduser(os.fspath(value)))
        elif not isinstance(value, (str, int, float, bool, type(None))):
            value = ("object", id(value))
        opts.append((name, value))
    return (where, tuple(opts))


_shares: list[SharedQueue] = []  # queues lab() made, while an app shows them
_apps: weakref.WeakSet[Lab] = weakref.WeakSet()
