"""Snapshots of the screen with fixed data: no simulator, no training, a frozen clock, at every
size from 60x20 to 200x60 (and one too small to use).

The owners are given the state their workers would produce. Regenerate with
`.venv/bin/pytest tests/ui/test_snapshots.py --snapshot-update` after looking at the report.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from btc_tui.config import Settings
from btc_tui.forecast.bands import Calibration
from btc_tui.forecast.live_score import LiveScore
from btc_tui.forecast.metrics import evaluate
from btc_tui.forecast.predictor import HorizonForecast, Prediction
from btc_tui.forecast.training import BatchProgress, EpochEnd, HorizonResult, TrainResult
from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.collector import BarWritten, StreamStatus, Tick
from btc_tui.market.simulator import simulated_history
from btc_tui.ui import messages as m
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting, Fill
from btc_tui.ui.prediction import LivePrediction
from btc_tui.ui.widgets import LivePane, TrainingPane
from btc_tui.ui.widgets.market_chart import MarketChart

NOW = 1_767_271_000.0  # 2026-01-01 12:36:40 UTC
MINUTE = int(NOW // 60) * MINUTE_MS  # the open minute
LOSS = [0.0123, 0.0081, 0.0064, 0.0058, 0.0055, 0.0054]
SNAPSHOT_MODELS = Path("snapshot-models")
VAL_LOSS = [0.0131, 0.0090, 0.0071, 0.0069, 0.0066, 0.0067]
SIZES = [(60, 20), (80, 24), (120, 40), (200, 60)]


def bar(minute: int, avg: float) -> MinuteBar:
    return MinuteBar(minute, avg, avg - 3, avg + 8, avg - 9, avg + 2, 4.2, avg + 0.5, 600, 1, 600)


def status() -> StreamStatus:
    return StreamStatus(
        state="connected",
        reconnects=1,
        retry_in=None,
        last_message_age=0.2,
        messages_per_second=18.5,
        stale=False,
        bad=2,
        late=0,
        duplicates=0,
        missed=3,
        last_error=None,
        repaired=3,
        unrepaired=0,
    )


def result() -> TrainResult:
    t = np.arange(300)
    actual = 60_000 + 40 * np.sin(t / 25) + 0.1 * t
    last = np.concatenate([[actual[0]], actual[:-1]])
    predicted = 0.6 * actual + 0.4 * last + 1.5
    minutes = MINUTE - MINUTE_MS * (300 - t)
    horizon = HorizonResult(
        horizon=1,
        metrics=evaluate(predicted, actual, last),
        predicted=predicted,
        lo=np.zeros(0),  # no band drawn, as before horizons
        hi=np.zeros(0),
        actual=actual,
        last_price=None,
        persistence=last,
        origins=minutes - MINUTE_MS,
        bands={},
        calibration=Calibration(1.0, 1.0, 0.0, 0.0, 0.0),
    )
    return TrainResult(
        horizons={1: horizon},
        epochs_run=len(LOSS),
        seconds=42.0,
        model_path=SNAPSHOT_MODELS / "btc_lstm.keras",  # never written, so nothing loads
        metadata_path=SNAPSHOT_MODELS / "btc_lstm.json",
        windows={"fit": 1_150, "stopping": 0, "calibration": 0, "test": 300, "dropped": 0},
        history_loss=LOSS,
        history_val_loss=VAL_LOSS,
    )


def make_app(**changes: object) -> BtcTuiApp:
    # Fixed relative paths, shown on screen; autostart=False means nothing reads or writes them.
    # Times in UTC: the chart's labels must not depend on the machine's time zone.
    settings = Settings(data=Path("data/minutes.csv"), models=SNAPSHOT_MODELS, utc=True)
    return BtcTuiApp(settings.with_changes(**changes), autostart=False, clock=lambda: NOW)


def chart_history(app: BtcTuiApp, days: float = 0.1) -> None:
    """The minutes the chart would have read from the CSV: a seeded random walk up to the
    minute before the last written one, with a minute missing (a gap), and an alert's mark."""
    chart = app.query_one(MarketChart)
    count = int(days * 1440)
    walk = simulated_history(count, end_minute=MINUTE - 2 * MINUTE_MS, seed=7)
    shift = 60_008.0 - walk[-1].close  # ends where the scenario's minutes go on
    bars = [
        replace(b, avg_price=b.avg_price + shift, open=b.open + shift, high=b.high + shift,
                low=b.low + shift, close=b.close + shift, vwap=b.vwap + shift)
        for b in walk
    ]  # fmt: skip
    for k, b in enumerate(bars):
        if k != count - 12:
            chart.add_bar(b)
    chart.add_mark(bars[-20].minute + 30_000, bars[-20].high, "above 60,000")


