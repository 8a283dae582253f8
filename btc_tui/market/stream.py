"""TradeStream: one symbol's raw `@trade` stream, kept alive for as long as it runs.

Only websockets' public API is used (`connect`, `recv`, `close`, `state`): websockets parses the
frames, checks UTF-8 and the protocol, answers pings and closes a connection that breaks the
protocol (a text frame that is not UTF-8 ends it with 1007: we count it as bad and reconnect).

What keeps it alive, and why:
- reconnect forever with exponential backoff and full jitter (capped at 30 s). The backoff resets
  only after a connection proved healthy: it was still delivering messages `healthy_after` seconds
  after it opened. A flapping link that accepts and drops at once keeps backing off, so even then we
  stay far below Binance's 300 attempts per 5 minutes;
- a watchdog: each message stamps the time (one clock read); a separate task checks the stamp and
  reconnects after `stale_after` seconds without a message. No `wait_for` per message;
- keepalive both ways: websockets answers the server's pings by itself (Binance drops a client
  that has not ponged for a minute), and we send our own ping every `ping_interval` s and drop the
  connection when no pong comes within `ping_timeout` s (see `TradeStream.__init__` for why);
- `serverShutdown` reconnects at once (keeping the trades that arrive until the close), and we
  reconnect on our own before Binance's 24-hour limit; neither waits, unless the connection never
  proved healthy (a server that says "shutdown" at every connect is backed off like any other);
- trades are deduplicated by trade id across reconnects; a jump in ids is a hole, reported as a
  `gap` event carrying the missing ids so the collector can fetch them over REST;
- frames we don't understand are counted by kind and skipped: nothing a server sends can raise.
  Exceptions raised by `on_trade` (a failing disk, a bug) are not the network's doing: they end
  `run()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import orjson
from websockets import State
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidProxy, InvalidURI
from websockets.uri import parse_uri

from btc_tui.market.binance import (
    QTY_SCALE,
    BadMessage,
    ErrorReply,
    Message,
    ServerShutdown,
    Trade,
    parse_message,
    trade_stream_url,
)

MAX_CONNECTION_AGE = 23 * 3600 + 50 * 60  # Binance closes connections at 24 h; leave on our terms

# Close codes websockets sends when it fails a connection because of what the server sent:
# counted as bad frames of that kind (the connection itself is then re-opened).
_BAD_CLOSE_KINDS = {1002: "protocol", 1007: "utf8", 1009: "too_big"}


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
    """Something a person watching the stream wants to know about (one human line in `text`).

    A "gap" event also carries the missing trade ids, inclusive, so they can be fetched over REST.
    """

    kind: (
        str  # "connecting" | "connected" | "disconnected" | "backing_off" | "gap" | "bad" | "error"
    )
    text: str
    first_missing: int | None = None
    last_missing: int | None = None


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


class StreamConfigError(ValueError):
    """The stream can never work as configured (e.g. not a ws:// or wss:// URL)."""


def _ignore(event: StreamEvent) -> None:
    pass


def parse_frame(raw: str | bytes) -> Message:
    """`parse_message`, faster for the one shape that matters: a current Binance trade payload.

    Measured: ~1.4 us instead of ~1.8 us a trade, about 5% of the collector's whole per-trade cost.
    Anything that is not exactly that shape (or that raises anywhere here) goes to
    `parse_message`, so the result is always what `parse_message` would say
    (tests/market/test_stream.py compares both on real Binance payloads and on edge cases).
    """
    try:
        data = _loads(raw) if raw.__class__ is str else None  # bytes: a binary frame
        if data.__class__ is dict and data.get("e") == "trade" and "stream" not in data:
            trade_id = data["t"]
            trade_time = data["T"]
            event_time = data["E"]
            qty = data["q"]
            price_text = data["p"]
            if (
                trade_id.__class__ is int
                and trade_time.__class__ is int
                and event_time.__class__ is int
                and price_text.__class__ is str
                and qty.__class__ is str
                and len(qty) > 9
                and qty[-9] == "."
                and qty.isascii()
            ):
                digits = qty[:-9] + qty[-8:]  # Binance writes quantities with exactly 8 decimals
                if digits.isdigit():
                    price = float(price_text)
                    if price > 0 and price != _INF:
                        units = int(digits)
                        return Trade(
                            trade_id,
                            price,
                            units / QTY_SCALE,
                            units,
                            trade_time,
                            event_time,
                            data.get("m") is True,
                        )
    except Exception:
        pass  # parse_message says what was wrong
    return parse_message(raw)


_loads = orjson.loads
_INF = float("inf")


class TradeStream:
    """Connect to `{base_url}/ws/{symbol}@trade` and hand every new trade to `on_trade`, forever.

    After a `gap` event, `last_trade_id` and `last_trade_time` still describe the trade before the
    hole; the trade after it is the next one handed to `on_trade`. Both are None before the first
    trade and may be seeded (e.g. from the CSV) so that the first live trade reports the hole since.
    """

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
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        clock: Callable[[], float] = time.monotonic,
        check_interval: float | None = None,
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
        # Our own pings, on top of answering the server's: the message watchdog notices a half-open
        # TCP connection only after `stale_after`, which a user watching a quiet symbol may set to
        # minutes; keepalive notices it within ping_interval + ping_timeout whatever that is, and
        # makes the kernel send something, so a dead peer becomes an error instead of silence.
        # A pong is not counted as a message: a server that answers pings but has stopped sending
        # trades is exactly what the watchdog is for. Cost: one tiny frame per 20 s, far below
        # Binance's 5 incoming messages per second.
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._clock = clock
        self.check_interval = check_interval or min(1.0, stale_after / 10)

        self.state = "connecting"
        self.connections = 0
        self.attempt = 0  # consecutive attempts without a healthy connection
        self._last_id = -1  # -1: no trade yet (an int keeps the per-trade comparison cheap)
        self.last_trade_time: int | None = None  # `T` of the trade with id `last_trade_id`
        self.messages = 0
        self.trades = 0
        self.duplicates = 0
        self.missed = 0
        self.bad_by_kind: Counter[str] = Counter()
        self.last_error: str | None = None
        self._retry_at: float | None = None
        self._last_message_at: float | None = None  # clock() at the last message, or at connect
        self._rate_sample = (clock(), 0)
        self._rate = 0.0

    # -- status ------------------------------------------------------------------------------
    @property
    def last_trade_id(self) -> int | None:
        return None if self._last_id < 0 else self._last_id

    @last_trade_id.setter
    def last_trade_id(self, value: int | None) -> None:
        self._last_id = -1 if value is None else value

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    @property
    def bad(self) -> int:
        return sum(self.bad_by_kind.values())

    def status(self, late: int = 0) -> StreamStatus:
        now = self._clock()
        sample_at, sample_count = self._rate_sample
        if now - sample_at >= 1.0:  # a rate over at least a second, however often we are asked
            self._rate = (self.messages - sample_count) / (now - sample_at)
            self._rate_sample = (now, self.messages)
        last = self._last_message_at
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
        emit = on_event or _ignore
        try:
            while True:
                self.state = "connecting"
                emit(StreamEvent("connecting", f"connecting to {self.url}"))
                healthy, planned = await self._connect_once(on_trade, emit)
                if healthy:
                    self.attempt = 0  # it worked for a while: a new outage backs off afresh
                    if planned:
                        continue  # serverShutdown or the age limit: reconnect without waiting
                # A planned close of a connection that never proved healthy still backs off: a
                # server that says "shutdown" at every connect must not get a tight loop.
                delay = self.backoff.delay(self.attempt)
                self.attempt += 1
                self.state = "backing_off"
                self._retry_at = self._clock() + delay
                emit(StreamEvent("backing_off", f"retrying in {delay:.1f}s"))
                await asyncio.sleep(delay)
        finally:
            self.state = "stopped"
            self._retry_at = None

    async def _connect_once(
        self, on_trade: Callable[[Trade], object], emit: Callable[[StreamEvent], object]
    ) -> tuple[bool, bool]:
        """One connection's life: (it proved healthy, it was closed on purpose)."""
        try:
            connection = await connect(
                self.url,
                compression=None,  # Binance's trade frames are tiny; inflating costs more than it saves
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                open_timeout=self.open_timeout,
                close_timeout=self.close_timeout,
                max_queue=self.max_queue,
            )
        except (InvalidProxy, ValueError) as exc:
            # A proxy setting from the environment websockets can't use: retrying won't help.
            import urllib.request

            from btc_tui.errors import UsageError

            if not urllib.request.getproxies():
                raise

            raise UsageError(
                f"cannot connect to {self.url}: the proxy set in the environment (https_proxy, "
                f"all_proxy) is not usable: {exc}; fix or unset it"
            ) from None
        except (OSError, TimeoutError, EOFError, InvalidHandshake, ConnectionClosed) as exc:
            self.last_error = f"cannot connect: {_describe(exc)}"
            emit(StreamEvent("disconnected", self.last_error))
            return False, False

        self.connections += 1
        self.state = "connected"
        verb = "reconnected" if self.connections > 1 else "connected"
        emit(StreamEvent("connected", f"{verb} to {self.url}"))
        connected_at = self._clock()
        self._last_message_at = connected_at  # silence is measured from here until a message
        messages_before = self.messages
        closing = _Closing()
        watchdog = asyncio.create_task(self._watch(connection, connected_at, closing))
        try:
            await self._receive(connection, on_trade, emit, closing)
        except ConnectionClosed as exc:
            reason = closing.cause or self._describe_close(exc, emit)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await _close(connection)  # at once if it is closed; else bounded by close_timeout
            if closing.task is not None:
                await closing.task  # done by now: the connection is closed
        last = self._last_message_at
        healthy = (
            self.messages > messages_before
            and last is not None
            and last - connected_at >= self.healthy_after
        )
        self.last_error = reason
        emit(StreamEvent("disconnected", f"connection lost: {reason}; reconnecting"))
        return healthy, closing.planned

    async def _receive(
        self,
        connection: ClientConnection,
        on_trade: Callable[[Trade], object],
        emit: Callable[[StreamEvent], object],
        closing: _Closing,
    ) -> NoReturn:
        """The per-message hot path: stamp, parse, dedupe, hand over; a few comparisons a trade.
        Ends only by raising: ConnectionClosed when the connection is over, whoever closed it."""
        recv = connection.recv
        clock = self._clock
        parse = parse_frame
        trade_type = Trade
        while True:
            raw = await recv()  # str for a text frame (UTF-8 checked by websockets), else bytes
            self._last_message_at = clock()
            self.messages += 1
            message = parse(raw)
            if type(message) is trade_type:
                trade_id = message.trade_id
                last = self._last_id
                if trade_id <= last:
                    self.duplicates += 1  # a replay after reconnect: already handed over
                    continue
                if trade_id != last + 1 and last >= 0:
                    self._gap(last, trade_id, emit)
                self._last_id = trade_id
                self.last_trade_time = message.trade_time
                self.trades += 1
                on_trade(message)
            elif type(message) is ServerShutdown:
                # Close in the background and keep taking the trades that arrive until it is
                # closed: each one is a trade the collector won't have to fetch over REST.
                if closing.close("the server announced a shutdown", planned=True):
                    closing.task = asyncio.create_task(connection.close(1000, "reconnecting"))
            else:
                self._other(message, emit)

    def _gap(self, last: int, trade_id: int, emit: Callable[[StreamEvent], object]) -> None:
        first, final = last + 1, trade_id - 1
        self.missed += final - first + 1
        emit(
            StreamEvent(
                "gap",
                f"missed {final - first + 1} trade(s): ids {first}..{final}",
                first_missing=first,
                last_missing=final,
            )
        )

    def _other(self, message: object, emit: Callable[[StreamEvent], object]) -> None:
        if isinstance(message, BadMessage):
            self._count_bad(message.kind, message.detail, emit)
        elif isinstance(message, ErrorReply):
            self.bad_by_kind["error"] += 1
            emit(StreamEvent("error", f"server error {message.code}: {message.msg}"))
        # A ControlReply needs nothing: we send no requests, so a stray reply is harmless.

    def _count_bad(
        self,
        kind: str,
        detail: str,
        emit: Callable[[StreamEvent], object],
        verb: str = "skipped",
    ) -> None:
        self.bad_by_kind[kind] += 1
        if self.bad_by_kind[kind] == 1:  # say it once; the status keeps counting
            emit(StreamEvent("bad", f"{verb} a bad frame ({kind}): {detail}"))

    def _describe_close(self, exc: ConnectionClosed, emit: Callable[[StreamEvent], object]) -> str:
        """Why the connection ended; a protocol failure caused by a bad frame is counted as one."""
        sent = exc.sent
        if sent is not None and exc.rcvd is None and sent.code in _BAD_CLOSE_KINDS:
            # websockets failed the connection because of what the server sent (e.g. a text
            # frame that is not UTF-8: 1007). That frame is lost with the connection.
            kind = _BAD_CLOSE_KINDS[sent.code]
            self._count_bad(kind, sent.reason or str(sent.code), emit, "dropped the connection at")
        return _describe(exc)

    async def _watch(
        self, connection: ClientConnection, connected_at: float, closing: _Closing
    ) -> None:
        """Close the connection when it went silent or is about to hit the 24-hour limit."""
        clock = self._clock
        while True:
            await asyncio.sleep(self.check_interval)
            now = clock()
            if connection.state is State.CLOSING:
                # The server sent a close frame but may never close the socket, and recv() would
                # wait for that forever: close() gives up after close_timeout.
                break
            last = self._last_message_at
            silent = now - (connected_at if last is None else last)
            if silent > self.stale_after:
                closing.close(f"no data for {silent:.1f}s (stale after {self.stale_after:g}s)")
                break
            if now - connected_at > self.max_connection_age:
                closing.close("planned reconnect before the 24-hour connection limit", planned=True)
                break
        # The receive loop keeps taking messages until recv() raises ConnectionClosed. A silent
        # peer won't answer the close frame: close() gives up after close_timeout.
        await connection.close(1000, "reconnecting")


class _Closing:
    """Why we closed a connection ourselves (watchdog, serverShutdown, age limit), if we did."""

    __slots__ = ("cause", "planned", "task")

    def __init__(self) -> None:
        self.cause: str | None = None
        self.planned = False  # on purpose: reconnect without waiting (if it was healthy)
        self.task: asyncio.Task[None] | None = None  # a close running in the background

    def close(self, cause: str, planned: bool = False) -> bool:
        """Remember the first reason; True if this is it."""
        if self.cause is not None:
            return False
        self.cause = cause
        self.planned = planned
        return True


async def _close(connection: ClientConnection) -> None:
    """Close, discarding what is still buffered meanwhile.

    When we stop reading (cancelled, or on_trade failed) with frames queued, websockets has paused
    the socket, so it would never read the server's answer to our close frame and close() would
    wait out close_timeout. Reading the queue out lets the answer in: a prompt stop.
    """
    if connection.state is State.CLOSED:
        return
    closer = asyncio.create_task(connection.close(1000, "going away"))
    try:
        with contextlib.suppress(ConnectionClosed):
            while not closer.done():
                await connection.recv()
    finally:
        await closer


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
