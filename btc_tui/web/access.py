"""Who may open a session: the address we bind, the token, and the session cap.

Every session is a full app: it can start and cancel training and load models. So `serve`
listens on loopback unless told `--public`, and with a token every request that could start an
app (the page, its websocket, a download) must carry it, or gets HTTP 403 before anything starts.

The token travels as `?token=…` on the page's URL. The page's websocket URL is built by
textual-serve's script (it appends `?width=…&height=…`), so the page cannot pass the token on
it: a successful page load sets an HttpOnly, SameSite=Strict cookie holding the token, which the
browser sends with the websocket request to the same host and port.

Two checks protect a loopback `serve` without a token from web pages the user visits, which a
browser lets open websockets anywhere: the websocket's Origin must be the page's own host and
port (another site's page cannot drive a session), and the Host must be a loopback name (a site
whose name resolves to 127.0.0.1, "DNS rebinding", sends its own name).
"""

from __future__ import annotations

import hmac
import html
import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from btc_tui.errors import UsageError

TOKEN_QUERY = "token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, public: bool, token: str | None) -> str | None:
    """UsageError for a non-loopback address without --public; else the warning to print."""
    if is_loopback(host):
        return None
    if not public:
        raise UsageError(
            f"--host {host} would let other machines open the app; add --public to mean it "
            "(and consider --token)"
        )
    return (
        f"WARNING: serving on {host}: anyone who can reach this port can open the app, "
        "start and cancel training and load models"
        + ("; only with the token." if token else ", with no password (see --token).")
    )


def check_token(token: str | None) -> str | None:
    if token is None:
        return None
    if not token or token != token.strip() or not token.isprintable():
        raise UsageError("--token must be non-empty printable text without surrounding spaces")
    return token


def _page(
    status: int, title: str, text: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title>"
        "<style>body{background:#0c181f;color:#eee;font-family:monospace;margin:3em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html", headers=headers or {})


class Gate:
    """The token check and the session cap, shared by the page, websocket and download routes."""

    def __init__(
        self, token: str | None, max_sessions: int, port: int, *, loopback_only: bool = True
    ) -> None:
        if max_sessions < 1:
            raise UsageError(f"--max-sessions must be at least 1, got {max_sessions}")
        self.token = check_token(token)
        self.max_sessions = max_sessions
        self.loopback_only = loopback_only
        # One cookie per port: browsers share cookies between the ports of one host.
        self.cookie = f"btc_tui_token_{port}"

    def refusal(self, request: web.Request, *, websocket: bool = False) -> str | None:
        """Why this request may not go on (one line for the 403 page and the log), or None."""
        if self.loopback_only:
            name = urlsplit("//" + request.host).hostname
            if name is None or not is_loopback(name):
                return f"this server answers on loopback addresses only, not {request.host!r}"
        origin = request.headers.get("Origin")
        if websocket and origin is not None:  # browsers always send it on a websocket
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or parts.netloc.lower() != request.host.lower()
            ):
                return f"a page from {origin} may not open a session here"
        if self.token is not None:
            given = request.query.get(TOKEN_QUERY) or request.cookies.get(self.cookie) or ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return "wrong or missing token: open the address serve printed, ending in ?token=…"
        return None

    def remember(self, request: web.Request, response: web.StreamResponse) -> None:
        """After a page load with `?token=`, let the page's websocket carry it as a cookie."""
        if self.token is not None and request.query.get(TOKEN_QUERY) is not None:
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")

    def forbidden(self, reason: str) -> web.Response:
        return _page(403, "403 Forbidden", f"btc-tui serve: {reason}.")

    def full(self, active: int) -> web.Response:
        return _page(
            503,
            "All sessions are in use",
            f"btc-tui serve allows {self.max_sessions} session(s) at once and {active} are open. "
            "Close one (press q in it, or close its tab) and reload this page.",
            headers={"Retry-After": "10"},
        )

    def stopping(self) -> web.Response:
        return _page(503, "Stopping", "btc-tui serve is shutting down.")
