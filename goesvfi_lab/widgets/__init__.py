"""Notebook panels (ipywidgets 8): filter → preview → confirm → live queue and stats.

The entry points ``gl.lab()`` and ``gl.panel(q)`` live in :mod:`goesvfi_lab.notebook`, above both
the queue and these views. Views only render state and forward clicks to the queue; the logic they
need lives in :mod:`.state` and :mod:`goesvfi_lab.html`, testable without a browser.
"""

from __future__ import annotations

from .app import Lab, QueueApp, SharedQueue
from .filter_panel import FilterPanel
from .player import JobPlayer
from .preview_panel import PreviewPanel
from .queue_panel import QueuePanel
from .stats_panel import StatsPanel

__all__ = ["FilterPanel", "JobPlayer", "Lab", "PreviewPanel", "QueueApp", "QueuePanel", "SharedQueue", "StatsPanel"]
