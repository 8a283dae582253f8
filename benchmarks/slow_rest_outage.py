"""The issue's outage at full scale (issue 15.2): 14,000 trades the socket never delivered, REST
answering each request after 10 s. How long after the feed resumes is every minute exact?

The real Collector (default settings: repair_timeout 20 s, 3 requests in flight) streams from the
simulator. Minute 0 gets 5 trades; then 14,000 trades 20 ms apart (minutes 1..5) are made but never
sent; then the stream resumes in minute 7 and a trade in minute 8 closes it. Printed: the seconds
from the resumed feed until the CSV holds minute 7, whether every minute equals what the server
made (trade count, volume, OHLC, each minute once), and how many REST requests it took.
The test suite runs the same scenario with 0.25 s answers (tests/market/test_long_repair.py).

    .venv/bin/python benchmarks/slow_rest_outage.py [--latency 10] [--trades 14000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from btc_tui.config import Settings
from btc_tui.market.collector import BarWritten, Collector
from btc_tui.market.simulator import Simulator
from btc_tui.market.stream import Backoff

BASE_MINUTE = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000


def minute_times(minute: int, count: int) -> list[int]:
    return [BASE_MINUTE + minute * MINUTE_MS + 10 * i for i in range(count)]


async def keep_trading(sim: Simulator) -> None:
    """A trade in minute 8 every 5 s, so the stream never looks stale while the repair runs."""
    for i in range(1, 10_000):
        await asyncio.sleep(5.0)
        sim.publish([BASE_MINUTE + 8 * MINUTE_MS + 10 * i])


def exact(path: Path, sim: Simulator) -> str:
    """'' when every minute in the CSV is what the server made, else what differs."""
    want: dict[int, list] = defaultdict(lambda: [0, Decimal(0), None, None, None, None])
    for t in sorted(sim.sent, key=lambda t: t.trade_id):
        m = want[t.trade_time - t.trade_time % MINUTE_MS]
        price = Decimal(t.price)
        m[0] += 1
        m[1] += Decimal(t.qty)
        m[2] = price if m[2] is None else m[2]
        m[3] = price if m[3] is None else max(m[3], price)
        m[4] = price if m[4] is None else min(m[4], price)
        m[5] = price
    with open(path) as f:
        rows = list(csv.DictReader(f))
    got = {}
    for r in rows:
        minute = BASE_MINUTE + (int(r["hour"]) * 60 + int(r["minute"])) * MINUTE_MS
        if minute in got:
            return f"minute {r['hour']}:{r['minute']} twice"
        got[minute] = [
            int(r["trades"]),
            Decimal(r["volume"]),
            *(Decimal(r[c]) for c in ("open", "high", "low", "close")),
        ]
    if sorted(got) != sorted(want):
        return f"{len(got)} minutes in the CSV, {len(want)} made"
    bad = [m for m in want if got[m] != want[m]]
    return f"{len(bad)} minute(s) differ" if bad else ""


async def measure(latency: float, trades: int) -> None:
    began = time.perf_counter()
    async with Simulator(rate=0, seed=5, ping_interval=5.0, record=True) as sim:
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "m.csv"
            settings = Settings(data=data, url=sim.url, rest_url=sim.rest_url, history=0.0)
            last = BASE_MINUTE + 7 * MINUTE_MS
            written = asyncio.Event()

            def on_bar(event: BarWritten) -> None:
                if event.bar.minute == last:
                    written.set()

            collector = Collector(
                settings,
                on_bar=on_bar,
                on_log=lambda log: (
                    print(f"  {time.perf_counter() - began:6.1f} s  {log.text}")
                    if "-v" in sys.argv
                    else None
                ),
                grace=3600.0,
                backoff=Backoff(base=0.01, cap=0.02),
            )
            task = asyncio.create_task(collector.run())
            await sim.wait_for_connections(1)
            sim.publish(minute_times(0, 5))
            await asyncio.sleep(0.5)  # the start's fill (fast REST) is done before the outage
            sim.rest_latency = latency
            start = BASE_MINUTE + MINUTE_MS
            sim.publish([start + 20 * i for i in range(trades)], send=False)
            began = time.perf_counter()
            sim.publish(minute_times(7, 3))  # the stream resumes: the ids jump
            sim.publish(minute_times(8, 1))  # closes minute 7
            live = asyncio.create_task(keep_trading(sim))  # a live market is never quiet for long
            done, _ = await asyncio.wait(
                [task, asyncio.ensure_future(written.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                task.result()  # the run ended: say why
            seconds = time.perf_counter() - began
            requests = collector.rest.requests if collector.rest else 0
            live.cancel()
            task.cancel()
            await asyncio.gather(task, live, return_exceptions=True)
            # stopping wrote the open minute 8 (1 trade, all of it): the whole file is checkable
            verdict = exact(data, sim)
    print(f"outage: {trades:,} trades never delivered; every REST answer after {latency:g} s")
    print(f"minute 7 written {seconds:.1f} s after the feed resumed ({requests} REST requests)")
    print("every minute exact, each once" if not verdict else f"NOT EXACT: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=10.0, help="seconds per REST answer")
    parser.add_argument("--trades", type=int, default=14_000)
    parser.add_argument("-v", action="store_true", help="print the collector's log")
    args = parser.parse_args()
    asyncio.run(measure(args.latency, args.trades))


if __name__ == "__main__":
    main()
