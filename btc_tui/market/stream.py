"""TradeStream: one symbol's raw `@trade` stream, kept alive for as long as it runs.

What keeps it alive, and why:
- reconnect forever with exponential backoff and full jitter (capped at 30 s, reset once a
  connection proved healthy), so even a server that accepts and drops at once sees far fewer than
  Binance's 300 attempts per 5 minutes;
- a watchdog that reconnects when no bytes at all (trade or ping) arrived for `stale_after` seconds.
  It watches `data_received` on the connection itself, so the server's pings count as life even when
  no trade happens, and a half-open TCP connection that delivers nothing is noticed. We send no
  pings of our own: a server that answers our pings while sending nothing else would look alive;
- `serverShutdown` reconnects at once, and we reconnect on our own before Binance's 24-hour limit;
- trades are deduplicated by trade id across reconnects and id gaps are counted as missed trades;
- frames we don't understand are counted by kind and skipped: nothing a server sends can raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State
from websockets.uri import parse_uri

from btc_tui.market.binance import (
    BadMessage,
    ControlReply,
    ErrorReply,
    ServerShutdown,
    Trade,
    parse_message,
    trade_stream_url,
)

MAX_CONNECTION_AGE = 23 * 3600 + 50 * 60  # Binance closes connections at 24 h; leave on our terms


@dataclass(frozen=True, slots=True)
class StreamStatus:
    state: str  # "connecting" | "connected" | "backing_off" | "stopped"
    reconnects: int
    retry_in: float | None
    last_message_age: float | None
    messages_per_second: float
    stale: bool
    bad: int
    late: int
    duplicates: int
    missed: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """Something a person watching the stream wants to know about (one human line in `text`)."""

    kind: (
        str  # "connecting" | "connected" | "disconnected" | "backing_off" | "gap" | "bad" | "error"
    )
    text: str


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: delay = uniform(0, min(cap, base * 2**attempt)).

    `random` is injectable so tests are deterministic and fast.
    """

    base: float = 1.0
    cap: float = 30.0
    random: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        return self.random() * min(self.cap, self.base * 2 ** min(attempt, 32))


class _WatchedConnection(ClientConnection):
    """A client connection that remembers when bytes last arrived (data, ping, anything)."""

    last_received: float = 0.0
    cause: str | None = None  # why we closed it ourselves (watchdog), if we did
    planned = False  # closed on purpose and healthy: reconnect without waiting

    def connection_made(self, transport):  # type: ignore[no-untyped-def]
        self.last_received = time.monotonic()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        super().data_received(data)


class StreamConfigError(ValueError):
    """The stream can never work as configured (e.g. not a ws:// or wss:// URL)."""


