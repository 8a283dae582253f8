"""TradeStream against a real server on 127.0.0.1: reconnects, watchdog, dedupe, gaps, bad frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from websockets.frames import Frame, Opcode

from btc_tui.market.binance import Trade, format_trade
from btc_tui.market.simulator import Simulator
from btc_tui.market.stream import Backoff, StreamConfigError, StreamEvent, TradeStream
from tests.market.conftest import (
    BASE_MINUTE,
    RawFrameServer,
    eventually,
    fast_backoff,
    minute_times,
    write_in_chunks,
)


@dataclass
class Received:
    trades: list[Trade] = field(default_factory=list)
    events: list[StreamEvent] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [t.trade_id for t in self.trades]

    def texts(self, kind: str) -> list[str]:
        return [e.text for e in self.events if e.kind == kind]


@contextlib.asynccontextmanager
async def running(stream: TradeStream) -> AsyncIterator[Received]:
    received = Received()
    task = asyncio.create_task(stream.run(received.trades.append, received.events.append))
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert stream.state == "stopped"


def make_stream(sim: Simulator | RawFrameServer, **kw: object) -> TradeStream:
    options: dict[object, object] = {"backoff": fast_backoff(), "healthy_after": 0.0}
    options.update(kw)
    return TradeStream(sim.url, "btcusdt", **options)  # type: ignore[arg-type]


async def test_receives_trades_without_sending_a_subscribe(simulator: Simulator):
    stream = make_stream(simulator)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        sent = simulator.publish(minute_times(0, 5))
        await eventually(lambda: len(got.trades) == 5)
        status = stream.status()
    assert got.ids == [t.trade_id for t in sent]
    assert [t.price for t in got.trades] == [float(t.price) for t in sent]
    # A raw /ws/<stream> is already subscribed; the seed's SUBSCRIBE only earned a reply frame.
    assert simulator.control_messages == []
    assert status.state == "connected"
    assert status.reconnects == 0
    assert status.last_message_age is not None and status.last_message_age < 5
    assert (status.bad, status.duplicates, status.missed) == (0, 0, 0)
    assert got.texts("connected") == [f"connected to {stream.url}"]


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
    assert len(got.texts("disconnected")) == 1
    assert got.texts("connected")[-1].startswith("reconnected")


async def test_trades_sent_while_disconnected_are_reported_as_missed(simulator: Simulator):
    stream = make_stream(simulator, backoff=Backoff(base=0.3, cap=0.3, random=lambda: 1.0))
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 5))
        await eventually(lambda: len(got.trades) == 5)
        simulator.drop_connections()
        await simulator.wait_for(lambda s: s.clients == 0)
        simulator.publish(minute_times(0, 3, start_ms=100))  # nobody is listening: ids 6..8
        await simulator.wait_for_connections(2)
        simulator.publish(minute_times(0, 2, start_ms=200))
        await eventually(lambda: len(got.trades) == 7)

    assert got.ids == [1, 2, 3, 4, 5, 9, 10]
    assert stream.missed == 3
    assert got.texts("gap") == ["missed 3 trade(s): ids 6..8"]


async def test_silent_server_is_dropped_by_the_watchdog(simulator: Simulator):
    stream = make_stream(simulator, stale_after=0.3)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 3))
        await eventually(lambda: len(got.trades) == 3)
        # The socket stays open but nothing arrives, not even pings, and reads stop too.
        simulator.stall(answer_pings=False)
        await eventually(lambda: stream.status().stale)
        await simulator.wait_for_connections(2)
        simulator.resume()
        simulator.publish(minute_times(0, 3, start_ms=100))
        await eventually(lambda: len(got.trades) == 6)

    assert got.ids == list(range(1, 7))
    assert "no data for" in got.texts("disconnected")[0]
    assert "stale after 0.3s" in got.texts("disconnected")[0]


async def test_pings_alone_keep_a_quiet_connection_alive():
    # No trades at all, but pings every 0.05 s: a quiet market is not a dead connection.
    async with Simulator(rate=0, ping_interval=0.05) as sim:
        stream = make_stream(sim, stale_after=1.5)
        async with running(stream) as got:
            await sim.wait_for_connections(1)
            await asyncio.sleep(2.5)
            status = stream.status()
    assert sim.connections_total == 1
    assert got.texts("disconnected") == []
    assert status.stale is False
    assert status.last_message_age is not None and status.last_message_age < 1.5


async def test_garbage_and_binary_frames_are_counted_and_skipped(simulator: Simulator):
    stream = make_stream(simulator)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.send_raw("this is not json")
        simulator.send_raw(b"\x00\x01\x02binary")
        simulator.send_raw('{"hello":"world"}')
        simulator.send_raw('{"e":"trade","t":"seven","p":"1","q":"1","T":1}')
        simulator.send_raw('{"result":null,"id":1}')  # a stray control reply is harmless
        simulator.publish(minute_times(0, 3))
        await eventually(lambda: len(got.trades) == 3)
        status = stream.status()

    assert got.ids == [1, 2, 3]
    assert dict(stream.bad_by_kind) == {"json": 1, "binary": 1, "unknown": 1, "shape": 1}
    assert status.bad == 4
    assert simulator.connections_total == 1  # bad frames never cost the connection
    assert len(got.texts("bad")) == 4


async def test_server_shutdown_reconnects_without_waiting(simulator: Simulator):
    # A backoff of 60 s would make this test time out if the shutdown went through it.
    stream = make_stream(simulator, backoff=Backoff(base=60.0, cap=60.0, random=lambda: 1.0))
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 2))
        await eventually(lambda: len(got.trades) == 2)
        simulator.send_server_shutdown()
        await simulator.wait_for_connections(2, timeout=5)
        simulator.publish(minute_times(0, 2, start_ms=100))
        await eventually(lambda: len(got.trades) == 4)

    assert got.texts("backing_off") == []
    assert "shutdown" in got.texts("disconnected")[0]
    assert stream.reconnects == 1


async def test_refused_connections_back_off_then_succeed(simulator: Simulator):
    delays: list[float] = []

    class RecordingBackoff(Backoff):
        def delay(self, attempt: int) -> float:
            delays.append(super().delay(attempt))
            return delays[-1]

    simulator.refuse_next(4)
    stream = make_stream(simulator, backoff=RecordingBackoff(base=0.02, cap=0.05, random=lambda: 1))
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, 1))
        await eventually(lambda: len(got.trades) == 1)

    assert simulator.refused_total == 4
    assert delays == [0.02, 0.04, 0.05, 0.05]  # doubling, capped
    assert len(got.texts("backing_off")) == 4
    assert all("503" in text for text in got.texts("disconnected"))
    assert stream.reconnects == 0  # one successful connection


async def test_backing_off_is_visible_in_the_status(simulator: Simulator):
    simulator.refuse_next(1000)
    stream = make_stream(simulator, backoff=Backoff(base=5.0, cap=5.0, random=lambda: 1.0))
    async with running(stream):
        await eventually(lambda: stream.state == "backing_off")
        status = stream.status()
    assert status.state == "backing_off"
    assert status.retry_in is not None and 0 < status.retry_in <= 5.0
    assert status.last_error is not None and "503" in status.last_error


async def test_reconnects_on_its_own_before_the_connection_age_limit(simulator: Simulator):
    stream = make_stream(
        simulator,
        max_connection_age=0.2,
        backoff=Backoff(base=60.0, cap=60.0, random=lambda: 1.0),
    )
    async with running(stream) as got:
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


def frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=False)


def trade_payload(trade_id: int) -> bytes:
    t = BASE_MINUTE + trade_id
    return format_trade("btcusdt", trade_id, "42000.01000000", "0.00100000", t, t, True).encode()


@pytest.mark.parametrize(
    "sizes",
    [[1], [2, 3, 5, 7, 11], [64, 1, 200], [100_000]],
    ids=["bytewise", "small", "mixed", "whole"],
)
async def test_frames_cut_at_any_byte_are_all_read_in_order(
    raw_server: RawFrameServer, sizes: list[int]
):
    trade = [frame(Opcode.TEXT, trade_payload(i)) for i in range(1, 31)]
    fragmented = trade_payload(16)
    data = b"".join(
        [
            *trade[:10],
            frame(Opcode.PING, b"are you there"),
            *trade[10:15],
            frame(Opcode.BINARY, b"\x00\x01"),
            frame(Opcode.TEXT, b'{"result":null,"id":1}'),  # under 126 bytes: short length form
            frame(Opcode.TEXT, fragmented[:40], fin=False),  # one trade in two fragments
            frame(Opcode.CONT, fragmented[40:]),
            *trade[16:],
        ]
    )

    async def script(writer: asyncio.StreamWriter, reply: bytes) -> None:
        writer.write(reply + data[:150])  # frames in the same packet as the handshake reply
        await write_in_chunks(writer, data[150:], sizes)

    raw_server.then(script)
    stream = make_stream(raw_server)
    async with running(stream) as got:
        await eventually(lambda: len(got.trades) == 30)
        await eventually(lambda: raw_server.received[:1] == b"\x8a")  # our pong went back

    assert got.ids == list(range(1, 31))
    assert dict(stream.bad_by_kind) == {"binary": 1}
    assert (stream.duplicates, stream.missed, stream.reconnects) == (0, 0, 0)


async def test_invalid_utf8_and_a_close_frame_are_handled(raw_server: RawFrameServer):
    async def first(writer: asyncio.StreamWriter, reply: bytes) -> None:
        writer.write(
            reply + frame(Opcode.TEXT, b"\xff\xfe not utf-8") + frame(Opcode.TEXT, trade_payload(1))
        )
        writer.write(
            frame(Opcode.CLOSE, b"\x03\xe9going away") + frame(Opcode.TEXT, trade_payload(2))
        )
        await writer.drain()

    async def second(writer: asyncio.StreamWriter, reply: bytes) -> None:
        writer.write(reply + frame(Opcode.TEXT, trade_payload(3)))
        await writer.drain()

    raw_server.then(first)
    raw_server.then(second)
    # The first server never closes the socket after its close frame: we must not wait forever.
    stream = make_stream(raw_server, close_timeout=0.2)
    async with running(stream) as got:
        await eventually(lambda: len(got.trades) == 2)

    # Nothing after the close frame counts; the gap shows trade 2 never arrived.
    assert got.ids == [1, 3]
    assert stream.bad_by_kind["utf8"] == 1
    assert stream.missed == 1
    assert "going away" in got.texts("disconnected")[0]


async def test_status_reports_the_message_rate(simulator: Simulator):
    stream = make_stream(simulator)
    async with running(stream) as got:
        await simulator.wait_for_connections(1)
        stream.status()  # starts a rate sample
        simulator.publish(minute_times(0, 40))
        await eventually(lambda: len(got.trades) == 40)
        await asyncio.sleep(1.05)  # a rate is measured over at least a second
        status = stream.status()
    assert 0 < status.messages_per_second <= 40


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
