"""Minute bars: bucketed by trade time, exact against Binance's own klines, closed on time."""

from __future__ import annotations

import csv

import pytest

from btc_tui.market.bars import MINUTE_MS, MinuteAggregator
from btc_tui.market.binance import Trade, parse_message
from tests.conftest import fixture_path

T0 = 1_700_000_040_000  # a minute start (2023-11-14 22:14 UTC)


# Binance sends the event (`E`) after the trade (`T`): 1.5 s here, so a trade in a minute's last
# 1.5 s has its event in the next minute, and bucketing by event time fails these tests.
EVENT_DELAY = 1_500


def trade(tid: int, t: int, price: float = 100.0, units: int = 100_000_000) -> Trade:
    return Trade(tid, price, units / 1e8, units, t, t + EVENT_DELAY, False)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_bars_equal_binance_klines_for_the_complete_minutes():
    folder = fixture_path("binance-spot-2023-04-05")
    with open(folder / "klines_1m.csv") as f:
        klines = {int(r["open_time"]): r for r in csv.DictReader(f)}
    aggregator = MinuteAggregator(clock=FakeClock(0.0))
    bars = []
    for line in (folder / "trades.jsonl").read_text().splitlines():
        message = parse_message(line)
        bars += aggregator.add(message, received_at=message.event_time / 1000)
    bars.append(aggregator.flush())

    complete = [
        b for b in bars if klines.get(b.minute) and b.start.hour == 0 and b.start.minute < 6
    ]
    assert [b.start.strftime("%H:%M") for b in complete] == [f"00:0{i}" for i in range(6)]
    for bar in complete:
        k = klines[bar.minute]
        got = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        want = tuple(float(k[f]) for f in ("open", "high", "low", "close", "volume"))
        assert got == want, bar.start
    # The partial first and last minutes of the capture must not pass for complete ones.
    first, last = bars[0], bars[-1]
    assert first.volume != float(klines[first.minute]["volume"])
    assert last.volume != float(klines[last.minute]["volume"])
    assert sum(b.trades for b in bars) == 3144


def test_trades_are_bucketed_by_trade_time_not_arrival():
    clock = FakeClock(0.0)  # a local clock far away from the trade times
    agg = MinuteAggregator(clock=clock)
    assert agg.add(trade(1, T0 + 59_999, 10.0)) == []
    # the next minute's first trade closes the previous minute
    (bar,) = agg.add(trade(2, T0 + MINUTE_MS, 20.0))
    assert (bar.minute, bar.trades, bar.close) == (T0, 1, 10.0)


def test_minute_fields():
    agg = MinuteAggregator(clock=FakeClock(T0 / 1000))
    for tid, price, units in [(1, 10.0, 100_000_000), (2, 30.0, 300_000_000), (3, 20.0, 100_000)]:
        agg.add(trade(tid, T0 + tid, price, units))
    bar = agg.flush()
    assert bar.avg_price == 20.0  # plain mean of prices, the seed's definition
    assert (bar.open, bar.high, bar.low, bar.close) == (10.0, 30.0, 10.0, 20.0)
    assert bar.volume == 4.001
    assert abs(bar.vwap - (10 * 1 + 30 * 3 + 20 * 0.001) / 4.001) < 1e-9
    assert (bar.trades, bar.first_trade_id, bar.last_trade_id) == (3, 1, 3)


def test_open_and_close_follow_trade_ids_not_arrival_order():
    agg = MinuteAggregator(clock=FakeClock(T0 / 1000))
    agg.add(trade(5, T0 + 10, 50.0))
    agg.add(trade(4, T0 + 9, 40.0))  # arrives late but is the minute's first trade
    agg.add(trade(6, T0 + 11, 60.0))
    bar = agg.flush()
    assert (bar.open, bar.close) == (40.0, 60.0)


def test_quiet_minute_closes_when_the_exchange_clock_passes_end_plus_grace():
    # Local clock is 1000 s behind the exchange; the offset is learnt from the trades.
    clock = FakeClock(T0 / 1000 - 1000)
    agg = MinuteAggregator(grace=2.0, clock=clock)
    agg.add(trade(1, T0 + 30_000), received_at=clock.now + 30.05)  # 50 ms network delay
    clock.now += 30.05 + 29.9 + 2.0  # exchange time: end of minute + 1.95 s
    assert agg.poll() == []
    clock.now += 0.2
    (bar,) = agg.poll()
    assert bar.minute == T0
    assert agg.poll() == []


