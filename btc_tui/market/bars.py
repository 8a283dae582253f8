"""Trades -> one bar per UTC minute, bucketed by the exchange's trade time `T`.

The seed took the minute from the local clock at receipt and closed a minute only when the next one's
first trade arrived. Here a trade's minute is `T // 60000`, so edges, replays and DST can't misplace it,
and a quiet minute also closes once the estimated exchange clock passes its end plus a grace period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from btc_tui.market.binance import QTY_SCALE, Trade

if TYPE_CHECKING:
    from btc_tui.market.binance import AggTrade

MINUTE_MS = 60_000  # the one home of a minute's length (rows, store, forecast import it)


def minute_of(ms: int) -> int:
    """The start (ms) of the UTC minute holding the time `ms`."""
    return ms - ms % MINUTE_MS


@dataclass(frozen=True, slots=True)
class MinuteBar:
    minute: int  # start of the minute, ms since the epoch, UTC
    avg_price: float  # plain mean of trade prices (the seed's definition)
    open: float  # price of the lowest trade id
    high: float
    low: float
    close: float  # price of the highest trade id
    volume: float  # sum of quantities
    vwap: float
    trades: int
    first_trade_id: int
    last_trade_id: int

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.minute / 1000, UTC)


class TradeRun(NamedTuple):
    """Consecutive trades at one price and one time: a single streamed trade, or the trades
    `first_id..last_id` of one aggregate (one taker order) from REST or a dump, whole or in part.

    Every column of a minute row is exact from runs, so history, gap repair and the live stream
    all build minutes the same way.
    """

    first_id: int
    last_id: int  # inclusive
    price: float
    qty_units: int  # total quantity of these trades, exact units of 1e-8
    trade_time: int  # ms, UTC

    @property
    def count(self) -> int:
        return self.last_id - self.first_id + 1


def run_from_agg(agg: AggTrade) -> TradeRun:
    return TradeRun(agg.first_id, agg.last_id, agg.price, agg.qty_units, agg.trade_time)


def bars_from_runs(runs: Iterable[TradeRun]) -> list[MinuteBar]:
    """One exact bar per minute that has runs, in time order.

    avg_price = sum(p * n) / sum(n) (the plain mean over trades), volume from integer units,
    open/close by trade id (not by arrival order), first/last trade id = the ids the bar covers.
    """
    sums: dict[int, list] = {}
    for run in runs:
        t = run.trade_time
        minute = t - t % MINUTE_MS
        n = run.last_id - run.first_id + 1
        p = run.price
        s = sums.get(minute)
        if s is None:
            # count, sum p*n, sum p*q, units, high, low, first id, open, last id, close
            sums[minute] = [n, p * n, p * run.qty_units, run.qty_units, p, p,
                            run.first_id, p, run.last_id, p]  # fmt: skip
            continue
        s[0] += n
        s[1] += p * n
        s[2] += p * run.qty_units
        s[3] += run.qty_units
        if p > s[4]:
            s[4] = p
        if p < s[5]:
            s[5] = p
        if run.first_id < s[6]:
            s[6], s[7] = run.first_id, p
        if run.last_id > s[8]:
            s[8], s[9] = run.last_id, p
    bars = []
    for minute in sorted(sums):
        count, sum_pn, sum_pu, units, high, low, first_id, open_, last_id, close = sums[minute]
        volume = units / QTY_SCALE
        bars.append(
            MinuteBar(
                minute=minute,
                avg_price=sum_pn / count,
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=volume,
                vwap=sum_pu / units if units else sum_pn / count,
                trades=count,
                first_trade_id=first_id,
                last_trade_id=last_id,
            )
        )
    return bars


@dataclass(frozen=True, slots=True)
class OpenMinute:
    minute: int
    avg_price: float
    trades: int
    last_price: float


class MinuteAggregator:
    """Builds minute bars from trades; returns each bar once, when its minute is closed.

    `clock` returns seconds from a monotonic clock (injected so tests never sleep). The exchange
    clock is projected from the newest trade time seen: `T_newest + (now - its receipt)`. That
    estimate runs behind the exchange by the newest trade's network delay and is never ahead of
    it, so a quiet minute may be closed a few ms late but never early (closing early would drop
    its last trades as "late"). There is no long-lived offset to go stale: a wall-clock step
    can't skew it, and a clock that still jumps (an injected one, or a paused process) is caught
    by `max_clock_jump`: a reading that moved backwards, or further than that since the previous
    reading, is not counted as elapsed exchange time (the next trade re-anchors the estimate).
    During a fast replay of old trades the estimate follows the newest trade time.
    """

    __slots__ = (
        "_after",
        "_clock",
        "_close",
        "_count",
        "_first_id",
        "_grace_ms",
        "_high",
        "_last_id",
        "_last_price",
        "_last_reading",
        "_low",
        "_max_jump",
        "_minute",
        "_minute_end",
        "_open",
        "_seen_at",
        "_seen_t",
        "_sum_pq",
        "_sum_price",
        "_units",
        "clock_jumps",
        "late",
        "on_late",
    )

    def __init__(
        self,
        grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        after_minute: int | None = None,
        max_clock_jump: float = 2.0,
    ) -> None:
        self._grace_ms = grace * 1000.0
        self._clock = clock
        self._max_jump = max_clock_jump
        self._after = after_minute  # minutes at or before this one are already written
        self._seen_t = -1  # newest trade time seen (ms); -1: no estimate yet
        self._seen_at = 0.0  # clock reading when it was received
        self._last_reading: float | None = None
        self._minute: int | None = None
        self._minute_end = 0
        self.late = 0
        # Called with each late trade (its minute already closed): the collector folds it into
        # its minute's row instead of losing it. None: only counted.
        self.on_late: Callable[[Trade], object] | None = None
        self.clock_jumps = 0  # readings not counted as elapsed time (steps, pauses)

    # -- feeding -------------------------------------------------------------------------------
    def add(self, trade: Trade, received_at: float | None = None) -> list[MinuteBar]:
        t = trade.trade_time
        if t > self._seen_t:  # a newer trade time: re-anchor the exchange clock on it
            self._seen_t = t
            self._seen_at = self._read_clock() if received_at is None else received_at
        if self._minute is not None and self._minute <= t < self._minute_end:
            self._update(trade)  # the common case: another trade in the open minute
            return []
        minute = t - t % MINUTE_MS
        if (self._after is not None and minute <= self._after) or (
            self._minute is not None and minute < self._minute
        ):
            self.late += 1  # its minute is closed: never a second bar for it
            if self.on_late is not None:
                self.on_late(trade)
            return []
        closed = self._close_open()
        self._start(minute, trade)
        return [closed] if closed is not None else []

    def poll(self) -> list[MinuteBar]:
        """Close the open minute if the exchange clock has passed its end plus the grace period."""
        if self._minute is None or self._seen_t < 0:
            return []
        now = self._read_clock()
        exchange_now = self._seen_t + (now - self._seen_at) * 1000.0
        if exchange_now < self._minute_end + self._grace_ms:
            return []
        closed = self._close_open()
        return [closed] if closed is not None else []

    def exchange_now(self) -> int | None:
        """The projected exchange time (ms), None before the first trade (or after reset_clock)."""
        if self._seen_t < 0:
            return None
        return int(self._seen_t + (self._read_clock() - self._seen_at) * 1000.0)

    def _read_clock(self) -> float:
        now = self._clock()
        last = self._last_reading
        self._last_reading = now
        if last is not None:
            jump = now - last
            if jump < 0.0 or jump > self._max_jump:
                # A step (NTP, a changed clock) or a pause: keep `now - _seen_at` as it was.
                self._seen_at += jump
                self.clock_jumps += 1
        return now

    def flush(self) -> MinuteBar | None:
        """Close the open minute now (shutdown): its trades so far are all we will get."""
        return self._close_open()

    def reset_clock(self) -> None:
        """Forget the exchange-clock anchor (after a reconnect the path, and so the delay, may
        differ, and trades replayed by the server are old): the next trade anchors it afresh."""
        self._seen_t = -1

    @property
    def open_minute(self) -> OpenMinute | None:
        if self._minute is None:
            return None
        return OpenMinute(
            self._minute, self._sum_price / self._count, self._count, self._last_price
        )

    @property
    def last_closed_minute(self) -> int | None:
        return self._after

    # -- internals -----------------------------------------------------------------------------
    def _start(self, minute: int, trade: Trade) -> None:
        p = trade.price
        self._minute = minute
        self._minute_end = minute + MINUTE_MS
        self._count = 1
        self._sum_price = p
        self._sum_pq = p * trade.qty
        self._units = trade.qty_units
        self._high = self._low = self._open = self._close = self._last_price = p
        self._first_id = self._last_id = trade.trade_id

    def _update(self, trade: Trade) -> None:
        p = trade.price
        self._count += 1
        self._sum_price += p
        self._sum_pq += p * trade.qty
        self._units += trade.qty_units
        if p > self._high:
            self._high = p
        elif p < self._low:
            self._low = p
        tid = trade.trade_id
        # open/close follow trade ids, not arrival order
        if tid > self._last_id:
            self._last_id = tid
            self._close = p
        elif tid < self._first_id:
            self._first_id = tid
            self._open = p
        self._last_price = p

    def _close_open(self) -> MinuteBar | None:
        if self._minute is None:
            return None
        volume = self._units / QTY_SCALE
        bar = MinuteBar(
            minute=self._minute,
            avg_price=self._sum_price / self._count,
            open=self._open,
            high=self._high,
            low=self._low,
            close=self._close,
            volume=volume,
            vwap=self._sum_pq / volume if self._units else self._sum_price / self._count,
            trades=self._count,
            first_trade_id=self._first_id,
            last_trade_id=self._last_id,
        )
        self._after = self._minute
        self._minute = None
        return bar
