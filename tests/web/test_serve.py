"""`serve` as a user and a stranger meet it: the token, the session cap, Ctrl+C.

Each test runs the real `serve --demo` in a subprocess and talks HTTP and websockets to it like a
browser does; an app process is a child of serve (nothing else is), so "no app started" is read
from /proc, with a positive control in the same test so the check can fail.
"""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from btc_tui.market.store import MinuteStore, read_lock_owner
from tests.web.conftest import SERVE, Served, serve_env, serving, wait_for

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").exists(), reason="counts app processes through Linux's /proc"
)

TOKEN = "s3cret-token"


async def open_session(
    client: aiohttp.ClientSession, served: Served, **kw: object
) -> aiohttp.ClientWebSocketResponse:
    """The page's websocket; returns once the app process has drawn its first screen."""
    ws = await client.ws_connect(f"{served.url}/ws?width=100&height=30", **kw)  # type: ignore[arg-type]
    async with asyncio.timeout(60):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.BINARY and len(message.data) > 10:
                return ws
            assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message


async def refused_ws(client: aiohttp.ClientSession, url: str, **kw: object) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(url, **kw)  # type: ignore[arg-type]
    return caught.value.status


async def test_wrong_or_missing_token_is_refused_before_any_app_starts(serve_root: Path) -> None:
    with serving(serve_root, "--token", TOKEN) as served:
        assert f"/?token={TOKEN}" in served.stdout()  # the address to open is printed
        # unsafe=True: keep cookies from an IP address, as browsers do
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            for path in ("/", "/?token=wrong", f"/?token={TOKEN}x", "/download/abc"):
                async with client.get(served.url + path) as response:
                    assert response.status == 403, path
                    assert "token" in await response.text()
            ws = f"{served.url}/ws?width=80&height=24"
            assert await refused_ws(client, ws) == 403
            assert await refused_ws(client, ws + f"&token={TOKEN}0") == 403
            assert (
                await refused_ws(client, ws, headers={"Cookie": f"btc_tui_token_{served.port}=x"})
                == 403
            )
            assert served.children() == [], "an app process was started for a refused request"
            assert "session 1 opened" not in served.stderr()
            assert "refused 127.0.0.1: wrong or missing token" in served.stderr()

            # Positive control: the right token opens the page, whose cookie opens a session.
            async with client.get(f"{served.url}/?token={TOKEN}") as response:
                assert response.status == 200
                # the token is out of reach of the page's scripts and of other sites' requests
                cookie = response.cookies[f"btc_tui_token_{served.port}"]
                assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
            assert client.cookie_jar.filter_cookies(URL(served.url)).get(
                f"btc_tui_token_{served.port}"
            )
            ws_ok = await open_session(client, served)
            assert len(served.children()) == 1
            await ws_ok.close()


