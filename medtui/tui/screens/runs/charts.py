"""The monitor's charts: loss (or the compared runs' losses), the stage's metric, and the learning rate.

Charts are redrawn by the monitor's timer, only when data changed (clear the figure, plot,
``refresh()``; see :mod:`medtui.tui.widgets.chart`), from bounded copies of each series thinned to
the chart's width; a redraw waits while the new points would not move a character cell, and the
charts' measured render time is kept under :data:`CHART_CPU_BUDGET` of one core.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from medtui.core.runs.follow import RunState
from medtui.core.runs.progress import smooth
from medtui.tui.i18n import t
from medtui.tui.widgets.chart import Chart, Series

CHART_CPU_BUDGET = 0.01  # share of one core the charts' plotext builds may use; compositing roughly doubles it
COMPARE_COLORS = ("cyan", "orange", "magenta", "green")


def short_id(run_id: str) -> str:
    """``20261127-235925-sft-7b5e`` → ``sft-7b5e`` (legend labels)."""
    parts = run_id.split("-")
    return "-".join(parts[-2:]) if len(parts) > 2 else run_id


def _pair(series: tuple[list[float], list[float]]) -> tuple[list[float], list[float]]:
    """Copies of an (xs, ys) series, cut to the same length."""
    xs, ys = series
    n = min(len(xs), len(ys))
    return xs[:n], ys[:n]


class MonitorCharts(Horizontal):
    """Charts of ``states`` (run id -> :class:`RunState`); the first run is the primary one."""

    def __init__(self, states: dict[str, RunState], lang: str, *, max_stale: float = 10.0,
                 id: str = "charts") -> None:
        super().__init__(id=id)
        self.states = states
        self.run_ids = list(states)
        self.lang = lang
        self.max_stale = max_stale
        self.redraws = 0
        self.plotted: dict[str, int] = {}  # points handed to the charts per series at the last redraw
        self.dirty = False
        self._drawn: dict[str, int] = {}
        self._drawn_at = 0.0

    def compose(self) -> ComposeResult:
        yield Chart(id="loss-chart")
        with Vertical(id="side"):
            yield Chart(id="metric-chart")
            yield Chart(id="lr-chart", sci=True)

    @property
    def primary(self) -> RunState:
        return self.states[self.run_ids[0]]

    @property
    def comparing(self) -> bool:
        return len(self.run_ids) > 1

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        self.draw()

    def redraw_if_dirty(self) -> None:
        """Timer tick: redraw when new data would move at least one chart column, else every ``max_stale`` s.

        With a long history one more point is thinner than a character cell, so redrawing for it
        costs a full plotext build for no visible change.
        """
        if not self.dirty:
            return
        since = time.monotonic() - self._drawn_at
        if since < sum(chart.cost for chart in self.query(Chart)) / CHART_CPU_BUDGET:
            return  # a slow terminal or a huge chart: keep the charts' CPU share within budget
        width = max(1, self.query_one("#loss-chart").size.width)
        visible = False
        for rid, state in self.states.items():
            count = len(state.progress.series["loss"][0])
            grown = count - self._drawn.get(rid, 0)
            visible |= grown < 0 or grown >= max(1, count // width)  # < 0: the log was rewritten
        if visible or since >= self.max_stale:
            self.draw()

    def draw(self) -> None:
        """Hand each chart copies of its series; the chart thins and plots them when it renders."""
        self.dirty = False
        self.redraws += 1
        self._drawn = {rid: len(st.progress.series["loss"][0]) for rid, st in self.states.items()}
        self._drawn_at = time.monotonic()
        loss: list[Series] = []
        self.plotted = {}
        if self.comparing:
            for rid, color in zip(self.run_ids, COMPARE_COLORS):
                xs, ys = _pair(self.states[rid].progress.series["loss"])
                if xs:
                    loss.append(Series(xs, smooth(ys), short_id(rid), color))
                    self.plotted[f"loss:{rid}"] = len(xs)
        else:
            series = self.primary.progress.series
            xs, ys = _pair(series["loss"])
            if xs:
                loss.append(Series(xs, ys, t("monitor.raw", self.lang), "gray"))
                loss.append(Series(xs, smooth(ys), t("monitor.smoothed", self.lang), "cyan"))
                self.plotted["loss"] = len(xs)
            ex, ey = _pair(series["eval_loss"])
            if ex:
                loss.append(Series(ex, ey, "eval_loss", "orange", "dot"))
                self.plotted["eval_loss"] = len(ex)
        self.query_one("#loss-chart", Chart).show(t("monitor.loss", self.lang), loss)

        metric = self.primary.stage_metric
        mx, my = _pair(self.primary.progress.series[metric]) if metric else ([], [])
        self.set_class(bool(mx), "-metric")
        if mx:
            self.query_one("#metric-chart", Chart).show(t(f"monitor.{metric}", self.lang),
                                                        [Series(mx, my, None, "green")])
            self.plotted[metric] = len(mx)
        lx, ly = _pair(self.primary.progress.series["lr"])
        self.query_one("#lr-chart", Chart).show(t("monitor.lr", self.lang),
                                                [Series(lx, ly, None, "magenta")] if lx else [])
        if lx:
            self.plotted["lr"] = len(lx)