async def settle(app: BtcTuiApp, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def show_live(app: BtcTuiApp, pilot) -> None:
    """What the collector and the predictor would have produced by NOW."""
    live = app.query_one(LivePane)
    prediction = app.query_one(LivePrediction)
    collecting = app.query_one(Collecting)
    prediction.post_message(m.DataPrepared(rows=4_320, last_price=60_010.0, frame=None))
    await settle(app, pilot)
    chart_history(app)
    collecting.state = "collecting"
    collecting.ever_connected = True
    collecting.status_at = NOW
    collecting.status = status()
    collecting.fill = Fill(2_150, 4_320, finished=False, error=None)
    prediction.post_message(
        m.PredictionMade(
            Prediction.one(MINUTE - MINUTE_MS, 60_012.5, MINUTE - 2 * MINUTE_MS, 60_009.0)
        )
    )
    await settle(app, pilot)
    live.post_message(
        m.BarReceived(BarWritten(bar(MINUTE - MINUTE_MS, 60_010.25), rows=4_321, reconnects=1))
    )
    await settle(app, pilot)
    prediction.post_message(
        m.PredictionMade(
            Prediction.one(
                MINUTE, 60_014.75, MINUTE - MINUTE_MS, 60_010.25, 60_002.0, 60_027.5, 0.8
            )
        )
    )
    collecting.tick = Tick("btcusdt", 60_016.42, int(NOW * 1000), MINUTE, 60_015.1, 412)
    app.post_message(m.EventLogged("connected to wss://stream.binance.com:9443/ws/btcusdt@trade"))
    await settle(app, pilot)


async def show_trained(app: BtcTuiApp, pilot) -> None:
    await show_live(app, pilot)
    training = app.query_one(TrainingPane)
    training.post_message(m.TrainingStage("training"))
    for i, (loss, val) in enumerate(zip(LOSS, VAL_LOSS, strict=True)):
        training.post_message(m.EpochEnded(EpochEnd(i + 1, 10, loss, val, 7.0 * (i + 1))))
    await settle(app, pilot)
    training.post_message(m.TrainingFinished(result()))
    await settle(app, pilot)


def quiet_status() -> StreamStatus:
    """A healthy stream with no hole: the history fill's trades are not holes."""
    return replace(status(), missed=0, repaired=0, unrepaired=0, bad=0, reconnects=0)


def predicted(target: int, price: float, last_avg: float, last_close: float) -> Prediction:
    return Prediction.one(target, price, target - MINUTE_MS, last_avg, price - 9.5, price + 8.0, 0.8,
                      last_close)  # fmt: skip


async def show_predicting(app: BtcTuiApp, pilot) -> None:
    """What the lead saw at 80x24 in the demo: trained, the history filled, the model predicting
    each next minute live, and three predicted minutes already scored."""
    await show_trained(app, pilot)
    live = app.query_one(LivePane)
    prediction = app.query_one(LivePrediction)
    collecting = app.query_one(Collecting)
    collecting.status = quiet_status()
    collecting.fill = Fill(4_320, 4_320, finished=True, error=None)
    prediction.score = LiveScore()  # scored from here on, all with a close and a band
    avg = 60_010.25
    for k, actual in enumerate([60_013.5, 60_006.0, 60_019.25]):
        minute = MINUTE + (k + 1) * MINUTE_MS
        prediction.post_message(m.PredictionMade(predicted(minute, avg + 2.0, avg, avg + 1.5)))
        await settle(app, pilot)
        live.post_message(m.BarReceived(BarWritten(bar(minute, actual), 4_322 + k, 0)))
        await settle(app, pilot)
        avg = actual
    next_minute = MINUTE + 4 * MINUTE_MS
    prediction.post_message(m.PredictionMade(predicted(next_minute, avg - 1.0, avg, avg + 2.0)))
    collecting.tick = Tick("btcusdt", 60_021.08, int(NOW * 1000), next_minute, 60_020.3, 1_208)
    await settle(app, pilot)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
def test_predicting_live_with_a_score_fits(snap_compare, size):
    """The prediction and its live score fit in the Live pane, and every pane below it keeps
    its border on the screen (the Log pane too)."""
    app = make_app()
    assert snap_compare(
        app, terminal_size=size, run_before=lambda pilot: show_predicting(app, pilot)
    )


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_main_screen_after_training(snap_compare, size):
    app = make_app()
    assert snap_compare(app, terminal_size=size, run_before=lambda pilot: show_trained(app, pilot))


def test_small_screen_cycles_its_lower_pane_with_v(snap_compare):
    app = make_app()

    async def run_before(pilot) -> None:
        await show_trained(app, pilot)
        await pilot.press("v", "v")  # under the chart: nothing -> training -> loss chart
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(60, 20), run_before=run_before)


