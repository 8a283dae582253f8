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

from btc_tui.config import TOKEN_ENV, Settings
from btc_tui.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_SESSIONS = 4


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
