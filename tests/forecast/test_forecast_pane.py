"""The forecast pane (btc_tui.ui.widgets.forecast, owned with the forecasting code): the band is
drawn around the predicted line and the metrics name both baselines and the verdict."""

from __future__ import annotations

import numpy as np
from textual.app import App, ComposeResult

from btc_tui.forecast.metrics import evaluate
from btc_tui.ui.widgets.forecast import ForecastChart, ForecastPane


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ForecastPane(id="forecast")


async def test_the_pane_draws_the_band_and_shows_the_verdict_against_the_last_price():
    rng = np.random.default_rng(0)
    actual = 42_000 + np.cumsum(rng.normal(0, 10, 200))
    last_close = np.concatenate([[actual[0]], actual[:-1]]) + rng.normal(0, 1, 200)
    last_avg = last_close + rng.normal(0, 8, 200)
    predicted = last_close + rng.normal(0, 0.5, 200)
    lo, hi = predicted - 12, predicted + 12
    metrics = evaluate(predicted, actual, last_avg, last_close, (lo, hi, 0.8))
    app = PaneApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(ForecastPane)
        pane.show(actual, predicted, metrics, lo=lo, hi=hi)
        await pilot.pause()
        chart = app.query_one(ForecastChart)
        rendered = str(chart.render())
        assert chart.error is None, rendered
        assert len(chart.lo) == len(chart.hi) == 200
        text = str(app.query_one("#forecast-metrics").render())
        assert "last pr." in text and "persist." in text and "80% band covers" in text
        assert "int. score" in text
        assert text.strip().splitlines()[-1].endswith("the last price")
        # A point forecast that is the last price itself is called that, not a model's tie.
        naive = evaluate(last_close, actual, last_avg, last_close, (lo, hi, 0.8), point_weight=0.0)
        pane.show(actual, last_close, naive, lo=lo, hi=hi)
        await pilot.pause()
        text = str(app.query_one("#forecast-metrics").render())
        assert text.strip().splitlines()[-1].startswith("= the last price itself")
        # Without a band (an older caller), the chart still draws.
        pane.show(actual, predicted, metrics)
        await pilot.pause()
        assert chart.error is None and not len(chart.lo)


async def test_saved_figures_without_the_last_price_claim_no_skill():
    """A model's saved figures read as the six original ones (no last price): beating
    persistence is not shown as skill, the pane says the last price was not measured."""
    from btc_tui.forecast.metrics import Metrics
    from btc_tui.forecast.saved import SavedModel

    older = Metrics(
        mae=7.6, mape=0.018, baseline_mae=10.6, baseline_mape=0.025, skill=0.28,
        direction_accuracy=0.6,
    )  # fmt: skip
    app = PaneApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(ForecastPane)
        pane.show_saved(SavedModel(created="2026-11-26T14:00:00+00:00", metrics=older))
        await pilot.pause()
        text = str(app.query_one("#forecast-metrics").render())
        assert text.startswith("saved 2026-11-26 14:00")
        assert "last pr.  not saved" in text and "no close" not in text
        assert text.strip().splitlines()[-1].startswith("? vs the last price")
        assert "better" not in text
        assert pane.has_class("-no-skill")


async def test_every_horizon_has_a_line_and_a_saved_model_draws_its_chart():
    from btc_tui.forecast.saved import ChartPoints, SavedModel

    rng = np.random.default_rng(1)
    actual = 42_000 + np.cumsum(rng.normal(0, 10, 100))
    close = actual + rng.normal(0, 5, 100)
    horizons = {
        h: evaluate(close, actual, close + 1, close, (close - 9 * h, close + 9 * h, 0.8), horizon=h)
        for h in (1, 5, 15, 60)
    }
    app = PaneApp()
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.query_one(ForecastPane)
        points = ChartPoints(
            list(range(100)), actual.tolist(), close.tolist(), (close - 9).tolist(),
            (close + 9).tolist(),
        )  # fmt: skip
        saved = SavedModel(
            created="2026-12-03T10:00:00+00:00", metrics=horizons[1], horizons=horizons,
            charts={1: points},
        )  # fmt: skip
        pane.show_saved(saved)
        await pilot.pause()
        chart = app.query_one(ForecastChart)
        assert list(chart.actual) == actual.tolist() and list(chart.lo) == points.lo
        assert chart.error is None
        text = str(app.query_one("#forecast-metrics").render())
        lines = text.splitlines()
        ahead = [line for line in lines if line.split()[0] in ("1m", "5m", "15m", "60m")]
        # the point equals the last price: no skill, p = 1.0, and each band's coverage
        assert [line.split()[0] for line in ahead] == ["1m", "5m", "15m", "60m"]
        assert all(line.split()[1:3] == ["+0.0%", "1.0"] for line in ahead), ahead
        assert all(len(line) <= 22 for line in ahead)
