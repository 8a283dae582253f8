"""A Binance-compatible exchange on loopback: the demo's data source and the tests' server.

On one port it serves the trade stream and the public REST endpoints the app uses:

- WebSocket `/ws/<symbol>@trade` (already subscribed, like Binance), `/ws` (subscribe by message)
  and `/stream?streams=<symbol>@trade` (payloads wrapped as `{"stream":..,"data":..}`), with
  payloads shaped byte for byte like Binance's. Every connected client sees the same trades.
- HTTP `GET /api/v3/time`, `/api/v3/aggTrades` and `/api/v3/klines` over every trade it ever made
  (an optional sparse past of `history_minutes`, then everything published), with Binance's
  parameters, error shapes, weight header, 429 + `Retry-After` and 418 bans.

Trades published together by one `publish()` call are one batch of matching: consecutive trades in
it with the same time, price and side form one aggregate (`a`, trades `f..l`), as Binance's taker
orders do. An aggregate never changes once published (separate calls are separate orders), so what
REST served once stays true.

Tests drive it by hand: `rate=0` turns the random-walk clock off and `publish()` makes trades with
chosen trade times (`send=False` keeps some off the socket: a hole only REST can fill); the fault
methods (`drop_connections`, `stall`, `send_raw`, `send_server_shutdown`, `refuse_next`,
`resend_on_connect`, `fail_next`; `rest_upto`: a lagging aggTrades database) reproduce what a real
exchange does to a long-running client.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import random
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.http11 import Request, Response

from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.binance import QTY_SCALE, AggTrade, Trade, format_trade
from btc_tui.market.demo import START_PRICE

PRICE_TICK_CENTS = 1  # price tick 0.01 USDT
QTY_STEP_UNITS = 1  # quantity step 0.00001 BTC, counted in units of 1e-5
UNITS_TO_QTY_UNITS = QTY_SCALE // 100_000  # 1e-5 steps -> the 1e-8 units Trade.qty_units uses
HOUR_MS = 3_600_000
REST_WEIGHTS = {"/api/v3/time": 1, "/api/v3/aggTrades": 4, "/api/v3/klines": 2}


def price_text(cents: int) -> str:
    """42000.12 as Binance writes it: '42000.12000000'."""
    return f"{cents // 100}.{cents % 100:02d}000000"


def qty_text(units: int) -> str:
    """123 units of 1e-5 as Binance writes it: '0.00123000'."""
    return f"{units // 100_000}.{units % 100_000:05d}000"


def quote_text(cent_units: int) -> str:
    """A sum of cents x 1e-5 units (units of 1e-7) with Binance's 8 decimals."""
    return f"{cent_units // 10**7}.{cent_units % 10**7:07d}0"


@dataclass(frozen=True, slots=True)
class SentTrade:
    """A trade as the simulator published it (what tests compare the CSV against)."""

    trade_id: int
    price: str
    qty: str
    trade_time: int
    payload: str
    agg_id: int  # the aggregate REST serves it in
    qty_units: int  # qty in exact units of 1e-8, like Trade.qty_units
    buyer_is_maker: bool


class RandomWalk:
    """Trade prices and sizes: a tick-rounded random walk with heavy-tailed quantities.

    Now and then a taker order sweeps one price level: a burst of several trades with one price
    and side, which become one aggregate when published together.
    """

    def __init__(self, seed: int | None, start_price: float, first_trade_id: int = 1) -> None:
        self._rng = random.Random(seed)
        self.cents = max(1, round(start_price * 100))
        self.next_id = first_trade_id
        # About 0.0008% of the price per trade: ~10-30 USDT per minute at 60k and 20 trades/s.
        self._sigma_cents = max(1.0, start_price * 100 * 8e-6)
        self.burst_left = 0  # trades still to come in the current one-order burst
        self._maker = False

    def step(self) -> tuple[int, int, int, bool]:
        """(trade id, price in cents, qty in 1e-5 units, buyer is maker)."""
        rng = self._rng
        if self.burst_left > 0:
            self.burst_left -= 1
        else:
            if rng.random() < 0.6:  # most consecutive trades print at the same or a touching price
                self.cents = max(1, self.cents + round(rng.gauss(0.0, self._sigma_cents)))
            self._maker = rng.random() < 0.5
            if rng.random() < 0.04:
                self.burst_left = rng.randint(1, 6)
        units = max(QTY_STEP_UNITS, int(rng.lognormvariate(math.log(150), 1.3)))
        trade_id = self.next_id
        self.next_id += 1
        return trade_id, self.cents, units, self._maker


