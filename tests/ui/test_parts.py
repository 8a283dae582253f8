"""The UI's small plain-Python parts: live scoring, chart downsampling, the prediction frame,
and import hygiene (the UI must start without TensorFlow)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from btc_tui.forecast.live_score import LiveScore
from btc_tui.forecast.predictor import Prediction
from btc_tui.market.frames import append_bar, trailing_contiguous
from btc_tui.market.simulator import simulated_history
from btc_tui.ui.widgets.charts import downsample

M = 60_000


def test_live_score_compares_the_model_with_persistence():
    score = LiveScore(keep=2)
    score.add(Prediction.one(target_minute=2 * M, price=105.0, last_minute=M, last_price=100.0))
    assert score.resolve(2 * M, 104.0).error == pytest.approx(1.0)
    score.add(Prediction.one(target_minute=3 * M, price=103.0, last_minute=2 * M, last_price=104.0))
    scored = score.resolve(3 * M, 101.0)
    assert (scored.error, scored.persistence_error) == (pytest.approx(2.0), pytest.approx(3.0))
    assert score.mae == pytest.approx(1.5)
    assert score.persistence_mae == pytest.approx((4.0 + 3.0) / 2)
    assert score.count == 2


def test_predictions_for_minutes_that_never_closed_are_dropped():
    score = LiveScore()
    score.add(Prediction.one(target_minute=5 * M, price=1.0, last_minute=4 * M, last_price=1.0))
    assert score.resolve(7 * M, 2.0) is None  # minute 5 had no trades
    assert score.resolve(5 * M, 2.0) is None  # and is not scored late either
    assert score.mae is None


def test_downsample_keeps_first_last_and_about_the_requested_points():
    values = list(range(1000))
    xs, ys = downsample(values, 50)
    assert xs[0] == 0 and xs[-1] == 999
    assert 50 <= len(xs) <= 51
    assert ys == [float(x) for x in xs]
    assert downsample([], 10) == ([], [])
    assert downsample([1.0, 2.0], 10) == ([0, 1], [1.0, 2.0])


def test_frame_grows_by_closed_minutes_and_counts_the_contiguous_tail():
    bars = simulated_history(5, end_minute=100 * M, seed=1)
    frame = None
    for bar in bars[:3]:
        frame = append_bar(frame, bar)
    assert trailing_contiguous(frame) == 3
    assert append_bar(frame, bars[2]) is frame  # a minute already there is not added twice
    frame = append_bar(frame, bars[4])  # minute 4 missing: a gap
    assert len(frame) == 4 and trailing_contiguous(frame) == 1
    assert frame["avg_price"].iloc[-1] == bars[4].avg_price
    assert trailing_contiguous(None) == 0


def test_frame_keeps_only_the_most_recent_minutes():
    frame = None
    for bar in simulated_history(30, end_minute=100 * M, seed=2):
        frame = append_bar(frame, bar, keep=10)
    assert len(frame) == 10 and trailing_contiguous(frame) == 10


@pytest.mark.parametrize("module", ["btc_tui.ui", "btc_tui.ui.app", "btc_tui.ui.messages"])
def test_importing_the_ui_does_not_import_tensorflow(module):
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    assert not loaded & {"tensorflow", "keras"}, f"{module} pulled in TensorFlow"


def test_epoch_ticks_are_whole_few_and_end_on_the_last_epoch():
    from btc_tui.ui.widgets.charts import epoch_ticks

    assert epoch_ticks(1) == [1]
    assert epoch_ticks(5) == [1, 2, 3, 4, 5]
    for n in range(2, 200):
        ticks = epoch_ticks(n)
        assert ticks[0] == 1 and ticks[-1] == n and len(ticks) <= 7
        assert ticks == sorted(set(ticks))


async def test_loss_chart_grows_past_many_epochs():
    from btc_tui.config import Settings
    from btc_tui.forecast.training import EpochEnd
    from btc_tui.ui import messages as m
    from btc_tui.ui.app import BtcTuiApp
    from btc_tui.ui.widgets import LossChart, TrainingPane

    app = BtcTuiApp(Settings(), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        training = app.query_one(TrainingPane)
        for epoch in range(1, 51):
            training.post_message(m.EpochEnded(EpochEnd(epoch, 50, 1 / epoch, 1.1 / epoch, epoch)))
            if epoch % 7 == 0:
                await pilot.pause()  # let it draw at several sizes of history
        await pilot.pause()
        assert len(app.query_one(LossChart).loss) == 50
        assert app.is_running


async def test_a_chart_that_cannot_draw_says_why_and_the_app_keeps_running():
    from btc_tui.config import Settings
    from btc_tui.ui.app import BtcTuiApp
    from btc_tui.ui.widgets import ForecastChart

    app = BtcTuiApp(Settings(), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(ForecastChart)
        chart.show(actual=[math.inf, 1.0, 2.0], predicted=[1.0, 1.0, 2.0])  # plotext raises on inf
        await pilot.pause()
        assert "chart cannot draw" in str(chart.render())
        assert app.is_running


def _on_screen(app, pane: str, size: tuple[int, int]) -> None:
    region = app.query_one(pane).region
    assert region.width > 0 and region.height > 0, pane
    assert region.right <= size[0] and region.bottom <= size[1] - 1, pane  # footer


@pytest.mark.parametrize("size", [(120, 36), (120, 40), (200, 60)])
async def test_every_pane_is_on_screen_from_120x36_up(size):
    """From 120x36 up every pane is on screen at once, the market chart among them."""
    from btc_tui.config import Settings
    from btc_tui.ui.app import BtcTuiApp

    app = BtcTuiApp(Settings(), autostart=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for pane in ("#live", "#training", "#market", "#loss-chart", "#forecast", "#log"):
            _on_screen(app, pane, size)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (100, 30)])
async def test_smaller_terminals_keep_the_chart_and_show_the_rest_behind_v(size):
    """Below 120x36 the Live pane and the market chart stay; v shows each other pane under the
    chart in turn, then none (the chart takes the room back)."""
    from btc_tui.config import Settings
    from btc_tui.ui.app import VIEWS, BtcTuiApp

    app = BtcTuiApp(Settings(), autostart=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        alone = app.query_one("#market").region.height
        assert alone >= 10
        for view in (*VIEWS[1:], VIEWS[0]):
            await pilot.press("v")
            await pilot.pause()
            assert app.view == view
            for pane in ("#live", "#market", *(() if view == "market" else (f"#{view}",))):
                _on_screen(app, pane, size)
        assert app.query_one("#market").region.height == alone


def _result_with_close(model_path):
    """A test set where the last price (the close) is the better baseline and the model ties it:
    its point forecast is the close plus a tiny offset."""
    from dataclasses import replace

    import numpy as np

    from btc_tui.forecast.metrics import evaluate
    from tests.ui.test_snapshots import result

    t = np.arange(200)
    actual = 60_000 + 30 * np.sin(t / 9)
    last = np.concatenate([[actual[0]], actual[:-1]])  # persistence: the last average
    close = 0.3 * last + 0.7 * actual  # the last trade is closer to the next average
    metrics = evaluate(close + 1e-4, actual, last, last_close=close)
    base = result()
    first = replace(base.first, metrics=metrics)
    return replace(base, horizons={first.horizon: first}, model_path=model_path)


def test_training_finished_line_is_report_verdict_against_the_best_baseline(tmp_path):
    """The log's line names the better baseline and says report.py's short verdict, not a skill
    against persistence when the last price is the baseline to beat."""
    from btc_tui.forecast.metrics import LAST_PRICE
    from btc_tui.forecast.report import short_verdict
    from btc_tui.ui.widgets.training import finished_line

    run = _result_with_close(tmp_path / "btc_lstm.keras")
    line = finished_line(run)
    assert run.metrics.best_baseline == LAST_PRICE
    assert f"(last price {run.metrics.last_price_mae:,.2f})" in line
    assert line.endswith(short_verdict(run.metrics))
    assert "persistence" not in line and "skill" not in line


async def test_training_pane_names_the_model_file_never_a_path_cut_mid_word(tmp_path):
    """A long models directory at 80x24: the Training pane shows the file name whole, and the
    log has the full path."""
    from textual.widgets import Static

    from btc_tui.config import Settings
    from btc_tui.ui import messages as m
    from btc_tui.ui.app import BtcTuiApp
    from btc_tui.ui.widgets import EventLog, TrainingPane

    path = tmp_path / ("very-long-directory-name-" * 3) / "models" / "btc_lstm.keras"
    app = BtcTuiApp(Settings(data=tmp_path / "m.csv", models=path.parent), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TrainingPane)
        pane.post_message(m.TrainingFinished(_result_with_close(path)))
        await pilot.pause()
        await pilot.pause()
        shown = str(pane.query_one("#training-model", Static).render())
        assert shown == "saved: btc_lstm.keras"
        assert any(str(path) in line for line in app.query_one(EventLog).texts)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40)])
async def test_log_lines_wrap_within_the_pane_never_cut_at_its_edge(size):
    """RichLog renders lines at least 78 cells wide unless told otherwise: in a narrower pane a
    long line was cut at the edge ("... over REST: 432" for 4320)."""
    from btc_tui.config import Settings
    from btc_tui.ui.app import BtcTuiApp
    from btc_tui.ui.widgets import EventLog

    app = BtcTuiApp(Settings(), autostart=False)
    async with app.run_test(size=size) as pilot:
        if app.compact:
            for _ in range(4):  # training -> loss chart -> forecast -> log
                await pilot.press("v")
        long = "filled 2026-11-23T14:23:00Z .. 2026-11-26T14:23:00Z over REST: 4320 minute(s) " * 2
        app.log_event(long.strip())
        await pilot.pause()
        await pilot.pause()
        log = app.query_one(EventLog)
        width = log.scrollable_content_region.width
        assert width > 0
        shown = [strip.text.rstrip() for strip in log.lines]
        assert all(len(line) <= width for line in shown), (width, shown)
        assert "4320" in "\n".join(shown)


def test_help_defines_the_baselines_in_the_reports_words(tmp_path):
    """Persistence is the last minute's average, not "the last price" (the help said so)."""
    from btc_tui.forecast.report import metrics_table
    from btc_tui.ui.screens.help import SIGNS

    phrase = "persistence = last minute's average; last price = last minute's close"
    assert phrase in metrics_table(_result_with_close(tmp_path / "m.keras").metrics)
    assert phrase in SIGNS


