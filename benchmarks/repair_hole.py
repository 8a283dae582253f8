"""Repair of a long hole (issue 15.2): a 3-hour outage of BTCUSDT-like density, 50 ms REST latency.

The real Collector streams from the simulator; the simulator makes `--hours` of trades (`--rate` a
second, one aggregate each, as busy BTCUSDT hours have) that the socket never delivers, then the
stream resumes and the collector repairs the hole over the simulator's REST API, minutes written
as they complete. Printed: minutes repaired per second, the share of Binance's weight budget
(6,000/min) used while repairing, and the process's RSS before and at its peak during the repair
(sampled every 50 ms; the simulator's own book of trades is in the baseline).

    .venv/bin/python benchmarks/repair_hole.py [--hours 3] [--rate 20] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from btc_tui.config import Settings
from btc_tui.market.collector import Collector, CollectorLog
from btc_tui.market.simulator import Simulator
from btc_tui.market.stream import Backoff

BASE_MINUTE = 1_704_067_200_000  # 2024-01-01 00:00 UTC
WEIGHT_LIMIT = 6000  # per minute, Binance's


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


async def measure(hours: float, rate: float, latency: float) -> None:
    done = asyncio.Event()
    failed: list[str] = []

    def on_log(log: CollectorLog) -> None:
        if "-v" in sys.argv:
            print(f"{time.perf_counter():.2f} {log.text}", file=sys.stderr)
        if log.text.startswith("repaired a hole"):
            done.set()
        elif log.text.startswith("hole not repaired"):
            failed.append(log.text)
            done.set()

    async with Simulator(rate=0, seed=1, ping_interval=5.0, rest_latency=latency) as sim:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                data=Path(folder) / "m.csv", url=sim.url, rest_url=sim.rest_url, history=0.0
            )
            collector = Collector(
                settings,
                on_log=on_log,
                grace=3600.0,
                backoff=Backoff(base=0.01, cap=0.02, random=random.Random(0).random),
                healthy_after=0.0,
            )
            task = asyncio.create_task(collector.run())
            await sim.wait_for_connections(1)
            sim.publish([BASE_MINUTE + 10 * i for i in range(5)])
            count = int(hours * 3600 * rate)
            step = 1000.0 / rate
            start = BASE_MINUTE + 60_000
            sim.publish([start + int(i * step) for i in range(count)], send=False)
            resume = start + int(count * step) + 60_000
            baseline = rss_mb()
            peak = baseline
            began = time.perf_counter()
            sim.publish([resume, resume + 10])  # the stream resumes: the hole shows
            while not done.is_set():
                peak = max(peak, rss_mb())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.05)
            seconds = time.perf_counter() - began
            weight = collector.rest.requests * 4 if collector.rest else 0
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if failed:
        raise SystemExit(failed[0])
    minutes = hours * 60
    share = weight / (seconds / 60) / WEIGHT_LIMIT
    print(f"hole: {count:,} trades over {minutes:g} minutes; REST latency {latency * 1000:g} ms")
    print(f"repaired in {seconds:.2f} s: {minutes / seconds:,.1f} minutes/s")
    print(
        f"weight used: {weight:,} ({weight // 4:,} requests): {share:.0%} of the budget "
        f"({WEIGHT_LIMIT:,}/min) over the repair"
    )
    print(f"RSS: {baseline:.0f} MB before the repair, peak {peak:.0f} MB during it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=20.0, help="aggregates per second")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("-v", action="store_true", help="print the collector's log")
    args = parser.parse_args()
    asyncio.run(measure(args.hours, args.rate, args.latency))


if __name__ == "__main__":
    main()