class AggBook:
    """Every aggregate the simulator recorded, in compact parallel arrays (about 41 bytes each).

    The first `history` aggregates (the configured past) are kept for good; live aggregates beyond
    `max_live` are dropped oldest first, so a demo that runs for days stays bounded. Aggregate ids
    are `first_agg_id + position`, plus `dropped` for positions past the history.
    """

    def __init__(self, first_agg_id: int = 1, max_live: int = 1_000_000) -> None:
        self.first_agg_id = first_agg_id
        self.max_live = max_live
        self.first_id = array("q")
        self.last_id = array("q")
        self.cents = array("q")
        self.units = array("q")  # summed quantity, 1e-5 units
        self.time = array("q")
        self.maker = bytearray()
        self.history = 0
        self.dropped = 0
        self.times_sorted = True
        self._growing = False  # the last aggregate may still take trades (same publish() call)

    def __len__(self) -> int:
        return len(self.time)

    @property
    def next_agg_id(self) -> int:
        return self.first_agg_id + len(self.time) + self.dropped

    def agg_id(self, pos: int) -> int:
        return self.first_agg_id + pos + (self.dropped if pos >= self.history else 0)

    def close_order(self) -> None:
        self._growing = False

    def add(
        self, first_id: int, last_id: int, cents: int, units: int, when: int, maker: bool
    ) -> int:
        """Record trades first_id..last_id as a new aggregate, or extend the growing one."""
        n = len(self.time)
        if (
            self._growing
            and self.time[n - 1] == when
            and self.cents[n - 1] == cents
            and self.maker[n - 1] == maker
            and self.last_id[n - 1] == first_id - 1
        ):
            self.last_id[n - 1] = last_id
            self.units[n - 1] += units
            return self.agg_id(n - 1)
        if n and when < self.time[n - 1]:
            self.times_sorted = False
        self.first_id.append(first_id)
        self.last_id.append(last_id)
        self.cents.append(cents)
        self.units.append(units)
        self.time.append(when)
        self.maker.append(maker)
        self._growing = True
        return self.agg_id(n)

    def trim(self) -> None:
        """Drop the oldest live aggregates once there are 10% more than max_live."""
        live = len(self.time) - self.history
        if live <= self.max_live * 1.1:
            return
        cut = slice(self.history, self.history + live - self.max_live)
        for column in (self.first_id, self.last_id, self.cents, self.units, self.time, self.maker):
            del column[cut]
        self.dropped += live - self.max_live

    def pos_of_id(self, agg_id: int) -> int:
        """Position of the first stored aggregate with id >= agg_id."""
        rel = agg_id - self.first_agg_id
        if rel <= 0:
            return 0
        if rel < self.history:
            return rel
        if rel < self.history + self.dropped:
            return self.history
        return min(rel - self.dropped, len(self.time))

    def positions_between(self, start: int | None, end: int | None, limit: int) -> range | list:
        """Positions with start <= T <= end, in id order: the first `limit`, or with only an end
        the last `limit`."""
        times = self.time
        lo_t = -(2**63) if start is None else start
        hi_t = 2**63 - 1 if end is None else end
        if self.times_sorted:
            lo, hi = bisect.bisect_left(times, lo_t), bisect.bisect_right(times, hi_t)
            if start is None and end is not None:
                return range(max(lo, hi - limit), hi)
            return range(lo, min(hi, lo + limit))
        found = [i for i in range(len(times)) if lo_t <= times[i] <= hi_t]
        return found[-limit:] if start is None and end is not None else found[:limit]

    def json_item(self, pos: int) -> dict[str, object]:
        return {
            "a": self.agg_id(pos),
            "p": price_text(self.cents[pos]),
            "q": qty_text(self.units[pos]),
            "f": self.first_id[pos],
            "l": self.last_id[pos],
            "T": self.time[pos],
            "m": bool(self.maker[pos]),
            "M": True,
        }

    def agg_trade(self, pos: int) -> AggTrade:
        return AggTrade(
            self.agg_id(pos),
            self.cents[pos] / 100,
            self.units[pos] * UNITS_TO_QTY_UNITS,
            self.first_id[pos],
            self.last_id[pos],
            self.time[pos],
            bool(self.maker[pos]),
        )