async def test_help_at_60x20_keeps_keys_in_their_own_column():
    """Descriptions wrap within their column (hanging indent), never back under the keys; the
    intro's "[keys]" is shown as text, not eaten as markup."""
    from textual.widgets import Static

    from btc_tui.config import Settings
    from btc_tui.ui.app import BtcTuiApp

    app = BtcTuiApp(Settings(), autostart=False)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert "[keys] table" in str(app.screen.query_one("#help-intro", Static).render())
        rows = list(app.screen.query(".help-row"))
        assert rows
        wrapped = 0
        for row in rows:
            key, what = row.query(Static).results(Static)
            assert what.region.x > key.region.right - 1
            wrapped += what.region.height > 1
        assert wrapped  # at 60 columns some descriptions take two lines, all beside their key


def _tied_metrics():
    from btc_tui.forecast.metrics import LAST_PRICE, Metrics

    return Metrics(
        mae=2.62, mape=0.0044, baseline_mae=3.3, baseline_mape=0.0055, skill=0.206,
        direction_accuracy=0.714, last_price_mae=2.62, last_price_mape=0.0044,
        skill_vs_last_price=0.0, interval=0.8, coverage=0.824, width=9.23, interval_score=12.19,
        static_band_score=11.0, rolling_band_score=12.5, point_weight=0.0,
        point_forecast=LAST_PRICE,
    )  # fmt: skip


