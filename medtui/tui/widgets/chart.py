"""A plotext line chart that rebuilds its figure from stored series on every render.

``show(title, series)`` stores what to draw and refreshes; ``render`` starts from a clear figure,
thins each series to the chart's current width and plots it. Rebuilding from scratch keeps the
output a function of (data, size) only: plotext carries state between builds when a figure is
resized, which made identical frames differ. ``cost`` is the CPU time of the last render, so
callers can keep the redraw rate within a CPU budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Series:
    xs: list[float]
    ys: list[float]
    label: str | None = None
    color: str = "cyan"
    marker: str = "braille"


def thin(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most ``limit`` evenly spaced points, always keeping the last one."""
    n = min(len(xs), len(ys))
    if n <= limit or limit < 2:
        return xs[:n], ys[:n]
    step = (n - 1) / (limit - 1)
    idx = [round(i * step) for i in range(limit)]
    return [xs[i] for i in idx], [ys[i] for i in idx]


def step_ticks(xs: list[float], count: int = 5) -> list[int]:
    """Whole-number step ticks spread over ``xs``."""
    if not xs:
        return []
    lo, hi = int(min(xs)), int(max(xs))
    if hi - lo < count:
        return list(range(lo, hi + 1))
    return sorted({round(lo + i * (hi - lo) / (count - 1)) for i in range(count)})


class Chart(PlotextPlot):
    """Line chart of :class:`Series` over training steps; ``sci`` labels the y axis like 1.0e-04."""

    def __init__(self, *, sci: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.sci = sci
        self.chart_title = ""
        self.series: list[Series] = []
        self.cost = 0.0

    def show(self, title: str, series: list[Series]) -> None:
        self.chart_title = title
        self.series = series
        self.refresh()

    def render(self):
        start = time.thread_time()
        try:
            plt = self.plt
            plt.clear_figure()
            plt.title(self.chart_title)
            limit = max(16, self.size.width * 2)
            ends: list[float] = []
            values: list[float] = []
            for s in self.series:
                xs, ys = thin(s.xs, s.ys, limit)
                if not xs:
                    continue
                plt.plot(xs, ys, label=s.label, color=s.color, marker=s.marker)
                ends += [xs[0], xs[-1]]
                values += ys
            # Never more ticks than rows/columns: plotext resolves ticks that share a cell in an
            # order that changes from process to process.
            ticks = step_ticks(ends, max(2, min(5, self.size.width // 8)))
            if ticks:
                plt.xticks(ticks, [str(t) for t in ticks])
            rows = max(1, self.size.height - 4)  # title, frame and x labels take 4 rows
            if not self.sci:
                plt.yfrequency(min(5, rows))
            elif values:
                lo, hi = min(values), max(values)
                n = min(4, rows)
                marks = [lo + i * (hi - lo) / (n - 1) for i in range(n)] if hi > lo and n > 1 else [lo]
                plt.yticks(marks, [f"{v:.1e}" for v in marks])
            return super().render()
        finally:
            self.cost = time.thread_time() - start
