"""Issue 15: a start's fill whose history part (fetched over REST at the restart) already holds
ids at or past the first trade the stream then delivers. Those trades sit in a minute before the
first live one by REST and in the first live minute by the stream: the collector cannot write
them once each, so it must say so, count them as unrepaired and keep them as a hole, instead of
writing two rows that both hold them without a word.

The simulator's own trades never do this (its ids and times rise together), so the stream's side
is sent as raw frames: trades REST served in minute 2, arriving with times in minute 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from btc_tui.market.binance import format_trade
from btc_tui.market.collector import Collector
from btc_tui.market.repair import Hole
from btc_tui.market.simulator import Simulator
from tests.market.conftest import BASE_MINUTE, MINUTE_MS, eventually, minute_times, read_rows
from tests.market.test_collector import Seen, collecting, make_collector
from tests.market.test_restart import collect_then_stop


async def _restart_after_a_pause(
    simulator: Simulator, data: Path, stream_ids: int | None
) -> tuple[Collector, Seen, int]:
    """Rows for minutes 0 (ids 1..10) and 1 (11..20, cut short); while nobody collects, minute 1
    goes on (21..28) and minute 2 happens (29..58): only REST has them. A second collector starts
    and the stream resumes in minute 3: with `stream_ids` None as the exchange would (the next
    ids, 59..61, REST's too), else with the raw frames of REST's last `stream_ids` trades stamped
    in minute 3. Then minute 4's 5 trades close minute 3. Returns (status at the end, the logs,
    REST's last id before minute 3)."""
    await collect_then_stop(simulator, data, 10, 10)
    simulator.publish(minute_times(1, 8, start_ms=20_000))
    simulator.publish(minute_times(2, 30))
    last_rest = simulator.next_trade_id - 1
    assert last_rest == 58
    seen = Seen()
    second = make_collector(simulator, data, seen)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        if stream_ids is None:
            simulator.publish(minute_times(3, 3, start_ms=5_000))
        else:
            live = BASE_MINUTE + 3 * MINUTE_MS + 5_000
            for i, trade_id in enumerate(range(last_rest - stream_ids + 1, last_rest + 1)):
                payload = format_trade(
                    "btcusdt", trade_id, "60000.00000000", "0.00100000", live + i, live + i, False
                )
                simulator.send_raw(payload)
        await eventually(lambda: second.stream.trades == (stream_ids or 3))
        await eventually(lambda: seen.fills and seen.fills[-1].finished)
        simulator.publish(minute_times(4, 5))  # closes minute 3
        await eventually(lambda: len(read_rows(data)) == 4)
    return second, seen, last_rest


@pytest.mark.parametrize("overlap", [1, 3])
async def test_a_fill_whose_history_part_reaches_past_the_first_live_trade_names_the_overlap(
    simulator: Simulator, tmp_path: Path, overlap: int
):
    data = tmp_path / "m.csv"
    second, seen, last_rest = await _restart_after_a_pause(simulator, data, overlap)
    first_live = last_rest - overlap + 1  # the stream's first trade: REST has it in minute 2
    ids = str(last_rest) if overlap == 1 else f"{first_live}..{last_rest}"
    assert (
        f"the start's fill and the stream overlap: {overlap} trade(s), ids {ids} are in a minute "
        "before 2024-01-01T00:03:00Z by REST and in it by the stream; those minutes may count "
        "them twice"
    ) in [log.text for log in seen.logs]
    assert second.unrepaired == overlap
    assert second.status.unrepaired == overlap
    assert Hole(first_live, last_rest) in second.holes
    # The minutes are written as each side saw them: REST's minute 2 up to id 58, the stream's
    # minute 3 with the same ids again (what the log line warns about).
    rows = read_rows(data)  # minute 4 written at the stop
    assert [(int(r["first_trade_id"]), int(r["last_trade_id"])) for r in rows] == [
        (1, 10),
        (11, 28),
        (29, last_rest),
        (first_live, last_rest),
        (last_rest + 1, last_rest + 5),
    ]


async def test_a_fill_whose_history_part_ends_right_before_the_first_live_trade_is_no_overlap(
    simulator: Simulator, tmp_path: Path
):
    """The edge of the branch: REST's last id + 1 is the stream's first. Nothing overlaps, nothing
    is missing, nothing is said."""
    data = tmp_path / "m.csv"
    second, seen, last_rest = await _restart_after_a_pause(simulator, data, None)
    assert not [log.text for log in seen.logs if "overlap" in log.text or "hole" in log.text]
    assert second.unrepaired == 0
    assert second.holes == []
    rows = read_rows(data)
    assert [(int(r["first_trade_id"]), int(r["last_trade_id"])) for r in rows] == [
        (1, 10),
        (11, 28),
        (29, last_rest),
        (last_rest + 1, last_rest + 3),
        (last_rest + 4, last_rest + 8),
    ]
