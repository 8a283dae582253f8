"""Forecast pane: predicted vs actual on the test set, with the metrics and the baseline beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from btc_tui.ui.widgets.charts import ForecastChart

if TYPE_CHECKING:
    from btc_tui.forecast.metrics import Metrics


def metrics_text(m: Metrics) -> str:
    """Model beside persistence (copy the last price), and a plain verdict."""
    # NaN when no test window moved (see forecast.metrics); say so rather than print "nan%".
    direction = "n/a" if math.isnan(m.direction_accuracy) else f"{100 * m.direction_accuracy:.1f}%"
    # One plain line (it must fit 22 columns); the skill line above gives the size.
    if m.skill > 0:
        verdict = "✓ beats persistence"
    elif m.skill < 0:
        verdict = "✗ loses to persistence"
    elif m.skill == 0:
        verdict = "= ties persistence"
    else:
        verdict = "? skill unknown"
    return (
        f"{'':5}{'model':>8}{'persist':>9}\n"
        f"{'MAE':5}{m.mae:>8,.2f}{m.baseline_mae:>9,.2f}\n"
        f"{'MAPE':5}{m.mape:>7.4f}%{m.baseline_mape:>8.4f}%\n"
        f"skill {m.skill:+.3f}\n"
        f"direction {direction}\n"
        f"{verdict}"
    )


class ForecastPane(Horizontal):
    def on_mount(self) -> None:
        self.border_subtitle = "⠤ actual · • predicted"

    def compose(self) -> ComposeResult:
        yield ForecastChart(id="forecast-chart")
        yield Static("no forecast yet: press t to train", id="forecast-metrics")

    def show_saved(self, metrics: Metrics, created: str) -> None:
        """A model loaded from disk: its saved test metrics (the test-set series aren't saved)."""
        if self.has_class("-trained-here"):
            return  # this session's training result, with its chart, is more complete
        self.query_one("#forecast-metrics", Static).update(
            f"saved {created[:16].replace('T', ' ')}\n" + metrics_text(metrics)
        )
        self.set_class(not metrics.skill > 0, "-no-skill")

    def show(self, actual: Sequence[float], predicted: Sequence[float], metrics: Metrics) -> None:
        self.query_one(ForecastChart).show(actual, predicted)
        self.query_one("#forecast-metrics", Static).update(metrics_text(metrics))
        self.set_class(not metrics.skill > 0, "-no-skill")
        self.add_class("-trained-here")
