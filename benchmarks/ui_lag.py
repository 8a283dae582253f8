"""Event-loop lag of the TUI while a model trains.

Runs the real app headless in demo mode (simulator + collector on the loop, 3 days of simulated
minutes filled into a temporary CSV over the simulator's REST), presses t, and while the real train() runs in its thread worker a
task on the app's loop sleeps 10 ms at a time and records how late it wakes up.

    .venv/bin/python benchmarks/ui_lag.py [--epochs 3] [--window 60]

Target: lag p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from btc_tui.config import settings_from
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.prediction import LivePrediction
from btc_tui.ui.widgets import TrainingPane

TICK = 0.010


async def measure(epochs: int, window: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # demo data and models land in the temporary folder
        settings = settings_from({"demo": True, "epochs": epochs, "window": window})
        app = BtcTuiApp(settings)
        lateness: list[float] = []
        worst: list[tuple[float, float, str]] = []  # (lag, when, the last message before it)
        last_message = ["-"]
        measuring = False

        def note(message: object) -> None:
            name = type(message).__name__
            if name in {"TrainingStage", "EpochEnded", "TrainingFinished", "ModelLoaded"}:
                last_message[0] = f"{name} {getattr(message, 'stage', '')}".strip()

        async def lag_probe() -> None:
            while True:
                before = time.perf_counter()
                await asyncio.sleep(TICK)
                if measuring:
                    late = time.perf_counter() - before - TICK
                    lateness.append(late)
                    worst.append((late, time.perf_counter() - started, last_message[0]))

        started = time.perf_counter()
        async with app.run_test(size=(80, 24), message_hook=note) as pilot:
            async with asyncio.timeout(60):
                while not (
                    app.query_one(LivePrediction).ready
                    and app.query_one(Collecting).state == "collecting"
                    and app.query_one(Collecting).fill is not None
                    and app.query_one(Collecting).fill.finished
                ):
                    await pilot.pause(0.05)
            probe = asyncio.create_task(lag_probe())
            measuring = True
            started = time.perf_counter()
            await pilot.press("t")
            async with asyncio.timeout(900):
                while app.query_one(TrainingPane).running:
                    await asyncio.sleep(0.1)
            seconds = time.perf_counter() - started
            state = str(app.query_one("#training-state").render())
            # The new model loads right after training, and predicts: measure that too.
            async with asyncio.timeout(120):
                while app.query_one(LivePrediction).loading:
                    await asyncio.sleep(0.1)
            measuring = False
            probe.cancel()
            await pilot.press("q")

    lateness.sort()
    ms = [1000 * x for x in lateness]
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"training: {state} ({seconds:.1f} s incl. TensorFlow import, {epochs} epochs)")
    worst.sort(reverse=True)
    for late, when, after in worst[:3]:
        print(f"  a {1000 * late:.0f} ms lag at {when:.1f} s, after {after}")
    print(
        f"event-loop lag over {len(ms)} 10 ms ticks (training, then loading the new model): median {statistics.median(ms):.1f} ms,"
        f" p95 {p95:.1f} ms, max {ms[-1]:.1f} ms (target p95 <= 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--window", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(measure(args.epochs, args.window))


if __name__ == "__main__":
    main()
