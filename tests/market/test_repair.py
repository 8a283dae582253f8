"""Gap repair: trades the socket missed come back over REST (the simulator's, on loopback) and the
CSV holds exactly the trades the exchange made; what cannot be repaired is reported, loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from btc_tui.market.bars import TradeRun, bars_from_runs
from btc_tui.market.binance import AggTrade
from btc_tui.market.repair import Hole, MinuteHold, Unrepairable, fold, missing_runs
from btc_tui.market.simulator import SentTrade, Simulator
from tests.market.conftest import (
    BASE_MINUTE,
    MINUTE_MS,
    assert_csv_matches,
    eventually,
    minute_times,
    read_rows,
)
from tests.market.test_collector import Seen, collecting, make_collector

# -- the pure parts --------------------------------------------------------------------------


def agg(a: int, f: int, last: int, units: int, t: int = BASE_MINUTE, price: float = 10.0):
    return AggTrade(a, price, units, f, last, t, False)


def test_missing_runs_count_only_the_lost_trades_of_a_cut_aggregate():
    aggs = [agg(1, 10, 14, 500), agg(2, 15, 15, 7), agg(3, 16, 19, 400)]
    seen = {10: 100, 11: 100, 18: 50, 19: 50}  # 12..17 were lost: inside both end aggregates
    runs = missing_runs(aggs, 17, seen.get, first_missing=12)
    assert runs == [
        TradeRun(12, 14, 10.0, 300, BASE_MINUTE),
        TradeRun(15, 15, 10.0, 7, BASE_MINUTE),
        TradeRun(16, 17, 10.0, 300, BASE_MINUTE),
    ]


def test_missing_runs_refuse_what_they_cannot_make_exact():
    aggs = [agg(1, 10, 14, 500)]
    with pytest.raises(Unrepairable, match="trade 10 of it was not received"):
        missing_runs(aggs, 14, {11: 1}.get, first_missing=12)
    with pytest.raises(Unrepairable, match=r"did not return trades 15\.\.16"):
        missing_runs(aggs, 16, {10: 1, 11: 1}.get, first_missing=12)
    with pytest.raises(Unrepairable, match=r"did not return trades 12\.\.13"):
        missing_runs([], 13, {}.get, first_missing=12)


@pytest.mark.parametrize(
    "lost",
    [
        [TradeRun(3, 5, 99.5, 7000, BASE_MINUTE + 4)],  # the minute's low
        [TradeRun(3, 5, 105.0, 7000, BASE_MINUTE + 4)],  # the minute's high
        [TradeRun(0, 0, 99.0, 10, BASE_MINUTE), TradeRun(8, 8, 104.0, 10, BASE_MINUTE + 9)],
    ],
    ids=["low", "high", "open-and-close"],
)
def test_fold_equals_building_the_minute_from_all_its_trades_at_once(lost):
    live = [TradeRun(i, i, 100.0 + i % 3, 1000 + i, BASE_MINUTE + i) for i in (1, 2, 6, 7)]
    (whole,) = bars_from_runs(live + lost)
    (part,) = bars_from_runs(live)
    got = fold(part, lost)
    for name in ("open", "high", "low", "close", "volume", "trades"):
        assert getattr(got, name) == getattr(whole, name), name
    assert (got.first_trade_id, got.last_trade_id) == (whole.first_trade_id, whole.last_trade_id)
    assert got.avg_price == pytest.approx(whole.avg_price, rel=1e-15)
    assert got.vwap == pytest.approx(whole.vwap, rel=1e-15)


def test_the_hold_releases_minutes_in_order_once_their_repair_is_in():
    (m0,) = bars_from_runs([TradeRun(1, 1, 1.0, 1, BASE_MINUTE)])
    (m2,) = bars_from_runs([TradeRun(9, 9, 1.0, 1, BASE_MINUTE + 2 * MINUTE_MS)])
    hold = MinuteHold()
    hold.hold("hole", BASE_MINUTE)
    hold.add_bar(m0)
    assert hold.ready() == []  # held
    hold.add_runs(
        [
            TradeRun(2, 4, 2.0, 3, BASE_MINUTE + 5),
            TradeRun(5, 8, 3.0, 4, BASE_MINUTE + MINUTE_MS),
            TradeRun(5, 5, 3.0, 4, BASE_MINUTE + 2 * MINUTE_MS),  # the minute the stream resumed
        ],
        final_before=BASE_MINUTE + 2 * MINUTE_MS,
    )
    hold.release("hole")
    out = hold.ready()
    assert [(b.minute - BASE_MINUTE) // MINUTE_MS for b in out] == [0, 1]
    assert [b.trades for b in out] == [4, 4]
    hold.add_bar(m2)  # the resumed minute closes: its repaired trades join it
    (last,) = hold.ready()
    assert last.trades == 2 and not hold


# -- on loopback -----------------------------------------------------------------------------


def delivered(sim: Simulator, lost: list[SentTrade]) -> list[SentTrade]:
    gone = {t.trade_id for t in lost}
    return [t for t in sim.sent if t.trade_id not in gone]


async def test_a_hole_from_a_cut_socket_is_repaired_exactly(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "m.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 40))
        simulator.drop_connections()
        # Published while the client is away (synchronously after the cut: nobody can get them).
        lost = simulator.publish(minute_times(0, 25, start_ms=30_000))
        lost += simulator.publish(minute_times(1, 30))
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(2, 10))
        simulator.publish(minute_times(3, 5))
        await eventually(lambda: len(read_rows(data)) == 3)
        assert collector.stream.trades == 55
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [65, 30, 10, 5]
    status = collector.status
    assert (status.missed, status.repaired, status.unrepaired) == (55, 55, 0)
    assert any(
        "repaired a hole over REST: 55 trade(s), ids 41..95" in log.text for log in seen.logs
    )
    assert len(lost) == 55


async def test_a_stall_found_by_the_watchdog_is_repaired(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "m.csv"
    collector = make_collector(simulator, data, Seen(), stale_after=0.5)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 20))
        simulator.stall(answer_pings=False)  # a half-open link: nothing arrives any more
        simulator.publish(minute_times(0, 15, start_ms=20_000), send=False)
        simulator.publish(minute_times(1, 15), send=False)
        simulator.resume()
        await simulator.wait_for_connections(2)  # the watchdog gave up on the silent link
        simulator.publish(minute_times(1, 5, start_ms=40_000))
        simulator.publish(minute_times(2, 3))
        await eventually(lambda: len(read_rows(data)) == 2)
    assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in read_rows(data)] == [35, 20, 3]
    assert collector.status.repaired == 30


@pytest.mark.parametrize(
    "pattern",
    [
        [True, True, False, False, False, True, True],  # starts and ends inside one aggregate
        [True, False, False, False],  # the aggregate's end is lost
        [False, False, True, True],  # its start is lost (after the previous trades)
    ],
)
async def test_a_hole_inside_an_aggregate_counts_only_the_lost_trades(
    simulator: Simulator, tmp_path: Path, pattern: list[bool]
):
    data = tmp_path / "m.csv"
    collector = make_collector(simulator, data, Seen())
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 3))
        t = BASE_MINUTE + 30_000
        order = simulator.publish([t] * len(pattern), send=pattern, one_order=True)
        assert len({s.agg_id for s in order}) == 1  # one taker order: one aggregate
        simulator.publish(minute_times(1, 4))
        await eventually(lambda: len(read_rows(data)) == 1)
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [3 + len(pattern), 4]
    assert collector.status.repaired == pattern.count(False)


async def test_rest_down_the_minute_is_written_and_the_hole_reported(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 10))
        simulator.fail_next(418, count=5, retry_after=120)  # banned: a hard stop, never retried
        lost = simulator.publish(minute_times(0, 6, start_ms=5_000), send=False)
        simulator.publish(minute_times(0, 4, start_ms=9_000))
        simulator.publish(minute_times(1, 2))
        await eventually(lambda: len(read_rows(data)) == 1)
        status = collector.status
        assert (status.repaired, status.unrepaired) == (0, 6)
    assert_csv_matches(data, delivered(simulator, lost))  # live keeps going: what we have
    gap_lines = [log.text for log in seen.logs if log.kind == "gap"]
    assert any("hole not repaired: 6 trade(s), ids 11..16" in line for line in gap_lines)
    assert [(h.first, h.last) for h in collector.holes] == [(11, 16)]


async def test_no_repair_reports_holes_and_never_asks_rest(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "m.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, repair=False)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 5))
        lost = simulator.publish(minute_times(0, 3, start_ms=1000), send=False)
        simulator.publish(minute_times(1, 2))
        await eventually(lambda: len(read_rows(data)) == 1)
    assert_csv_matches(data, delivered(simulator, lost))
    assert collector.status.unrepaired == 3
    assert any("--no-repair" in log.text for log in seen.logs)
    assert simulator.rest_log == []


async def test_a_repair_slower_than_repair_timeout_still_completes(tmp_path: Path):
    """Issue 15.2: no overall time limit on REST (it was repair_timeout, 20 s, for all the pages
    of a hole, so a slow link never repaired anything): repair_timeout bounds only the wait for
    the stream's own trades. REST answers here take longer than it."""
    async with Simulator(rate=0, seed=3, ping_interval=0.2, record=True, rest_latency=0.8) as sim:
        data = tmp_path / "m.csv"
        seen = Seen()
        collector = make_collector(sim, data, seen, repair_timeout=0.3)
        async with collecting(collector):
            await sim.wait_for_connections(1)
            sim.publish(minute_times(0, 5))
            sim.publish(minute_times(0, 2, start_ms=1000), send=False)
            sim.publish(minute_times(1, 1))
            await eventually(lambda: len(read_rows(data)) == 1)
            assert collector.status.unrepaired == 0 and collector.status.repaired == 2
        assert_csv_matches(data, sim.sent)


