"""Issue 15.6, second half: a start's fill checks that its live part follows its history part id
by id. Binance's aggTrades database can lag its stream: REST then answers the fill's requests
without the last trades before the first live one, and the minutes around the start would be
written short without a word. The fill must notice the ids that do not join, fetch them again
once REST has them, and otherwise count and name them."""

from __future__ import annotations

from pathlib import Path

from btc_tui.market.simulator import Simulator
from tests.market.conftest import (
    assert_csv_matches,
    eventually,
    minute_times,
    read_rows,
)
from tests.market.test_collector import Seen, collecting, make_collector
from tests.market.test_restart import collect_then_stop


async def _stop_then_lag(simulator: Simulator, data: Path) -> int:
    """Rows [10, 10 cut short]; while nobody collects minutes 1 and 2 go on, then REST's
    database stops (it lags the market): the last 5 trades of minute 2 and the 12 first of minute
    3 are made, but REST does not serve them. Returns the last trade id REST serves."""
    await collect_then_stop(simulator, data, 10, 10)
    simulator.publish(minute_times(1, 8, start_ms=20_000))
    simulator.publish(minute_times(2, 30))
    upto = simulator.next_trade_id - 1
    simulator.rest_upto = upto
    simulator.publish(minute_times(2, 5, start_ms=40_000))
    simulator.publish(minute_times(3, 12))
    return upto


async def test_a_fill_that_does_not_reach_the_first_live_trade_fetches_the_rest_again(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    upto = await _stop_then_lag(simulator, data)
    seen = Seen()
    second = make_collector(simulator, data, seen)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(3, 5, start_ms=30_000))  # live again in minute 3
        await eventually(lambda: second.stream.trades == 5)
        # The fill's ids end at `upto`, the stream's begin 18 later: said, and waited for.
        missing = f"trades {upto + 1}..{upto + 17}"
        await eventually(lambda: any(missing in log.text for log in seen.logs))
        simulator.rest_upto = None  # REST's database catches up
        await eventually(lambda: seen.fills and seen.fills[-1].finished)
        simulator.publish(minute_times(4, 7))
        await eventually(lambda: second.stream.trades == 12)
        await eventually(lambda: len(read_rows(data)) == 4)  # minute 3 closed by minute 4
    rows = assert_csv_matches(data, simulator.sent)  # every minute exactly as the server made it
    assert [int(r["trades"]) for r in rows] == [10, 18, 35, 17, 7]
    texts = [log.text for log in seen.logs]
    assert any(
        "rewrote 2024-01-01 00:02 UTC with its repaired trades: 30 -> 35" in t for t in texts
    )
    assert second.status.unrepaired == 0
    assert second.status.filled == 8 + 35 + 12


async def test_a_fill_whose_ids_never_join_the_stream_counts_and_names_the_hole(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    upto = await _stop_then_lag(simulator, data)
    seen = Seen()
    second = make_collector(simulator, data, seen, repair_timeout=0.5)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(3, 5, start_ms=30_000))
        await eventually(lambda: seen.fills and seen.fills[-1].finished)
        simulator.publish(minute_times(4, 7))
        await eventually(lambda: len(read_rows(data)) == 4)
        status = second.status
    # REST never caught up: the 17 trades are a hole, counted and named, not silently left out.
    assert status.unrepaired == 17
    assert any(
        log.text.startswith(f"hole not repaired: 17 trade(s), ids {upto + 1}..{upto + 17}")
        for log in seen.logs
    )
    assert seen.fills[-1].error is not None
    assert [int(r["trades"]) for r in read_rows(data)] == [10, 18, 30, 5, 7]


async def test_a_first_live_trade_that_opens_its_minute_needs_nothing_from_rest(
    simulator: Simulator, tmp_path: Path
):
    """An empty CSV, no history: REST shows the first live trade and nothing before it in its
    minute, so the minute is whole from the stream, without a word of failure."""
    data = tmp_path / "m.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, history=0.0)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 20, start_ms=30_000))
        simulator.publish(minute_times(1, 5))
        await eventually(lambda: len(seen.bars) == 1)
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [20, 5]
    assert not [log.text for log in seen.logs if "could not" in log.text or "hole" in log.text]
    assert collector.status.unrepaired == 0


async def test_a_stop_while_rest_lags_names_the_ids_the_fill_did_not_join(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    upto = await _stop_then_lag(simulator, data)
    seen = Seen()
    second = make_collector(simulator, data, seen)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(3, 5, start_ms=30_000))
        await eventually(lambda: any("REST lags the stream" in log.text for log in seen.logs))
    # stopped: the live minute is written with what arrived, and the 17 trades are named
    assert second.status.unrepaired == 17
    assert any(
        log.text.startswith(f"hole not repaired: 17 trade(s), ids {upto + 1}..{upto + 17}: ")
        and "stopped" in log.text
        for log in seen.logs
    )
    assert [int(r["trades"]) for r in read_rows(data)] == [10, 18, 30, 5]
