"""Candles for the market chart: every timeframe resampled exactly from its minutes, gaps left
empty, only the file's end read, and the open minute drawn on top."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from btc_tui.config import TIMEFRAMES
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.candles import (
    TIMEFRAME_MINUTES,
    OpenCandle,
    add_minute,
    bucket_of,
    iter_slots,
    next_timeframe,
    read_candles,
    resample,
    with_open_minute,
)
from btc_tui.market.simulator import simulated_history
from btc_tui.market.store import MinuteStore, load_minutes

DAY0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def write(path, bars):
    with MinuteStore(path) as store:
        for bar in bars:
            store.append(bar)


def history(minutes, skip=(), seed=5):
    bars = simulated_history(minutes, end_minute=DAY0 + (minutes - 1) * MINUTE_MS, seed=seed)
    return [b for i, b in enumerate(bars) if i not in skip]


def test_timeframes_are_the_settings_choices_and_f_cycles_them_all():
    assert tuple(TIMEFRAME_MINUTES) == TIMEFRAMES
    seen, tf = [], "1m"
    for _ in TIMEFRAMES:
        seen.append(tf)
        tf = next_timeframe(tf)
    assert seen == list(TIMEFRAMES) and tf == "1m"


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    """Three days and a bit, with holes, written through the store once for the module."""
    bars = history(3 * 1440 + 17, skip={3, 4, 700})
    path = tmp_path_factory.mktemp("candles") / "m.csv"
    write(path, bars)
    return path, bars, load_minutes(path).frame


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_each_candle_is_exactly_its_minutes(three_days, timeframe):
    _, bars, frame = three_days
    candles = resample(frame, timeframe)
    span = TIMEFRAME_MINUTES[timeframe] * MINUTE_MS
    groups: dict[int, list] = {}
    for bar in bars:
        groups.setdefault(bar.minute - bar.minute % span, []).append(bar)
    assert [c.start for c in candles] == sorted(groups)
    for candle in candles:
        minutes = groups[candle.start]
        assert candle.open == minutes[0].open
        assert candle.close == minutes[-1].close
        assert candle.high == max(b.high for b in minutes)
        assert candle.low == min(b.low for b in minutes)
        assert candle.volume_units == sum(round(b.volume * 1e8) for b in minutes)
        assert candle.volume == pytest.approx(math.fsum(b.volume for b in minutes), abs=1e-9)
        assert candle.minutes == len(minutes)


def test_a_minute_without_trades_is_a_gap_not_a_flat_candle(tmp_path):
    bars = history(10, skip={4})
    path = tmp_path / "m.csv"
    write(path, bars)
    slots = [slot for slot, _ in iter_slots(resample(load_minutes(path).frame, "1m"), "1m")]
    assert slots == [-9, -8, -7, -6, -4, -3, -2, -1, 0]  # -5 is empty


def test_day_candles_are_utc_days():
    assert bucket_of(DAY0 + 1439 * MINUTE_MS, "1d") == DAY0
    assert bucket_of(DAY0 + 1440 * MINUTE_MS, "1d") == DAY0 + 1440 * MINUTE_MS
    assert bucket_of(DAY0 + 239 * MINUTE_MS, "4h") == DAY0


@pytest.mark.parametrize("timeframe", ["5m", "1h", "1d"])
def test_read_candles_reads_the_end_and_never_shows_a_cut_first_candle(three_days, timeframe):
    path, _, frame = three_days
    everything = resample(frame, timeframe)
    assert read_candles(path, timeframe, 2).candles == everything[-2:]
    assert (
        read_candles(path, timeframe, 10_000).candles == everything
    )  # the whole file: all of them


def test_read_candles_drops_a_first_candle_cut_by_the_tail(tmp_path):
    bars = history(125)
    path = tmp_path / "m.csv"
    write(path, bars)
    everything = resample(load_minutes(path).frame, "1h")
    # 1 candle asked: 61 minutes are read, so the hour before the last is cut and left out
    assert read_candles(path, "1h", 1).candles == everything[-1:]
    assert read_candles(path, "1h", 3).candles == everything[-3:]  # the file holds all three whole


def test_closed_minutes_fold_into_the_last_candle_and_the_open_minute_draws_on_top():
    bars = history(12)
    candles = []
    for bar in bars[:-1]:
        candles = add_minute(candles, bar, "5m", keep=100)
    assert candles == resample_bars(bars[:-1], "5m")
    assert add_minute(candles, bars[0], "5m", keep=100) is candles  # old: changes nothing
    last = bars[-1]
    live = OpenCandle.first(last.minute, 70_000.0).with_price(50_000.0).with_price(60_000.0)
    drawn = with_open_minute(candles, live, "5m", last_closed=bars[-2].minute)
    assert drawn[-1].start == candles[-1].start
    assert (drawn[-1].open, drawn[-1].close) == (candles[-1].open, 60_000.0)
    assert (drawn[-1].high, drawn[-1].low) == (70_000.0, 50_000.0)
    # once the minute is written it is not added twice
    assert with_open_minute(candles, live, "5m", last_closed=last.minute) is candles
    assert add_minute(candles, last, "5m", keep=2) == resample_bars(bars, "5m")[-2:]


def resample_bars(bars, timeframe):
    import pandas as pd

    frame = pd.DataFrame(
        [[b.open, b.high, b.low, b.close, b.volume] for b in bars],
        columns=["open", "high", "low", "close", "volume"],
        index=pd.DatetimeIndex([pd.Timestamp(b.minute, unit="ms", tz="UTC") for b in bars]),
    )
    return resample(frame, timeframe)


def test_open_candle_tracks_extremes():
    live = OpenCandle.first(DAY0, 10.0)
    for price in (12.0, 9.0, 11.0):
        live = live.with_price(price)
    assert live == replace(live, open=10.0, high=12.0, low=9.0, close=11.0)


def test_a_file_that_starts_mid_candle_keeps_its_first_candle(tmp_path):
    bars = history(90)[30:]  # starts half an hour into an hour
    path = tmp_path / "m.csv"
    write(path, bars)
    assert read_candles(path, "1h", 10).candles == resample_bars(bars, "1h")
