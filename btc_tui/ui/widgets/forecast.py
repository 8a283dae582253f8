"""Forecast pane: actual, predicted and the interval on the test set, with the metrics beside
both baselines (persistence and the last price) and a verdict against the better one."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from btc_tui.forecast.metrics import LAST_PRICE
from btc_tui.forecast.report import last_price_unknown, short_verdict
from btc_tui.ui.widgets.charts import ForecastChart

if TYPE_CHECKING:
    from btc_tui.forecast.metrics import Metrics
    from btc_tui.forecast.saved import SavedModel


def _cell(value: float, width: int, digits: int = 2) -> str:
    if math.isnan(value):
        return "n/a".rjust(width)
    if abs(value) >= 1000:
        digits = 0  # a huge error still fits its column
    return f"{value:,.{digits}f}".rjust(width)


# What to keep when the pane is too short for every line (80x24 leaves it ~7 rows): the verdict
# and the model beside the last price first; direction, width and notes go first.
_KEEP_ORDER = ("verdict", "head", "model", "last", "coverage", "ahead", "persist", "score",
               "skill", "width", "direction", "note")  # fmt: skip
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


def horizon_lines(horizons: Mapping[int, Metrics]) -> list[tuple[str, str]]:
    """One line per horizon (22 columns): the point's skill against the last price with its
    Diebold-Mariano p-value, and the band's coverage, e.g. "60m  +0.2% p0.77  79%"."""
    if len(horizons) < 2:
        return []
    lines = [("ahead", f"{'ahead':5}{'vs last':>7}{'p':>5}{'band':>5}")]
    for h, m in horizons.items():
        skill = "n/a" if math.isnan(m.skill_vs_last_price) else f"{m.skill_vs_last_price:+.1%}"
        p = (
            "n/a"
            if math.isnan(m.dm_pvalue)
            else f"{m.dm_pvalue:.2f}"[1:]
            if m.dm_pvalue < 1
            else "1.0"
        )
        band = "n/a" if math.isnan(m.coverage) else f"{m.coverage:.0%}"
        lines.append(("ahead", f"{f'{h}m':5}{skill:>7}{p:>5}{band:>5}"))
    return lines


def _rows(line: str, width: int) -> int:
    return max(1, len(textwrap.wrap(line, width)))


def metrics_text(
    m: Metrics,
    max_rows: int | None = None,
    width: int = METRICS_WIDTH,
    horizons: Mapping[int, Metrics] | None = None,
) -> str:
    """The metrics as text, then one line per horizon; with `max_rows`, the least needed lines
    are left out until the rest fits (the verdict and the model beside the last price stay), so
    nothing is cut at the edge."""
    lines = metrics_lines(m)
    lines[-1:-1] = horizon_lines(horizons or {})
    if max_rows is not None:
        for kind in reversed(_KEEP_ORDER):
            if sum(_rows(line, width) for _, line in lines) <= max_rows:
                break
            lines = [(k, line) for k, line in lines if k != kind]
    return "\n".join(line for _, line in lines)


class ForecastPane(Horizontal):
    def on_mount(self) -> None:
        self.border_subtitle = "⠤ actual · • predicted · ·· interval"

    def compose(self) -> ComposeResult:
        yield ForecastChart(id="forecast-chart")
        yield Static("no forecast yet: press t to train", id="forecast-metrics")

    _metrics: Metrics | None = None
    _horizons: Mapping[int, Metrics] = {}
    _prefix = ""

    def show_saved(self, saved: SavedModel) -> None:
        """A model loaded from disk: its saved test metrics per horizon and its test chart."""
        if self.has_class("-trained-here") or saved.metrics is None:
            return  # this session's training result is as complete and newer
        metrics = saved.metrics
        self._metrics, self._horizons = metrics, saved.horizons
        self._prefix = f"saved {saved.created[:16].replace('T', ' ')}"
        chart = saved.chart
        if chart is not None:
            self.query_one(ForecastChart).show(chart.actual, chart.predicted, chart.lo, chart.hi)
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
        horizons: Mapping[int, Metrics] | None = None,
    ) -> None:
        """The test set: actual and predicted prices, and the interval when `lo`/`hi` are given
        (TrainResult.lo / .hi); `horizons` adds a line per horizon."""
        self.query_one(ForecastChart).show(actual, predicted, lo, hi)
        self._metrics, self._horizons, self._prefix = metrics, horizons or {}, ""
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
        text = metrics_text(self._metrics, max_rows=rows, width=width, horizons=self._horizons)
        static.update(f"{self._prefix}\n{text}" if self._prefix else text)