class MinuteBook:
    """Binance's 1m klines, kept up to date as trades are recorded (one small list per minute)."""

    # open, high, low, close (cents), volume (1e-5), quote volume (1e-7), trades,
    # taker-buy volume, taker-buy quote volume
    def __init__(self) -> None:
        self.bars: dict[int, list[int]] = {}
        self.minutes: list[int] = []  # sorted keys

    def add(self, cents: int, units: int, count: int, when: int, maker: bool) -> None:
        minute = when - when % MINUTE_MS
        bar = self.bars.get(minute)
        quote = cents * units
        if bar is None:
            self.bars[minute] = [cents, cents, cents, cents, units, quote, count, 0, 0]
            bisect.insort(self.minutes, minute)
            bar = self.bars[minute]
        else:
            bar[1] = max(bar[1], cents)
            bar[2] = min(bar[2], cents)
            bar[3] = cents
            bar[4] += units
            bar[5] += quote
            bar[6] += count
        if not maker:  # the buyer took liquidity
            bar[7] += units
            bar[8] += quote

    def klines(self, start: int | None, end: int | None, limit: int) -> list[list[object]]:
        """Klines with open time in [start, end], every minute from the first trade's to the last
        trade's (a minute without trades repeats the previous close with zero volume, as Binance
        does); the first `limit`, or with only an end the last `limit`."""
        if not self.minutes:
            return []
        first, last = self.minutes[0], self.minutes[-1]
        lo = first if start is None else max(first, start + (-start) % MINUTE_MS)
        hi = last if end is None else min(last, end - end % MINUTE_MS)
        if hi < lo:
            return []
        count = (hi - lo) // MINUTE_MS + 1
        if count > limit:
            if start is None:
                lo = hi - (limit - 1) * MINUTE_MS
            else:
                hi = lo + (limit - 1) * MINUTE_MS
        rows: list[list[object]] = []
        before = bisect.bisect_left(self.minutes, lo)
        close = self.bars[self.minutes[before - 1]][3] if before else None
        for minute in range(lo, hi + MINUTE_MS, MINUTE_MS):
            bar = self.bars.get(minute)
            if bar is None:
                assert close is not None  # lo is at or after the first minute with trades
                bar = [close, close, close, close, 0, 0, 0, 0, 0]
            o, h, low, c, vol, quote, n, tb, tq = bar
            close = c
            rows.append(
                [
                    minute,
                    price_text(o),
                    price_text(h),
                    price_text(low),
                    price_text(c),
                    qty_text(vol),
                    minute + MINUTE_MS - 1,
                    quote_text(quote),
                    n,
                    qty_text(tb),
                    quote_text(tq),
                    "0",
                ]
            )
        return rows


