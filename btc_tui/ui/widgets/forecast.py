"""Forecast pane: actual, predicted and the interval on the test set, with the metrics beside
both baselines (persistence and the last price) and a verdict against the better one."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static
from textual_plotext.plot import Plot

from btc_tui.forecast.metrics import LAST_PRICE
from btc_tui.forecast.report import last_price_unknown, short_verdict
from btc_tui.ui.widgets.charts import (
    DOTS,
    LEGEND_MIN_HEIGHT,
    LINE,
    ForecastChart,
    downsample,
    tick_room,
    whole_ticks,
)

if TYPE_CHECKING:
    from btc_tui.forecast.metrics import Metrics

BAND = "·"  # the interval's edges: a third marker, lighter than the two series


def _cell(value: float, width: int, digits: int = 2) -> str:
    if math.isnan(value):
        return "n/a".rjust(width)
    if abs(value) >= 1000:
        digits = 0  # a huge error still fits its column
    return f"{value:,.{digits}f}".rjust(width)


# What to keep when the pane is too short for every line (80x24 leaves it ~7 rows): the verdict
# and the model beside the last price first; direction, width and notes go first.
_KEEP_ORDER = ("verdict", "head", "model", "last", "coverage", "persist", "score", "skill",
               "width", "direction", "note")  # fmt: skip
METRICS_WIDTH = 22  # only before the first layout: #forecast-metrics' width in app.tcss rules


def metrics_lines(m: Metrics) -> list[tuple[str, str]]:
    """(kind, line) in display order: the model beside persistence (last average) and the last
    price (last close), its interval's coverage, width and score, and a plain verdict against the
    better baseline (22 columns)."""
    # NaN when no test window moved (see forecast.metrics); say so rather than print "nan%".
    direction = "n/a" if math.isnan(m.direction_accuracy) else f"{100 * m.direction_accuracy:.1f}%"
    lines = [
        ("head", f"{'':8}{'MAE':>6}{'MAPE%':>8}"),
        ("model", f"{'model':8}{_cell(m.mae, 6)}{_cell(m.mape, 8, 4)}"),
    ]
    if not math.isnan(m.last_price_mae):
        lines.append(
            ("last", f"{'last pr.':8}{_cell(m.last_price_mae, 6)}{_cell(m.last_price_mape, 8, 4)}")
        )
    lines.append(
        ("persist", f"{'persist.':8}{_cell(m.baseline_mae, 6)}{_cell(m.baseline_mape, 8, 4)}")
    )
    skill = m.best_skill
    if not math.isnan(skill):
        against = "last" if m.best_baseline == LAST_PRICE else "pers."
        lines.append(("skill", f"skill vs {against} {skill:+.3f}"))
    if not math.isnan(m.coverage):
        lines.append(("coverage", f"{m.interval:.0%} band covers {m.coverage:.1%}"))
        lines.append(("width", f"width {m.width:,.2f}"))
        lines.append(("score", f"int. score {m.interval_score:,.2f}"))
    lines.append(("direction", f"direction {direction}"))
    if last_price_unknown(m):
        lines.append(("note", "last pr.  not saved"))
    elif math.isnan(m.last_price_mae):
        lines.append(("note", "no close: pers. only"))
    lines.append(("verdict", short_verdict(m)))
    return lines


def _rows(line: str, width: int) -> int:
    return max(1, len(textwrap.wrap(line, width)))


def metrics_text(m: Metrics, max_rows: int | None = None, width: int = METRICS_WIDTH) -> str:
    """The metrics as text; with `max_rows`, the least needed lines are left out until the rest
    fits (the verdict and the model beside the last price stay), so nothing is cut at the edge."""
    lines = metrics_lines(m)
    if max_rows is not None:
        for kind in reversed(_KEEP_ORDER):
            if sum(_rows(line, width) for _, line in lines) <= max_rows:
                break
            lines = [(k, line) for k, line in lines if k != kind]
    return "\n".join(line for _, line in lines)


class BandChart(ForecastChart):
    """The forecast chart with the model's interval drawn around the predicted line."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lo: Sequence[float] = []
        self.hi: Sequence[float] = []

    def show(
        self,
        actual: Sequence[float],
        predicted: Sequence[float],
        lo: Sequence[float] | None = None,
        hi: Sequence[float] | None = None,
    ) -> None:
        self.lo = [] if lo is None else lo
        self.hi = [] if hi is None else hi
        super().show(actual, predicted)

    def draw(self, plt: Plot) -> None:
        plt.xlabel("test minute")
        if not len(self.actual):
            plt.xticks([])
            return
        points = max(10, self.size.width - 10)
        xs, actual = downsample(self.actual, points)
        _, predicted = downsample(self.predicted, points)
        legend = self.size.height >= LEGEND_MIN_HEIGHT
        if len(self.lo) == len(self.actual) and len(self.hi) == len(self.actual):
            _, lo = downsample(self.lo, points)
            _, hi = downsample(self.hi, points)
            plt.plot(xs, lo, label="interval" if legend else None, marker=BAND)
            plt.plot(xs, hi, marker=BAND)
        plt.plot(xs, predicted, label="predicted" if legend else None, marker=DOTS)
        plt.plot(xs, actual, label="actual" if legend else None, marker=LINE)
        last = len(self.actual) - 1
        plt.xticks(whole_ticks(0, last, most=tick_room(self.size.width, len(str(last)))))


class ForecastPane(Horizontal):
    def on_mount(self) -> None:
        self.border_subtitle = "⠤ actual · • predicted · ·· interval"

    def compose(self) -> ComposeResult:
        yield BandChart(id="forecast-chart")
        yield Static("no forecast yet: press t to train", id="forecast-metrics")

    _metrics: Metrics | None = None
    _prefix = ""

    def show_saved(self, metrics: Metrics, created: str) -> None:
        """A model loaded from disk: its saved test metrics (the test-set series aren't saved)."""
        if self.has_class("-trained-here"):
            return  # this session's training result, with its chart, is more complete
        self._metrics, self._prefix = metrics, f"saved {created[:16].replace('T', ' ')}"
        self._show_metrics()
        # No skill shown as skill: unknown against the last price is flagged like a loss.
        self.set_class(not metrics.best_skill >= 0 or last_price_unknown(metrics), "-no-skill")

    def show(
        self,
        actual: Sequence[float],
        predicted: Sequence[float],
        metrics: Metrics,
        lo: Sequence[float] | None = None,
        hi: Sequence[float] | None = None,
    ) -> None:
        """The test set: actual and predicted prices, and the interval when `lo`/`hi` are given
        (TrainResult.lo / .hi)."""
        self.query_one(BandChart).show(actual, predicted, lo, hi)
        self._metrics, self._prefix = metrics, ""
        self._show_metrics()
        self.set_class(not metrics.best_skill >= 0, "-no-skill")
        self.add_class("-trained-here")

    def on_resize(self) -> None:
        self._show_metrics()

    def _show_metrics(self) -> None:
        if self._metrics is None:
            return
        static = self.query_one("#forecast-metrics", Static)
        # The pane's own rows (the Static's height follows its text, so it can't say).
        rows = self.content_size.height or None
        if rows is not None and self._prefix:
            rows -= 1
        width = static.content_size.width or METRICS_WIDTH  # app.tcss decides; this until laid out
        text = metrics_text(self._metrics, max_rows=rows, width=width)
        static.update(f"{self._prefix}\n{text}" if self._prefix else text)
