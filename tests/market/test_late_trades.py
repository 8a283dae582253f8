"""Issue 15.1: a slow link. Trades that arrive after their minute was closed on the clock go into
that minute (never only counted as late), and the log says so."""

from __future__ import annotations

from pathlib import Path

from btc_tui.market.simulator import Simulator
from tests.market.conftest import (
    BASE_MINUTE,
    MINUTE_MS,
    assert_csv_matches,
    eventually,
    minute_times,
)
from tests.market.test_collector import Seen, collecting, make_collector


def end_of_minute(minute: int, count: int) -> list[int]:
    """`count` trade times 10 ms apart ending 200 ms before minute `minute` ends."""
    end = BASE_MINUTE + (minute + 1) * MINUTE_MS - 200
    return [end - 10 * (count - 1 - i) for i in range(count)]


async def test_trades_delivered_after_their_minute_closed_on_the_clock_go_into_it(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "minutes.csv"
    seen = Seen()
    # minutes close 0.3 s (exchange time) after their end; trades arrive right after sending
    collector = make_collector(simulator, data, seen, grace=0.3, poll_interval=0.02)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        times = end_of_minute(0, 20)
        simulator.publish(times[:-3])
        # the link goes quiet: minute 0 is closed on the projected clock with 17 of its trades
        await eventually(lambda: len(seen.bars) == 1)
        assert seen.bars[0].bar.trades == 17
        simulator.publish(times[-3:])  # ...then delivers the last three (ids consecutive)
        await eventually(lambda: any("arrived after it was closed" in g.text for g in seen.logs))
        simulator.publish(minute_times(1, 5))
        simulator.publish(minute_times(2, 1))
        await eventually(lambda: len(seen.bars) == 2)
    rows = assert_csv_matches(data, simulator.sent)  # every trade in its minute, none twice
    assert [int(r["trades"]) for r in rows] == [20, 5, 1]
    (line,) = [g.text for g in seen.logs if "arrived after it was closed" in g.text]
    assert "rewrote 2024-01-01 00:00 UTC with 3 trade(s)" in line and "17 -> 20 trades" in line


async def test_a_hole_cut_by_the_clock_close_is_repaired_into_the_closed_minute(
    simulator: Simulator, tmp_path: Path
):
    """Minute 0 closed on the clock without its last 3 trades, which never reach us: the next
    trade's id shows the hole, REST has them, and the row of minute 0 is rewritten."""
    data = tmp_path / "minutes.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, grace=0.3, poll_interval=0.02)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(end_of_minute(0, 10), send=[True] * 7 + [False] * 3)
        await eventually(lambda: len(seen.bars) == 1)
        simulator.publish(end_of_minute(1, 4))
        await eventually(lambda: len(seen.bars) == 2)
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [10, 4]
    assert any("rewrote 2024-01-01 00:00 UTC with its repaired trades: 7 -> 10" in g.text
               for g in seen.logs)  # fmt: skip
