"""Collector end to end in-process: real simulator on loopback -> real CSV in a temp folder."""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.market.collector import (
    BarWritten,
    Collector,
    CollectorLog,
    FillProgress,
    StreamStatus,
    Tick,
)
from btc_tui.market.simulator import Simulator
from tests.conftest import fixture_path
from tests.market.conftest import (
    BASE_MINUTE,
    MINUTE_MS,
    assert_csv_matches,
    eventually,
    fast_backoff,
    minute_times,
    read_rows,
    row_minute,
)


@dataclass
class Seen:
    bars: list[BarWritten] = field(default_factory=list)
    statuses: list[StreamStatus] = field(default_factory=list)
    logs: list[CollectorLog] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    fills: list[FillProgress] = field(default_factory=list)


def make_collector(
    sim: Simulator, data: Path, seen: Seen, *, ticks: bool = False, **kw: object
) -> Collector:
    settings = Settings(
        data=data,
        url=sim.url,
        rest_url=sim.rest_url,  # never the real Binance: REST comes from the simulator too
        stale_after=kw.pop("stale_after", 30.0),  # type: ignore[arg-type]
        repair=kw.pop("repair", True),  # type: ignore[arg-type]
        history=kw.pop("history", 0.0),  # type: ignore[arg-type]
        max_fill=kw.pop("max_fill", 259200.0),  # type: ignore[arg-type]
    )
    if "minutes" in kw:
        settings = settings.with_changes(minutes=kw.pop("minutes"))
    options: dict[str, object] = {
        "grace": 3600.0,  # minutes close by the next minute's trade or by stopping, never by time
        "backoff": fast_backoff(),
        "healthy_after": 0.0,
        "status_interval": 0.05,
    }
    options.update(kw)
    return Collector(
        settings,
        on_tick=seen.ticks.append if ticks else None,
        on_bar=seen.bars.append,
        on_status=seen.statuses.append,
        on_log=seen.logs.append,
        on_fill=seen.fills.append,
        **options,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def collecting(collector: Collector) -> AsyncIterator[asyncio.Task[None]]:
    """Run the collector; on exit stop it as Ctrl+C would (task cancellation)."""
    task = asyncio.create_task(collector.run())
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_every_trade_lands_in_exactly_one_minute_through_faults(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "minutes.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 50))
        simulator.publish(minute_times(1, 30))
        await eventually(lambda: len(seen.bars) == 1)  # minute 0 closed by minute 1's first trade

        simulator.resend_on_connect = 20  # each reconnect replays 20 trades we already have
        simulator.drop_connections()
        await simulator.wait_for_connections(2)
        simulator.send_raw("garbage")
        simulator.send_raw(b"\xff\xfe")
        simulator.publish(minute_times(1, 30, start_ms=1000))
        simulator.publish(minute_times(2, 40))

        simulator.send_server_shutdown()
        await simulator.wait_for_connections(3)
        simulator.publish(minute_times(3, 25))
        await eventually(lambda: collector.stream.trades == len(simulator.sent))
    # Stopped while minute 3 was open: its trades are written, not lost.

    rows = assert_csv_matches(data, simulator.sent)
    assert len(rows) == 4
    assert [int(r["trades"]) for r in rows] == [50, 60, 40, 25]
    status = collector.status
    assert status.duplicates == 40  # two reconnects, 20 replayed trades each
    assert status.missed == 0
    assert status.bad == 2
    assert status.reconnects == 2
    assert [b.reconnects for b in seen.bars] == [0, 1, 2, 2]
    assert [b.rows for b in seen.bars] == [1, 2, 3, 4]
    assert seen.statuses[-1].state == "stopped"


async def test_minutes_limit_stops_after_exactly_that_many(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "minutes.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, minutes=2)
    task = asyncio.create_task(collector.run())
    await simulator.wait_for_connections(1)
    for minute in range(4):
        simulator.publish(minute_times(minute, 5))
    await asyncio.wait_for(task, timeout=10)  # returns by itself, no cancellation

    assert [int(r["trades"]) for r in read_rows(data)] == [5, 5]
    assert len(seen.bars) == 2
    assert seen.statuses[-1].state == "stopped"


class SteppedClock:
    """A hand-moved monotonic clock that counts its readings, so a test can wait until the
    collector has looked at the time since it was moved (instead of sleeping and hoping)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        return self.now

    async def advance(self, seconds: float, step: float = 0.5) -> None:
        """Move forward in small steps (a poll sees each), as time passes for a running poll."""
        moved = 0.0
        while moved < seconds - 1e-9:
            delta = min(step, seconds - moved)
            self.now += delta
            moved += delta
            await self.read_twice()

    async def read_twice(self) -> None:
        """Until two more readings happened: a whole poll ran with the current time."""
        seen = self.readings
        await eventually(lambda: self.readings >= seen + 2)


async def test_a_quiet_minute_is_written_when_the_exchange_clock_passes_its_end(
    simulator: Simulator, tmp_path: Path
):
    clock = SteppedClock(5000.0)  # monotonic: any origin; only the steps matter

    data = tmp_path / "minutes.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, grace=2.0, clock=clock, poll_interval=0.01)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 5, start_ms=10_000))  # 10.00 .. 10.04 s
        await eventually(lambda: collector.stream.trades == 5)
        await clock.advance(51.5)  # 61.54 s into the minute: the end plus less than the grace
        await clock.read_twice()
        assert seen.bars == [] and read_rows(data) == []
        clock.now += 0.5  # 62.04 s: past the end plus 2 s of grace, no next-minute trade
        await eventually(lambda: len(seen.bars) == 1)
        assert len(read_rows(data)) == 1
    assert seen.bars[0].bar.minute == BASE_MINUTE
    assert seen.bars[0].bar.trades == 5


async def test_ticks_follow_the_open_minute(simulator: Simulator, tmp_path: Path):
    seen = Seen()
    collector = make_collector(simulator, tmp_path / "m.csv", seen, ticks=True)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        sent = simulator.publish(minute_times(0, 3)) + simulator.publish(minute_times(1, 1))
        await eventually(lambda: len(seen.ticks) == 4)

    prices = [float(t.price) for t in sent]
    assert [t.price for t in seen.ticks] == prices
    assert [t.minute_trades for t in seen.ticks] == [1, 2, 3, 1]
    assert seen.ticks[2].minute_avg == pytest.approx(sum(prices[:3]) / 3)
    assert seen.ticks[3].minute == BASE_MINUTE + MINUTE_MS
    assert {t.symbol for t in seen.ticks} == {"btcusdt"}


async def test_status_reports_connection_state_changes(simulator: Simulator, tmp_path: Path):
    seen = Seen()
    simulator.refuse_next(2)
    collector = make_collector(simulator, tmp_path / "m.csv", seen, status_interval=60.0)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        await eventually(lambda: seen.statuses[-1].state == "connected")
    states = [s.state for s in seen.statuses]
    assert "backing_off" in states
    assert states[-1] == "stopped"
    assert any("connected to" in log.text for log in seen.logs)


async def test_a_second_collector_on_the_same_file_is_refused(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "minutes.csv"
    first = make_collector(simulator, data, Seen())
    async with collecting(first):
        await simulator.wait_for_connections(1)
        second = make_collector(simulator, data, Seen())
        with pytest.raises(UsageError, match=r"minutes\.csv"):
            await second.run()
    assert simulator.connections_total == 1  # the refused one never touched the network


def test_a_bad_url_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="--url"):
        Collector(Settings(data=tmp_path / "m.csv", url="https://example.com"))


async def test_real_binance_payloads_over_a_socket_give_binance_klines(
    simulator: Simulator, tmp_path: Path
):
    folder = fixture_path("binance-spot-2023-04-05")
    with (folder / "klines_1m.csv").open() as f:
        klines = {int(r["open_time"]): r for r in csv.DictReader(f)}
    payloads = (folder / "trades.jsonl").read_text().splitlines()

    data = tmp_path / "minutes.csv"
    collector = make_collector(simulator, data, Seen())
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        for payload in payloads:  # byte for byte what Binance sent
            simulator.send_raw(payload)
        await eventually(lambda: collector.stream.trades == len(payloads))

    rows = {row_minute(r): r for r in read_rows(data)}
    assert sum(int(r["trades"]) for r in rows.values()) == len(payloads)
    complete = [m for m in rows if m in klines and 1680652800000 <= m < 1680653160000]
    assert len(complete) == 6  # 00:00 .. 00:05 lie wholly inside the capture
    for minute in complete:
        ours, theirs = rows[minute], klines[minute]
        for column in ("open", "high", "low", "close", "volume"):
            assert Decimal(ours[column]) == Decimal(theirs[column]), (minute, column)


async def test_a_pair_binance_does_not_list_ends_the_run_with_its_message(
    simulator: Simulator, tmp_path: Path
):
    """The stream accepts any pair's name and sends nothing (Binance does too): without the REST
    check a typo in --symbol reconnected every --stale-after seconds forever."""
    settings = Settings(
        data=tmp_path / "m.csv", url=simulator.url, rest_url=simulator.rest_url, symbol="btcusdx"
    )
    collector = Collector(settings)
    with pytest.raises(
        UsageError, match=r"^--symbol btcusdx: .*Binance error -1121 .*Invalid symbol"
    ):
        await asyncio.wait_for(collector.run(), 10)
    assert collector.stream.trades == 0
