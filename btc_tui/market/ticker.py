"""A read-only ticker for attach mode: its own stream connection and an open minute in memory.

Another process owns the CSV and writes its minutes; this only shows prices, so it never opens
the store. The open minute comes from the same MinuteAggregator the collector uses, so the numbers
match what that collector will write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from btc_tui.market.bars import MINUTE_MS, MinuteAggregator
from btc_tui.market.binance import Trade
from btc_tui.market.collector import StreamStatus, Tick
from btc_tui.market.stream import StreamEvent, TradeStream


class ReadOnlyTicker:
    def __init__(
        self,
        base_url: str,
        symbol: str,
        stale_after: float,
        on_tick: Callable[[Tick], object],
        on_event: Callable[[StreamEvent], object],
    ) -> None:
        self.symbol = symbol
        self.stream = TradeStream(base_url, symbol, stale_after=stale_after)
        self.aggregator = MinuteAggregator()
        self._on_tick = on_tick
        self._on_event = on_event

    @property
    def status(self) -> StreamStatus:
        """The collector's status type (nothing repaired: this connection writes nothing)."""
        link = self.stream.status(self.aggregator.late)
        return StreamStatus(**{f.name: getattr(link, f.name) for f in fields(link)})

    async def run(self) -> None:
        await self.stream.run(self._trade, self._event)

    def _event(self, event: StreamEvent) -> None:
        if event.kind == "connected":
            self.aggregator.reset_clock()
        self._on_event(event)

    def _trade(self, trade: Trade) -> None:
        self.aggregator.add(trade)  # closed minutes are the owning collector's to write
        minute = self.aggregator.open_minute
        t = trade.trade_time
        if minute is None:
            self._on_tick(Tick(self.symbol, trade.price, t, t - t % MINUTE_MS, trade.price, 0))
            return
        self._on_tick(
            Tick(self.symbol, trade.price, t, minute.minute, minute.avg_price, minute.trades)
        )
