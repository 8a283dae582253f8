"""textual-serve's Server with our checks in front of it and a clean stop behind it.

Why a subclass: textual-serve builds its aiohttp application privately (`_make_app`), so there is
no public place for a middleware; but its route handlers (`handle_index`, `handle_websocket`,
`handle_download`) and its `on_startup`/`on_shutdown` hooks are public methods, and overriding
them is how it is meant to be extended. Each override checks first and then calls the original,
so the token and the session cap are decided before textual-serve starts any process, and the
protocol between browser and app stays textual-serve's own. (A proxy in front of a private
textual-serve port would do the same with a second hop for every keystroke and frame.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.web_runner import GracefulExit
from textual_serve.server import Server

from btc_tui.web.access import TOKEN_QUERY, Gate
from btc_tui.web.backend import Backend
from btc_tui.web.launch import session_command, settings_environment

TEMPLATES = Path(__file__).with_name("templates")
QUIT_TIMEOUT = 10.0  # seconds for every session to quit before its process is terminated
TERMINATE_TIMEOUT = 5.0


def say(text: str) -> None:
    print(f"serve: {text}", file=sys.stderr, flush=True)


@dataclass
class Session:
    number: int
    peer: str
    started: float


class AppServer(Server):
    def __init__(self, backend: Backend, gate: Gate, host: str, port: int) -> None:
        import textual_serve

        super().__init__(
            session_command(),
            host=host,
            port=port,
            title="btc-tui",
            # Our page builds its URLs from its own address, so this is only used in logs.
            public_url=f"http://{host}:{port}",
            statics_path=Path(textual_serve.__file__).with_name("static"),
            templates_path=TEMPLATES,
        )
        self.backend = backend
        self.gate = gate
        self.sessions: dict[asyncio.Task[object], Session] = {}
        self.started_total = 0
        self.failure: BaseException | None = None
        self._stopping = False
        self._announcer: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def initialize_logging(self) -> None:
        # One plain line per event on stderr (journald- and pipe-friendly), no request log.
        logging.basicConfig(level=logging.WARNING, format="serve: %(message)s", stream=sys.stderr)
        logging.getLogger("textual-serve").setLevel(logging.INFO)
        # The demo simulator runs in this process: a session that quits while its ticker
        # connects leaves a half-open handshake there, which websockets logs with a traceback.
        logging.getLogger("websockets.server").setLevel(logging.CRITICAL)

    def request_exit(self) -> None:
        """Ctrl+C, SIGTERM, SIGHUP: the first one stops; more only say that it is stopping (a
        second GracefulExit would cut the clean stop short)."""
        if self._stopping:
            say("already stopping: waiting for the sessions and the collector")
            return
        self._stopping = True
        say("stopping: closing every session, then writing the open minute")
        raise GracefulExit()

    async def on_startup(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, self.request_exit)
        await self.backend.start(self._backend_failed)
        # Sessions resolve exactly the settings serve runs with (and demo's simulator URL).
        os.environ.update(settings_environment(self.backend.session_settings))
        self._announcer = asyncio.create_task(self._announce_when_listening())

    async def _announce_when_listening(self) -> None:
        """Print the address once the port accepts connections (aiohttp binds after startup, and
        textual-serve gives no hook for that): a script or test waiting for this line can
        connect at once, and a port already in use never prints it."""
        probe = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        while True:
            try:
                _, writer = await asyncio.open_connection(probe, self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            break
        token = f"/?{TOKEN_QUERY}={self.gate.token}" if self.gate.token else "/"
        print(
            f"serving btc-tui on http://{_url_host(self.host)}:{self.port}{token}\n"
            f"up to {self.gate.max_sessions} session(s) at once; Ctrl+C stops",
            flush=True,
        )

    def _backend_failed(self, error: BaseException) -> None:
        self.failure = error
        say(f"the collector failed: {error}")
        if not self._stopping:
            asyncio.get_running_loop().call_soon(self.request_exit)

    async def on_shutdown(self, app: web.Application) -> None:
        self._stopping = True
        if self._announcer is not None:
            self._announcer.cancel()
        await self._stop_sessions()
        await self.backend.stop()

    async def _stop_sessions(self) -> None:
        tasks = list(self.sessions)
        if not tasks:
            return
        say(f"closing {len(tasks)} session(s)")
        # Cancelling a session's handler makes textual-serve send its app the web driver's
        # "quit" and wait for the process to end.
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=QUIT_TIMEOUT)
        if pending:
            children = _child_pids()
            say(f"{len(pending)} session(s) did not quit in {QUIT_TIMEOUT:g}s: terminating")
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            await asyncio.wait(pending, timeout=TERMINATE_TIMEOUT)

    # --- routes --------------------------------------------------------------------------------

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if refusal := self.gate.refusal(request):
            return self.gate.forbidden(refusal)
        if self._stopping:
            return self.gate.stopping()
        if len(self.sessions) >= self.gate.max_sessions:
            return self.gate.full(len(self.sessions))
        response: web.StreamResponse = await super().handle_index(request)  # type: ignore[misc]
        self.gate.remember(request, response)
        return response

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        if refusal := self.gate.refusal(request):
            return self.gate.forbidden(refusal)
        return await super().handle_download(request)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        # Every check and the count happen before the first await: no two requests can both
        # take the last free place.
        if refusal := self.gate.refusal(request, websocket=True):
            say(f"refused {request.remote}: {refusal} (403)")
            return self.gate.forbidden(refusal)
        if self._stopping:
            return self.gate.stopping()
        if len(self.sessions) >= self.gate.max_sessions:
            say(f"refused {request.remote}: {len(self.sessions)} sessions open (503)")
            return self.gate.full(len(self.sessions))
        task = asyncio.current_task()
        assert task is not None
        self.started_total += 1
        session = Session(self.started_total, str(request.remote), time.monotonic())
        self.sessions[task] = session
        say(f"session {session.number} opened by {session.peer} ({len(self.sessions)} open)")
        try:
            return await super().handle_websocket(request)
        finally:
            del self.sessions[task]
            minutes = (time.monotonic() - session.started) / 60
            say(f"session {session.number} closed after {minutes:.1f} min")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _child_pids() -> list[int]:
    """This process's children (the sessions' apps: serve starts no other process). Linux only;
    elsewhere the stop waits for the sessions without this last resort."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with (
                contextlib.suppress(OSError),
                open(f"/proc/{os.getpid()}/task/{task}/children") as f,
            ):
                pids.extend(int(p) for p in f.read().split())
    return pids
