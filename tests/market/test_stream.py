"""TradeStream against real servers on 127.0.0.1: reconnects, backoff, watchdog, keepalive, dedupe,
gaps with their ids, bad frames. Time-dependent behaviour runs on an injected clock; everything else
waits for conditions with deadlines, never for a fixed time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from btc_tui.market.binance import Trade, format_trade, parse_message
from btc_tui.market.simulator import Simulator
from btc_tui.market.stream import (
    Backoff,
    StreamConfigError,
    StreamEvent,
    TradeStream,
    parse_frame,
)
from tests.conftest import fixture_path
from tests.market.conftest import (
    BASE_MINUTE,
    RawFrameServer,
    eventually,
    fast_backoff,
    minute_times,
    write_in_chunks,
)

# -- helpers ---------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Received:
    trades: list[Trade] = field(default_factory=list)
    events: list[StreamEvent] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [t.trade_id for t in self.trades]

    def texts(self, kind: str) -> list[str]:
        return [e.text for e in self.events if e.kind == kind]

    def of(self, kind: str) -> list[StreamEvent]:
        return [e for e in self.events if e.kind == kind]


@contextlib.asynccontextmanager
async def running(
    stream: TradeStream, on_event: Callable[[StreamEvent], object] | None = None
) -> AsyncIterator[Received]:
    received = Received()

    def event(e: StreamEvent) -> None:
        received.events.append(e)
        if on_event is not None:
            on_event(e)

    task = asyncio.create_task(stream.run(received.trades.append, event))
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert stream.state == "stopped"


def make_stream(sim: object, **kw: object) -> TradeStream:
    options: dict[str, object] = {
        "backoff": fast_backoff(),
        "healthy_after": 0.0,
        "check_interval": 0.01,
    }
    options.update(kw)
    return TradeStream(sim.url, "btcusdt", **options)  # type: ignore[arg-type, attr-defined]


class RecordingBackoff(Backoff):
    """Tiny delays; remembers the attempt number of every wait."""

    def __init__(self, attempts: list[int], base: float = 0.001, cap: float = 0.001) -> None:
        super().__init__(base=base, cap=cap, random=lambda: 1.0)
        object.__setattr__(self, "attempts", attempts)

    def delay(self, attempt: int) -> float:
        self.attempts.append(attempt)  # type: ignore[attr-defined]
        return super().delay(attempt)


def trade_payload(trade_id: int) -> str:
    t = BASE_MINUTE + trade_id
    return format_trade("btcusdt", trade_id, "42000.01000000", "0.00100000", t, t, True)


Script = Callable[[ServerConnection], Awaitable[None]]


class ScriptedServer:
    """A websockets server whose every connection runs the next queued script (or stays open)."""

    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.every: Script | None = None  # run for each connection once the queue is empty
        self.connections = 0
        self.url = ""

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        script = self.scripts.pop(0) if self.scripts else self.every
        if script is not None:
            await script(connection)
        else:
            await connection.wait_closed()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[ScriptedServer]:
        async with serve(self._handle, "127.0.0.1", 0, compression=None) as server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            yield self


def frame(opcode: int, data: bytes, fin: bool = True) -> bytes:
    """One unmasked server frame, encoded by hand (RFC 6455 section 5.2)."""
    head = (0x80 if fin else 0) | opcode
    size = len(data)
    if size < 126:
        return bytes([head, size]) + data
    if size < 1 << 16:
        return bytes([head, 126]) + size.to_bytes(2, "big") + data
    return bytes([head, 127]) + size.to_bytes(8, "big") + data


CONT, TEXT, BINARY, CLOSE, PING = 0x0, 0x1, 0x2, 0x8, 0x9


def text(trade_id: int) -> bytes:
    return frame(TEXT, trade_payload(trade_id).encode())


async def reply_only(writer: asyncio.StreamWriter, reply: bytes) -> None:
    writer.write(reply)
    await writer.drain()


# -- receiving, dedupe, gaps -----------------------------------------------------------------


async def test_receives_trades_without_sending_a_subscribe(simulator: Simulator):
    stream = make_stream(simulator)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        sent = simulator.publish(minute_times(0, 5))
        await eventually(lambda: len(got.trades) == 5)
        status = stream.status()
    assert got.ids == [t.trade_id for t in sent]
    assert [t.price for t in got.trades] == [float(t.price) for t in sent]
    # A raw /ws/<stream> is already subscribed: a SUBSCRIBE would only earn a reply frame.
    assert simulator.control_messages == []
    assert status.state == "connected"
    assert status.reconnects == 0
    assert (status.bad, status.duplicates, status.missed) == (0, 0, 0)
    assert got.texts("connected") == [f"connected to {stream.url}"]
    assert (stream.last_trade_id, stream.last_trade_time) == (5, sent[-1].trade_time)


async def test_cut_connection_reconnects_and_drops_replayed_trades(simulator: Simulator):
    stream = make_stream(simulator)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 10))
        await eventually(lambda: len(got.trades) == 10)

        simulator.resend_on_connect = 4  # the new connection starts with 4 trades we already have
        assert simulator.drop_connections() == 1
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(0, 10, start_ms=200))
        await eventually(lambda: len(got.trades) == 20)
        await eventually(lambda: stream.duplicates == 4)

    assert got.ids == list(range(1, 21))
    assert stream.reconnects == 1
    assert stream.missed == 0
    assert got.of("gap") == []
    assert len(got.texts("disconnected")) == 1
    assert got.texts("connected")[-1].startswith("reconnected")


async def test_trades_published_while_away_are_a_gap_carrying_their_ids(simulator: Simulator):
    seen_at_gap: list[tuple[int | None, int | None]] = []
    stream = make_stream(simulator)

    def on_event(event: StreamEvent) -> None:
        if event.kind == "gap":  # what the collector reads to bound the REST time range
            seen_at_gap.append((stream.last_trade_id, stream.last_trade_time))

    async with running(stream, on_event) as got:
        await simulator.wait_for_connections(1)
        before = simulator.publish(minute_times(0, 5))
        await eventually(lambda: len(got.trades) == 5)
        simulator.drop_connections()
        await simulator.wait_for(lambda s: s.clients == 0)
        lost = simulator.publish(minute_times(0, 3, start_ms=100))  # nobody listening: ids 6..8
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(0, 2, start_ms=200))
        await eventually(lambda: len(got.trades) == 7)

    assert [t.trade_id for t in lost] == [6, 7, 8]
    assert got.ids == [1, 2, 3, 4, 5, 9, 10]
    assert stream.missed == 3
    [gap] = got.of("gap")
    assert (gap.first_missing, gap.last_missing) == (6, 8)
    assert gap.text == "missed 3 trade(s): ids 6..8"
    # When the gap is announced, the stream still describes the trade before the hole.
    assert seen_at_gap == [(5, before[-1].trade_time)]
    assert stream.status().missed == 3


async def test_a_gap_inside_one_connection_carries_its_ids():
    async def jumpy(connection: ServerConnection) -> None:
        for trade_id in (1, 2, 5, 6, 10):
            await connection.send(trade_payload(trade_id))
        await connection.wait_closed()

    server = ScriptedServer()
    server.scripts.append(jumpy)
    async with server.serving():
        stream = make_stream(server)
        async with running(stream) as got:
            await eventually(lambda: len(got.trades) == 5)
    assert [(e.first_missing, e.last_missing) for e in got.of("gap")] == [(3, 4), (7, 9)]
    assert stream.missed == 5
    assert stream.reconnects == 0


async def test_a_seeded_last_trade_id_reports_the_hole_since_then(simulator: Simulator):
    # The CSV ended at trade 2; trades 3..5 happened while no collector was running.
    simulator.publish(minute_times(0, 5))  # ids 1..5, nobody connected
    stream = make_stream(simulator)
    assert stream.last_trade_id is None and stream.last_trade_time is None
    stream.last_trade_id = 2
    simulator.resend_on_connect = 4  # ids 2..5 replayed on connect: 2 is a duplicate
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 2, start_ms=100))  # ids 6, 7
        await eventually(lambda: len(got.trades) == 5)
    assert got.ids == [3, 4, 5, 6, 7]
    assert stream.duplicates == 1
    assert got.of("gap") == []  # the replay filled what would have been a hole

    fresh = make_stream(simulator)
    fresh.last_trade_id = 4
    simulator.resend_on_connect = 0
    async with running(fresh) as got:
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(0, 1, start_ms=200))  # id 8
        await eventually(lambda: len(got.trades) == 1)
    [gap] = got.of("gap")
    assert (gap.first_missing, gap.last_missing) == (5, 7)
    assert fresh.missed == 3


# -- watchdog and keepalive ------------------------------------------------------------------


async def test_a_silent_server_is_dropped_by_the_watchdog(simulator: Simulator):
    clock = FakeClock()
    stream = make_stream(simulator, stale_after=5.0, clock=clock, close_timeout=0.2)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 3))
        await eventually(lambda: len(got.trades) == 3)
        assert not stream.status().stale
        # The socket stays open but nothing arrives, not even pings, and reads stop too.
        simulator.stall(answer_pings=False)
        clock.advance(6.0)
        assert stream.status().stale  # the status says so before the watchdog acts
        await simulator.wait_for_connections(2)
        simulator.resume()
        simulator.publish(minute_times(0, 3, start_ms=100))
        await eventually(lambda: len(got.trades) == 6)
        assert not stream.status().stale

    assert got.ids == list(range(1, 7))
    [reason] = got.texts("disconnected")
    assert "no data for 6.0s (stale after 5s)" in reason


async def test_messages_keep_the_watchdog_quiet(simulator: Simulator):
    clock = FakeClock()
    stream = make_stream(simulator, stale_after=5.0, clock=clock)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        for i in range(10):  # 40 s of clock time, a message every 4 s: never 5 s of silence
            clock.advance(4.0)
            simulator.publish(minute_times(0, 1, start_ms=10 * i))
            await eventually(lambda i=i: len(got.trades) == i + 1)
            assert not stream.status().stale
    assert simulator.connections_total == 1
    assert got.texts("disconnected") == []


async def test_the_servers_pings_are_answered_while_no_trade_arrives():
    pongs: list[float] = []

    async def pinger(connection: ServerConnection) -> None:
        for _ in range(3):
            waiter = await connection.ping()
            pongs.append(await asyncio.wait_for(waiter, 5))  # Binance drops non-ponging clients
        await connection.wait_closed()

    server = ScriptedServer()
    server.scripts.append(pinger)
    async with server.serving():
        stream = make_stream(server, ping_interval=None)
        async with running(stream) as got:
            await eventually(lambda: len(pongs) == 3)
    assert server.connections == 1
    assert got.texts("disconnected") == []


async def test_our_own_pings_drop_a_half_open_connection(raw_server: RawFrameServer):
    # The peer accepts, then never sends anything again, not even a pong: a half-open link.
    raw_server.then(reply_only)
    raw_server.then(reply_only)
    stream = make_stream(
        raw_server, stale_after=3600.0, ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1
    )
    async with running(stream) as got:
        await eventually(lambda: raw_server.connections == 2)
        await eventually(lambda: len(got.texts("disconnected")) == 1)
    assert b"\x89" in raw_server.received  # a ping frame (FIN + opcode 9) went out
    assert "keepalive ping timeout" in got.texts("disconnected")[0]


# -- frames we don't understand --------------------------------------------------------------


async def test_garbage_and_binary_frames_are_counted_and_skipped(simulator: Simulator):
    stream = make_stream(simulator)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.send_raw("this is not json")
        simulator.send_raw(b"\x00\x01\x02binary")
        simulator.send_raw('{"hello":"world"}')
        simulator.send_raw('{"e":"trade","t":"seven","p":"1","q":"1","T":1}')
        simulator.send_raw('{"result":null,"id":1}')  # a stray control reply is harmless
        simulator.send_raw("not json either")  # a second of a kind: counted, not announced
        simulator.publish(minute_times(0, 3))
        await eventually(lambda: len(got.trades) == 3)
        status = stream.status()

    assert got.ids == [1, 2, 3]
    assert dict(stream.bad_by_kind) == {"json": 2, "binary": 1, "unknown": 1, "shape": 1}
    assert status.bad == 5
    assert simulator.connections_total == 1  # bad frames never cost the connection
    assert len(got.texts("bad")) == 4  # said once per kind


@pytest.mark.parametrize(
    ("bad_frame", "kind", "code"),
    [
        (frame(TEXT, b'{"e":"trade"\xff\xfe}'), "utf8", "1007"),  # text that is not UTF-8
        (bytes([0xC1, 2]) + b"{}", "protocol", "1002"),  # a reserved bit set, no extension
        (frame(TEXT, b" " * (1 << 20) + b"{}"), "too_big", "1009"),  # over websockets' 1 MiB
    ],
    ids=["invalid-utf8", "reserved-bit", "too-big"],
)
async def test_a_frame_that_breaks_the_protocol_is_counted_and_we_reconnect(
    raw_server: RawFrameServer, bad_frame: bytes, kind: str, code: str
):
    async def first(writer: asyncio.StreamWriter, reply: bytes) -> None:
        writer.write(reply + text(1) + bad_frame + text(2))
        await writer.drain()

    async def second(writer: asyncio.StreamWriter, reply: bytes) -> None:
        writer.write(reply + text(3))
        await writer.drain()

    raw_server.then(first)
    raw_server.then(second)
    stream = make_stream(raw_server, close_timeout=0.1)
    async with running(stream) as got:
        await eventually(lambda: len(got.trades) == 2)

    # websockets ends the connection at the bad frame, as the protocol says: trade 2 is lost with
    # it, and the hole is reported like any other so it can be fetched over REST.
    assert got.ids == [1, 3]
    assert dict(stream.bad_by_kind) == {kind: 1}
    assert len(got.texts("bad")) == 1 and kind in got.texts("bad")[0]
    assert [(e.first_missing, e.last_missing) for e in got.of("gap")] == [(2, 2)]
    assert code in got.texts("disconnected")[0]
    assert stream.reconnects == 1
    assert b"\x88" in raw_server.received  # we sent a close frame, as the protocol says


async def test_a_close_frame_without_a_closed_socket_does_not_hang(raw_server: RawFrameServer):
    async def first(writer: asyncio.StreamWriter, reply: bytes) -> None:
        # Then the server never closes the TCP connection: we must not wait forever.
        writer.write(reply + text(1) + frame(CLOSE, b"\x03\xe9going away") + text(2))
        await writer.drain()

    async def second(writer: asyncio.StreamWriter, reply: bytes) -> None:
        writer.write(reply + text(3))
        await writer.drain()

    raw_server.then(first)
    raw_server.then(second)
    stream = make_stream(raw_server, close_timeout=0.2, stale_after=3600.0)
    async with running(stream) as got:
        await eventually(lambda: len(got.trades) == 2)

    assert got.ids == [1, 3]  # nothing after the close frame counts
    assert stream.missed == 1
    assert "going away" in got.texts("disconnected")[0]


@pytest.mark.parametrize(
    "sizes",
    [[1], [2, 3, 5, 7, 11], [64, 1, 200], [100_000]],
    ids=["bytewise", "small", "mixed", "whole"],
)
async def test_frames_cut_at_any_byte_are_all_read_in_order(
    raw_server: RawFrameServer, sizes: list[int]
):
    trade = [text(i) for i in range(1, 31)]
    fragmented = trade_payload(16).encode()
    data = b"".join(
        [
            *trade[:10],
            frame(PING, b"are you there"),
            *trade[10:15],
            frame(BINARY, b"\x00\x01"),
            frame(TEXT, b'{"result":null,"id":1}'),
            frame(TEXT, fragmented[:40], fin=False),  # one trade in two fragments
            frame(CONT, fragmented[40:]),
            *trade[16:],
        ]
    )

    async def script(writer: asyncio.StreamWriter, reply: bytes) -> None:
        writer.write(reply + data[:150])  # frames in the same packet as the handshake reply
        await write_in_chunks(writer, data[150:], sizes)

    raw_server.then(script)
    stream = make_stream(raw_server, ping_interval=None, close_timeout=0.1)
    async with running(stream) as got:
        await eventually(lambda: len(got.trades) == 30)
        await eventually(lambda: raw_server.received[:1] == b"\x8a")  # our pong went back

    assert got.ids == list(range(1, 31))
    assert dict(stream.bad_by_kind) == {"binary": 1}
    assert (stream.duplicates, stream.missed, stream.reconnects) == (0, 0, 0)


# -- reconnecting on purpose, and backing off ------------------------------------------------


async def test_server_shutdown_reconnects_without_waiting(simulator: Simulator):
    # A backoff of 60 s would make this test time out if the shutdown went through it.
    stream = make_stream(simulator, backoff=Backoff(base=60.0, cap=60.0, random=lambda: 1.0))
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 2))
        await eventually(lambda: len(got.trades) == 2)
        simulator.send_server_shutdown()
        # Sent after the notice but before the server saw our close frame: still ours to keep.
        simulator.publish(minute_times(0, 2, start_ms=50))
        await simulator.wait_for_connections(2, timeout=5)
        simulator.publish(minute_times(0, 2, start_ms=100))
        await eventually(lambda: len(got.trades) == 6)

    assert got.texts("backing_off") == []
    assert "shutdown" in got.texts("disconnected")[0]
    assert stream.reconnects == 1
    assert got.ids == [1, 2, 3, 4, 5, 6]
    assert got.of("gap") == []


async def test_a_server_that_says_shutdown_at_every_connect_is_backed_off():
    async def shutdown_at_once(connection: ServerConnection) -> None:
        await connection.send('{"e":"serverShutdown","E":1}')
        await connection.wait_closed()

    server = ScriptedServer()
    server.every = shutdown_at_once
    attempts: list[int] = []
    clock = FakeClock()  # never advances: no connection ever lasts `healthy_after`
    async with server.serving():
        stream = make_stream(
            server, backoff=RecordingBackoff(attempts), healthy_after=5.0, clock=clock
        )
        async with running(stream):
            await eventually(lambda: len(attempts) >= 4)
    assert attempts[:4] == [0, 1, 2, 3]


async def test_backoff_does_not_reset_on_a_flapping_link_but_does_after_a_healthy_one():
    clock = FakeClock()
    next_id = iter(range(1, 1000))

    async def flap(connection: ServerConnection) -> None:
        await connection.send(trade_payload(next(next_id)))  # a message, then gone at once

    async def healthy(connection: ServerConnection) -> None:
        await connection.send(trade_payload(next(next_id)))
        await eventually(lambda: stream.trades == 5)  # the client is connected and reading
        clock.advance(10.0)
        await connection.send(trade_payload(next(next_id)))  # still delivering 10 s later

    server = ScriptedServer()
    server.scripts += [flap, flap, flap, flap, healthy]
    server.every = flap
    attempts: list[int] = []
    async with server.serving():
        stream = make_stream(
            server, backoff=RecordingBackoff(attempts), healthy_after=10.0, clock=clock
        )
        async with running(stream) as got:
            await eventually(lambda: len(attempts) >= 7)
    # Four flaps back off further each time; the healthy connection starts afresh.
    assert attempts[:7] == [0, 1, 2, 3, 0, 1, 2]
    assert got.ids[:7] == list(range(1, 8))


async def test_refused_connections_back_off_then_succeed(simulator: Simulator):
    delays: list[float] = []

    class Recording(Backoff):
        def delay(self, attempt: int) -> float:
            delays.append(super().delay(attempt))
            return delays[-1]

    simulator.refuse_next(4)
    stream = make_stream(simulator, backoff=Recording(base=0.02, cap=0.05, random=lambda: 1))
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 1))
        await eventually(lambda: len(got.trades) == 1)

    assert simulator.refused_total == 4
    assert delays == [0.02, 0.04, 0.05, 0.05]  # doubling, capped
    assert len(got.texts("backing_off")) == 4
    assert all("503" in t for t in got.texts("disconnected"))
    assert stream.reconnects == 0  # one successful connection


async def test_backing_off_is_visible_in_the_status(simulator: Simulator):
    clock = FakeClock()
    simulator.refuse_next(1000)
    stream = make_stream(
        simulator, backoff=Backoff(base=5.0, cap=5.0, random=lambda: 1.0), clock=clock
    )
    async with running(stream):
        await eventually(lambda: stream.state == "backing_off")
        status = stream.status()
        clock.advance(2.0)
        later = stream.status()
    assert status.state == "backing_off"
    assert status.retry_in == 5.0
    assert later.retry_in == 3.0
    assert status.last_error is not None and "503" in status.last_error


async def test_reconnects_on_its_own_before_the_connection_age_limit(simulator: Simulator):
    clock = FakeClock()
    stream = make_stream(
        simulator,
        max_connection_age=100.0,
        stale_after=1000.0,
        clock=clock,
        backoff=Backoff(base=60.0, cap=60.0, random=lambda: 1.0),
    )
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 1))
        await eventually(lambda: len(got.trades) == 1)
        clock.advance(99.0)
        simulator.publish(minute_times(0, 1, start_ms=100))
        await eventually(lambda: len(got.trades) == 2)
        assert simulator.connections_total == 1
        clock.advance(2.0)
        await simulator.wait_for_connections(2, timeout=5)
    assert "planned reconnect" in got.texts("disconnected")[0]
    assert got.texts("backing_off") == []


def test_backoff_is_exponential_with_full_jitter_and_capped():
    full = Backoff(base=1.0, cap=30.0, random=lambda: 1.0)
    assert [full.delay(a) for a in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert Backoff(base=1.0, cap=30.0, random=lambda: 0.25).delay(3) == 2.0
    assert full.delay(10_000) == 30  # no overflow after days of outage


def test_a_url_that_is_not_websocket_is_refused_up_front():
    with pytest.raises(StreamConfigError, match=r"http://example\.com"):
        TradeStream("http://example.com", "btcusdt")


# -- the fast parser ------------------------------------------------------------------------


def test_the_fast_parser_agrees_with_parse_message_on_real_binance_payloads(
    monkeypatch: pytest.MonkeyPatch,
):
    lines = []
    for day in ("binance-spot-2023-04-05", "binance-ws-2022-05-21"):
        lines += fixture_path(day, "trades.jsonl").read_text().splitlines()
    assert len(lines) > 3000
    expected = [parse_message(line) for line in lines]
    assert all(type(t) is Trade for t in expected)

    def no_fallback(raw: str | bytes) -> None:
        raise AssertionError(f"a real payload missed the fast path: {raw!r}")

    # Every real trade payload takes the fast path (else it would be slower, not wrong).
    monkeypatch.setattr("btc_tui.market.stream.parse_message", no_fallback)
    assert [parse_frame(line) for line in lines] == expected


TRADE = (
    '{"e":"trade","E":1680652800002,"s":"BTCUSDT","t":3071245455,"p":"28165.47000000",'
    '"q":"0.00128000","T":1680652800001,"m":true,"M":true}'
)


@pytest.mark.parametrize(
    "raw",
    [
        TRADE,
        TRADE.replace('"m":true', '"m":false'),
        TRADE.replace('"0.00128000"', '"12.00128000"'),
        TRADE.replace('"0.00128000"', '".00128000"'),  # no whole part
        TRADE.replace('"0.00128000"', '"0.00128"'),  # fewer decimals
        TRADE.replace('"0.00128000"', '"0.001280001"'),  # too many decimals
        TRADE.replace('"0.00128000"', '"-0.00128000"'),
        TRADE.replace('"0.00128000"', '"0.0012800\u0663"'),  # a non-ASCII digit
        TRADE.replace('"0.00128000"', '"1.2.345678"'),
        TRADE.replace('"0.00128000"', "128000"),
        TRADE.replace('"28165.47000000"', '"0"'),
        TRADE.replace('"28165.47000000"', '"inf"'),
        TRADE.replace('"28165.47000000"', '"nan"'),
        TRADE.replace('"28165.47000000"', '"-1"'),
        TRADE.replace('"28165.47000000"', '"1_000.5"'),
        TRADE.replace('"28165.47000000"', '"abc"'),
        TRADE.replace('"28165.47000000"', "28165.47"),
        TRADE.replace('"t":3071245455', '"t":true'),
        TRADE.replace('"t":3071245455', '"t":"3071245455"'),
        TRADE.replace('"E":1680652800002,', ""),  # no event time: the trade time stands in
        TRADE.replace('"E":1680652800002', '"E":"soon"'),
        TRADE.replace('"T":1680652800001,', ""),
        TRADE.replace('"e":"trade",', '"stream":"x","data":{"e":"trade"},"e":"trade",'),
        '{"stream":"btcusdt@trade","data":' + TRADE + "}",
        '{"e":"serverShutdown","E":1}',
        '{"result":null,"id":1}',
        '{"code":-1121,"msg":"Invalid symbol."}',
        "[1, 2]",
        "not json",
        "",
        TRADE.encode(),  # a binary frame, even one holding a trade
        b"\x00\x01",
    ],
)
def test_the_fast_parser_agrees_with_parse_message_on_edge_cases(raw: str | bytes):
    assert parse_frame(raw) == parse_message(raw)


# -- status and our own failures -------------------------------------------------------------


async def test_status_reports_the_message_rate_over_at_least_a_second(simulator: Simulator):
    clock = FakeClock()
    stream = make_stream(simulator, clock=clock, stale_after=1000.0)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 40))
        await eventually(lambda: len(got.trades) == 40)
        clock.advance(0.5)
        early = stream.status()  # under a second since the last sample: no new figure yet
        clock.advance(1.5)
        status = stream.status()
        clock.advance(1.0)
        quiet = stream.status()
    assert early.messages_per_second == 0.0
    assert status.messages_per_second == 20.0  # 40 messages in 2 s
    assert quiet.messages_per_second == 0.0
    assert status.last_message_age == 2.0


async def test_stopping_with_a_backlog_is_prompt():
    # The server floods us while our handler is slow, so websockets has paused the socket when we
    # stop: the close must not wait out close_timeout (60 s here) for an answer it can't read.
    async def flood(connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            for trade_id in range(1, 50_001):
                await connection.send(trade_payload(trade_id))
        await connection.wait_closed()

    def slow(trade: Trade) -> None:
        time.sleep(0.0001)  # slower than the server sends: a backlog builds up

    server = ScriptedServer()
    server.scripts.append(flood)
    async with server.serving():
        stream = make_stream(server, close_timeout=60.0)
        task = asyncio.create_task(stream.run(slow))
        await eventually(lambda: stream.trades >= 200)
        task.cancel()
        # Without reading the backlog out, the stop lasts until the server gives up on us
        # (websockets' own close_timeout, 10 s): this deadline catches that.
        async with asyncio.timeout(5):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert stream.state == "stopped"
    assert stream.trades < 50_000  # it really stopped mid-flood


async def test_an_error_in_our_own_trade_handler_is_raised_not_retried(simulator: Simulator):
    stream = make_stream(simulator)

    def on_trade(trade: Trade) -> None:
        raise OSError(28, "No space left on device")

    task = asyncio.create_task(stream.run(on_trade))
    await simulator.wait_for_connections(1)
    simulator.publish(minute_times(0, 2))
    with pytest.raises(OSError, match="No space left"):
        await asyncio.wait_for(task, 10)
    assert simulator.connections_total == 1  # a local failure is not a network problem
    assert stream.state == "stopped"
    assert stream.trades == 1  # the second trade was never handed to a failed handler
