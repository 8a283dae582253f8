"""`btc-tui collect`: the Collector, headless. One stdout line per written minute, logs on stderr.

Ctrl+C and SIGTERM cancel the collector task, which writes the open minute before the process
exits 0; `--minutes N` exits 0 once N minutes are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from btc_tui.config import Settings
from btc_tui.market.collector import BarWritten, Collector, CollectorLog


def format_bar_line(event: BarWritten) -> str:
    """`2024-01-01 00:00 UTC  avg 42283.51  O 42280.00 H 42290.10 L 42279.95 C 42285.00  ...`"""
    bar = event.bar
    return (
        f"{bar.start:%Y-%m-%d %H:%M} UTC  avg {bar.avg_price:.2f}  "
        f"O {bar.open:.2f} H {bar.high:.2f} L {bar.low:.2f} C {bar.close:.2f}  "
        f"trades {bar.trades}  reconnects {event.reconnects}"
    )


def _print_bar(event: BarWritten) -> None:
    print(format_bar_line(event), flush=True)


def _print_log(log: CollectorLog) -> None:
    if log.kind != "minute":  # minutes already have their own line on stdout
        print(log.text, file=sys.stderr, flush=True)


async def _collect(settings: Settings) -> None:
    collector = Collector(settings, on_bar=_print_bar, on_log=_print_log)
    task = asyncio.create_task(collector.run())
    loop = asyncio.get_running_loop()
    stopping: list[str] = []

    def stop(name: str) -> None:
        if not stopping:
            print(f"{name}: writing the open minute and stopping", file=sys.stderr, flush=True)
        stopping.append(name)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        await task
    except asyncio.CancelledError:
        if not stopping:
            raise  # cancelled by something other than our signals: not a clean stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    print(
        f"stopped; {collector.bars_written} minute(s) written to {settings.data}", file=sys.stderr
    )


def run(settings: Settings) -> int:
    print(
        f"collecting {settings.symbol}@trade from {settings.url} into {settings.data}",
        file=sys.stderr,
        flush=True,
    )
    asyncio.run(_collect(settings))
    return 0