def test_fast_replay_of_old_trades_buckets_by_trade_time():
    clock = FakeClock(2_000_000_000.0)  # "now" is years after the trades
    agg = MinuteAggregator(clock=clock)
    bars = []
    for i in range(600):  # ten minutes of trades replayed within one local instant
        bars += agg.add(trade(i, T0 + i * 1000))
        bars += agg.poll()
    assert [b.trades for b in bars] == [60] * 9
    assert agg.open_minute.trades == 60


def test_late_trades_for_written_minutes_are_counted_not_written():
    agg = MinuteAggregator(clock=FakeClock(0.0), after_minute=T0)
    assert agg.add(trade(1, T0 + 5)) == []  # minute T0 is already in the CSV
    assert agg.late == 1
    agg.add(trade(2, T0 + MINUTE_MS + 5))
    agg.add(trade(3, T0 + 2 * MINUTE_MS + 5))  # closes T0+1min
    agg.add(trade(4, T0 + MINUTE_MS + 6))  # its minute has been closed
    assert agg.late == 2
    assert agg.flush().trades == 1


def test_open_minute_snapshot():
    agg = MinuteAggregator(clock=FakeClock(0.0))
    assert agg.open_minute is None
    agg.add(trade(1, T0, 10.0))
    agg.add(trade(2, T0 + 1, 20.0))
    snap = agg.open_minute
    assert (snap.minute, snap.avg_price, snap.trades, snap.last_price) == (T0, 15.0, 2, 20.0)


def run_market(clock: FakeClock, agg: MinuteAggregator, minutes: int, step_at: float, step: float):
    """Ten trades a second for `minutes` minutes, each received 50 ms after its trade time, with a
    poll every 0.25 s, as the collector does; the local clock steps by `step` seconds once,
    `step_at` seconds in. Returns the closed bars (the open minute is left open)."""
    bars = []
    start = T0 / 1000 - 500.0  # the local clock is arbitrary: only its differences matter
    stepped = 0.0
    for i in range(minutes * 600):
        elapsed = i / 10
        if elapsed >= step_at and not stepped:
            stepped = step
        clock.now = start + elapsed + 0.05 + stepped
        bars += agg.add(trade(i + 1, T0 + i * 100))
        if i % 10 in (2, 5, 7, 9):  # about every 0.25 s
            bars += agg.poll()
    return bars


@pytest.mark.parametrize("step", [5.0, 3600.0, -5.0, -3600.0])
def test_a_clock_step_never_truncates_minutes(step: float):
    # Today's bug: the offset was the largest T - time.time(); after a +5 s step every later
    # minute closed 3 s early and kept 571 of 600 trades, after +1 h one trade a minute.
    clock = FakeClock(0.0)
    agg = MinuteAggregator(grace=2.0, clock=clock)
    bars = run_market(clock, agg, minutes=4, step_at=95.0, step=step)
    assert [b.trades for b in bars] == [600, 600, 600]
    assert agg.late == 0
    assert agg.clock_jumps == 1
    # The last minute still closes on time by the clock after the step: its last trade is at
    # 59.9 s; quiet from then on, it closes once 2 s of grace have passed, not an hour later.
    closed_at = None
    for k in range(1, 40):
        clock.now += 0.25
        if agg.poll():
            closed_at = k * 0.25
            break
    assert closed_at == pytest.approx(2.25)  # 59.9 s + 2.25 s: the first poll past 62 s


def test_a_pause_longer_than_the_jump_bound_closes_late_not_early():
    clock = FakeClock(1000.0)
    agg = MinuteAggregator(grace=2.0, clock=clock, max_clock_jump=2.0)
    agg.add(trade(1, T0 + 50_000))  # received at 1000.0
    clock.now += 30.0  # one reading 30 s later: a step or a pause, not counted as elapsed
    assert agg.poll() == []
    assert agg.clock_jumps == 1
    agg.add(trade(2, T0 + MINUTE_MS + 1))  # the next trade re-anchors and closes the minute
    assert agg.flush().minute == T0 + MINUTE_MS


def test_reset_clock_forgets_the_anchor_until_the_next_trade():
    clock = FakeClock(1000.0)
    agg = MinuteAggregator(grace=2.0, clock=clock)
    agg.add(trade(1, T0 + 59_000))
    agg.reset_clock()  # a reconnect
    assert agg.exchange_now() is None
    clock.now += 1.0
    assert agg.poll() == []  # no estimate: nothing closes on a guess
    agg.add(trade(2, T0 + 59_500))
    assert agg.exchange_now() == T0 + 59_500
    for _ in range(10):
        clock.now += 0.25
        agg.poll()
    assert agg.open_minute is None  # closed once 59.5 s + 2.5 s passed the end plus grace