def test_too_small_a_terminal_says_the_minimum_size(snap_compare):
    app = make_app()
    assert snap_compare(app, terminal_size=(50, 15))


async def show_training(app: BtcTuiApp, pilot) -> None:
    await show_live(app, pilot)
    training = app.query_one(TrainingPane)
    training.running = True  # as train() sets it; the worker itself is not started here
    training.post_message(m.TrainingStage("training"))
    training.post_message(m.EpochEnded(EpochEnd(1, 10, LOSS[0], VAL_LOSS[0], 7.0)))
    training.post_message(m.EpochEnded(EpochEnd(2, 10, LOSS[1], VAL_LOSS[1], 14.0)))
    training.post_message(m.BatchProgressed(BatchProgress(3, 10, 18, 36, 17.5)))
    await settle(app, pilot)


async def show_attached(app: BtcTuiApp, pilot) -> None:
    from btc_tui.market.store import LockOwner

    await show_predicting(app, pilot)
    collecting = app.query_one(Collecting)
    collecting.owner = LockOwner(4242, "here", "2026-01-01T09:12:00+00:00", "btc-tui collect", True)
    collecting.fill = None
    collecting.ticker_on = True
    collecting.state = "attached"
    await settle(app, pilot)


def test_main_screen_80x24_while_training(snap_compare):
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda p: show_training(app, p))


def test_attached_to_another_collector_80x24(snap_compare):
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda p: show_attached(app, p))


async def show_idle(app: BtcTuiApp, pilot) -> None:
    await settle(app, pilot)


async def show_offline_with_holes(app: BtcTuiApp, pilot) -> None:
    """The worst case for the Live pane's height: never connected (three status lines), holes,
    a history fill running and a model predicting."""
    await show_predicting(app, pilot)
    collecting = app.query_one(Collecting)
    collecting.ever_connected = False
    collecting.status = replace(
        status(),
        state="backing_off",
        retry_in=4.0,
        unrepaired=2,
        last_error="Cannot connect to host stream.binance.com:9443 ssl:default [Name or "
        "service not known]",
    )
    collecting.fill = Fill(2_150, 4_320, finished=False, error=None)
    await settle(app, pilot)


