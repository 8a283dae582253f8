"""Gap repair: the trades a hole in the live stream lost, fetched over REST and folded into their
minutes before those minutes are written.

Binance never replays its stream, so after a reconnect, a stall or a restart the missing trade ids
come only from `GET /api/v3/aggTrades`. A hole can begin or end inside an aggregate (one taker
order's trades `f..l` at one price and time): we saw some of its trades over the socket and lost the
rest. Aggregates carry only their total quantity, so the lost part's quantity is the aggregate's `q`
minus the quantities of the trades of it we saw; `SeenTrades` remembers those. Anything that cannot
be made exact (an aggregate's trades neither seen nor missing, ids REST did not return) raises
`Unrepairable`, and the caller reports the hole instead of writing a silently wrong minute.

No asyncio scheduling and no textual here: `MinuteHold` is plain bookkeeping the collector drives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from btc_tui.market.bars import MinuteBar, TradeRun, bars_from_runs, minute_of, run_from_agg
from btc_tui.market.binance import QTY_SCALE, AggTrade, Trade

SEEN_SIZE = 1 << 17  # recent trades remembered: ~40 s of Binance's busiest seconds


class Unrepairable(Exception):
    """The missing trades cannot be rebuilt exactly; str() says why, in one line."""


@dataclass(frozen=True, slots=True)
class Hole:
    """Trade ids first..last (inclusive) that the stream never delivered."""

    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def describe(self) -> str:
        ids = str(self.first) if self.first == self.last else f"{self.first}..{self.last}"
        return f"{self.count} trade(s), ids {ids}"


class SeenTrades:
    """The last `size` trades received, indexed by trade id.

    The collector's per-trade callback stores into `slots` itself (`slots[id & mask] = trade`: one
    list store, no allocation), so remembering costs next to nothing on the hot path.
    """

    __slots__ = ("mask", "slots")

    def __init__(self, size: int = SEEN_SIZE) -> None:
        if size & (size - 1):
            raise ValueError("size must be a power of two")
        self.mask = size - 1
        self.slots: list[Trade | None] = [None] * size

    def add(self, trade: Trade) -> None:
        self.slots[trade.trade_id & self.mask] = trade

    def get(self, trade_id: int) -> Trade | None:
        trade = self.slots[trade_id & self.mask]
        return trade if trade is not None and trade.trade_id == trade_id else None

    def units(self, trade_id: int) -> int | None:
        trade = self.get(trade_id)
        return None if trade is None else trade.qty_units


def missing_runs(
    aggs: Iterable[AggTrade],
    last_missing: int,
    seen_units: Callable[[int], int | None],
    first_missing: int | None = None,
) -> list[TradeRun]:
    """The runs of trades `first_missing..last_missing` out of the aggregates that hold them.

    `first_missing=None` takes every trade of the aggregates up to `last_missing` (a rebuild from
    a point in time). An aggregate cut by either end counts only its missing trades, with the
    quantity `q` minus the units `seen_units(id)` reports for its other trades. Raises
    Unrepairable if an id in the range is not in `aggs`, or a cut aggregate's other trades were
    not all seen.
    """
    runs: list[TradeRun] = []
    expected = first_missing
    for agg in aggs:
        if agg.last_id < (first_missing if first_missing is not None else agg.first_id):
            continue
        if agg.first_id > last_missing:
            break
        lo = agg.first_id if first_missing is None else max(agg.first_id, first_missing)
        hi = min(agg.last_id, last_missing)
        if expected is None:
            expected = lo
        if lo != expected:
            raise Unrepairable(f"REST did not return trades {expected}..{lo - 1}")
        expected = hi + 1
        if lo == agg.first_id and hi == agg.last_id:
            runs.append(run_from_agg(agg))
            continue
        seen = 0
        for trade_id in (*range(agg.first_id, lo), *range(hi + 1, agg.last_id + 1)):
            units = seen_units(trade_id)
            if units is None:
                raise Unrepairable(
                    f"aggregate {agg.agg_id} (trades {agg.first_id}..{agg.last_id}) is cut by the "
                    f"hole, and trade {trade_id} of it was not received"
                )
            seen += units
        if seen >= agg.qty_units:
            raise Unrepairable(
                f"aggregate {agg.agg_id}: the trades received already hold its whole quantity"
            )
        runs.append(TradeRun(lo, hi, agg.price, agg.qty_units - seen, agg.trade_time))
    if expected is None or expected != last_missing + 1:
        start = first_missing if expected is None else expected
        raise Unrepairable(f"REST did not return trades {start}..{last_missing}")
    return runs


class HoleRuns:
    """`missing_runs` page by page, for a hole of any size: memory stays one page.

    `relevant(page)` is the part of a page that holds trades of the hole not taken yet; `feed`
    turns it into runs (Unrepairable if an id is missing) and moves `next_id` on."""

    def __init__(self, hole: Hole, seen_units: Callable[[int], int | None]) -> None:
        self.hole = hole
        self.next_id = hole.first  # the first trade of the hole not recovered yet
        self._units = seen_units

    @property
    def done(self) -> int:
        """Trades of the hole recovered so far."""
        return self.next_id - self.hole.first

    @property
    def left(self) -> Hole | None:
        """What is still missing, or None once the whole hole is recovered."""
        return Hole(self.next_id, self.hole.last) if self.next_id <= self.hole.last else None

    def relevant(self, page: Iterable[AggTrade]) -> list[AggTrade]:
        return [a for a in page if a.last_id >= self.next_id and a.first_id <= self.hole.last]

    def feed(self, aggs: list[AggTrade]) -> list[TradeRun]:
        if not aggs:
            return []
        last = min(self.hole.last, aggs[-1].last_id)
        runs = missing_runs(aggs, last, self._units, self.next_id)
        self.next_id = last + 1
        return runs


async def fetch_missing(
    pages: AsyncIterator[list[AggTrade]],
    hole: Hole,
    seen_units: Callable[[int], int | None],
) -> list[TradeRun]:
    """Read `pages` (aggregates of the hole's time range) into the hole's runs."""
    aggs: list[AggTrade] = []
    async for page in pages:
        aggs.extend(a for a in page if a.last_id >= hole.first and a.first_id <= hole.last)
    return missing_runs(aggs, hole.last, seen_units, hole.first)


def fold(bar: MinuteBar | None, runs: list[TradeRun]) -> MinuteBar:
    """`bar` (the live trades of a minute, or None) with `runs` (its repaired trades) added.

    trades, volume, open/high/low/close and the ids are exact; avg_price and vwap are rebuilt
    from the bar's means and may differ from a one-pass sum in the last bit.
    """
    (extra,) = bars_from_runs(runs)
    if bar is None:
        return extra
    count = bar.trades + extra.trades
    units = round(bar.volume * QTY_SCALE) + round(extra.volume * QTY_SCALE)
    sum_pu = bar.vwap * bar.volume + extra.vwap * extra.volume
    open_ = bar.open if bar.first_trade_id < extra.first_trade_id else extra.open
    close = bar.close if bar.last_trade_id > extra.last_trade_id else extra.close
    volume = units / QTY_SCALE
    return MinuteBar(
        minute=bar.minute,
        avg_price=(bar.avg_price * bar.trades + extra.avg_price * extra.trades) / count,
        open=open_,
        high=max(bar.high, extra.high),
        low=min(bar.low, extra.low),
        close=close,
        volume=volume,
        vwap=sum_pu / volume if units else (bar.vwap + extra.vwap) / 2,
        trades=count,
        first_trade_id=min(bar.first_trade_id, extra.first_trade_id),
        last_trade_id=max(bar.last_trade_id, extra.last_trade_id),
    )


class MinuteHold:
    """Closed minutes waiting for their repairs, released in time order.

    `hold(key, minute)` keeps every minute from `minute` on until `release(key)`. Repaired runs
    arrive with `add_runs(runs, final_before)`: runs of minutes before `final_before` are whole
    (the live stream has nothing more for them); a later minute (the one the stream resumed in)
    waits for its live bar. `ready()` hands out, in order, every minute that can be written now.
    """

    def __init__(self) -> None:
        self._holds: dict[object, int] = {}
        self._bars: dict[int, MinuteBar] = {}
        self._runs: dict[int, list[TradeRun]] = {}
        self._final_before = -1

    def __bool__(self) -> bool:
        return bool(self._holds or self._bars or self._runs)

    @property
    def holding(self) -> bool:
        return bool(self._holds)

    def hold(self, key: object, minute: int) -> None:
        self._holds[key] = minute

    def release(self, key: object) -> None:
        self._holds.pop(key, None)

    def add_bar(self, bar: MinuteBar) -> None:
        self._bars[bar.minute] = bar

    def add_runs(self, runs: Iterable[TradeRun], final_before: int) -> None:
        for run in runs:
            self._runs.setdefault(minute_of(run.trade_time), []).append(run)
        self._final_before = max(self._final_before, final_before)

    def add_late(self, run: TradeRun) -> None:
        """A trade delivered after its minute was closed: folded into it wherever it is now
        (held here, kept in memory, the last row or an earlier one; see `settle`)."""
        self._runs.setdefault(minute_of(run.trade_time), []).append(run)

    def runs_for(self, minute: int) -> list[TradeRun]:
        return self._runs.get(minute, [])

    def ready(self, force: bool = False) -> list[MinuteBar]:
        """The minutes that can be written now, in order (all of them with `force`)."""
        limit = min(self._holds.values(), default=None) if not force else None
        out: list[MinuteBar] = []
        for minute in sorted(self._bars.keys() | self._runs.keys()):
            if limit is not None and minute >= limit:
                break
            bar = self._bars.get(minute)
            runs = self._runs.get(minute)
            if bar is None and minute >= self._final_before and not force:
                break  # repaired trades of the minute the stream resumed in: wait for its bar
            self._bars.pop(minute, None)
            self._runs.pop(minute, None)
            out.append(fold(bar, runs) if runs else bar)  # type: ignore[arg-type]
        return out

    def take_runs_at_or_before(
        self, minute: int, keep: Iterable[int] = ()
    ) -> dict[int, list[TradeRun]]:
        """Remove and return the runs of minutes at or before `minute` (already written or kept
        in memory), except the `keep` minutes (a stored minute being rebuilt: it waits for its
        live bar)."""
        kept = set(keep)
        taken = {m: r for m, r in self._runs.items() if m <= minute and m not in kept}
        for m in taken:
            del self._runs[m]
        return taken

    def settle(
        self,
        newest: int | None,
        kept: Mapping[int, MinuteBar],
        last: MinuteBar | None,
        keep: Iterable[int] = (),
        force: bool = False,
    ) -> Settled:
        """Everything the hold lets go now, and where each part goes: the one place that decides
        between holding, folding and replacing.

        `newest`: the newest minute written or kept in memory; `kept`: minutes the disk refused,
        still in memory (repaired trades are folded into them there); `last`: the last row
        written, as a bar (its repaired trades replace it); `keep`: minutes whose runs wait for
        their live bar. Repaired trades of a minute written before the last row are `too_late`.
        """
        out = Settled()
        if newest is not None:
            for minute, runs in sorted(self.take_runs_at_or_before(newest, keep).items()):
                if minute in kept:
                    out.kept[minute] = fold(kept[minute], runs)
                elif not kept and last is not None and last.minute == minute == newest:
                    out.rewrite_last = fold(last, runs)
                else:
                    out.too_late[minute] = runs
        out.ready = self.ready(force)
        return out


@dataclass(slots=True)
class Settled:
    """What `MinuteHold.settle` lets go, by where it goes."""

    ready: list[MinuteBar] = field(default_factory=list)  # append, in order
    kept: dict[int, MinuteBar] = field(default_factory=dict)  # replace the kept-in-memory bars
    rewrite_last: MinuteBar | None = None  # the last row again, with its repaired trades
    too_late: dict[int, list[TradeRun]] = field(default_factory=dict)  # rows before the last