@pytest.mark.parametrize("rows", [4, 5, 7, 9, 30])
def test_forecast_metrics_fit_the_rows_they_get_keeping_the_verdict(rows):
    import textwrap

    from btc_tui.forecast.report import short_verdict
    from btc_tui.ui.widgets.forecast import METRICS_WIDTH, metrics_text

    def height(text: str) -> int:
        return sum(len(textwrap.wrap(line, METRICS_WIDTH)) for line in text.splitlines())

    m = _tied_metrics()
    text = metrics_text(m, max_rows=rows)
    must = height(metrics_text(m, max_rows=1))  # the verdict alone
    assert height(text) <= max(rows, must)  # never more than the pane shows
    assert short_verdict(m) in text  # the verdict is the last thing to go
    if rows >= 7:  # 80x24's pane: the model beside the last price stays with the verdict
        assert "model" in text and "last pr." in text
    if rows >= 30:
        assert "direction" in text  # room for everything: nothing left out


async def test_forecast_pane_at_80x24_shows_its_verdict_inside_the_pane(tmp_path):
    """At 80x24 the pane has ~7 rows for ~12 lines of metrics: the verdict must stay visible."""
    from btc_tui.forecast.report import short_verdict
    from btc_tui.ui.app import BtcTuiApp
    from btc_tui.ui.widgets.forecast import ForecastPane
    from tests.ui.conftest import settings_for, until

    app = BtcTuiApp(settings_for(tmp_path), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: bool(app.query(ForecastPane)))
        await pilot.press("v", "v", "v")  # under the chart: training, loss, forecast
        assert app.view == "forecast"
        pane = app.query_one(ForecastPane)
        m = _tied_metrics()
        pane.show([1.0, 2.0, 3.0], [1.0, 2.0, 2.5], m, lo=[0.5, 1.5, 2.0], hi=[1.5, 2.5, 3.0])
        await pilot.pause()
        static = pane.query_one("#forecast-metrics")
        await pilot.pause()
        # every line of the metrics lies inside the pane's region on screen
        assert static.region.bottom <= pane.region.bottom - 1
        assert short_verdict(m).split()[0] in str(static.render())


async def test_the_test_set_chart_labels_prices_with_thousands_separators():
    from rich.text import Text

    from btc_tui.config import Settings
    from btc_tui.ui.app import BtcTuiApp
    from btc_tui.ui.widgets import ForecastChart
    from tests.ui.conftest import until

    app = BtcTuiApp(Settings(), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: bool(app.query(ForecastChart)))  # mounted after the first screen
        chart = app.query_one(ForecastChart)
        actual = [41_700.0 + 3 * (i % 7) for i in range(60)]
        chart.show(actual=actual, predicted=[a + 1 for a in actual])
        await pilot.pause()
        shown = Text.from_ansi(str(chart.render())).plain
        assert "41,7" in shown and "41700" not in shown
