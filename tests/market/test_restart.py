"""Restarts: a start fills from the last stored trade to the first live one over REST (the
simulator's, on loopback), completes the minute cut short at shutdown by replacing its row, and
says what it left when the gap is longer than --max-fill. The CSV must hold exactly the trades the
exchange made."""

from __future__ import annotations

from pathlib import Path

from btc_tui.market.simulator import Simulator
from tests.market.conftest import (
    BASE_MINUTE,
    MINUTE_MS,
    assert_csv_matches,
    eventually,
    minute_times,
    read_rows,
    row_minute,
)
from tests.market.test_collector import Seen, collecting, make_collector


async def collect_then_stop(simulator: Simulator, data: Path, *counts: int) -> None:
    """A first collector takes `counts[i]` trades in minute i, then stops (its last minute is
    written cut short, as at any shutdown)."""
    first = make_collector(simulator, data, Seen())
    async with collecting(first):
        await simulator.wait_for_connections(1)
        for minute, count in enumerate(counts):
            simulator.publish(minute_times(minute, count))
        await eventually(lambda: first.stream.trades == sum(counts))


async def test_a_restart_completes_the_minute_cut_short_and_fills_the_gap(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "minutes.csv"
    await collect_then_stop(simulator, data, 10, 10)
    assert [int(r["trades"]) for r in read_rows(data)] == [10, 10]  # minute 1 cut short on stop

    # While nobody collects, minute 1 goes on and minutes 2 and 3 happen: only REST has them.
    simulator.publish(minute_times(1, 8, start_ms=20_000))
    simulator.publish(minute_times(2, 30))
    simulator.publish(minute_times(3, 12))

    seen = Seen()
    second = make_collector(simulator, data, seen, ticks=True)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(3, 5, start_ms=30_000))  # live again in minute 3
        simulator.publish(minute_times(4, 7))
        await eventually(lambda: second.stream.trades == 12)
        await eventually(lambda: seen.fills and seen.fills[-1].finished)
        await eventually(lambda: len(read_rows(data)) == 4)  # minute 3 closed by minute 4
    # Every trade the exchange made is in exactly one row: minute 1 was completed (its row
    # replaced), 2 came from REST, 3 joins REST's first 12 trades with the 5 live ones.
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [10, 18, 30, 17, 7]
    assert [int(r["first_trade_id"]) for r in rows] == [1, 11, 29, 59, 76]
    assert second.status.late == 0
    assert "completed 2024-01-01 00:01 UTC, cut short when collecting stopped: 10 -> 18 trades" in [
        log.text for log in seen.logs
    ]
    assert second.status.filled == 8 + 30 + 12  # trades the CSV did not have
    assert second.status.repaired == 0  # a start's fill is not a hole in the stream
    assert second.status.unrepaired == 0
    fill = seen.fills[-1]
    assert (fill.start, fill.end, fill.total_minutes, fill.error) == (
        BASE_MINUTE + MINUTE_MS,
        BASE_MINUTE + 3 * MINUTE_MS,
        2,
        None,
    )
    assert [b.bar.minute for b in seen.bars] == [
        BASE_MINUTE + 3 * MINUTE_MS,
        BASE_MINUTE + 4 * MINUTE_MS,
    ]


async def test_a_restart_in_the_same_minute_replaces_that_row(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "minutes.csv"
    await collect_then_stop(simulator, data, 10, 10)
    simulator.publish(minute_times(1, 4, start_ms=10_000))  # missed while restarting

    seen = Seen()
    second = make_collector(simulator, data, seen)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(1, 5, start_ms=20_000))  # minute 1 is still going on
        await eventually(lambda: seen.fills and seen.fills[-1].finished)
        simulator.publish(minute_times(2, 7))
        await eventually(lambda: second.stream.trades == 12)
        await eventually(lambda: len(seen.bars) == 1)
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [10, 19, 7]
    assert second.status.late == 0