async def test_sessions_beyond_the_cap_get_a_clear_page_and_no_app(serve_root: Path) -> None:
    with serving(serve_root, "--max-sessions", "1") as served:
        async with aiohttp.ClientSession() as client:
            first = await open_session(client, served)
            assert len(served.children()) == 1
            async with client.get(served.url + "/") as response:
                assert response.status == 503
                text = await response.text()
                assert "All sessions are in use" in text and "allows 1 session" in text
            assert await refused_ws(client, f"{served.url}/ws?width=80&height=24") == 503
            assert len(served.children()) == 1
            assert "1 sessions open (503)" in served.stderr()

            await first.close()  # the tab closes: its app quits and its place is free again
            await asyncio.to_thread(
                wait_for, lambda: not served.children(), 30, "the first app process to end"
            )
            await asyncio.to_thread(
                wait_for, lambda: "session 1 closed" in served.stderr(), 30, "the session to close"
            )
            async with client.get(served.url + "/") as response:
                assert response.status == 200
            second = await open_session(client, served)
            await second.close()


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def minute_of(row: dict[str, str]) -> tuple[int, ...]:
    return tuple(int(row[k]) for k in ("year", "month", "day", "hour", "minute"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
async def test_ctrl_c_closes_every_session_writes_the_open_minute_and_releases_the_lock(
    serve_root: Path, sig: signal.Signals
) -> None:
    with serving(serve_root) as served:
        # Trades flow into the collector's open minute from here on (20 a second).
        await asyncio.to_thread(
            wait_for, lambda: "connected to" in served.stderr(), 30, "the collector to connect"
        )
        async with aiohttp.ClientSession() as client:
            sessions = [await open_session(client, served) for _ in range(2)]
            apps = served.children()
            assert len(apps) == 2
            owner = read_lock_owner(served.data)
            assert owner is not None and owner.pid == served.proc.pid and owner.alive
            before = rows(served.data)
            stopped_at = time.gmtime(time.time() - 1)
            if sig == signal.SIGINT:  # an impatient second Ctrl+C must not cut the stop short
                served.proc.send_signal(sig)
            code = await asyncio.to_thread(served.stop, sig)
            for ws in sessions:
                await ws.close()
    assert code == 0, served.stderr()
    err = served.stderr()
    assert "closing 2 session(s)" in err and "Traceback" not in err
    for pid in apps:
        assert not Path(f"/proc/{pid}").exists(), "an app process outlived serve"
    after = rows(served.data)
    assert len(after) > len(before), "the open minute was not written"
    assert minute_of(after[-1]) >= tuple(stopped_at[:5])
    # serve released the lock itself (its record cleared), rather than dying with it held: a
    # dead process's record stays, and "not alive" would be true of it too
    assert read_lock_owner(served.data) is None
    with MinuteStore(served.data) as store:  # the lock is free: another collector may take it
        assert store.last_minute is not None


def test_other_addresses_need_public(serve_root: Path) -> None:
    done = subprocess.run(
        [*SERVE, "--demo", "--host", "0.0.0.0", "--port", "1"],
        cwd=serve_root,
        env=serve_env(serve_root),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--public" in done.stderr and "Traceback" not in done.stderr
    assert not (serve_root / "data").exists()  # nothing started, nothing written


def test_serve_attaches_its_sessions_to_a_collector_already_running(serve_root: Path) -> None:
    data = serve_root / "demo.csv"
    with MinuteStore(data):  # this test process plays a `btc-tui collect` that owns the CSV
        with serving(serve_root, "--url", "ws://127.0.0.1:9", demo=False) as served:
            assert "every session attaches to it" in served.stderr()
            owner = read_lock_owner(data)
            assert owner is not None and owner.pid != served.proc.pid  # serve started none
            assert served.stop() == 0
        assert "Traceback" not in served.stderr()


def test_demo_refuses_a_csv_another_process_writes(serve_root: Path) -> None:
    data = serve_root / "demo.csv"
    with MinuteStore(data):
        done = subprocess.run(
            [*SERVE, "--demo", "--port", "1", "--data", str(data)],
            cwd=serve_root,
            env=serve_env(serve_root),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert "is being written by" in done.stderr and "Traceback" not in done.stderr


async def test_other_sites_pages_cannot_open_a_session(serve_root: Path) -> None:
    """No token: what keeps a web page the user visits from driving a loopback serve."""
    with serving(serve_root) as served:
        async with aiohttp.ClientSession() as client:
            ws = f"{served.url}/ws?width=80&height=24"
            # Another site's script opening a websocket to us (browsers send its Origin).
            evil = {"Origin": "http://evil.example"}
            assert await refused_ws(client, ws, headers=evil) == 403
            other_port = {"Origin": f"http://127.0.0.1:{served.port + 1}"}
            assert await refused_ws(client, ws, headers=other_port) == 403
            # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its name.
            rebound = {"Host": f"evil.example:{served.port}"}
            async with client.get(served.url + "/", headers=rebound) as response:
                assert response.status == 403
                assert "loopback addresses only" in await response.text()
            assert await refused_ws(client, ws, headers=rebound) == 403
            assert served.children() == []

            # Positive control: our own page's websocket (same origin; localhost works too).
            own = {"Origin": served.url}
            async with client.get(
                served.url + "/", headers={"Host": f"localhost:{served.port}"}
            ) as r:
                assert r.status == 200
            ok = await open_session(client, served, headers=own)
            assert len(served.children()) == 1
            await ok.close()


def test_a_port_in_use_is_a_clear_error_and_leaves_the_csv_unlocked(serve_root: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = serve_root / "demo.csv"
        done = subprocess.run(
            [*SERVE, "--demo", "--port", str(port), "--data", str(data)],
            cwd=serve_root,
            env=serve_env(serve_root),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
    assert "serving btc-tui on" not in done.stdout
    # The collector had taken the lock before the port was tried: serve's stop released it (the
    # record is cleared) instead of leaving it to the process's death.
    assert "collector stopped" in done.stderr
    assert read_lock_owner(data) is None
