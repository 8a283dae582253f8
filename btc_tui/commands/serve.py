"""`btc-tui serve`: the app in a browser, one app process per browser session (textual-serve).

Loopback only unless `--public`; `--token` (or BTC_TUI_TOKEN) required on the URL when set;
at most `--max-sessions` sessions at once. `serve` itself collects into the CSV (and with --demo
runs the simulator) and every session attaches to that collector. Ctrl+C, SIGTERM or SIGHUP close
every session, then write the open minute and release the CSV's lock; exit 0.

textual-serve is an optional extra (`pip install 'btc-tui[web]'`): imported only here, so the
other commands never need it.
"""

from __future__ import annotations

import os
import sys

from btc_tui.config import Settings
from btc_tui.errors import EXIT_STORAGE, EXIT_USAGE, StorageError, UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_SESSIONS = 4
TOKEN_ENV = "BTC_TUI_TOKEN"


def run(
    settings: Settings,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    public: bool = False,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
) -> int:
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        raise UsageError(
            "serve needs textual-serve: pip install 'btc-tui[web]' (make install-web)"
        ) from None
    from btc_tui.web.access import Gate, check_bind, is_loopback
    from btc_tui.web.backend import Backend
    from btc_tui.web.server import AppServer, say

    if token is None:
        token = getattr(settings, "token", None) or os.environ.get(TOKEN_ENV) or None
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    gate = Gate(token, max_sessions, port, loopback_only=is_loopback(host))
    warning = check_bind(host, public, gate.token)
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


def main(argv: list[str] | None = None) -> int:
    """`python -m btc_tui.commands.serve [--host H] [--port P] [--token T] [--public]
    [--max-sessions N] [app options]`, until `btc-tui serve` is wired into the CLI."""
    import argparse

    from btc_tui.config import settings_from

    parser = argparse.ArgumentParser(prog="btc-tui serve")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--token")
    parser.add_argument("--public", action="store_true")
    parser.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS)
    parser.add_argument("--data")
    parser.add_argument("--models")
    parser.add_argument("--symbol")
    parser.add_argument("--url")
    parser.add_argument("--demo", action="store_true", default=None)
    args = parser.parse_args(argv)
    try:
        settings = settings_from(
            {
                "data": args.data,
                "models": args.models,
                "symbol": args.symbol,
                "demo": args.demo,
                "url": args.url,
            }
        )
        return run(
            settings,
            host=args.host,
            port=args.port,
            token=args.token,
            public=args.public,
            max_sessions=args.max_sessions,
        )
    except UsageError as exc:
        print(f"btc-tui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"btc-tui: error: {exc}", file=sys.stderr)
        return EXIT_STORAGE


if __name__ == "__main__":
    raise SystemExit(main())