async def test_max_fill_bounds_a_start_and_says_how_to_fill_the_rest(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    await collect_then_stop(simulator, data, 3)
    for minute in range(1, 10):
        simulator.publish(minute_times(minute, 2))  # nine minutes nobody collected

    seen = Seen()
    second = make_collector(simulator, data, seen, max_fill=180.0)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(10, 1, start_ms=500))
        await eventually(lambda: bool(seen.fills) and seen.fills[-1].finished)
    rows = read_rows(data)
    from tests.market.conftest import row_minute

    assert [(row_minute(r) - BASE_MINUTE) // MINUTE_MS for r in rows] == [0, 7, 8, 9, 10]
    message = next(log.text for log in seen.logs if "not filling" in log.text)
    # backfill never changes the stored row 0 (maybe cut short): check --repair is the advice
    assert message.endswith(f"once collecting has stopped: btc-tui check --repair --data {data}")
    # ... and it works: the whole gap and row 0 rebuilt, every trade in exactly one row
    from btc_tui.market.history import check, repair

    settings = second.settings
    result = await repair(settings, check(data))
    assert result.unrepaired == [] and check(data).problems == 0
    assert_csv_matches(data, simulator.sent)


async def test_a_file_without_trade_ids_is_filled_from_the_end_of_its_last_minute(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    columns = "year,month,day,hour,minute,avg_price,open,high,low,close,volume,vwap,trades"
    data.write_text(f"{columns}\n2024,1,1,0,0,1.5,1,2,1,2,3,1.5,2\n")  # an older collector's row
    simulator.publish(minute_times(0, 4))
    simulator.publish(minute_times(1, 6))
    simulator.publish(minute_times(2, 3, start_ms=100))

    seen = Seen()
    collector = make_collector(simulator, data, seen)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(2, 2, start_ms=9000))
        simulator.publish(minute_times(3, 1))
        await eventually(lambda: len(seen.bars) == 1)
    rows = read_rows(data)
    assert rows[0]["trades"] == "2"  # its row is left as it was: we can't tell what it holds
    assert_csv_matches_from(data, simulator, BASE_MINUTE + MINUTE_MS)
    assert [int(r["trades"]) for r in rows[1:]] == [6, 5, 1]


def assert_csv_matches_from(data: Path, simulator: Simulator, minute: int) -> None:
    """The rows from `minute` on hold exactly the trades published from then on."""
    kept = data.parent / "from.csv"
    lines = data.read_text().splitlines()
    header, body = lines[0], lines[1:]
    rows = [line for line, r in zip(body, read_rows(data), strict=True) if row_minute(r) >= minute]
    kept.write_text("\n".join([header, *rows]) + "\n")
    assert_csv_matches(kept, [t for t in simulator.sent if t.trade_time >= minute])


async def test_rest_down_at_start_keeps_the_row_and_says_how_to_fill(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    await collect_then_stop(simulator, data, 5)
    before = data.read_text()
    simulator.publish(minute_times(1, 3))  # missed
    simulator.fail_next(418, count=10, retry_after=60)

    seen = Seen()
    second = make_collector(simulator, data, seen)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(2, 2))
        await eventually(lambda: bool(seen.fills) and seen.fills[-1].finished)
        simulator.publish(minute_times(3, 1))
        await eventually(lambda: len(seen.bars) == 1)
    assert data.read_text().startswith(before)  # the stored row is untouched
    assert [int(r["trades"]) for r in read_rows(data)] == [5, 2, 1]
    assert seen.fills[-1].error is not None
    message = next(log.text for log in seen.logs if "could not fill" in log.text)
    assert message.endswith(f"once collecting has stopped: btc-tui check --repair --data {data}")


async def test_status_says_filling_while_the_fill_runs(tmp_path: Path):
    async with Simulator(rate=0, seed=2, ping_interval=0.2, record=True, rest_latency=0.2) as sim:
        data = tmp_path / "m.csv"
        first = make_collector(sim, data, Seen())
        async with collecting(first):
            await sim.wait_for_connections(1)
            sim.publish(minute_times(0, 5))
            await eventually(lambda: first.stream.trades == 5)
        for minute in range(1, 4):
            sim.publish(minute_times(minute, 2))
        seen = Seen()
        second = make_collector(sim, data, seen)
        async with collecting(second):
            await sim.wait_for_connections(2)
            sim.publish(minute_times(4, 1))
            await eventually(lambda: any(s.filling for s in seen.statuses))
            await eventually(lambda: bool(seen.fills) and seen.fills[-1].finished)
            await eventually(lambda: not second.status.filling)
        assert_csv_matches(data, sim.sent)


async def test_stopping_mid_fill_writes_the_live_minutes_and_names_what_is_missing(
    tmp_path: Path,
):
    async with Simulator(rate=0, seed=4, ping_interval=0.2, record=True, rest_latency=2.0) as sim:
        data = tmp_path / "m.csv"
        first = make_collector(sim, data, Seen())
        async with collecting(first):
            await sim.wait_for_connections(1)
            sim.publish(minute_times(0, 3))
            await eventually(lambda: first.stream.trades == 3)
        sim.publish(minute_times(1, 2))  # only REST has these; it answers slowly
        seen = Seen()
        second = make_collector(sim, data, seen)
        async with collecting(second):
            await sim.wait_for_connections(2)
            sim.publish(minute_times(2, 4))
            sim.publish(minute_times(3, 1))  # minute 2 closes, held behind the fill
            await eventually(lambda: second.stream.trades == 5 and second.status.filling)
    # Stopped before REST answered: the live minutes are written, and the gap is named.
    assert [int(r["trades"]) for r in read_rows(data)] == [3, 4, 1]
    message = next(log.text for log in seen.logs if "stopped while filling" in log.text)
    assert "2024-01-01T00:00:00Z .. 2024-01-01T00:02:00Z not filled" in message
    assert message.endswith(f"once collecting has stopped: btc-tui check --repair --data {data}")


async def test_a_start_inside_an_aggregate_takes_only_its_unseen_trades_from_rest(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    await collect_then_stop(simulator, data, 3)

    seen = Seen()
    second = make_collector(simulator, data, seen)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        t = BASE_MINUTE + MINUTE_MS + 500
        # One taker order: its first three trades happen before we receive anything.
        order = simulator.publish(
            [t] * 6, send=[False, False, False, True, True, True], one_order=True
        )
        assert len({s.agg_id for s in order}) == 1
        simulator.publish(minute_times(2, 1))
        await eventually(lambda: len(seen.bars) == 1)
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [3, 6, 1]
    assert second.status.filled == 3


async def test_an_empty_csv_without_history_still_gets_its_first_minute_whole(
    simulator: Simulator, tmp_path: Path
):
    """--history 0: no past is fetched, but the first minute is not written with only the trades
    after the start as if they were all of it: the ones before come over REST."""
    data = tmp_path / "m.csv"
    simulator.publish(minute_times(0, 30), send=False)  # before the collector started
    seen = Seen()
    collector = make_collector(simulator, data, seen, history=0.0)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 20, start_ms=30_000))
        simulator.publish(minute_times(1, 5))
        await eventually(lambda: len(seen.bars) == 1)
    rows = assert_csv_matches(data, simulator.sent)
    assert [int(r["trades"]) for r in rows] == [50, 5]
    assert seen.fills == []  # no history fill to show
    assert collector.status.filled == 30
    assert "completed the first minute, 2024-01-01T00:00:00Z, with the 30 trade(s) before" in (
        "\n".join(log.text for log in seen.logs)
    )


