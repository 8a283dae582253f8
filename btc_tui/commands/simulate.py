"""`btc-tui simulate`: serve a Binance-compatible random-walk trade stream and REST market data
(aggTrades, time, klines over a simulated past plus everything streamed) until Ctrl+C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from btc_tui.errors import UsageError
from btc_tui.market.simulator import Simulator

# Three days of past, the app's default --history, so a fresh collector against the simulator fills
# the same span it would fill from Binance.
DEFAULT_HISTORY_MINUTES = 3 * 24 * 60


async def _serve(args: argparse.Namespace) -> None:
    history_minutes = getattr(args, "history_minutes", None)
    if history_minutes is None:
        history_minutes = DEFAULT_HISTORY_MINUTES
    simulator = Simulator(
        host=args.host,
        port=args.port,
        symbol=args.symbol,
        rate=args.rate,
        seed=args.seed,
        start_price=args.start_price,
        history_minutes=history_minutes,
    )
    try:
        await simulator.start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    # the collect line must name a pair other than the default, or it would ask for BTCUSDT
    symbol = "" if simulator.symbol == "btcusdt" else f" --symbol {simulator.symbol}"
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    print(
        f"serving {simulator.symbol}@trade at {simulator.url}/ws/{simulator.stream_name} "
        f"({args.rate:g} trades/s)\n"
        f"REST at {simulator.rest_url}/api/v3/aggTrades "
        f"({history_minutes:,} minutes of history before the stream)\n"
        f"collect from it with:  btc-tui collect --url {simulator.url} "
        f"--rest-url {simulator.rest_url}{symbol}\n"
        "Ctrl+C stops",
        flush=True,
    )
    try:
        await stopped.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await simulator.stop()
    print(f"stopped after {simulator.published} trades", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    asyncio.run(_serve(args))
    return 0