async def test_the_exchange_clock_is_reset_on_reconnect(simulator: Simulator, tmp_path: Path):
    collector = make_collector(simulator, tmp_path / "m.csv", Seen())
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 2))
        await eventually(lambda: collector.stream.trades == 2)
        assert collector.aggregator.exchange_now() is not None
        simulator.drop_connections()
        await simulator.wait_for_connections(2)
        await eventually(lambda: collector.stream.state == "connected")
        assert collector.aggregator.exchange_now() is None  # re-learnt from the next trade
        simulator.publish(minute_times(0, 1, start_ms=5000))
        await eventually(lambda: collector.aggregator.exchange_now() is not None)


async def test_history_fills_an_empty_csv_with_the_simulators_klines(tmp_path: Path):
    live_minute = BASE_MINUTE + 30 * MINUTE_MS
    async with Simulator(
        rate=0, seed=5, ping_interval=0.2, record=True, history_minutes=30, history_end=live_minute
    ) as sim:
        data = tmp_path / "m.csv"
        seen = Seen()
        collector = make_collector(sim, data, seen, history=600.0)  # the last 10 minutes
        async with collecting(collector):
            await sim.wait_for_connections(1)
            sim.publish(minute_times(30, 4, start_ms=1000))
            await eventually(lambda: bool(seen.fills) and seen.fills[-1].finished)
            sim.publish(minute_times(31, 2))
            await eventually(lambda: len(seen.bars) == 1)
        klines = {
            int(k[0]): k for k in sim.klines.klines(live_minute - 10 * MINUTE_MS, live_minute, 100)
        }
    rows = read_rows(data)
    from tests.market.conftest import row_minute

    by_minute = {row_minute(r): r for r in rows}
    filled = [m for m in by_minute if m < live_minute]
    assert filled == sorted(filled) and filled[0] >= live_minute - 10 * MINUTE_MS
    assert filled == [int(k) for k, v in klines.items() if int(v[8]) > 0 and k < live_minute]
    for minute in filled:
        row, k = by_minute[minute], klines[minute]
        got = [row[c] for c in ("open", "high", "low", "close", "volume", "trades")]
        want = [k[1], k[2], k[3], k[4], k[5], k[8]]
        assert [float(x) for x in got] == [float(x) for x in want], minute
    assert seen.fills[-1].error is None
    assert seen.fills[-1].start == live_minute - 10 * MINUTE_MS


def test_hole_text():
    assert Hole(5, 9).describe() == "5 trade(s), ids 5..9"
    assert Hole(5, 5).describe() == "1 trade(s), ids 5"


async def test_a_minute_written_during_the_outage_gets_its_row_replaced(
    simulator: Simulator, tmp_path: Path
):
    from tests.market.test_collector import SteppedClock

    clock = SteppedClock(100.0)
    data = tmp_path / "m.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, grace=2.0, clock=clock, poll_interval=0.01)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 10, start_ms=50_000))
        await eventually(lambda: collector.stream.trades == 10)
        simulator.stall(answer_pings=False)
        lost = simulator.publish(minute_times(0, 4, start_ms=55_000), send=False)
        await clock.advance(11.5)  # 61.59 s: still open
        clock.now += 1.0  # 62.59 s: the quiet minute closes on time, written with 10 trades
        await eventually(lambda: len(read_rows(data)) == 1)
        simulator.resume()
        simulator.drop_connections()
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(1, 3))
        await eventually(lambda: collector.status.repaired == 4)
        await eventually(lambda: read_rows(data)[0]["trades"] == "14")
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [14, 3]
    assert any(log.text.startswith("rewrote 2024-01-01 00:00 UTC") for log in seen.logs)
    assert lost
