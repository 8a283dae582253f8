"""`btc-tui simulate`: serve a Binance-compatible random-walk trade stream and REST market data
(aggTrades, time, klines over a simulated past plus everything streamed) until Ctrl+C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from dataclasses import dataclass

from btc_tui.commands import Command, Context
from btc_tui.config import DEFAULT_SYMBOL, Resolved, Settings, resolve
from btc_tui.errors import UsageError
from btc_tui.market.demo import DEMO_HISTORY_MINUTES, START_PRICE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9443
DEFAULT_RATE = 20.0


@dataclass(frozen=True)
class SimulateArgs:
    host: str
    port: int  # 0: any free port
    rate: float  # trades per second
    start_price: float  # where the live stream's random walk starts
    history_minutes: int  # minutes of past trades served over REST


async def _serve(settings: Settings, args: SimulateArgs) -> None:
    from btc_tui.market.simulator import Simulator

    simulator = Simulator(
        host=args.host,
        port=args.port,
        symbol=settings.symbol,
        rate=args.rate,
        seed=settings.seed,
        start_price=args.start_price,
        history_minutes=args.history_minutes,
    )
    try:
        await simulator.start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    # the collect line must name a pair other than the default, or it would ask for BTCUSDT
    symbol = "" if simulator.symbol == DEFAULT_SYMBOL else f" --symbol {simulator.symbol}"
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    print(
        f"serving {simulator.symbol}@trade at {simulator.url}/ws/{simulator.stream_name} "
        f"({args.rate:g} trades/s)\n"
        f"REST at {simulator.rest_url}/api/v3/aggTrades "
        f"({args.history_minutes:,} minutes of history before the stream)\n"
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


def run(settings: Settings, args: SimulateArgs) -> int:
    asyncio.run(_serve(settings, args))
    return 0


# --- the command line ----------------------------------------------------------------------------


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {value}")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {value}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default=DEFAULT_HOST, help=f"address to listen on ({DEFAULT_HOST})")
    add("--port", type=port, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT}; 0 = any free)")
    # --symbol and --seed may also come before `simulate` (the main parser has them): SUPPRESS
    # keeps this parser from overwriting them; `_settings` converts them like any option.
    add("--symbol", default=argparse.SUPPRESS, help=f"trading pair ({DEFAULT_SYMBOL})")
    add("--rate", type=_positive_float, default=DEFAULT_RATE, help=f"trades/s ({DEFAULT_RATE:g})")
    add("--seed", default=argparse.SUPPRESS, help="random seed")
    add(
        "--start-price",
        type=_positive_float,
        default=START_PRICE,
        metavar="PRICE",
        help=f"where the live stream's random walk starts ({START_PRICE:g})",
    )
    add(
        "--history-minutes",
        type=_non_negative_int,
        default=DEMO_HISTORY_MINUTES,
        metavar="N",
        help=f"minutes of past trades served over REST ({DEMO_HISTORY_MINUTES}, as the demo)",
    )


def _settings(flags, namespace, environ, config_path) -> Resolved:
    """Only --symbol and --seed, from the command line alone: no environment, no config file."""
    return resolve(flags, {}, read_file=False)


def _arguments(namespace: argparse.Namespace, context: Context) -> SimulateArgs:
    return SimulateArgs(
        namespace.host,
        namespace.port,
        namespace.rate,
        namespace.start_price,
        namespace.history_minutes,
    )


COMMAND = Command(
    name="simulate",
    help="serve a Binance-compatible stream and REST API locally",
    description="serve a Binance-compatible stream and REST API locally: random-walk trades "
    "over a WebSocket and their aggregates, klines and time over REST, both on one port, with "
    "Binance's limits and error shapes",
    run=run,
    groups=(),
    add_arguments=_add_arguments,
    arguments=_arguments,
    settings=_settings,
    epilog=False,
)
