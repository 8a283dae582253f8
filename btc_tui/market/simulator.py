"""A Binance-compatible trade stream on loopback: the demo's data source and the tests' server.

It serves `/ws/<symbol>@trade` (already subscribed, like Binance), `/ws` (subscribe by message) and
`/stream?streams=<symbol>@trade` (payloads wrapped as `{"stream":..,"data":..}`), with payloads
shaped byte for byte like Binance's. Every connected client sees the same trade sequence.

Tests drive it by hand: `rate=0` turns the random-walk clock off and `publish()` sends trades with
chosen trade times; the fault methods (`drop_connections`, `stall`, `send_raw`,
`send_server_shutdown`, `refuse_next`, `resend_on_connect`) reproduce what a real exchange does to a
long-running client.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.binance import format_trade

PRICE_TICK_CENTS = 1  # price tick 0.01 USDT
QTY_STEP_UNITS = 1  # quantity step 0.00001 BTC, counted in units of 1e-5


def price_text(cents: int) -> str:
    """42000.12 as Binance writes it: '42000.12000000'."""
    return f"{cents // 100}.{cents % 100:02d}000000"


def qty_text(units: int) -> str:
    """123 units of 1e-5 as Binance writes it: '0.00123000'."""
    return f"{units // 100_000}.{units % 100_000:05d}000"


@dataclass(frozen=True, slots=True)
class SentTrade:
    """A trade as the simulator published it (what tests compare the CSV against)."""

    trade_id: int
    price: str
    qty: str
    trade_time: int
    payload: str


class RandomWalk:
    """Trade prices and sizes: a tick-rounded random walk with heavy-tailed quantities."""

    def __init__(self, seed: int | None, start_price: float, first_trade_id: int = 1) -> None:
        self._rng = random.Random(seed)
        self.cents = max(1, round(start_price * 100))
        self.next_id = first_trade_id
        # About 0.0008% of the price per trade: ~10-30 USDT per minute at 60k and 20 trades/s.
        self._sigma_cents = max(1.0, start_price * 100 * 8e-6)

    def step(self) -> tuple[int, int, int, bool]:
        """(trade id, price in cents, qty in 1e-5 units, buyer is maker)."""
        rng = self._rng
        if rng.random() < 0.6:  # most consecutive trades print at the same or a touching price
            self.cents = max(1, self.cents + round(rng.gauss(0.0, self._sigma_cents)))
        units = max(QTY_STEP_UNITS, int(rng.lognormvariate(math.log(150), 1.3)))
        trade_id = self.next_id
        self.next_id += 1
        return trade_id, self.cents, units, rng.random() < 0.5


class Simulator:
    """Serve a simulated `<symbol>@trade` stream on `host:port` (port 0 picks a free port)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        symbol: str = "btcusdt",
        rate: float = 20.0,
        seed: int | None = None,
        start_price: float = 60_000.0,
        ping_interval: float = 20.0,
        clock: Callable[[], float] = time.time,
        first_trade_id: int = 1,
        history: int = 10_000,
        record: bool = False,
    ) -> None:
        self.host = host
        self._port = port
        self.symbol = symbol.lower()
        self.stream_name = f"{self.symbol}@trade"
        self.rate = rate
        self.ping_interval = ping_interval
        self._clock = clock
        self._walk = RandomWalk(seed, start_price, first_trade_id)
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # connection -> True if it gets combined-stream wrappers
        self._clients: dict[ServerConnection, bool] = {}
        self._changed = asyncio.Event()
        self._recent: deque[SentTrade] = deque(maxlen=history)
        # Every trade published, in order, when `record` is on (tests compare the CSV against it;
        # off by default so a long demo doesn't grow without bound).
        self.sent: list[SentTrade] = []
        self.record = record
        self.published = 0
        self.connections_total = 0
        self.refused_total = 0
        self._refuse = 0
        self._stalled = False
        self.resend_on_connect = 0
        self.control_messages: list[object] = []

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,  # our own pings, so a stall can silence them
            max_queue=64,
        )
        if self.ping_interval:
            self._tasks.append(asyncio.create_task(self._ping_loop()))
        if self.rate > 0:
            self._tasks.append(asyncio.create_task(self._trade_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """The base URL to give the collector (`btc-tui collect --url ...`)."""
        return f"ws://{self.host}:{self.port}"

    @property
    def clients(self) -> int:
        return len(self._clients)

    # -- publishing --------------------------------------------------------------------------
    def publish(self, trade_times: Iterable[int]) -> list[SentTrade]:
        """Send one trade per given trade time (ms) to every subscribed client, now."""
        trades = []
        for trade_time in trade_times:
            trade_id, cents, units, maker = self._walk.step()
            payload = format_trade(
                self.symbol,
                trade_id,
                price_text(cents),
                qty_text(units),
                trade_time,
                trade_time + 1,  # the event is stamped just after the match, as on Binance
                maker,
            )
            trade = SentTrade(trade_id, price_text(cents), qty_text(units), trade_time, payload)
            trades.append(trade)
            self._recent.append(trade)
            self._send_payload(payload)
        self.published += len(trades)
        if self.record:
            self.sent.extend(trades)
        return trades

    def _send_payload(self, payload: str) -> None:
        if not self._clients:
            return
        raw = [c for c, wrapped in self._clients.items() if not wrapped]
        if raw:
            broadcast(raw, payload)
        combined = [c for c, wrapped in self._clients.items() if wrapped]
        if combined:
            broadcast(combined, self._wrap(payload))

    def _wrap(self, payload: str) -> str:
        return f'{{"stream":"{self.stream_name}","data":{payload}}}'

    async def _trade_loop(self) -> None:
        """Publish `rate` trades per second, catching up in batches if the loop fell behind."""
        started = time.monotonic()
        published = 0
        while True:
            due = int((time.monotonic() - started) * self.rate) - published
            if due > 0 and not self._stalled:
                now_ms = int(self._clock() * 1000)
                self.publish([now_ms] * due)
            if due > 0:
                published += due
            await asyncio.sleep(min(1.0, 1.0 / self.rate))

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            if self._stalled:
                continue
            for connection in list(self._clients):
                with contextlib.suppress(ConnectionClosed):
                    # Binance drops a client that has not ponged for a minute; pings are enough
                    # for the demo, and the client's pong is sent by websockets.
                    await connection.ping(str(int(self._clock() * 1000)))

    # -- faults (for tests) ------------------------------------------------------------------
    def drop_connections(self) -> int:
        """Cut every connection at the TCP level, as a network failure would. Returns how many."""
        dropped = 0
        for connection in list(self._clients):
            connection.transport.abort()
            dropped += 1
        return dropped

    def stall(self, answer_pings: bool = True) -> None:
        """Keep the sockets open but send nothing; with answer_pings=False, stop reading too."""
        self._stalled = True
        if not answer_pings:
            for connection in self._clients:
                connection.transport.pause_reading()

    def resume(self) -> None:
        self._stalled = False
        for connection in self._clients:
            with contextlib.suppress(Exception):  # only fails for a socket already closed
                connection.transport.resume_reading()

    def send_raw(self, data: str | bytes) -> None:
        """Send an arbitrary frame (text for str, binary for bytes) to every client."""
        broadcast(list(self._clients), data)

    def send_server_shutdown(self) -> None:
        now_ms = int(self._clock() * 1000)
        broadcast(list(self._clients), f'{{"e":"serverShutdown","E":{now_ms}}}')

    def refuse_next(self, count: int) -> None:
        """Answer the next `count` handshakes with HTTP 503, as an overloaded edge does."""
        self._refuse = count

    async def wait_for(self, predicate: Callable[[Simulator], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate(self)` holds; re-checked whenever a client comes or goes."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_connections(self, total: int, timeout: float = 10.0) -> None:
        """Wait until `total` connections were accepted and one of them is still open."""
        await self.wait_for(lambda s: s.connections_total >= total and s.clients > 0, timeout)

    # -- the server --------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._refuse > 0:
            self._refuse -= 1
            self.refused_total += 1
            self._changed.set()
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n")
        if self._streams_for(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown stream\n")
        return None

    def _streams_for(self, path: str) -> tuple[bool, list[str]] | None:
        """(combined?, initial subscriptions) for a request path, None if we don't serve it."""
        parts = urlsplit(path)
        if parts.path in ("/ws", "/ws/"):
            return False, []
        if parts.path.startswith("/ws/"):
            return False, [s for s in parts.path[4:].split("/") if s]
        if parts.path in ("/stream", "/stream/"):
            streams = parse_qs(parts.query).get("streams", [""])[0]
            return True, [s for s in streams.split("/") if s]
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        served = self._streams_for(connection.request.path if connection.request else "/")
        assert served is not None  # _process_request refused everything else
        combined, subscriptions = served
        self.connections_total += 1
        subscribed = self.stream_name in subscriptions
        for payload in (
            list(self._recent)[-self.resend_on_connect :] if self.resend_on_connect else []
        ):
            # A replay after reconnect, like a load balancer handing us to a lagging node.
            await connection.send(self._wrap(payload.payload) if combined else payload.payload)
        if subscribed:
            self._clients[connection] = combined
        self._changed.set()
        try:
            async for message in connection:
                reply = self._control_reply(message, subscriptions)
                if reply is not None:
                    await connection.send(reply)
                now_subscribed = self.stream_name in subscriptions
                if now_subscribed and connection not in self._clients:
                    self._clients[connection] = combined
                elif not now_subscribed:
                    self._clients.pop(connection, None)
        except ConnectionClosed:
            pass  # the client went away or we cut it: both are normal here
        finally:
            self._clients.pop(connection, None)
            self._changed.set()

    def _control_reply(self, message: str | bytes, subscriptions: list[str]) -> str | None:
        """Binance's answers to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS."""
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return '{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}'
        self.control_messages.append(request)
        if not isinstance(request, dict) or "method" not in request:
            return '{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"}'
        method, params, req_id = request.get("method"), request.get("params", []), request.get("id")
        if method == "SUBSCRIBE" and isinstance(params, list):
            subscriptions.extend(p for p in params if p not in subscriptions)
            return orjson.dumps({"result": None, "id": req_id}).decode()
        if method == "UNSUBSCRIBE" and isinstance(params, list):
            subscriptions[:] = [s for s in subscriptions if s not in params]
            return orjson.dumps({"result": None, "id": req_id}).decode()
        if method == "LIST_SUBSCRIPTIONS":
            return orjson.dumps({"result": list(subscriptions), "id": req_id}).decode()
        return orjson.dumps(
            {"code": 2, "msg": "Invalid request: unknown method", "id": req_id}
        ).decode()


def simulated_history(
    minutes: int,
    end_minute: int,
    seed: int | None = None,
    start_price: float = 60_000.0,
) -> list[MinuteBar]:
    """`minutes` consecutive random-walk minute bars, the last one starting at `end_minute` (ms).

    Each minute walks through a few dozen price points, so open/high/low/close/average are
    mutually consistent (low <= open, close, avg, vwap <= high) and prices keep a 0.01 tick.
    """
    if minutes <= 0:
        return []
    rng = random.Random(seed)
    end_minute -= end_minute % MINUTE_MS
    first_minute = end_minute - (minutes - 1) * MINUTE_MS
    cents = max(100, round(start_price * 100))
    sigma = max(1.0, start_price * 100 * 2.5e-5)  # per step; ~20 steps -> ~0.01% a minute
    trade_id = 1
    bars: list[MinuteBar] = []
    for i in range(minutes):
        trades = max(1, int(rng.lognormvariate(math.log(600), 0.5)))
        steps = min(trades, 24)
        path = []
        for _ in range(steps):
            cents = max(100, cents + round(rng.gauss(0.0, sigma)))
            path.append(cents)
        weights = [rng.lognormvariate(0.0, 1.0) for _ in path]
        units = int(rng.lognormvariate(math.log(trades * 0.01 * 1e8), 0.6))
        units = max(1000, units - units % 1000)  # whole quantity steps of 0.00001
        avg = sum(path) / steps / 100
        vwap = sum(p * w for p, w in zip(path, weights, strict=True)) / sum(weights) / 100
        bars.append(
            MinuteBar(
                minute=first_minute + i * MINUTE_MS,
                avg_price=avg,
                open=path[0] / 100,
                high=max(path) / 100,
                low=min(path) / 100,
                close=path[-1] / 100,
                volume=units / 1e8,
                vwap=vwap,
                trades=trades,
                first_trade_id=trade_id,
                last_trade_id=trade_id + trades - 1,
            )
        )
        trade_id += trades
    return bars
