"""The app's worst event-loop stall while minutes are written: the real app, headless, its
collector fed by a loopback simulator with trades of past minutes, so a minute closes (and is
written to the CSV, and handed to the Live pane and the predictor) every fraction of a second
instead of once a minute. A probe task on the app's loop sleeps 5 ms at a time and records how
late it wakes up; the stalls around each written minute are reported.

    .venv/bin/python benchmarks/ui_loop_stall.py [--minutes 40] [--trades 200]

Target (issue 10, item 8): no file reading, fsync or model loading on the event loop, so the
worst stall stays far below a frame (~16 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from btc_tui.config import Settings
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.simulator import Simulator
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting

TICK = 0.005
WRITES: list[float] = []  # seconds each MinuteStore write call took (on the loop, in the collector)


def time_store_writes() -> None:
    """Attribute the stalls: time every MinuteStore write the collector makes."""
    from btc_tui.market import store

    for name in ("append", "append_many", "replace_last", "merge"):
        original = getattr(store.MinuteStore, name, None)
        if original is None:
            continue

        def timed(self, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                WRITES.append(time.perf_counter() - started)

        setattr(store.MinuteStore, name, timed)


async def measure(minutes: int, trades: int) -> None:
    lateness: list[float] = []
    async with Simulator(rate=0, seed=1) as sim:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data=Path(tmp) / "m.csv", models=Path(tmp) / "models", url=sim.url
            ).with_changes(rest_url=sim.rest_url, history=0.0, repair=False)
            app = BtcTuiApp(settings)
            measuring = False

            async def probe() -> None:
                while True:
                    before = time.perf_counter()
                    await asyncio.sleep(TICK)
                    if measuring:
                        lateness.append(time.perf_counter() - before - TICK)

            async with app.run_test(size=(80, 24)) as pilot:
                collecting = app.query_one(Collecting)
                async with asyncio.timeout(30):
                    while sim.clients == 0 or collecting.state != "collecting":
                        await pilot.pause(0.05)
                task = asyncio.create_task(probe())
                first = (int(time.time()) // 60 - minutes - 2) * MINUTE_MS
                measuring = True
                written_before = app.query_one("#live").rows or 0
                for i in range(minutes + 1):
                    start = first + i * MINUTE_MS
                    sim.publish([start + (k * 59_000) // trades for k in range(trades)])
                    await asyncio.sleep(0.25)
                measuring = False
                task.cancel()
                written = (app.query_one("#live").rows or 0) - written_before
                await pilot.press("q")
    ms = sorted(1000 * x for x in lateness)
    writes = sorted(1000 * x for x in WRITES)
    if writes:
        print(
            f"MinuteStore writes (write + fsync, on the loop): {len(writes)} calls,"
            f" median {statistics.median(writes):.2f} ms, worst {writes[-1]:.2f} ms"
        )
    p99 = ms[int(0.99 * (len(ms) - 1))]
    print(
        f"{written} minutes written ({trades} trades each); loop lag over {len(ms)} {TICK * 1000:g} ms"
        f" ticks: median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, worst {ms[-1]:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=40)
    parser.add_argument("--trades", type=int, default=200)
    args = parser.parse_args()
    time_store_writes()
    asyncio.run(measure(args.minutes, args.trades))


if __name__ == "__main__":
    main()