def _history(
    rng: random.Random, minutes: int, end_minute: int, end_cents: int, first_trade_id: int
) -> list[tuple[int, int, int, int, int, bool]]:
    """A sparse, plausible past: a few aggregates a minute (some of several trades), ending at
    `end_minute` with the price `end_cents`. Rows: (first id, last id, cents, units, time, maker)."""
    sigma = max(1.0, end_cents * 4e-5)  # per aggregate: ~0.01-0.02% a minute
    rows = []
    moves = []
    trade_id = first_trade_id
    start = end_minute - minutes * MINUTE_MS
    for i in range(minutes):
        k = rng.randint(2, 6)
        for offset in sorted(rng.sample(range(MINUTE_MS), k)):
            count = 1 if rng.random() < 0.7 else rng.randint(2, 5)
            units = sum(
                max(QTY_STEP_UNITS, int(rng.lognormvariate(math.log(150), 1.3)))
                for _ in range(count)
            )
            moves.append(round(rng.gauss(0.0, sigma)))
            rows.append(
                [trade_id, trade_id + count - 1, 0, units, start + i * MINUTE_MS + offset, False]
            )
            rows[-1][5] = rng.random() < 0.5
            trade_id += count
    # Walk the moves backwards from the live start price, so the past leads into the present.
    cents = end_cents
    for row, move in zip(reversed(rows), reversed(moves), strict=True):
        row[2] = cents
        cents = max(100, cents - move)
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _not_a_client_abort(record: logging.LogRecord) -> bool:
    """False for the errors websockets logs when an HTTP client leaves before its answer: a REST
    client cancelled mid-request (its request incomplete, or gone while `rest_latency` delayed the
    answer, which trips websockets' double end-of-file check). Normal here, and a traceback on
    stderr would garble the TUI running the demo. Everything else is still logged."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, InvalidMessage):
        return False
    if exc is not None and not isinstance(exc, AssertionError):
        exc = exc.__cause__
    if isinstance(exc, AssertionError) and exc.__traceback__ is not None:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        return tb.tb_frame.f_code.co_name != "send_eof"
    return True


_server_logger = logging.getLogger("btc_tui.market.simulator.server")
_server_logger.addFilter(_not_a_client_abort)


@dataclass(slots=True)
class _Failure:
    status: int
    retry_after: int | None
    body: str | None


class Simulator:
    """Serve a simulated `<symbol>@trade` stream and Binance's REST market data on `host:port`
    (port 0 picks a free port)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        symbol: str = "btcusdt",
        rate: float = 20.0,
        seed: int | None = None,
        start_price: float = START_PRICE,
        ping_interval: float = 20.0,
        clock: Callable[[], float] = time.time,
        first_trade_id: int = 1,
        history: int = 10_000,
        record: bool = False,
        *,
        history_minutes: int = 0,
        history_end: int | None = None,
        weight_limit: int = 6000,
        rest_latency: float = 0.0,
        max_live_aggregates: int = 1_000_000,
    ) -> None:
        self.host = host
        self._port = port
        self.symbol = symbol.lower()
        self.stream_name = f"{self.symbol}@trade"
        self.rate = rate
        self.ping_interval = ping_interval
        self._clock = clock
        self._seed = seed
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
        # REST
        self.history_minutes = history_minutes
        self.history_end = history_end  # ms; set at start() from the clock when not given
        self._history_made = history_minutes <= 0
        self.aggs = AggBook(max_live=max_live_aggregates)
        self.klines = MinuteBook()
        self.weight_limit = weight_limit
        self.rest_latency = rest_latency
        # A lagging aggTrades database: aggregates with a trade id past this are not served yet
        # (the stream has them, REST not); None serves everything.
        self.rest_upto: int | None = None
        self.ban_seconds = 120  # how long a request sent while rate limited bans the "IP"
        # every REST request received (a long demo keeps the newest 100,000 to 200,000)
        self.rest_log: list[tuple[str, dict[str, str], float]] = []
        self.rest_statuses: Counter[int] = Counter()  # HTTP status -> answers sent
        self.weight_by_minute: dict[int, int] = {}  # minute start (ms) -> weight counted
        self._failures: deque[_Failure] = deque()
        self._retry_until = -math.inf  # simulator clock, s: a 429's Retry-After is pending
        self._banned_until = -math.inf
        self._closing = asyncio.Event()  # set by stop(): REST answers held by rest_latency go

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._closing.clear()
        self._make_history()
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,  # our own pings, so a stall can silence them
            max_queue=64,
            # REST is answered in the handshake hook: `rest_latency` may slow an answer past
            # websockets' 10 s limit for a handshake, as a slow link to Binance does
            open_timeout=None,
            logger=_server_logger,
        )
        if self.ping_interval:
            self._tasks.append(asyncio.create_task(self._ping_loop()))
        if self.rate > 0:
            self._tasks.append(asyncio.create_task(self._trade_loop()))

    async def stop(self) -> None:
        self._closing.set()
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
    def rest_url(self) -> str:
        """The REST base URL (`--rest-url ...`): same host and port as the stream."""
        return f"http://{self.host}:{self.port}"

    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def next_trade_id(self) -> int:
        """The id the next published trade gets."""
        self._make_history()
        return self._walk.next_id

    def agg_trades(self) -> list[AggTrade]:
        """Every aggregate REST can serve, oldest first (what tests compare fetched data with)."""
        return [self.aggs.agg_trade(i) for i in range(len(self.aggs))]

    def _make_history(self) -> None:
        """The configured past, made once, ending at the minute the live stream starts in."""
        if self._history_made:
            return
        self._history_made = True
        if self.history_end is None:
            now_ms = int(self._clock() * 1000)
            self.history_end = now_ms - now_ms % MINUTE_MS
        rng = random.Random(f"history-{self._seed}") if self._seed is not None else random.Random()
        rows = _history(
            rng, self.history_minutes, self.history_end, self._walk.cents, self._walk.next_id
        )
        for first_id, last_id, cents, units, when, maker in rows:
            self.aggs.close_order()
            self.aggs.add(first_id, last_id, cents, units, when, maker)
            self.klines.add(cents, units, last_id - first_id + 1, when, maker)
        self.aggs.close_order()
        self.aggs.history = len(self.aggs)
        if rows:
            self._walk.next_id = rows[-1][1] + 1

    # -- publishing --------------------------------------------------------------------------
    def publish(
        self,
        trade_times: Iterable[int],
        *,
        send: bool | Sequence[bool] = True,
        one_order: bool = False,
    ) -> list[SentTrade]:
        """Make one trade per given trade time (ms), record it for REST, and send it to every
        subscribed client now, unless `send` (or its entry for that trade) is False.

        One call is one batch of matching: consecutive trades in it with the same time, price and
        side share an aggregate. `one_order=True` gives all of them one price and side (one taker
        order sweeping a level), so equal times make one aggregate.
        """
        times = list(trade_times)
        sends = [send] * len(times) if isinstance(send, bool) else list(send)
        if len(sends) != len(times):
            raise ValueError(f"send has {len(sends)} entries for {len(times)} trades")
        return self._match(times, sends, one_order)

    def _match(
        self, times: list[int], sends: list[bool], one_order: bool, finish_burst: bool = False
    ) -> list[SentTrade]:
        """One batch of matching; with finish_burst, a taker order the walk is in the middle of
        at the end of the batch is completed in it (more trades at the last time)."""
        self._make_history()
        trades = []
        order: tuple[int, bool] | None = None
        self.aggs.close_order()
        i = 0
        while i < len(times) or (finish_burst and times and self._walk.burst_left):
            trade_time = times[min(i, len(times) - 1)]
            deliver = sends[min(i, len(sends) - 1)]
            i += 1
            trade_id, cents, units, maker = self._walk.step()
            if one_order:
                if order is None:
                    order = (cents, maker)
                cents, maker = order
                self._walk.cents = cents
            trades.append(self._trade(trade_id, cents, units, trade_time, maker, deliver))
        return self._batch_done(trades)

    def publish_trades(
        self, trades: Iterable[Trade], *, send: bool | Sequence[bool] = True
    ) -> list[SentTrade]:
        """Replay real trades (e.g. parsed from a capture) as one batch of matching: their own ids,
        prices, quantities, times and sides; consecutive ones with the same time, price and side
        share an aggregate, as Binance's do. The ids must continue the simulator's (the first call
        on a simulator without history may start anywhere). ValueError for a price finer than
        0.01 or a quantity finer than 0.00001 (what the simulator stores exactly)."""
        self._make_history()
        given = list(trades)
        sends = [send] * len(given) if isinstance(send, bool) else list(send)
        if len(sends) != len(given):
            raise ValueError(f"send has {len(sends)} entries for {len(given)} trades")
        next_id = self._walk.next_id
        if given and self.published == 0 and not len(self.aggs):
            next_id = given[0].trade_id
        exact = []  # checked before anything is recorded: a refused batch leaves no trace
        for trade in given:
            if trade.trade_id != next_id:
                raise ValueError(f"trade id {trade.trade_id} does not follow {next_id - 1}")
            next_id += 1
            cents = round(trade.price * 100)
            if abs(cents - trade.price * 100) > 1e-6 * max(1.0, trade.price):
                raise ValueError(f"trade {trade.trade_id}: price {trade.price} is finer than 0.01")
            if trade.qty_units % UNITS_TO_QTY_UNITS:
                raise ValueError(f"trade {trade.trade_id}: quantity is finer than 0.00001")
            exact.append((cents, trade.qty_units // UNITS_TO_QTY_UNITS))
        made = []
        self.aggs.close_order()
        for trade, (cents, units), deliver in zip(given, exact, sends, strict=True):
            made.append(
                self._trade(
                    trade.trade_id, cents, units, trade.trade_time, trade.buyer_is_maker, deliver
                )
            )
        if given:
            self._walk.next_id = next_id
            self._walk.cents = exact[-1][0]
        return self._batch_done(made)

    def _trade(
        self, trade_id: int, cents: int, units: int, trade_time: int, maker: bool, deliver: bool
    ) -> SentTrade:
        """Record one trade (aggregate, kline) and send it unless told not to."""
        agg_id = self.aggs.add(trade_id, trade_id, cents, units, trade_time, maker)
        self.klines.add(cents, units, 1, trade_time, maker)
        payload = format_trade(
            self.symbol,
            trade_id,
            price_text(cents),
            qty_text(units),
            trade_time,
            trade_time + 1,  # the event is stamped just after the match, as on Binance
            maker,
        )
        trade = SentTrade(
            trade_id,
            price_text(cents),
            qty_text(units),
            trade_time,
            payload,
            agg_id,
            units * UNITS_TO_QTY_UNITS,
            maker,
        )
        if deliver:
            self._recent.append(trade)
            self._send_payload(payload)
        return trade

    def _batch_done(self, trades: list[SentTrade]) -> list[SentTrade]:
        self.aggs.close_order()
        self.aggs.trim()
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
            # At most a second's worth (and 10,000) a batch: a huge --rate runs flat out instead
            # of building one batch that fills the memory.
            due = min(
                int((time.monotonic() - started) * self.rate) - published,
                max(1, min(int(self.rate), 10_000)),
            )
            if due > 0 and not self._stalled:
                now_ms = int(self._clock() * 1000)
                # A taker order begun in this batch is finished in it: one aggregate, as on
                # Binance; its extra trades count against the rate.
                published += len(self._match([now_ms] * due, [True], False, finish_burst=True))
            elif due > 0:
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
            # Forget it now, not when its handler notices: trades published meanwhile would be
            # written into the aborted socket, and asyncio logs a warning for each such write.
            self._clients.pop(connection, None)
            dropped += 1
        self._changed.set()
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

    def fail_next(
        self,
        status: int,
        count: int = 1,
        retry_after: int | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next `count` REST requests with HTTP `status` (and `Retry-After`). A 429 with
        retry_after starts a pending Retry-After (requests before it passes get 418); a 418 bans
        for retry_after (default ban_seconds)."""
        self._failures.extend(_Failure(status, retry_after, body) for _ in range(count))

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
    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path.startswith("/api/"):
            return await self._rest(parts.path, parts.query)
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

    # -- REST --------------------------------------------------------------------------------
    async def _rest(self, path: str, query_text: str) -> Response:
        now = self._clock()
        query = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
        self.rest_log.append((path, query, now))
        if len(self.rest_log) > 200_000:
            del self.rest_log[:100_000]
        status, body, retry_after = self._rest_answer(path, query, now)
        if self.rest_latency > 0:
            # a stop ends the wait: a hung answer must not hold the server's close (websockets
            # waits for handshakes in progress, and open_timeout no longer ends them)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.rest_latency)
        self.rest_statuses[status] += 1
        headers = Headers()
        headers["Date"] = formatdate(now, usegmt=True)
        headers["Content-Type"] = "application/json;charset=UTF-8"
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "close"
        headers["X-MBX-USED-WEIGHT-1M"] = str(self._used(now))
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return Response(status, HTTPStatus(status).phrase, headers, body)

    def _used(self, now: float) -> int:
        minute_ms = int(now * 1000) // MINUTE_MS * MINUTE_MS
        return self.weight_by_minute.get(minute_ms, 0)

    def _rest_answer(
        self, path: str, query: dict[str, str], now: float
    ) -> tuple[int, bytes, int | None]:
        """(status, body, Retry-After) for one REST request, in Binance's order of checks."""
        if now < self._banned_until:
            return 418, self._ban_body(), math.ceil(self._banned_until - now)
        if now < self._retry_until:  # sent while told to wait: that earns a ban
            self._banned_until = now + self.ban_seconds
            return 418, self._ban_body(), self.ban_seconds
        if self._failures:
            return self._failure(self._failures.popleft(), now)
        weight = REST_WEIGHTS.get(path)
        if weight is None:
            return 404, b"", None
        minute_ms = int(now * 1000) // MINUTE_MS * MINUTE_MS
        used = self.weight_by_minute.get(minute_ms, 0) + weight
        self.weight_by_minute[minute_ms] = used
        if used > self.weight_limit:
            wait = math.ceil((minute_ms + MINUTE_MS) / 1000 - now)
            self._retry_until = (minute_ms + MINUTE_MS) / 1000
            return 429, self._too_many_body(), max(1, wait)
        try:
            if path == "/api/v3/time":
                return 200, orjson.dumps({"serverTime": int(now * 1000)}), None
            if path == "/api/v3/aggTrades":
                return 200, orjson.dumps(self._agg_trades(query)), None
            return 200, orjson.dumps(self._klines(query)), None
        except _BadRequest as exc:
            return 400, orjson.dumps({"code": exc.code, "msg": exc.msg}), None

    def _failure(self, failure: _Failure, now: float) -> tuple[int, bytes, int | None]:
        status, retry_after = failure.status, failure.retry_after
        if status == 429:
            if retry_after is not None:
                self._retry_until = now + retry_after
            body = self._too_many_body()
        elif status == 418:
            retry_after = self.ban_seconds if retry_after is None else retry_after
            self._banned_until = now + retry_after
            body = self._ban_body()
        elif status >= 500:
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>" if status == 502 else b""
        else:
            body = b'{"code":-1000,"msg":"An unknown error occurred while processing the request."}'
        if failure.body is not None:
            body = failure.body.encode()
        return status, body, retry_after

    def _too_many_body(self) -> bytes:
        return orjson.dumps(
            {
                "code": -1003,
                "msg": f"Too many requests; current limit of IP(127.0.0.1) is "
                f"{self.weight_limit} requests per minute. Please use the websocket for live "
                "updates to avoid polling the API.",
            }
        )

    def _ban_body(self) -> bytes:
        until = int(self._banned_until * 1000)
        return orjson.dumps(
            {
                "code": -1003,
                "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}. Please use "
                "the websocket for live updates to avoid bans.",
            }
        )

    def _check_symbol(self, query: dict[str, str]) -> None:
        symbol = query.get("symbol", "")
        if not symbol:
            raise _BadRequest(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        if symbol.lower() != self.symbol:
            raise _BadRequest(-1121, "Invalid symbol.")

    def _agg_trades(self, query: dict[str, str]) -> list[dict[str, object]]:
        self._check_symbol(query)
        from_id = _int_param(query, "fromId")
        start, end = _int_param(query, "startTime"), _int_param(query, "endTime")
        limit = _limit(query)
        if start is not None and end is not None and end - start > HOUR_MS:
            raise _BadRequest(-1127, "More than 1 hours between startTime and endTime.")
        book = self.aggs
        if from_id is not None:
            lo = book.pos_of_id(from_id)
            positions: Sequence[int] = [
                i
                for i in range(lo, min(len(book), lo + limit))
                if (start is None or book.time[i] >= start) and (end is None or book.time[i] <= end)
            ]
        elif start is None and end is None:
            positions = range(max(0, len(book) - limit), len(book))
        else:
            positions = book.positions_between(start, end, limit)
        upto = self.rest_upto
        if upto is not None:
            positions = [i for i in positions if book.last_id[i] <= upto]
        return [book.json_item(i) for i in positions]

    def _klines(self, query: dict[str, str]) -> list[list[object]]:
        self._check_symbol(query)
        interval = query.get("interval", "")
        if not interval:
            raise _BadRequest(
                -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            )
        if interval != "1m":  # the only interval the simulator keeps
            raise _BadRequest(-1120, "Invalid interval.")
        start, end = _int_param(query, "startTime"), _int_param(query, "endTime")
        return self.klines.klines(start, end, _limit(query))


class _BadRequest(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _int_param(query: dict[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 20:
        raise _BadRequest(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(text)


def _limit(query: dict[str, str]) -> int:
    limit = _int_param(query, "limit")
    if limit is None:
        return 500
    if limit < 1:
        raise _BadRequest(
            -1100, "Illegal characters found in parameter 'limit'; legal range is '1'."
        )
    return min(limit, 1000)


def simulated_history(
    minutes: int,
    end_minute: int,
    seed: int | None = None,
    start_price: float = START_PRICE,
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
