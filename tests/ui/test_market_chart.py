"""The market chart's forecast: each horizon's band drawn at its minute ahead of the last
candle, at the model's prices; horizons past the room ahead are left out."""

from __future__ import annotations

from dataclasses import replace

from btc_tui.forecast.predictor import HorizonForecast, Prediction
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.candles import bucket_of
from btc_tui.market.simulator import simulated_history
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.widgets import market_chart
from btc_tui.ui.widgets.market_chart import Forecast, MarketChart, fan_slots
from tests.ui.conftest import settings_for

LAST = 1_767_225_600_000 + 600 * MINUTE_MS  # the last closed minute (10:00 UTC)


def prediction() -> Prediction:
    forecasts = tuple(
        HorizonForecast(h, LAST + h * MINUTE_MS, 60_000.0 + h, 59_990.0 - h, 60_010.0 + 2 * h)
        for h in (1, 5, 15, 60)
    )
    return Prediction(LAST, 60_000.0, 0.8, forecasts)


def test_each_horizon_at_its_minute_and_price():
    fan = [Forecast(f.target_minute, f.median, f.lo, f.hi) for f in prediction().forecasts]
    open_minute = LAST + MINUTE_MS  # the last candle drawn is the open minute
    got = fan_slots(fan, open_minute, "1m", room=20)
    # 1, 5, 15 minutes after the last closed one: the open minute's slot and 4, 14 after it
    assert [(s, f.price, f.lo, f.hi) for s, f in got] == [
        (0, 60_001.0, 59_989.0, 60_012.0),
        (4, 60_005.0, 59_985.0, 60_020.0),
        (14, 60_015.0, 59_975.0, 60_040.0),
    ]  # 60 minutes ahead is past the room: left out
    assert [s for s, _ in fan_slots(fan, open_minute, "1m", room=60)] == [0, 4, 14, 59]
    # 15m candles: 1 and 5 fall in the open candle (the longer shown), 15 and 60 further on
    start = bucket_of(open_minute, "15m")
    assert [(s, f.price) for s, f in fan_slots(fan, start, "15m", room=10)] == [
        (0, 60_005.0),
        (1, 60_015.0),
        (4, 60_060.0),
    ]


async def test_the_chart_takes_every_horizon_from_the_models_prediction(tmp_path):
    app = BtcTuiApp(settings_for(tmp_path), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.query_one(MarketChart)
        chart.show_prediction(prediction())
        await pilot.pause()
        assert [(f.minute, f.price, f.lo, f.hi) for f in chart.forecasts] == [
            (f.target_minute, f.median, f.lo, f.hi) for f in prediction().forecasts
        ]
        assert chart.predictions == {LAST + MINUTE_MS: 60_001.0}  # the dot to score by eye
        assert "predicted" in chart.border_subtitle


async def test_a_burst_of_minutes_redraw_the_chart_at_most_once_per_gap_and_lose_none(
    tmp_path, monkeypatch
):
    """Minutes arriving one after another (an attach catching up, a fast feed) redraw the whole
    chart at most once per DATA_REDRAW_GAP, and the last of them is on the screen after it."""
    gap = 3.0  # long beside the few ms between two steps below, however slow the machine
    monkeypatch.setattr(market_chart, "DATA_REDRAW_GAP", gap)
    app = BtcTuiApp(settings_for(tmp_path).with_changes(utc=True), autostart=False)
    walk = simulated_history(40, end_minute=LAST, seed=3)
    spike = replace(walk[-1], high=walk[-1].high + 5_000.0, close=walk[-1].close + 5_000.0)
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.query_one(MarketChart)
        await pilot.pause(gap + 0.1)  # nothing drawn lately
        for bar in walk[:-1]:
            chart.add_bar(bar)  # the first draws at once; the frame shows them all
        drawn = chart._version
        await pilot.pause()
        chart.add_bar(spike)  # the next minute, within the gap: put off
        assert chart._version == drawn
        await pilot.pause()
        label = f"{spike.high // 1000 * 1000:,.0f}"  # the price axis' top label once it is drawn
        assert label not in app.export_screenshot()
        await pilot.pause(gap + 0.5)
        assert chart._version == drawn + 1  # one redraw after the gap, with every minute
        assert label in app.export_screenshot()
