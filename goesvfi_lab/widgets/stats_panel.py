"""Live numbers: progress, throughput (with a sparkline), success rate, ETA, counts, workers, links.

Everything here is HTML from :mod:`.formatting` plus one native progress bar; :meth:`StatsPanel.render`
is what the updater thread calls, and it only assigns values.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from .. import html as fmt
from ..html_page import dashboard_urls
from ..model import Stats
from .state import ThroughputHistory, WorkerRow


class StatsPanel(W.VBox):
    def __init__(self, history: int = 90) -> None:
        self.history = ThroughputHistory(history)
        self.summary = W.HTML(fmt.stats_summary(Stats()))
        self.summary.add_class("gvl-stats-summary")
        self.progress = W.FloatProgress(
            value=0.0, min=0.0, max=1.0, bar_style="info", layout=W.Layout(flex="1 1 auto", width="auto")
        )
        self.progress.add_class("gvl-progress")
        self.progress_label = W.HTML(fmt.fmt_percent(0.0), layout=W.Layout(min_width="4.5em"))
        self.progress_label.add_class("gvl-progress-label")
        self.spark = W.HTML(fmt.sparkline([]))
        self.workers = W.HTML('<span class="gvl-muted">waiting for the cluster…</span>')
        self.workers.add_class("gvl-workers-box")
        self.links = W.HTML(fmt.links(None, None))
        self.summary.layout = W.Layout(flex="1 1 auto", min_width="0")  # the tiles wrap, the sparkline keeps its size
        spark_box = W.VBox(
            [W.HTML('<span class="gvl-muted">throughput</span>'), self.spark], layout=W.Layout(flex="0 0 auto")
        )
        spark_box.add_class("gvl-spark-box")
        super().__init__(
            children=[
                W.HBox(
                    [W.HTML('<span class="gvl-title">Progress</span>'), self.links],
                    layout=W.Layout(justify_content="space-between", align_items="center"),
                ),
                W.HBox([self.progress, self.progress_label], layout=W.Layout(align_items="center")),
                W.HBox(
                    [self.summary, spark_box],
                    layout=W.Layout(align_items="flex-start", justify_content="space-between", grid_gap="8px"),
                ),
                self.workers,
            ]
        )
        self.add_class("gvl-stats")

    def render(self, stats: Stats, state: str | None = None) -> None:
        self.history.add(stats)
        self.summary.value = fmt.stats_summary(stats, state)
        with self.progress.hold_sync():
            self.progress.value = fmt.display_progress(stats)
            done = stats.total > 0 and stats.pending + stats.queued + stats.running == 0
            failed = stats.failed > 0
            self.progress.bar_style = "danger" if failed and done else "success" if done else "info"
        self.progress_label.value = fmt.fmt_percent(fmt.display_progress(stats))
        self.spark.value = fmt.sparkline(self.history.values())

    def render_workers(self, rows: list[WorkerRow], dashboard_link: str | None) -> None:
        self.workers.value = fmt.workers_table(rows)
        dash, page = dashboard_urls(dashboard_link)
        self.links.value = fmt.links(dash, page)

    def render_no_cluster(self, why: Any) -> None:
        self.workers.value = f'<span class="gvl-muted">no worker metrics: {fmt.esc(why)}</span>'