STATES = {
    "idle": show_idle,
    "collecting": show_live,
    "training": show_training,
    "trained": show_trained,
    "predicting": show_predicting,
    "attached": show_attached,
    "offline-holes-filling": show_offline_with_holes,
}


def assert_fits(app: BtcTuiApp, width: int, height: int) -> None:
    """Every pane shown is inside the screen above the footer, what it holds fits inside it, and
    no Live pane line is wider than the pane."""
    from btc_tui.ui.widgets.live import Fact

    for name in ("#live", "#training", "#market", "#loss-chart", "#forecast", "#log"):
        for pane in app.query(name):
            if not pane.display or not pane.region.height:
                continue
            region = pane.region
            assert region.right <= width and region.bottom <= height - 1, (name, region)
            if name in ("#live", "#training"):
                held = sum(c.outer_size.height for c in pane.children if c.display)
                assert held <= pane.content_size.height, (name, held, pane.content_size)
    for fact in app.query(Fact):
        if fact.display:
            for line in fact.lines(fact.size.width):
                assert line.cell_len <= fact.size.width, line.plain


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_nothing_overflows_in_any_state(state, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await STATES[state](app, pilot)
        await settle(app, pilot)
        assert_fits(app, *size)


def test_help_screen_80x24(snap_compare):
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"])


def test_help_screen_60x20_reads_as_a_table(snap_compare):
    """Descriptions wrap under themselves (a hanging indent), never under the keys."""
    app = make_app()
    assert snap_compare(app, terminal_size=(60, 20), press=["question_mark"])


def test_no_color_keeps_every_meaning_in_signs_and_words_80x24(snap_compare, monkeypatch):
    """NO_COLOR: one colour, so up/down are ▲/▼ with a sign, and states are words (● connected,
    ✓/✗ verdicts, 'lost' holes), never a colour alone."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()

    async def run_before(pilot) -> None:
        await show_trained(app, pilot)
        collecting = app.query_one(Collecting)
        collecting.tick = Tick("btcusdt", 60_001.08, int(NOW * 1000), MINUTE, 60_009.3, 413)
        collecting.status = replace(status(), unrepaired=2)
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def fan_prediction() -> Prediction:
    """Four horizons from the last written minute, the band widening with the horizon."""
    last = MINUTE - 2 * MINUTE_MS
    forecasts = tuple(
        HorizonForecast(h, last + h * MINUTE_MS, 60_008 + 0.5 * h, 60_000 - 2 * h, 60_016 + 2 * h)
        for h in (1, 5, 15, 60)
    )
    return Prediction(last, 60_008.0, 0.8, forecasts)


TIMEFRAME_SIZES = {"1m": (80, 24), "5m": (120, 40), "15m": (100, 30), "1h": (200, 60),
                   "4h": (120, 40), "1d": (80, 24)}  # fmt: skip


@pytest.mark.parametrize("timeframe", list(TIMEFRAME_SIZES))
def test_market_chart_at_each_timeframe(snap_compare, timeframe):
    """Candles of three days at each timeframe, with the gap, the mark of a fired alert and
    the fan of four horizons ahead of the last candle (as far as the room ahead lets it show);
    thousands separators, UTC times."""
    app = make_app(timeframe=timeframe)

    async def run_before(pilot) -> None:
        await show_predicting(app, pilot)
        chart = app.query_one(MarketChart)
        chart.candles, chart.marks = [], []
        chart_history(app, days=3)
        chart.show_prediction(fan_prediction())
        await settle(app, pilot)

    size = TIMEFRAME_SIZES[timeframe]
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_market_chart_as_a_line_120x40(snap_compare):
    app = make_app(chart="line")
    assert snap_compare(
        app, terminal_size=(120, 40), run_before=lambda pilot: show_predicting(app, pilot)
    )


def test_alerts_screen_80x24(snap_compare):
    app = make_app(alerts=("above 70,000", "move 1% 15m", "band"))
    assert snap_compare(app, terminal_size=(80, 24), press=["a"])