async def test_without_repair_a_start_says_what_it_cannot_know(
    simulator: Simulator, tmp_path: Path
):
    """--no-repair: the first minute of an empty CSV is said to be partial, and a restart
    reports the hole since the last stored trade (count and ids) instead of nothing."""
    data = tmp_path / "m.csv"
    seen = Seen()
    first = make_collector(simulator, data, seen, repair=False)
    async with collecting(first):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 3, start_ms=5_000))
        await eventually(lambda: first.stream.trades == 3)
    texts = [log.text for log in seen.logs]
    assert (
        "the first minute, 2024-01-01T00:00:00Z, holds only the trades from "
        "2024-01-01T00:00:05Z on (gap repair is off)" in texts
    )
    simulator.publish(minute_times(1, 4))  # nobody collects these

    seen = Seen()
    second = make_collector(simulator, data, seen, repair=False)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(2, 2))
        await eventually(lambda: second.stream.trades == 2)
    assert "hole not repaired: 4 trade(s), ids 4..7: repair is off (--no-repair)" in [
        log.text for log in seen.logs
    ]
    assert second.status.unrepaired == 4
    assert [int(r["trades"]) for r in read_rows(data)] == [3, 2]


async def test_history_beyond_max_fill_names_the_backfill_that_fills_it(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "m.csv"
    for minute in range(10):
        simulator.publish(minute_times(minute, 2), send=False)  # the past, over REST only
    seen = Seen()
    collector = make_collector(simulator, data, seen, history=600.0, max_fill=180.0)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(10, 1, start_ms=500))
        await eventually(lambda: bool(seen.fills) and seen.fills[-1].finished)
    message = next(log.text for log in seen.logs if "not filling" in log.text)
    assert message.startswith("not filling 2024-01-01T00:00:00Z .. 2024-01-01T00:07:00Z")
    command = (
        f"btc-tui backfill --start 2024-01-01T00:00:00Z --end 2024-01-01T00:07:00Z --data {data}"
    )
    assert message.endswith(f"once collecting has stopped: {command}")
    from btc_tui.market.history import backfill

    await backfill(collector.settings, BASE_MINUTE, BASE_MINUTE + 7 * MINUTE_MS)  # as advised
    assert_csv_matches(data, simulator.sent)


async def test_a_last_row_that_was_complete_is_not_rewritten(simulator: Simulator, tmp_path: Path):
    """Rebuilding the last row at start finds the same trades: the file (maybe a year of rows)
    is not copied for nothing, and the log does not claim the minute was cut short."""
    data = tmp_path / "m.csv"
    await collect_then_stop(simulator, data, 5, 3)
    inode, content = data.stat().st_ino, data.read_bytes()

    seen = Seen()
    second = make_collector(simulator, data, seen)
    async with collecting(second):
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(2, 2))
        await eventually(lambda: bool(seen.fills) and seen.fills[-1].finished)
    assert data.stat().st_ino == inode and data.read_bytes().startswith(content)
    texts = [log.text for log in seen.logs]
    assert "2024-01-01 00:01 UTC, the last minute stored, was complete: 3 trades" in texts
    assert not any("cut short" in t for t in texts)
    assert_csv_matches(data, simulator.sent)
