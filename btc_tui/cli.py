"""Command line: `btc-tui` (the TUI) and its subcommands.

Every option that sets a `Settings` field is defined once, in a parent parser shared by the main
parser and the subcommands, with `default=argparse.SUPPRESS`: an option given before the
subcommand means the same as after it, and one left out never hides one given elsewhere. argparse
only collects the text; `btc_tui.config.resolve` converts and validates it, the same way for flags,
`BTC_TUI_*` variables and the config file.

Each subcommand lives in `btc_tui.commands.<name>` and is imported only when chosen, so the headless
commands never import textual and nothing here imports tensorflow.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from argparse import SUPPRESS
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from btc_tui import __version__
from btc_tui.config import (
    OPTIONS,
    OTHER_VARIABLES,
    TOKEN_ENV,
    Option,
    Settings,
    config_file_path,
    parse_duration,
    parse_time,
    resolve,
)
from btc_tui.config.settings import APP
from btc_tui.config.settings import COLLECTOR as COLLECTOR_GROUP
from btc_tui.config.settings import TRAINING as TRAINING_GROUP
from btc_tui.errors import EXIT_STORAGE, EXIT_USAGE, StorageError, UsageError


def _groups(*groups: str) -> tuple[str, ...]:
    return tuple(name for name, option in OPTIONS.items() if option.group in groups)


SHARED = _groups(APP)
COLLECTOR = _groups(COLLECTOR_GROUP)
TRAINING = _groups(TRAINING_GROUP)


def add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    """One option as flags: a switch, a repeatable flag or a flag with a value, spelled as the
    option table declares it. Every one defaults to SUPPRESS: one left out never hides one given
    before or after the subcommand; `resolve` fills in the default."""
    flags = option.flags or (option.flag_name,)
    help = (option.flag_help or option.help_text).replace("%", "%%")  # argparse's % format
    kind = option.kind
    if kind.metavar is None:  # a switch: --demo sets true, --no-repair sets false
        action = "store_false" if option.flag_name.startswith("--no-") else "store_true"
        parser.add_argument(*flags, dest=option.name, action=action, default=SUPPRESS, help=help)
        return
    parser.add_argument(
        *flags,
        dest=option.name,
        action="append" if kind.repeat else "store",
        default=SUPPRESS,
        metavar=option.metavar or kind.metavar,
        help=help,
    )


def _add_options(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for name in names:
        add_option(parser, OPTIONS[name])


def _parent(names: Sequence[str], *, config: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _add_options(parent, names)
    if config:
        parent.add_argument(
            "--config",
            default=argparse.SUPPRESS,
            metavar="FILE",
            help="config file (default ~/.config/btc-tui/config.toml; see below)",
        )
    return parent


def _epilog() -> str:
    def flag(name: str) -> str:
        return {"demo": "--demo (1 or 0)", "repair": "0 = --no-repair"}.get(
            name, OPTIONS[name].flag_name
        )

    lines = ["environment (flags win over these; these win over the config file):"]
    lines += [f"  {o.env:<24} {flag(o.name)}" for o in OPTIONS.values()]
    lines += [f"  {variable:<24} {flag}" for variable, flag in OTHER_VARIABLES.items()]
    lines += [
        "",
        "config file: $XDG_CONFIG_HOME/btc-tui/config.toml (~/.config/...) or --config FILE;",
        "keys are the long options' names (stale-after = 30, repair = false), plus a [keys]",
        "table remapping the app's keys. `btc-tui config --init` writes one with every option.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    shared = _parent(SHARED, config=True)
    collector = _parent(COLLECTOR)
    training = _parent(TRAINING)

    def sub_parser(name: str, help: str, parents: list[argparse.ArgumentParser]) -> Any:
        return sub.add_parser(
            name,
            help=help,
            description=help,
            parents=parents,
            allow_abbrev=False,
            epilog=_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    parser = argparse.ArgumentParser(
        prog="btc-tui",
        description="Live Binance minute bars, an LSTM forecaster, and a terminal UI joining them. "
        "Without a command: the terminal UI.",
        parents=[shared, collector, training],
        allow_abbrev=False,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"btc-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    collect = sub_parser(
        "collect", "collect trades into the minute CSV, headless", [shared, collector]
    )
    collect.add_argument(
        "--minutes", default=argparse.SUPPRESS, metavar="N", help=OPTIONS["minutes"].help
    )

    train = sub_parser("train", "train the LSTM on the minute CSV, headless", [shared, training])
    train.add_argument(
        "--json", action="store_true", help="print the results as one JSON object (last line)"
    )
    train.add_argument(
        "--predictions",
        metavar="FILE",
        type=Path,
        help="write one CSV row per test window (actual, predicted, interval, baselines)",
    )

    backfill = sub_parser(
        "backfill", "fetch exact history over REST and merge it into the CSV", [shared]
    )
    when = backfill.add_mutually_exclusive_group(required=True)
    when.add_argument("--since", metavar="DURATION", help="the last DURATION, e.g. 3d or 12h")
    when.add_argument("--start", metavar="ISO", help="from this UTC time, e.g. 2024-08-08T23:55Z")
    backfill.add_argument(
        "--end", metavar="ISO", help="up to this UTC time, exclusive (default: now)"
    )

    import_ = sub_parser(
        "import", "merge data.binance.vision aggTrades/trades dumps into the CSV", [shared]
    )
    import_.add_argument("files", nargs="+", type=Path, metavar="FILE", help="zip or csv dump")

    check = sub_parser("check", "report holes, disorder and corrupt lines in the CSV", [shared])
    check.add_argument(
        "--repair",
        dest="check_repair",
        action="store_true",
        help="rebuild every affected minute over REST and rewrite the CSV in time order "
        "(lines taken out are kept in <csv>.rejected)",
    )

    simulate_help = "serve a Binance-compatible stream and REST API locally"
    simulate = sub.add_parser(
        "simulate",
        help=simulate_help,
        description=f"{simulate_help}: random-walk trades over a WebSocket and their aggregates, "
        "klines and time over REST, both on one port, with Binance's limits and error shapes",
        allow_abbrev=False,
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    simulate.add_argument(
        "--port", type=_port, default=9443, help="port to listen on (9443; 0 = any free port)"
    )
    # --symbol and --seed may also come before `simulate` (the main parser has them): SUPPRESS
    # keeps this parser's defaults from overwriting them; parse() fills them in and checks them.
    simulate.add_argument("--symbol", default=argparse.SUPPRESS, help="trading pair (btcusdt)")
    simulate.add_argument(
        "--rate", type=_positive_float, default=20.0, help="trades per second (20)"
    )
    simulate.add_argument("--seed", default=argparse.SUPPRESS, help="random seed")
    simulate.add_argument(
        "--start-price",
        type=_positive_float,
        default=60_000.0,
        metavar="PRICE",
        help="where the live stream's random walk starts (60000)",
    )
    simulate.add_argument(
        "--history-minutes",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="minutes of past trades served over REST (default: 4320 = 3 days)",
    )

    serve = sub_parser(
        "serve",
        "serve the app to browsers (needs the web extra: pip install 'btc-tui[web]')",
        [shared, collector, training],
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument(
        "--token",
        default=None,
        help=f"required on the URL (default ${TOKEN_ENV}, then the config file's [serve] token)",
    )
    serve.add_argument(
        "--public", action="store_true", help="allow listening on a non-loopback address"
    )
    serve.add_argument(
        "--max-sessions", type=_positive_int, default=4, metavar="N", help="browser sessions (4)"
    )

    config = sub_parser(
        "config",
        "show the settings in effect and where each comes from",
        [shared, collector, training],
    )
    config.add_argument(
        "--init", action="store_true", help="write a commented config file with every option"
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {value}")
    return value


def parse(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> tuple[str, Settings, dict[str, Any]]:
    """What a command line means: (command, Settings, the command's own arguments).

    command is "tui" when none is given. `config_path` replaces the default config file's
    location (tests). argparse errors exit 2 (SystemExit); bad values raise UsageError.
    """
    args = build_parser().parse_args(argv)
    command = args.command or "tui"
    if command == "simulate":
        for name, default in (("symbol", "btcusdt"), ("seed", None)):
            raw = getattr(args, name, None)
            try:
                setattr(args, name, default if raw is None else OPTIONS[name].convert(raw))
            except ValueError as exc:
                raise UsageError(f"--{name} {raw}: {exc}") from None
        return command, Settings(), {"args": args}

    flags = {name: getattr(args, name) for name in OPTIONS if hasattr(args, name)}
    if hasattr(args, "config"):
        flags["config"] = args.config
    extra: dict[str, Any] = {}
    if command == "config" and args.init:
        # the file to write need not exist (and is not read): only its path matters
        path, _ = config_file_path(flags, environ, config_path)
        settings = resolve(flags, environ, read_file=False).settings.with_changes(config=path)
        return command, settings, {"init": True, "warnings": ()}

    resolved = resolve(flags, environ, config_path)
    extra["warnings"] = resolved.warnings
    if command == "train":
        extra.update(json_output=bool(args.json), predictions=args.predictions)
    elif command == "backfill":
        since = None
        if args.since is not None:
            try:
                since = parse_duration(args.since)
            except UsageError as exc:
                raise UsageError(f"--since: {exc}") from None
            if since <= 0:
                raise UsageError(f"--since {args.since}: must be longer than 0")
        start = parse_time(args.start, "--start") if args.start is not None else None
        if args.end is not None and start is None:
            raise UsageError("--end needs --start (with --since, the end is now)")
        end = parse_time(args.end, "--end") if args.end is not None else None
        if start is not None and end is not None and end <= start:
            raise UsageError(f"--end {args.end} is not after --start {args.start}")
        extra.update(since=since, start=start, end=end)
    elif command == "import":
        extra["files"] = list(args.files)
    elif command == "check":
        extra["repair"] = bool(args.check_repair)
    elif command == "serve":
        env = os.environ if environ is None else environ
        config_token = resolved.config.serve_token if resolved.config else None
        extra.update(
            host=args.host,
            port=args.port,
            # --token > BTC_TUI_TOKEN > the config file's [serve] token
            token=args.token or env.get(TOKEN_ENV) or config_token,
            public=bool(args.public),
            max_sessions=args.max_sessions,
        )
    elif command == "config":
        extra.update(init=False, resolved=resolved)
    return command, resolved.settings, extra


def dispatch(command: str, settings: Settings, extra: dict[str, Any]) -> int:
    if command == "simulate":
        from btc_tui.commands import simulate

        return simulate.run(extra["args"])
    if command == "collect":
        from btc_tui.commands import collect

        return collect.run(settings)
    if command == "train":
        from btc_tui.commands import train

        return train.run(
            settings, json_output=extra["json_output"], predictions=extra["predictions"]
        )
    if command == "backfill":
        from btc_tui.commands import backfill

        return backfill.run(settings, since=extra["since"], start=extra["start"], end=extra["end"])
    if command == "import":
        from btc_tui.commands import import_dumps

        return import_dumps.run(settings, files=extra["files"])
    if command == "check":
        from btc_tui.commands import check

        return check.run(settings, repair=extra["repair"])
    if command == "config":
        from btc_tui.commands import config

        return config.run(settings, init=extra["init"], sources=extra.get("resolved"))
    if command == "serve":
        from btc_tui.commands import serve

        return serve.run(
            settings,
            host=extra["host"],
            port=extra["port"],
            token=extra["token"],
            public=extra["public"],
            max_sessions=extra["max_sessions"],
        )
    from btc_tui.ui.app import run as run_app

    return run_app(settings)


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> int:
    try:
        command, settings, extra = parse(argv, environ, config_path)
        for warning in extra.get("warnings", ()):
            print(f"btc-tui: warning: {warning}", file=sys.stderr)
        return dispatch(command, settings, extra)
    except UsageError as exc:
        print(f"btc-tui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"btc-tui: disk error: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    except BrokenPipeError:
        # The reader went away (`btc-tui config | head -3`): stop quietly, as coreutils do (128 +
        # SIGPIPE). What Python still holds for stdout goes to /dev/null so the flush at exit
        # can't fail again. (`collect` handles this itself: it writes the open minute first.)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        # Only reached where a command has no Ctrl+C handling of its own: whatever it was
        # writing goes to a temp file first, so nothing already saved has been touched.
        print("btc-tui: interrupted; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
