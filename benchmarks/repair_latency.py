"""Time from a reconnect to a repaired hole, on loopback (target <= 2 s).

The real Collector streams from the simulator and repairs over the simulator's REST API (optionally
with a delay per request, to stand in for the distance to Binance). Each round cuts the socket,
publishes `--lost` trades while the client is away, and as soon as it is back publishes the next
trade (which reveals the hole). We time from the collector's "reconnected" event to its "repaired
a hole" event, and check the minute holds every trade the simulator made.

    .venv/bin/python benchmarks/repair_latency.py [--rounds 20] [--lost 500] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import statistics
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


async def measure(rounds: int, lost: int, latency: float) -> list[float]:
    reconnected: list[float] = []
    repaired: list[float] = []

    def on_log(log: CollectorLog) -> None:
        if log.text.startswith("reconnected"):
            reconnected.append(time.perf_counter())
        elif log.text.startswith("repaired a hole"):
            repaired.append(time.perf_counter())
        elif log.text.startswith("hole not repaired"):
            raise SystemExit(f"repair failed: {log.text}")

    async with Simulator(rate=0, seed=1, ping_interval=5.0, rest_latency=latency) as sim:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                data=Path(folder) / "m.csv",
                url=sim.url,
                rest_url=sim.rest_url,
                history=0.0,
            )
            collector = Collector(
                settings,
                on_log=on_log,
                grace=3600.0,
                backoff=Backoff(base=0.01, cap=0.02, random=random.Random(0).random),
                healthy_after=0.0,
            )
            task = asyncio.create_task(collector.run())
            try:
                await sim.wait_for_connections(1)
                t = BASE_MINUTE
                for i in range(rounds):
                    sim.publish([t])
                    t += 1
                    while collector.stream.trades < i * 2 + 1:
                        await asyncio.sleep(0.001)
                    sim.drop_connections()
                    sim.publish([t] * lost)  # made while the client is away: only REST has them
                    t += 1
                    await sim.wait_for_connections(i + 2)
                    sim.publish([t])  # the next trade shows the hole
                    t += 1
                    while len(repaired) < i + 1:
                        await asyncio.sleep(0.001)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if collector.status.repaired != rounds * lost:
                raise SystemExit(f"repaired {collector.status.repaired} of {rounds * lost} trades")
    return [b - a for a, b in zip(reconnected, repaired, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lost", type=int, default=500, help="trades lost per cut")
    parser.add_argument("--latency", type=float, default=0.05, help="REST delay per request, s")
    args = parser.parse_args()
    # asyncio warns for each trade the simulator sends into a socket it has just cut: noise here
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # handshakes cut by the test
    times = asyncio.run(measure(args.rounds, args.lost, args.latency))
    print(
        f"reconnect -> hole repaired ({args.lost} trades lost per cut, REST latency "
        f"{args.latency * 1000:.0f} ms, {args.rounds} rounds): median "
        f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )
    print(f"target <= 2000 ms: {'met' if max(times) <= 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
