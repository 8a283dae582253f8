"""Collector: trade stream -> minute aggregator -> minute CSV, reporting through plain callables.

The same Collector runs behind `btc-tui collect` and the TUI's collector worker. It stops by task
cancellation (Ctrl+C, SIGTERM, quitting the app) and then writes the open minute, so a stop never
loses the trades already received; or after `settings.minutes` bars, writing exactly that many.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.market.bars import MINUTE_MS, MinuteAggregator, MinuteBar
from btc_tui.market.binance import Trade
from btc_tui.market.store import MinuteStore
from btc_tui.market.stream import Backoff, StreamConfigError, StreamEvent, StreamStatus, TradeStream

__all__ = ["BarWritten", "Collector", "CollectorLog", "StreamStatus", "Tick"]


@dataclass(frozen=True, slots=True)
class Tick:
    symbol: str
    price: float
    trade_time: int
    minute: int
    minute_avg: float
    minute_trades: int  # 0: the trade's minute is already in the CSV, so this trade is not counted


@dataclass(frozen=True, slots=True)
class BarWritten:
    bar: MinuteBar
    rows: int
    reconnects: int


@dataclass(frozen=True, slots=True)
class CollectorLog:
    text: str
    # "connection" | "gap" | "bad" | "store" | "minute": lets `collect` keep minute lines on
    # stdout without repeating them on stderr, and the UI colour lines by kind.
    kind: str = "info"


_LOG_KINDS = {
    "connected": "connection",
    "disconnected": "connection",
    "backing_off": "connection",
    "gap": "gap",
    "bad": "bad",
    "error": "bad",
}


class Collector:
    """Run `TradeStream` -> `MinuteAggregator` -> `MinuteStore` until cancelled.

    The keyword-only arguments exist for tests and benchmarks: `grace`/`clock` go to the
    aggregator, `backoff`/`healthy_after` to the stream.
    """

    def __init__(
        self,
        settings: Settings,
        on_tick: Callable[[Tick], object] | None = None,
        on_bar: Callable[[BarWritten], object] | None = None,
        on_status: Callable[[StreamStatus], object] | None = None,
        on_log: Callable[[CollectorLog], object] | None = None,
        *,
        grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        healthy_after: float = 10.0,
        poll_interval: float = 0.25,
        status_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self._on_tick = on_tick
        self._on_bar = on_bar
        self._on_status = on_status
        self._on_log = on_log
        self._grace = grace
        self._clock = clock
        self._poll_interval = poll_interval
        self._status_interval = status_interval
        try:
            self.stream = TradeStream(
                settings.url,
                settings.symbol,
                stale_after=settings.stale_after,
                backoff=backoff,
                healthy_after=healthy_after,
            )
        except StreamConfigError as exc:
            raise UsageError(f"--url: {exc}") from None
        self.aggregator: MinuteAggregator | None = None
        self.bars_written = 0
        self._store: MinuteStore | None = None
        self._done = asyncio.Event()

    @property
    def status(self) -> StreamStatus:
        late = self.aggregator.late if self.aggregator else 0
        return self.stream.status(late)

    async def run(self) -> None:
        store = MinuteStore(self.settings.data)
        store.open()  # UsageError (locked, not a CSV...) propagates before any network traffic
        self._store = store
        for warning in store.warnings:
            self._log(warning, "store")
        # Minutes up to the last stored one are never written again: a restart can't duplicate.
        self.aggregator = MinuteAggregator(
            grace=self._grace,
            clock=self._clock,
            after_minute=store.last_minute,
            # a poll reads the clock every poll_interval: a bigger move is a step or a pause
            max_clock_jump=max(2.0, 4 * self._poll_interval),
        )
        tasks = [
            asyncio.create_task(self.stream.run(self._on_trade_fn(), self._on_stream_event)),
            asyncio.create_task(self._poll_loop()),
            asyncio.create_task(self._status_loop()),
            asyncio.create_task(self._done.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise a failure (e.g. the disk) instead of hiding it
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                if not self._done.is_set():
                    # Stopped from outside: keep the trades of the open minute we already have.
                    bar = self.aggregator.flush()
                    if bar is not None:
                        self._write([bar])
            finally:
                store.close()
                self._emit_status()

    # -- the hot path ------------------------------------------------------------------------
    def _on_trade_fn(self) -> Callable[[Trade], None]:
        """The per-trade callback, specialised so the common case does no more than it must."""
        aggregator = self.aggregator
        assert aggregator is not None
        add = aggregator.add
        write = self._write
        on_tick = self._on_tick
        if on_tick is None:

            def on_trade(trade: Trade) -> None:
                bars = add(trade)
                if bars:
                    write(bars)

            return on_trade

        symbol = self.settings.symbol

        def on_trade_with_tick(trade: Trade) -> None:
            bars = add(trade)
            if bars:
                write(bars)
            minute = aggregator.open_minute
            if minute is None:
                # A late trade (its minute is already in the CSV, e.g. collecting restarted
                # mid-minute): not written, but still the latest price a watcher wants to see.
                t = trade.trade_time
                on_tick(Tick(symbol, trade.price, t, t - t % MINUTE_MS, trade.price, 0))
                return
            on_tick(
                Tick(
                    symbol,
                    trade.price,
                    trade.trade_time,
                    minute.minute,
                    minute.avg_price,
                    minute.trades,
                )
            )

        return on_trade_with_tick

    def _write(self, bars: list[MinuteBar]) -> None:
        store = self._store
        assert store is not None
        limit = self.settings.minutes
        for bar in bars:
            if self._done.is_set():
                return
            if not store.append(bar):
                self._log(
                    f"not writing {bar.start:%Y-%m-%d %H:%M} UTC again: already stored", "store"
                )
                continue
            self.bars_written += 1
            event = BarWritten(bar, store.rows, self.stream.reconnects)
            if self._on_bar is not None:
                self._on_bar(event)
            self._log(
                f"wrote {bar.start:%Y-%m-%d %H:%M} UTC: avg {bar.avg_price:.2f}, {bar.trades} trades",
                "minute",
            )
            if limit is not None and self.bars_written >= limit:
                self._done.set()

    # -- periodic work -----------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        """Close quiet minutes once the exchange clock passes their end plus the grace period."""
        assert self.aggregator is not None
        while True:
            await asyncio.sleep(self._poll_interval)
            bars = self.aggregator.poll()
            if bars:
                self._write(bars)

    async def _status_loop(self) -> None:
        while True:
            self._emit_status()
            await asyncio.sleep(self._status_interval)

    def _on_stream_event(self, event: StreamEvent) -> None:
        if event.kind == "connected" and self.aggregator is not None:
            self.aggregator.reset_clock()  # the new path may have a different delay
        if event.kind in _LOG_KINDS:
            self._log(event.text, _LOG_KINDS[event.kind])
        if event.kind in ("connecting", "connected", "disconnected", "backing_off"):
            self._emit_status()

    def _emit_status(self) -> None:
        if self._on_status is not None:
            status = self.status
            if self._done.is_set() or self.stream.state == "stopped":
                status = replace(status, state="stopped", retry_in=None)
            self._on_status(status)

    def _log(self, text: str, kind: str) -> None:
        if self._on_log is not None:
            self._on_log(CollectorLog(text, kind))
