"""Shared pieces for the stream/collector tests: a real simulator on loopback, trade times in a
fixed past minute range (so minutes close by the next minute's trades, never by the wall clock),
fast deterministic backoff, and readers for the CSV the collector wrote."""

from __future__ import annotations

import asyncio
import csv
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest

from btc_tui.market.simulator import SentTrade, Simulator
from btc_tui.market.stream import Backoff

BASE_MINUTE = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000


def minute_times(minute: int, count: int, start_ms: int = 0) -> list[int]:
    """`count` trade times 10 ms apart inside minute number `minute` after BASE_MINUTE.

    They sit in the first seconds of the minute, so the aggregator's clock estimate (trade time
    plus elapsed wall time) needs most of a minute of real time to close it on its own.
    """
    start = BASE_MINUTE + minute * MINUTE_MS + start_ms
    return [start + 10 * i for i in range(count)]


def fast_backoff(seed: int = 0) -> Backoff:
    return Backoff(base=0.02, cap=0.1, random=random.Random(seed).random)


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A hand-driven simulator: no random-walk clock, pings every 0.2 s, every trade recorded."""
    async with Simulator(rate=0, seed=7, ping_interval=0.2, record=True) as sim:
        yield sim


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `predicate()` holds (a deadline, not a timing assertion)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def row_minute(row: dict[str, str]) -> int:
    from datetime import UTC, datetime

    moment = datetime(
        int(row["year"]),
        int(row["month"]),
        int(row["day"]),
        int(row["hour"]),
        int(row["minute"]),
        tzinfo=UTC,
    )
    return int(moment.timestamp() * 1000)


def expected_minutes(trades: list[SentTrade]) -> dict[int, dict[str, object]]:
    """What each minute's row must say, computed from what the server sent (exact decimals)."""
    out: dict[int, dict[str, object]] = {}
    for t in sorted(trades, key=lambda t: t.trade_id):
        minute = t.trade_time - t.trade_time % MINUTE_MS
        price = Decimal(t.price)
        m = out.setdefault(
            minute, {"trades": 0, "volume": Decimal(0), "open": price, "high": price, "low": price}
        )
        m["trades"] += 1  # type: ignore[operator]
        m["volume"] += Decimal(t.qty)  # type: ignore[operator]
        m["high"] = max(m["high"], price)  # type: ignore[type-var]
        m["low"] = min(m["low"], price)  # type: ignore[type-var]
        m["close"] = price
    return out


def assert_csv_matches(path: Path, trades: list[SentTrade]) -> list[dict[str, str]]:
    """Every trade the server sent is in exactly one CSV minute: counts, volumes and OHLC agree."""
    rows = read_rows(path)
    minutes = [row_minute(r) for r in rows]
    assert len(minutes) == len(set(minutes)), "a minute was written twice"
    assert minutes == sorted(minutes)
    expected = expected_minutes(trades)
    assert sorted(expected) == minutes
    assert sum(int(r["trades"]) for r in rows) == len(trades)
    for row in rows:
        want = expected[row_minute(row)]
        assert int(row["trades"]) == want["trades"]
        assert Decimal(row["volume"]) == want["volume"]
        for column in ("open", "high", "low", "close"):
            assert Decimal(row[column]) == want[column], column
    return rows
