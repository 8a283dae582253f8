"""`btc-tui simulate`: serve a Binance-compatible random-walk trade stream until Ctrl+C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from btc_tui.errors import UsageError
from btc_tui.market.simulator import Simulator


async def _serve(args: argparse.Namespace) -> None:
    simulator = Simulator(
        host=args.host,
        port=args.port,
        symbol=args.symbol,
        rate=args.rate,
        seed=args.seed,
        start_price=args.start_price,
    )
    try:
        await simulator.start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    print(
        f"serving {simulator.symbol}@trade at {simulator.url}/ws/{simulator.stream_name} "
        f"({args.rate:g} trades/s)\n"
        f"collect from it with:  btc-tui collect --url {simulator.url}\n"
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
