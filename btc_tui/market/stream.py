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
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import DATA_OPCODES, OP_TEXT, Frame
from websockets.protocol import Event, State
from websockets.uri import parse_uri

from btc_tui.market.binance import (
    BadMessage,
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
    """A client connection that remembers when bytes last arrived (data, ping, anything), and
    hands each trade frame straight to `sink`.

    Why the fast path: with one trade per frame, websockets' generic frame parser and its
    `recv()` queue cost more than parsing the trade itself (measured with
    benchmarks/collector_throughput.py: ~5 us a frame, about half the per-trade time). Binance
    sends each trade as one small, final, unmasked text frame, so after the handshake this class
    splits the byte stream itself and passes those frames' payloads to the sink. Every other frame
    (ping, close, binary, fragments, anything odd) is handed to websockets *whole*, so its parser
    always sits at a frame boundary and keeps handling pongs, closing and protocol errors. Relies
    on `data_received`/`process_event` of the pinned websockets 15.0.1 (tests cover both paths).
    """

    last_received: float = 0.0
    cause: str | None = None  # why we closed it ourselves (watchdog, serverShutdown), if we did
    planned = False  # closed on purpose: reconnect without waiting
    failure: BaseException | None = None  # raised by the sink: re-raised by the receive loop
    sink: Callable[[bytes], None] | None = None
    opened = False  # counted and announced as connected
    # False after a fragmented message: from then on every data frame queues behind it in
    # websockets' assembler and reaches the sink through recv(), so trades stay in order.
    direct = True
    _head = b""  # the HTTP response so far, until its blank line
    _handshaking = True
    _splitting = False  # True: we split frames; False: websockets sees every byte
    _pending = b""  # the start of a frame whose rest hasn't arrived yet

    def connection_made(self, transport):  # type: ignore[no-untyped-def]
        self.last_received = time.monotonic()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        if self._splitting:
            self._split(data)
        elif self._handshaking:
            self._handshake_data(data)
        else:
            super().data_received(data)

    def _handshake_data(self, data: bytes) -> None:
        """Give websockets the HTTP response; keep the frames after a 101 for ourselves."""
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            super().data_received(data)
            return
        self._handshaking = False
        cut = len(data) - (len(self._head) - (end + 4))  # where the first frame starts in `data`
        switching = self._head.startswith((b"HTTP/1.1 101 ", b"HTTP/1.0 101 "))
        self._head = b""
        super().data_received(data[:cut])
        if switching and self.sink is not None and self.protocol.state is State.OPEN:
            self._splitting = True
            if cut < len(data):
                self._split(data[cut:])
        elif cut < len(data):
            super().data_received(data[cut:])

    def _split(self, data: bytes) -> None:
        buf = self._pending + data if self._pending else data
        size = len(buf)
        sink = self.sink
        i = 0
        while size - i >= 2:
            first = buf[i]
            length = buf[i + 1]  # mask bit clear from a server; a set one is handed over below
            if length < 126:
                start = i + 2
            elif length == 126:
                if size - i < 4:
                    break
                length = (buf[i + 2] << 8) | buf[i + 3]
                start = i + 4
            else:
                self._hand_over(buf[i:])  # 64-bit length (or a mask): not a trade; let it judge
                return
            end = start + length
            if end > size:
                break
            if first == 0x81 and sink is not None:  # FIN + text, no extension bits
                sink(buf[start:end])
                sink = self.sink  # None once the sink gave up on the connection
            else:
                super().data_received(buf[i:end])  # one whole frame: ping, close, binary...
                if self.protocol.state is not State.OPEN or sink is None or not self.direct:
                    self._hand_over(buf[end:])
                    return
            i = end
        self._pending = buf[i:]

    def _hand_over(self, rest: bytes) -> None:
        """From here on websockets sees every byte (closing, or something we don't split)."""
        self._splitting = False
        self._pending = b""
        if rest:
            super().data_received(rest)

    def process_event(self, event: Event) -> None:
        # Frames that arrived with the handshake reply come this way: same sink, same order.
        sink = self.sink
        if type(event) is Frame and not event.fin and event.opcode in DATA_OPCODES:
            self.direct = False  # a fragmented message (Binance sends none): keep the order
        if sink is not None and self.direct and type(event) is Frame and event.opcode is OP_TEXT:
            sink(event.data)
        else:
            super().process_event(event)

    def give_up(self, cause: str, planned: bool = False) -> None:
        """Drop the connection now, remembering why; frames still buffered are not delivered."""
        if self.cause is None:
            self.cause = cause
            self.planned = planned
        self.sink = None
        self.transport.abort()


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
        close_timeout: float = 2.0,
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
        self.close_timeout = close_timeout
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

        def make_connection(*args: Any, **kwargs: Any) -> _WatchedConnection:
            # The sink is in place before the handshake ends, so even frames that arrive in the
            # same packet as the handshake reply take the same path, in order.
            connection = _WatchedConnection(*args, **kwargs)
            connection.sink = self._sink(connection, on_trade, emit)
            return connection

        try:
            connection = await connect(
                self.url,
                compression=None,  # Binance's trade frames are tiny; inflating costs more than it saves
                ping_interval=None,  # see the module docstring: the server pings, we answer
                open_timeout=self.open_timeout,
                close_timeout=self.close_timeout,
                max_queue=self.max_queue,
                create_connection=make_connection,  # type: ignore[arg-type]
            )
        except (OSError, TimeoutError, EOFError, InvalidHandshake, ConnectionClosed) as exc:
            self.last_error = f"cannot connect: {_describe(exc)}"
            emit(StreamEvent("disconnected", self.last_error))
            return False
        assert isinstance(connection, _WatchedConnection)
        self._opened(connection, emit)
        connected_at = time.monotonic()
        watchdog = asyncio.create_task(self._watch(connection, connected_at))
        try:
            await self._receive(connection, emit)
        except ConnectionClosed as exc:
            if connection.failure is not None:
                raise connection.failure from None  # our own failure (e.g. the disk): not network
            reason = connection.cause or _describe(exc)
            immediate = connection.planned
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            connection.sink = None
            self._last_received = connection.last_received
            self._connection = None
            if connection.state is not State.CLOSED:
                connection.transport.abort()  # never wait on a peer we have given up on
        if time.monotonic() - connected_at >= self.healthy_after:
            self.attempt = 0  # it worked for a while: the next outage starts the backoff afresh
        self.last_error = reason
        emit(StreamEvent("disconnected", f"connection lost: {reason}; reconnecting"))
        return immediate

    def _opened(
        self, connection: _WatchedConnection, emit: Callable[[StreamEvent], object]
    ) -> None:
        """Count the connection and announce it, once: when connect() returns or, if sooner,
        when its first frame arrives (frames can come in the packet that ends the handshake)."""
        if connection.opened:
            return
        connection.opened = True
        self.connections += 1
        self._connection = connection
        self.state = "connected"
        verb = "reconnected" if self.connections > 1 else "connected"
        emit(StreamEvent("connected", f"{verb} to {self.url}"))

    def _sink(
        self,
        connection: _WatchedConnection,
        on_trade: Callable[[Trade], object],
        emit: Callable[[StreamEvent], object],
    ) -> Callable[[bytes], None]:
        """The per-frame hot path: decode, parse, dedupe, hand over; a few comparisons a trade."""
        parse = parse_message
        trade_type = Trade

        def sink(data: bytes) -> None:
            if not connection.opened:
                self._opened(connection, emit)
            try:
                message = parse(data.decode())
                self.messages += 1
                if type(message) is trade_type:
                    trade_id = message.trade_id
                    last = self.last_trade_id
                    if trade_id <= last:
                        self.duplicates += 1  # a replay after reconnect: already counted
                        return
                    if trade_id != last + 1 and last >= 0:
                        self._gap(last, trade_id, emit)
                    self.last_trade_id = trade_id
                    self.trades += 1
                    on_trade(message)
                else:
                    self._other(message, connection, emit)
            except UnicodeDecodeError as exc:
                self.messages += 1
                self._other(BadMessage("utf8", str(exc)), connection, emit)
            except Exception as exc:
                # Raised by on_trade (a full disk, a bug): stop this connection and let the
                # receive loop re-raise it, since exceptions can't leave a protocol callback.
                connection.failure = exc
                connection.give_up(f"{type(exc).__name__}: {exc}")

        return sink

    def _gap(self, last: int, trade_id: int, emit: Callable[[StreamEvent], object]) -> None:
        gap = trade_id - last - 1
        self.missed += gap
        emit(StreamEvent("gap", f"missed {gap} trade(s): ids {last + 1}..{trade_id - 1}"))

    def _other(
        self,
        message: object,
        connection: _WatchedConnection,
        emit: Callable[[StreamEvent], object],
    ) -> None:
        if isinstance(message, ServerShutdown):
            connection.give_up("the server announced a shutdown", planned=True)
        elif isinstance(message, BadMessage):
            self.bad_by_kind[message.kind] += 1
            if self.bad_by_kind[message.kind] == 1:  # say it once; the status keeps counting
                emit(StreamEvent("bad", f"skipped a bad frame ({message.kind}): {message.detail}"))
        elif isinstance(message, ErrorReply):
            self.bad_by_kind["error"] += 1
            emit(StreamEvent("error", f"server error {message.code}: {message.msg}"))
        # A ControlReply needs nothing: we send no requests, so a stray reply is harmless.

    async def _receive(
        self, connection: _WatchedConnection, emit: Callable[[StreamEvent], object]
    ) -> None:
        """Frames the sink doesn't take (binary, fragmented) arrive here; returns never, raises
        ConnectionClosed when the connection ends."""
        while True:
            try:
                raw = await connection.recv()
            except UnicodeDecodeError as exc:  # a fragmented text message that isn't UTF-8
                self.messages += 1
                self._other(BadMessage("utf8", str(exc)), connection, emit)
                continue
            if isinstance(raw, str):
                if connection.sink is not None:
                    connection.sink(raw.encode())
            else:
                self.messages += 1
                self._other(parse_message(raw), connection, emit)

    async def _watch(self, connection: _WatchedConnection, connected_at: float) -> None:
        """Close the connection when it went silent or is about to hit the 24-hour limit."""
        period = min(1.0, self.stale_after / 5, self.close_timeout / 2)
        closing_since: float | None = None
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            if connection.state is State.CLOSING:
                # The server sent a close frame but keeps the socket open; nobody else would
                # ever end the wait, since we are not calling close() ourselves.
                closing_since = closing_since or now
                if now - closing_since >= self.close_timeout:
                    connection.transport.abort()
                    return
            silent = now - connection.last_received
            if silent > self.stale_after:
                # A silent peer won't answer a close handshake either: just drop it.
                connection.give_up(f"no data for {silent:.1f}s (stale after {self.stale_after:g}s)")
                return
            if now - connected_at > self.max_connection_age:
                connection.cause = "planned reconnect before the 24-hour connection limit"
                connection.planned = True
                await connection.close(1000, "reconnecting before the 24 h limit")
                return


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
