"""Command line: `btc-tui` (the TUI), `collect`, `train`, `simulate`.

Each subcommand lives in `btc_tui.commands.<name>` and is imported only when chosen, so the headless
commands never import textual and nothing here imports tensorflow.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from btc_tui.config import DEFAULT_URL, settings_from
from btc_tui.errors import UsageError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="minute CSV (default data/bitcoin_price_stream.csv)")


def _add_stream(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbol", help="trading pair, lower case (default btcusdt)")
    p.add_argument("--url", help=f"WebSocket base URL (default {DEFAULT_URL})")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", help="folder for the saved model (default models/)")
    p.add_argument("--window", type=_positive_int, help="input minutes per window (default 60)")
    p.add_argument("--horizon", type=_positive_int, help="minutes ahead to predict (default 1)")
    p.add_argument("--epochs", type=_positive_int, help="training epochs (default 50)")
    p.add_argument("--batch-size", type=_positive_int, help="training batch size (default 256)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btc-tui",
        description="Live BTCUSDT minute bars, an LSTM forecaster, and a terminal UI.",
    )
    _add_data(parser)
    _add_stream(parser)
    _add_model(parser)
    parser.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="collect from the built-in simulator (data defaults to data/demo.csv)",
    )
    sub = parser.add_subparsers(dest="command", metavar="{collect,train,simulate}")

    collect = sub.add_parser("collect", help="collect trades into the minute CSV, headless")
    _add_data(collect)
    _add_stream(collect)
    collect.add_argument(
        "--stale-after",
        type=_positive_float,
        help="reconnect when nothing arrived for this many seconds (default 30)",
    )
    collect.add_argument("--minutes", type=_positive_int, help="exit after N minutes are written")

    train = sub.add_parser("train", help="train the LSTM on the minute CSV, headless")
    _add_data(train)
    _add_model(train)
    train.add_argument(
        "--test-fraction", type=_fraction, help="last share of windows held out (default 0.2)"
    )
    train.add_argument("--seed", type=int, help="random seed for a repeatable run")
    train.add_argument(
        "--json", action="store_true", help="print the results as one JSON object (last line)"
    )

    simulate = sub.add_parser("simulate", help="serve a Binance-compatible trade stream locally")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=9443)
    simulate.add_argument("--symbol", default="btcusdt")
    simulate.add_argument("--rate", type=_positive_float, default=20.0, help="trades per second")
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument("--start-price", type=_positive_float, default=60_000.0)
    return parser


_SETTING_NAMES = (
    "data",
    "models",
    "symbol",
    "url",
    "demo",
    "stale_after",
    "minutes",
    "window",
    "horizon",
    "epochs",
    "batch_size",
    "test_fraction",
    "seed",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "simulate":
            from btc_tui.commands import simulate

            return simulate.run(args)
        overrides = {name: getattr(args, name, None) for name in _SETTING_NAMES}
        if args.command is None and args.symbol is not None:
            overrides["symbol"] = args.symbol.lower()
        settings = settings_from(overrides)
        if args.command == "collect":
            from btc_tui.commands import collect

            return collect.run(settings)
        if args.command == "train":
            from btc_tui.commands import train

            return train.run(settings, json_output=bool(args.json))
        from btc_tui.ui.app import run as run_app

        return run_app(settings)
    except UsageError as exc:
        print(f"btc-tui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Only reached where a command has no Ctrl+C handling of its own (train): whatever it
        # was writing goes to a temp file first, so nothing already saved has been touched.
        print("btc-tui: interrupted; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
