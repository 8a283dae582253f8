"""The demo's one start-up, for the app, `collect --demo` and `serve --demo`.

The built-in simulator starts on a free loopback port, its random walk going on from the last
price in the demo CSV (so a restarted demo has no jump), and serves `DEMO_HISTORY_MINUTES` of
simulated past over REST: the collector's ordinary history fill writes that past into the CSV,
so training works at once. The collector then runs against the simulator's URLs, never Binance's.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from btc_tui.config import OPTIONS, Settings
from btc_tui.errors import UsageError

if TYPE_CHECKING:
    from btc_tui.market.simulator import Simulator

START_PRICE = 60_000.0  # where a simulator with no past to continue starts its walk
# the demo's simulated past: as far back as the app fills on launch by default (--history 3d)
DEMO_HISTORY_MINUTES = int(OPTIONS["history"].default // 60)


def last_price(path: Path, log: Callable[[str], None]) -> float | None:
    """The CSV's last trade price (its last close; the average for six-column files), or None.
    Blocking (reads the file's end): call it from a thread."""
    from btc_tui.market.store import load_tail

    if not path.exists():
        return None
    try:
        frame = load_tail(path, 1).frame
    except UsageError as exc:
        log(f"cannot read {path}: {exc}")
        return None
    if frame.empty:
        return None
    for column in ("close", "avg_price"):
        if column in frame.columns:
            price = float(frame[column].iloc[-1])
            if math.isfinite(price) and price > 0:
                return price
    return None


async def start_simulator(
    settings: Settings, log: Callable[[str], None], *, announce: bool = True
) -> Simulator:
    """Start the demo's simulator (the caller stops it); its URLs go into `demo_settings`.
    `announce`: log where it listens (`collect --demo` says so in its own first line)."""
    from btc_tui.market.simulator import Simulator

    price = await asyncio.to_thread(last_price, settings.data, log)
    simulator = Simulator(
        port=0,
        symbol=settings.symbol,
        start_price=price or START_PRICE,
        history_minutes=DEMO_HISTORY_MINUTES,
    )
    await simulator.start()
    if announce:
        log(f"simulator on {simulator.url} (demo: random prices)")
    return simulator


def demo_settings(settings: Settings, simulator: Simulator) -> Settings:
    """Settings that collect from the simulator: its stream, and its REST for gaps and history."""
    return settings.with_changes(url=simulator.url, rest_url=simulator.rest_url)
