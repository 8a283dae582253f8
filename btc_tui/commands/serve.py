"""`btc-tui serve`: the app in a browser, one app process per browser session (textual-serve).

Loopback only unless `--public`; `--token` (or BTC_TUI_TOKEN, or the config file's [serve] token)
required on the URL when set; at most `--max-sessions` sessions at once. `serve` itself collects
into the CSV (and with --demo runs the simulator) and every session attaches to that collector.
Ctrl+C, SIGTERM or SIGHUP close every session, then write the open minute and release the CSV's
lock; exit 0.

textual-serve is an optional extra (`pip install 'btc-tui[web]'`): imported only when serving,
so the other commands never need it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from btc_tui.commands import Command, Context
from btc_tui.config import TOKEN_ENV, Settings
from btc_tui.config.settings import APP, COLLECTOR, TRAINING
from btc_tui.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_SESSIONS = 4


@dataclass(frozen=True)
class ServeArgs:
    host: str
    port: int
    token: str | None  # --token > BTC_TUI_TOKEN > the config file's [serve] token
    public: bool  # allow a non-loopback --host
    max_sessions: int


def run(settings: Settings, args: ServeArgs) -> int:
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        raise UsageError(
            "serve needs textual-serve: pip install 'btc-tui[web]' (make install-web)"
        ) from None
    from btc_tui.web.access import Gate, check_bind, is_loopback
    from btc_tui.web.backend import Backend
    from btc_tui.web.server import AppServer, say

    host, port = args.host, args.port
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    gate = Gate(args.token, args.max_sessions, port, loopback_only=is_loopback(host))
    warning = check_bind(host, args.public, gate.token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    server = AppServer(Backend(settings, say), gate, host, port)
    try:
        server.serve()
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if server.failure is not None:
        raise server.failure
    say("stopped")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default=DEFAULT_HOST, help=f"address to listen on ({DEFAULT_HOST})")
    add("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on ({DEFAULT_PORT})")
    add(
        "--token",
        default=None,
        help=f"required on the URL (default ${TOKEN_ENV}, then the config file's [serve] token)",
    )
    add("--public", action="store_true", help="allow listening on a non-loopback address")
    add(
        "--max-sessions",
        type=_positive_int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help=f"browser sessions ({DEFAULT_MAX_SESSIONS})",
    )


def _arguments(namespace: argparse.Namespace, context: Context) -> ServeArgs:
    config = context.resolved.config
    token = (
        namespace.token
        or context.environ.get(TOKEN_ENV)
        or (config.serve_token if config is not None else None)
    )
    return ServeArgs(
        namespace.host, namespace.port, token, bool(namespace.public), namespace.max_sessions
    )


COMMAND = Command(
    name="serve",
    help="serve the app to browsers (needs the web extra: pip install 'btc-tui[web]')",
    run=run,
    groups=(APP, COLLECTOR, TRAINING),
    add_arguments=_add_arguments,
    arguments=_arguments,
)