class TradeStream:
    """Connect to `{base_url}/ws/{symbol}@trade` and hand every new trade to `on_trade`, forever."""

    def __init__(
        self,
        base_url: str,
        symbol: str,
        *,
        stale_after: float = 30.0,
        backoff: Backoff | None = None,
        healthy_after: float = 10.0,
        max_connection_age: float = MAX_CONNECTION_AGE,
        open_timeout: float = 10.0,
        max_queue: int = 1024,
    ) -> None:
        self.url = trade_stream_url(base_url, symbol)
        try:
            parse_uri(self.url)
        except InvalidURI as exc:
            raise StreamConfigError(f"{base_url!r} is not a ws:// or wss:// URL ({exc})") from None
        self.stale_after = stale_after
        self.backoff = backoff or Backoff()
        self.healthy_after = healthy_after
        self.max_connection_age = max_connection_age
        self.open_timeout = open_timeout
        self.max_queue = max_queue

        self.state = "connecting"
        self.connections = 0
        self.attempt = 0  # consecutive attempts without a healthy connection
        self.last_trade_id = -1
        self.messages = 0
        self.trades = 0
        self.duplicates = 0
        self.missed = 0
        self.bad_by_kind: Counter[str] = Counter()
        self.last_error: str | None = None
        self._retry_at: float | None = None
        self._connection: _WatchedConnection | None = None
        self._last_received: float | None = None  # of the previous connection, for the status
        self._rate_sample = (time.monotonic(), 0)
        self._rate = 0.0

    # -- status ------------------------------------------------------------------------------
    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    @property
    def bad(self) -> int:
        return sum(self.bad_by_kind.values())

    def status(self, late: int = 0) -> StreamStatus:
        now = time.monotonic()
        sample_at, sample_count = self._rate_sample
        if now - sample_at >= 1.0:  # a rate over at least a second, however often we are asked
            self._rate = (self.messages - sample_count) / (now - sample_at)
            self._rate_sample = (now, self.messages)
        last = self._connection.last_received if self._connection else self._last_received
        age = None if last is None else max(0.0, now - last)
        retry_in = None
        if self.state == "backing_off" and self._retry_at is not None:
            retry_in = max(0.0, self._retry_at - now)
        return StreamStatus(
            state=self.state,
            reconnects=self.reconnects,
            retry_in=retry_in,
            last_message_age=age,
            messages_per_second=self._rate,
            stale=age is not None and age > self.stale_after,
            bad=self.bad,
            late=late,
            duplicates=self.duplicates,
            missed=self.missed,
            last_error=self.last_error,
        )

    # -- running -----------------------------------------------------------------------------
    async def run(
        self,
        on_trade: Callable[[Trade], object],
        on_event: Callable[[StreamEvent], object] | None = None,
    ) -> None:
        """Stream until cancelled. Exceptions raised by `on_trade` propagate (they are our bugs or
        a failing disk, not the network's doing); network trouble only ever causes a reconnect."""
        emit = on_event or (lambda event: None)
        try:
            while True:
                self.state = "connecting"
                emit(StreamEvent("connecting", f"connecting to {self.url}"))
                immediate = await self._connect_once(on_trade, emit)
                if immediate and self.attempt == 0:
                    continue
                delay = self.backoff.delay(self.attempt)
                self.attempt += 1
                self.state = "backing_off"
                self._retry_at = time.monotonic() + delay
                emit(StreamEvent("backing_off", f"retrying in {delay:.1f}s"))
                await asyncio.sleep(delay)
        finally:
            self.state = "stopped"
            self._retry_at = None

    async def _connect_once(
        self, on_trade: Callable[[Trade], object], emit: Callable[[StreamEvent], object]
    ) -> bool:
        """One connection's life. True if we should reconnect without waiting."""
        try:
            connection = await connect(
                self.url,
                compression=None,  # Binance's trade frames are tiny; inflating costs more than it saves
                ping_interval=None,  # see the module docstring: the server pings, we answer
                open_timeout=self.open_timeout,
                close_timeout=2.0,
                max_queue=self.max_queue,
                create_connection=_WatchedConnection,
            )
        except (OSError, TimeoutError, EOFError, InvalidHandshake, ConnectionClosed) as exc:
            self.last_error = f"cannot connect: {_describe(exc)}"
            emit(StreamEvent("disconnected", self.last_error))
            return False
        assert isinstance(connection, _WatchedConnection)
        self.connections += 1
        self._connection = connection
        self.state = "connected"
        connected_at = time.monotonic()
        verb = "reconnected" if self.connections > 1 else "connected"
        emit(StreamEvent("connected", f"{verb} to {self.url}"))
        watchdog = asyncio.create_task(self._watch(connection, connected_at))
        try:
            reason, immediate = await self._receive(connection, on_trade, emit)
        except ConnectionClosed as exc:
            reason = connection.cause or _describe(exc)
            immediate = connection.planned
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            self._last_received = connection.last_received
            self._connection = None
            if connection.state is not State.CLOSED:
                connection.transport.abort()  # never wait on a peer we have given up on
        if time.monotonic() - connected_at >= self.healthy_after:
            self.attempt = 0  # it worked for a while: the next outage starts the backoff afresh
        self.last_error = reason
        emit(StreamEvent("disconnected", f"connection lost: {reason}; reconnecting"))
        return immediate

    async def _receive(
        self,
        connection: _WatchedConnection,
        on_trade: Callable[[Trade], object],
        emit: Callable[[StreamEvent], object],
    ) -> tuple[str, bool]:
        """The hot loop: one frame per iteration, kept to a parse and a few comparisons."""
        recv = connection.recv
        parse = parse_message
        trade_type = Trade
        while True:
            message = parse(await recv())
            self.messages += 1
            if type(message) is trade_type:
                trade_id = message.trade_id
                last = self.last_trade_id
                if trade_id <= last:
                    self.duplicates += 1  # a replay after reconnect: already counted
                    continue
                if trade_id != last + 1 and last >= 0:
                    gap = trade_id - last - 1
                    self.missed += gap
                    emit(
                        StreamEvent("gap", f"missed {gap} trade(s): ids {last + 1}..{trade_id - 1}")
                    )
                self.last_trade_id = trade_id
                self.trades += 1
                on_trade(message)
            elif isinstance(message, ServerShutdown):
                return "the server announced a shutdown", True
            elif isinstance(message, BadMessage):
                self.bad_by_kind[message.kind] += 1
                if self.bad_by_kind[message.kind] == 1:  # say it once; the status keeps counting
                    emit(
                        StreamEvent(
                            "bad", f"skipped a bad frame ({message.kind}): {message.detail}"
                        )
                    )
            elif isinstance(message, ErrorReply):
                self.bad_by_kind["error"] += 1
                emit(StreamEvent("error", f"server error {message.code}: {message.msg}"))
            elif isinstance(message, ControlReply):
                pass  # we send no requests; a stray reply is harmless

    async def _watch(self, connection: _WatchedConnection, connected_at: float) -> None:
        """Close the connection when it went silent or is about to hit the 24-hour limit."""
        period = min(1.0, self.stale_after / 5)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            silent = now - connection.last_received
            if silent > self.stale_after:
                connection.cause = f"no data for {silent:.1f}s (stale after {self.stale_after:g}s)"
                connection.transport.abort()  # a silent peer won't answer a close handshake either
                return
            if now - connected_at > self.max_connection_age:
                connection.cause = "planned reconnect before the 24-hour connection limit"
                connection.planned = True
                await connection.close(1000, "reconnecting before the 24 h limit")
                return


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
