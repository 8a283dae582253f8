"""Collector: trade stream -> minute aggregator -> minute CSV, reporting through plain callables.

The same Collector runs behind `btc-tui collect` and the TUI's collector worker. It stops by task
cancellation (Ctrl+C, SIGTERM, SIGHUP, quitting the app) and then writes the open minute, so a stop
never loses the trades already received; or after `settings.minutes` bars, writing exactly that many.

Binance never replays its stream, so whatever the socket missed comes over REST, in background
tasks that never hold up the live stream:
- a hole in the trade ids (reconnect, stall): the missing trades are fetched and folded into their
  minutes, which are held back (at most `repair_timeout`) until then; a repair that fails is
  reported with its trade count and ids, and the minutes are written with what we have;
- a start: from the last stored trade to the first live one. The last stored minute (perhaps cut
  short at shutdown) is rebuilt wholly from REST and replaces its row; an empty file gets the last
  `settings.history` seconds. `settings.max_fill` bounds how far back, and what is left is said.
  The fill's ids must join the stream's: REST's aggTrades database can lag the stream, so REST is
  asked again (at most `repair_timeout`) until it shows the first live trade; ids that never come
  are counted and named as a hole, never silently left out.

A disk that refuses a write (full, read-only, the CSV deleted or replaced) ends the run with
StorageError, so `collect` exits 3. The app passes `keep_on_disk_error=True` instead: the minutes
stay in memory (`status.unwritten`), a log line says so, every `disk_retry` seconds the write is
tried again (reopening the CSV if it was deleted or replaced), and once the disk takes them they are
written in order, nothing lost. Only a stop while the disk still refuses loses them, loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from btc_tui.config import Settings
from btc_tui.errors import StorageError, UsageError
from btc_tui.market import handoff
from btc_tui.market.bars import MINUTE_MS, MinuteAggregator, MinuteBar, TradeRun, minute_of
from btc_tui.market.binance import AggTrade, Trade
from btc_tui.market.history import (
    RebuildProgress,
    fetch_minutes,
    fill_hint,
    holes_near_end,
    rebuild_minutes,
)
from btc_tui.market.repair import (
    Hole,
    HoleRuns,
    MinuteHold,
    SeenTrades,
    Unrepairable,
    fold,
    missing_runs,
)
from btc_tui.market.store import LockLost, MinuteStore
from btc_tui.market.stream import Backoff, StreamConfigError, StreamEvent, TradeStream
from btc_tui.market.stream import StreamStatus as _LinkStatus

if TYPE_CHECKING:
    from btc_tui.market.rest import BinanceRest

__all__ = ["BarWritten", "Collector", "CollectorLog", "FillProgress", "StreamStatus", "Tick"]


@dataclass(frozen=True, slots=True)
class StreamStatus(_LinkStatus):
    """The stream's status plus what REST did for it."""

    repaired: int = 0  # trades of holes in the stream recovered over REST
    unrepaired: int = 0  # trades in holes that could not be recovered
    filled: int = 0  # trades fetched over REST by a start's fill (history, restart): not holes
    filling: bool = False  # a start's fill is running
    repairing: int = 0  # trades of holes still being fetched over REST
    repairing_of: int = 0  # all trades of those holes: repairing_of - repairing are fetched
    rebuilding: int = 0  # stored minutes still to rebuild over REST (holes left in the CSV,
    rebuilding_of: int = 0  # or asked for by check --repair), of this many
    unwritten: int = 0  # closed minutes kept in memory because the disk refused them
    disk_error: str | None = None  # why, while it lasts


@dataclass(frozen=True, slots=True)
class FillProgress:
    start: int  # ms, first minute filled
    end: int  # ms, the first live minute (exclusive for whole minutes)
    done_minutes: int
    total_minutes: int
    finished: bool
    error: str | None = None


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
    # "connection" | "gap" | "fill" | "bad" | "store" | "minute": lets `collect` keep minute lines
    # on stdout without repeating them on stderr, and the UI colour lines by kind.
    kind: str = "info"


_LOG_KINDS = {
    "connected": "connection",
    "disconnected": "connection",
    "backing_off": "connection",
    "gap": "gap",
    "bad": "bad",
    "error": "bad",
}


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


PROGRESS_FROM = 5_000  # trades: a hole this big gets progress lines in the log


@dataclass(frozen=True, slots=True)
class _FillPlan:
    start: int | None  # first minute to fill; None: `history` before the first live trade
    history_ms: int = 0
    rebuild: bool = False  # the stored last minute is rebuilt from REST and replaced


@dataclass(slots=True)
class _FillJob:
    """A start's fill: [start, live_minute) over REST, then the first live minute's early trades."""

    start: int
    live_minute: int  # the first live minute (exclusive for whole minutes)
    total: int  # minutes of [start, live_minute)
    quiet: bool  # only the first live minute (an empty CSV without history): no progress shown
    known: int  # the last trade id already in the CSV (-1: none)
    # The history part's newest trade id and its minute: the live part must follow it id by id
    # (None: nothing to follow, e.g. an empty CSV, or --max-fill cut the range)
    tail_id: int | None = None
    tail_minute: int = 0
    done: int = 0  # minutes of [start, live_minute) covered so far
    written: int = 0  # of them, minutes with trades (a row each)
    early: int = 0  # trades of the first live minute before the first live one

    def gained(self, first_id: int, last_id: int) -> int:
        """Trades of first_id..last_id that are new to the CSV."""
        return max(0, last_id - max(first_id, self.known + 1) + 1)


STORED_JOB = "repairing holes left in the CSV"  # found from the ids at start
ASKED_JOB = "rebuilding what check --repair asked for"


class Collector:
    """Run `TradeStream` -> `MinuteAggregator` -> `MinuteStore` until cancelled, with gap repair.

    The keyword-only arguments exist for tests and benchmarks: `grace`/`clock` go to the
    aggregator, `backoff`/`healthy_after` to the stream, `repair_timeout` bounds how long minutes
    wait for a repair, `rest` replaces the REST client made from `settings.rest_url`.
    """

    def __init__(
        self,
        settings: Settings,
        on_tick: Callable[[Tick], object] | None = None,
        on_bar: Callable[[BarWritten], object] | None = None,
        on_status: Callable[[StreamStatus], object] | None = None,
        on_log: Callable[[CollectorLog], object] | None = None,
        on_fill: Callable[[FillProgress], object] | None = None,
        *,
        grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        healthy_after: float = 10.0,
        poll_interval: float = 0.25,
        status_interval: float = 1.0,
        repair_timeout: float = 20.0,
        rest: BinanceRest | None = None,
        keep_on_disk_error: bool = False,
        disk_retry: float = 5.0,
        request_interval: float = handoff.CHECK_INTERVAL,
    ) -> None:
        self.settings = settings
        self._on_tick = on_tick
        self._on_bar = on_bar
        self._on_status = on_status
        self._on_log = on_log
        self._on_fill = on_fill
        self._grace = grace
        self._clock = clock
        self._poll_interval = poll_interval
        self._status_interval = status_interval
        self._repair_timeout = repair_timeout
        self._repair_on = settings.repair
        self._keep_on_disk_error = keep_on_disk_error
        self._disk_retry = disk_retry
        self._request_interval = request_interval
        # (bar, live, replace) the disk refused, oldest first; written before anything newer
        self._unwritten: list[tuple[MinuteBar, bool, bool]] = []
        self.disk_error: str | None = None
        self._retrying = False
        self._logged_unwritten = 0
        self._lost: list[MinuteBar] = []  # headless: minutes a refused write could not keep
        self.rest = rest
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
        self.seen = SeenTrades()
        self.bars_written = 0
        self.repaired = 0
        self.unrepaired = 0
        self.filled = 0
        self.holes: list[Hole] = []  # holes that could not be repaired, for the status and tests
        self.filling = False
        self._store: MinuteStore | None = None
        self._hold = MinuteHold()
        self._repairing: dict[object, HoleRuns] = {}  # holes being fetched, by hold key
        self._rebuilding: dict[str, RebuildProgress] = {}  # stored minutes being rebuilt, by job
        self._live_from: int | None = None  # the first live trade's minute
        self._late: dict[int, int] = {}  # minute -> late trades folded in, not yet logged
        self._late_pending = False  # late trades wait in the hold for the next poll
        self._last_bar: MinuteBar | None = None  # the last row written, as a bar (for folding)
        self._replace_ok: set[int] = set()  # minutes whose stored row a rebuilt bar may replace
        self._plan: _FillPlan | None = None
        self._cold_start = False  # the CSV held no minute when collecting began
        self._first_live: asyncio.Future[Trade] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._failure: asyncio.Future[None] | None = None
        self._done = asyncio.Event()

    @property
    def status(self) -> StreamStatus:
        late = self.aggregator.late if self.aggregator else 0
        link = self.stream.status(late)
        return StreamStatus(
            **{f.name: getattr(link, f.name) for f in fields(link)},
            repaired=self.repaired,
            unrepaired=self.unrepaired,
            filled=self.filled,
            filling=self.filling,
            repairing=sum(r.hole.count - r.done for r in self._repairing.values()),
            repairing_of=sum(r.hole.count for r in self._repairing.values()),
            rebuilding=sum(p.total - p.done for p in self._rebuilding.values()),
            rebuilding_of=sum(p.total for p in self._rebuilding.values()),
            unwritten=len(self._unwritten),
            disk_error=self.disk_error,
        )

    async def run(self) -> None:
        sources = {"url": self.settings.url, "rest_url": self.settings.rest_url}
        store = MinuteStore(
            self.settings.data, self.settings.symbol, sources, takes_repairs=self._repair_on
        )
        store.open()  # UsageError (locked, not a CSV...) propagates before any network traffic
        self._store = store
        for warning in store.warnings:
            self._log(warning, "store")
        self._plan = self._fill_plan(store)
        stored_holes = self._stored_holes(store)
        if not self._repair_on and store.last_trade_id is not None:
            # No fill over REST: the stream reports the hole since the last stored trade (its
            # count and ids) like any other unrepaired hole, instead of nothing at all.
            self.stream.last_trade_id = store.last_trade_id
        self._cold_start = store.last_minute is None
        after = store.last_minute
        if self._plan is not None and self._plan.rebuild and after is not None:
            # The last stored minute is rebuilt: live trades of it are welcome, and its row is
            # replaced by REST's trades before the first live one plus the live ones.
            after -= MINUTE_MS
            self._replace_ok.add(store.last_minute)  # type: ignore[arg-type]
        # Minutes before that are never written again: a restart can't duplicate a row.
        self.aggregator = MinuteAggregator(
            grace=self._grace,
            clock=self._clock,
            after_minute=after,
            # a poll reads the clock every poll_interval: a bigger move is a step or a pause
            max_clock_jump=max(2.0, 4 * self._poll_interval),
        )
        self.aggregator.on_late = self._on_late
        loop = asyncio.get_running_loop()
        self._failure = loop.create_future()
        self._first_live = loop.create_future()
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self._repair_on and self.rest is None:
                    from btc_tui.market.rest import BinanceRest

                    settings = self.settings
                    rest_url = settings.rest_url
                    self.rest = await stack.enter_async_context(
                        BinanceRest(rest_url, settings.symbol)
                    )
                    self.rest.on_wait = lambda text: self._log(text, "gap")
                if self.rest is not None:
                    self._spawn(self._check_symbol())
                if self._plan is not None and self.rest is not None:
                    self._spawn(self._fill(self._plan))
                if stored_holes and self.rest is not None:
                    self._spawn(self._repair_stored(stored_holes))
                await self._run_tasks(store)
        finally:
            store.close()  # releases the lock, whatever happened

    def _stored_holes(self, store: MinuteStore) -> list[int]:
        """Minutes before the last row that a repair must rebuild (what a stopped repair left),
        from the ids of the rows of the last --max-fill. The last row is the fill's."""
        if not self._repair_on or store.last_minute is None:
            return []
        max_fill = float(getattr(self.settings, "max_fill", 259200.0))
        since = store.last_minute - int(max_fill * 1000)
        return [m for m in holes_near_end(store, since) if m < store.last_minute]

    async def _repair_stored(self, minutes: list[int]) -> None:
        """Rebuild the minutes around holes left in the CSV, wholly from REST, in chunks merged
        as they complete, while live collecting goes on (history.rebuild_minutes)."""
        assert self.rest is not None and self._store is not None
        span = f"{_utc(minutes[0])} .. {_utc(minutes[-1] + MINUTE_MS)}"
        self._log(
            f"repairing holes left in the CSV: {len(minutes):,} minute(s) in {span} over REST, "
            "written as they complete",
            "gap",
        )
        progress = self._rebuild_progress(STORED_JOB, len(minutes))
        try:
            rebuilt, missing = await rebuild_minutes(self._store, self.rest, minutes, progress)
        except asyncio.CancelledError:
            self._log(
                "stopped while repairing holes left in the CSV; the next start resumes", "gap"
            )
            raise
        except Exception as exc:
            if not _is_rest_error(exc):
                raise
            self._log(
                f"could not repair the holes left in the CSV: {exc}; "
                f"{fill_hint(self.settings.data, self.settings.symbol, self.settings.demo)}",
                "gap",
            )
        else:
            none = f"; REST had no trade in {len(missing):,} of them" if missing else ""
            self._log(
                f"repaired holes left in the CSV: {rebuilt:,} minute(s) rebuilt over REST{none}",
                "gap",
            )
        finally:
            self._rebuilding.pop(STORED_JOB, None)

    def _rebuild_progress(
        self, job: str, total: int, then: Callable[[RebuildProgress], object] | None = None
    ) -> Callable[[RebuildProgress], None]:
        """A rebuild's progress: in the status (the Live pane) and, each quarter, in the log."""
        shown = [0]
        self._rebuilding[job] = RebuildProgress(0, total, 0)

        def progress(p: RebuildProgress) -> None:
            self._rebuilding[job] = p
            quarter = 4 * p.done // max(1, p.total)
            if quarter > shown[0] and p.done < p.total:
                shown[0] = quarter
                self._log(f"{job}: {p.done:,} of {p.total:,} minutes", "gap")
            if then is not None:
                then(p)

        return progress

    # -- what `check --repair` asks (market/handoff.py) -----------------------------------------
    async def _requests_loop(self, store: MinuteStore) -> None:
        """Look for minutes `check --repair` asked us to rebuild every request_interval; at the
        start, also what an earlier run took and did not finish."""
        resume = True
        while True:
            if handoff.request_path(store.path).exists() or (
                resume and handoff.taken_path(store.path).exists()
            ):
                await self._take_requests(store)
            resume = False  # a request left after a failure waits for a new ask or a restart
            await asyncio.sleep(self._request_interval)

    async def _take_requests(self, store: MinuteStore) -> None:
        try:
            work = handoff.take(store.path)
        except (handoff.BadRequest, StorageError) as exc:
            self._log(f"could not take the repair check --repair asked for: {exc}", "gap")
            return
        if work is None:
            return
        if self.rest is None:  # a test's collector without REST: nothing can be rebuilt
            return
        span = f"{_utc(work.spans[0][0])} .. {_utc(work.spans[-1][1])}"
        self._log(
            f"check --repair asked for {work.minutes:,} minute(s) in {span}: rebuilding them "
            "over REST, written as they complete",
            "gap",
        )
        job = handoff.Progress(store.path, work)
        try:
            if work.clean:
                job.removed, saved = store.rebuild([])
                job.saved_to = None if saved is None else str(saved)
            minutes = [m for a, b in work.spans for m in range(a, b, MINUTE_MS)]
            progress = self._rebuild_progress(
                ASKED_JOB, len(minutes), lambda p: job.advance(p.done, p.rebuilt, p.kept_before)
            )
            rebuilt, missing = await rebuild_minutes(store, self.rest, minutes, progress)
        except asyncio.CancelledError:
            job.say("stopped", "the collector stopped; its next start resumes the rest")
            raise
        except LockLost:
            raise
        except Exception as exc:
            if not (_is_rest_error(exc) or isinstance(exc, StorageError)):
                raise
            job.say("failed", str(exc))
            self._log(
                f"could not finish the repair check --repair asked for: {exc}; "
                f"{job.rebuilt:,} minute(s) rebuilt are kept, the rest is kept asked for "
                "(the next start, or check --repair, resumes it)",
                "gap",
            )
            return
        finally:
            self._rebuilding.pop(ASKED_JOB, None)
        handoff.finish(store.path)
        job.rebuilt, job.missing = rebuilt, missing
        job.say("done")
        if self._last_bar is not None and not self._unwritten:
            # the last row may be among them: later late trades fold into the rebuilt row
            self._last_bar = store.read_bars([self._last_bar.minute]).get(
                self._last_bar.minute, self._last_bar
            )
        none = f"; REST had no trade in {len(missing):,} of them" if missing else ""
        self._log(
            f"repaired what check --repair asked for: {rebuilt:,} minute(s) rebuilt over "
            f"REST{none}",
            "gap",
        )

    def _fill_plan(self, store: MinuteStore) -> _FillPlan | None:
        if not self._repair_on:
            return None
        if store.last_minute is None:
            # Without history, still the first live minute's trades before the first live one:
            # else that minute would be written with only the trades after the start, as if
            # they were all of it.
            history = self.settings.history
            return _FillPlan(None, history_ms=int(max(0.0, history) * 1000))
        if store.last_trade_id is None:  # a file without ids: we can't tell what its row holds
            return _FillPlan(store.last_minute + MINUTE_MS)
        return _FillPlan(store.last_minute, rebuild=True)

    async def _run_tasks(self, store: MinuteStore) -> None:
        assert self._failure is not None and self.aggregator is not None
        tasks = [
            asyncio.create_task(self.stream.run(self._on_trade_fn(), self._on_stream_event)),
            asyncio.create_task(self._poll_loop()),
            asyncio.create_task(self._status_loop()),
            asyncio.create_task(self._done.wait()),
            asyncio.ensure_future(self._failure),
        ]
        if self._repair_on:
            tasks.append(asyncio.create_task(self._requests_loop(store)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise a failure (e.g. the disk) instead of hiding it
        finally:
            for task in [*tasks, *self._background]:
                task.cancel()
            for task in [*tasks, *self._background]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            try:
                if not self._done.is_set():
                    # Stopped from outside: keep the trades of the open minute we already have,
                    # and the minutes held for repairs that did not finish.
                    bar = self.aggregator.flush()
                    if bar is not None:
                        self._hold.add_bar(bar)
                    self._release(force=True)
                if self._unwritten and not self._flush_unwritten():
                    first, last = self._unwritten[0][0], self._unwritten[-1][0]
                    raise StorageError(
                        f"{self.disk_error}; stopped with {len(self._unwritten)} minute(s) the "
                        f"disk refused, not written: {first.start:%Y-%m-%d %H:%M} .. "
                        f"{last.start:%Y-%m-%d %H:%M} UTC"
                    )
            finally:
                store.close()
                self.filling = False
                self._emit_status()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._failure is not None and not self._failure.done():
            self._failure.set_exception(exc)  # a disk error in a background write ends the run

    # -- the hot path ------------------------------------------------------------------------
    def _on_trade_fn(self) -> Callable[[Trade], None]:
        """The per-trade callback, specialised so the common case does no more than it must."""
        aggregator = self.aggregator
        assert aggregator is not None
        add = aggregator.add
        closed = self._closed
        slots = self.seen.slots
        mask = self.seen.mask
        on_tick = self._on_tick
        symbol = self.settings.symbol
        first = self._on_first_trade
        started: list[bool] = []  # empty until the first trade: one truth test a trade

        if on_tick is None:

            def on_trade(trade: Trade) -> None:
                slots[trade.trade_id & mask] = trade  # remembered for holes cut in an aggregate
                if started:
                    bars = add(trade)
                    if bars:
                        closed(bars)
                    return
                started.append(True)
                first(trade)
                bars = add(trade)
                if bars:
                    closed(bars)

            return on_trade

        def on_trade_with_tick(trade: Trade) -> None:
            slots[trade.trade_id & mask] = trade
            if not started:
                started.append(True)
                first(trade)
            bars = add(trade)
            if bars:
                closed(bars)
            minute = aggregator.open_minute
            if minute is None or minute.minute != trade.trade_time - trade.trade_time % MINUTE_MS:
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

    def _on_first_trade(self, trade: Trade) -> None:
        self._live_from = minute_of(trade.trade_time)
        # Synchronously, before this trade can close a minute: nothing from the first live minute
        # on is written until the fill has written what comes before it.
        if self._plan is not None and self.rest is not None:
            self._hold.hold("fill", minute_of(trade.trade_time))
        elif self._cold_start and trade.trade_time % MINUTE_MS:
            self._log(
                f"the first minute, {_utc(minute_of(trade.trade_time))}, holds only the trades "
                f"from {_utc(trade.trade_time)} on (gap repair is off)",
                "gap",
            )
        if self._first_live is not None and not self._first_live.done():
            self._first_live.set_result(trade)

    def _closed(self, bars: list[MinuteBar]) -> None:
        hold = self._hold
        if not hold:
            self._write(bars)  # nothing waits for a repair: the usual case
            return
        for bar in bars:
            hold.add_bar(bar)
        self._release()

    def _on_late(self, trade: Trade) -> None:
        """A trade whose minute was closed already (on the clock, while the link was slow): it
        goes into its minute wherever that is now (MinuteHold.settle), at the next poll."""
        minute = minute_of(trade.trade_time)
        if self._live_from is None or minute < self._live_from:
            return  # before this run's first live trade: the start's fill covers it
        self._hold.add_late(
            TradeRun(trade.trade_id, trade.trade_id, trade.price, trade.qty_units, trade.trade_time)
        )
        self._late[minute] = self._late.get(minute, 0) + 1
        self._late_pending = True

    def _release(self, force: bool = False) -> None:
        """Carry out what the hold lets go (MinuteHold.settle decides where each part goes)."""
        store = self._store
        assert store is not None
        unwritten = self._unwritten
        newest = unwritten[-1][0].minute if unwritten else store.last_minute
        kept = {bar.minute: bar for bar, _, _ in unwritten}
        settled = self._hold.settle(newest, kept, self._last_bar, self._replace_ok, force)
        for i, (bar, live, rewrite) in enumerate(unwritten):
            if bar.minute in settled.kept:  # still in memory (the disk refused it): fold it there
                unwritten[i] = (settled.kept[bar.minute], live, rewrite)
        if settled.rewrite_last is not None:
            self._write([settled.rewrite_last], live=False, replace=True)
        if settled.too_late:
            self._rewrite_rows(settled.too_late)
        for bar in settled.ready:
            late = self._late.pop(bar.minute, 0)
            if late:
                self._log(
                    f"{bar.start:%Y-%m-%d %H:%M} UTC: {late} trade(s) arrived after the minute "
                    "was closed on the clock (a slow link); folded in before it was written",
                    "gap",
                )
        if settled.ready:
            self._write(settled.ready)

    def _rewrite_rows(self, too_late: dict[int, list[TradeRun]]) -> None:
        """Trades of minutes written before the last row: their rows are rewritten with them
        (one atomic rewrite under our lock), or the trades are reported as a hole."""
        store = self._store
        assert store is not None
        try:
            rows = {} if self._unwritten else store.read_bars(too_late)
            bars = [fold(rows[m], runs) for m, runs in too_late.items() if m in rows]
            if bars:
                store.merge(bars, replace=True)
        except (StorageError, OSError) as exc:
            if not self._keep_on_disk_error or isinstance(exc, LockLost):
                raise
            rows, why = {}, f"the disk refused the rewrite: {exc}"
        else:
            why = "its row is not in the CSV" if not self._unwritten else "the disk refuses writes"
        for minute, runs in too_late.items():
            if minute in rows:
                self._say_rewritten(rows[minute], fold(rows[minute], runs))
                if self._last_bar is not None and self._last_bar.minute == minute:
                    self._last_bar = fold(rows[minute], runs)
                continue
            self._late.pop(minute, None)
            self._unrepaired(
                Hole(min(r.first_id for r in runs), max(r.last_id for r in runs)),
                f"its minute {_utc(minute)} was already written and {why}",
                count=sum(r.last_id - r.first_id + 1 for r in runs),
            )

    def _say_rewritten(self, old: MinuteBar, new: MinuteBar) -> None:
        late = self._late.pop(new.minute, 0)
        why = (
            f"{late} trade(s) arrived after it was closed on the clock (a slow link)"
            if late
            else "its repaired trades"
        )
        self._log(
            f"rewrote {new.start:%Y-%m-%d %H:%M} UTC with {why}: {old.trades:,} -> "
            f"{new.trades:,} trades",
            "gap",
        )

    def _write(self, bars: list[MinuteBar], live: bool = True, replace: bool = False) -> None:
        """Write closed minutes in order (or, while the disk refuses, keep them behind the ones
        it refused). `replace`: the bar is the last row again, with repaired trades folded in."""
        for i, bar in enumerate(bars):
            if self._done.is_set():
                return
            if self._unwritten:  # behind the minutes the disk refused, in order
                self._unwritten.append((bar, live, replace))
                self._say_unwritten()
                continue
            try:
                self._write_one(bar, live, replace)
            except StorageError as exc:
                if not self._keep_on_disk_error or isinstance(exc, LockLost):
                    # Headless: the run ends here; the message says what it could not keep.
                    self._lost.extend(bars[i:])
                    raise type(exc)(f"{exc}; {_lost_text(self._lost)}") from None
                self._unwritten.extend((b, live, replace) for b in bars[i:])
                self._disk_refused(exc)
                return

    def _write_many(self, bars: list[MinuteBar]) -> None:
        """History minutes after the last row: one write and one fsync for the lot."""
        store = self._store
        assert store is not None
        if self._unwritten:
            self._unwritten.extend((b, False, False) for b in bars)
            self._say_unwritten()
            return
        try:
            store.append_many(bars)
        except StorageError as exc:
            if not self._keep_on_disk_error or isinstance(exc, LockLost):
                self._lost.extend(bars)
                raise type(exc)(f"{exc}; {_lost_text(self._lost)}") from None
            self._unwritten.extend((b, False, False) for b in bars)
            self._disk_refused(exc)
            return
        self._last_bar = bars[-1]

    def _write_one(self, bar: MinuteBar, live: bool, replace: bool) -> None:
        store = self._store
        assert store is not None
        if bar.minute == store.last_minute and bar.minute in self._replace_ok:
            # The stored minute rebuilt at start (it may have been cut short when collecting
            # stopped). Rows hold consecutive ids, so equal first and last ids: nothing missing,
            # and no rewrite of the whole file for nothing.
            first, last = store.last_first_trade_id, store.last_trade_id
            self._replace_ok.discard(bar.minute)
            if (first, last) == (bar.first_trade_id, bar.last_trade_id):
                self._log(
                    f"{bar.start:%Y-%m-%d %H:%M} UTC, the last minute stored, was complete: "
                    f"{bar.trades} trades",
                    "fill",
                )
            else:
                store.replace_last(bar)
                had = last - first + 1 if first is not None and last is not None else "?"
                self._log(
                    f"completed {bar.start:%Y-%m-%d %H:%M} UTC, cut short when collecting "
                    f"stopped: {had} -> {bar.trades} trades",
                    "fill",
                )
        elif replace and bar.minute == store.last_minute:
            store.replace_last(bar)
            if self._last_bar is not None and self._last_bar.minute == bar.minute:
                self._say_rewritten(self._last_bar, bar)
            self._last_bar = bar
            return
        elif not store.append(bar):
            self._log(f"not writing {bar.start:%Y-%m-%d %H:%M} UTC again: already stored", "store")
            return
        self._last_bar = bar
        if live:
            self._announce(bar)

    def _announce(self, bar: MinuteBar, rows: int | None = None) -> None:
        """A live minute is on disk: BarWritten (rows: the CSV's row count once it was)."""
        store = self._store
        assert store is not None
        limit = self.settings.minutes
        self.bars_written += 1
        event = BarWritten(bar, store.rows if rows is None else rows, self.stream.reconnects)
        if self._on_bar is not None:
            self._on_bar(event)
        self._log(
            f"wrote {bar.start:%Y-%m-%d %H:%M} UTC: avg {bar.avg_price:.2f}, {bar.trades} trades",
            "minute",
        )
        if limit is not None and self.bars_written >= limit:
            self._done.set()

    # -- a disk that refuses writes (keep_on_disk_error) ---------------------------------------
    def _disk_refused(self, exc: StorageError) -> None:
        store = self._store
        assert store is not None
        self.disk_error = str(exc).removesuffix("; nothing of it was kept")
        if store.file_changed() in ("deleted", "replaced") and self._flush_unwritten():
            return  # reopened the path and wrote everything at once
        self._say_unwritten()
        if not self._retrying:
            self._retrying = True
            self._spawn(self._retry_disk())

    def _say_unwritten(self) -> None:
        count = len(self._unwritten)
        if count != self._logged_unwritten:
            self._logged_unwritten = count
            self._log(
                f"{self.disk_error}; {count} minute(s) kept in memory, retrying every "
                f"{self._disk_retry:g} s",
                "store",
            )
            self._emit_status()

    async def _retry_disk(self) -> None:
        try:
            while self._unwritten:
                await asyncio.sleep(self._disk_retry)
                if not self._flush_unwritten():
                    self._say_unwritten()
        finally:
            self._retrying = False

    def _flush_unwritten(self) -> bool:
        """Write the minutes kept in memory, in order; False if the disk still refuses."""
        store = self._store
        assert store is not None
        count = len(self._unwritten)
        try:
            why = store.file_changed()
            if why is not None:
                store.reopen()
                if why == "deleted":
                    self._log(
                        f"{store.path} was deleted while being written: started it again; the "
                        "rows it held are gone with the deleted file",
                        "store",
                    )
                elif why == "replaced":
                    self._log(
                        f"{store.path} was replaced while being written: continuing in the new "
                        f"file ({store.rows} rows)",
                        "store",
                    )
                for warning in store.warnings:
                    self._log(warning, "store")
                store.warnings.clear()
            while self._unwritten:
                bar, live, replace = self._unwritten[0]
                batch = self._append_batch()
                if batch:
                    store.append_many([b for b, _, _ in batch])
                    del self._unwritten[: len(batch)]
                    self._last_bar = batch[-1][0]
                    for i, (b, live, _) in enumerate(batch, start=store.rows - len(batch) + 1):
                        if live:
                            self._announce(b, rows=i)
                    continue
                if (
                    not replace
                    and store.last_minute is not None
                    and bar.minute <= store.last_minute
                ):
                    # After a reopen the new file may already reach past a kept minute: insert
                    # it if that file lacks it (rows there are never changed).
                    if store.merge([bar]) and live:
                        self._announce(bar)
                else:
                    self._write_one(bar, live, replace)
                del self._unwritten[0]
        except LockLost:
            raise  # another process may write the CSV now: never keep writing beside it
        except (StorageError, UsageError) as exc:
            # UsageError: the CSV was replaced by something we must not append to (not a minute
            # CSV, another symbol's): keep the minutes and retry, the user can put it right.
            self.disk_error = str(exc).removesuffix("; nothing of it was kept")
            return False
        self.disk_error = None
        self._logged_unwritten = 0
        if count:
            self._log(
                f"the disk takes writes again: wrote the {count} minute(s) kept in memory", "store"
            )
        self._emit_status()
        return True

    def _append_batch(self) -> list[tuple[MinuteBar, bool, bool]]:
        """The leading kept minutes a plain append writes (after the last row, in order)."""
        store = self._store
        assert store is not None
        last = store.last_minute
        batch: list[tuple[MinuteBar, bool, bool]] = []
        for entry in self._unwritten:
            bar, _, replace = entry
            if (
                replace
                or bar.minute in self._replace_ok
                or (last is not None and bar.minute <= last)
            ):
                break
            batch.append(entry)
            last = bar.minute
        return batch

    # -- holes -------------------------------------------------------------------------------
    def _on_gap(self, event: StreamEvent) -> None:
        first = getattr(event, "first_missing", None)
        last = getattr(event, "last_missing", None)
        if first is None or last is None:
            return  # a stream without ids in its gap events: counted in `missed` only
        hole = Hole(first, last)
        if not self._repair_on or self.rest is None:
            self._unrepaired(hole, "repair is off (--no-repair)")
            return
        before = self.seen.get(first - 1)
        if before is None:
            self._unrepaired(hole, "the trade before it is unknown")
            return
        key = ("hole", first)
        self._hold.hold(key, minute_of(before.trade_time))  # now, before another minute closes
        self._spawn(self._repair(key, hole, before))

    async def _repair(self, key: object, hole: Hole, before: Trade) -> None:
        """Fetch a hole's trades page by page and fold them in as minutes complete: the minutes
        inside the hole are written in time order while it goes on, live minutes after it wait
        in the hold (a bar each). No time limit on REST as a whole (the client retries a page and
        keeps to the weight budget); only the stream's own part is bounded by repair_timeout."""
        assert self.rest is not None
        runs = HoleRuns(hole, self.seen.units)
        self._repairing[key] = runs
        try:
            async with asyncio.timeout(self._repair_timeout):
                after = await self._wait_seen(hole.last + 1)
            resumed = minute_of(after.trade_time)
            pages = self.rest.agg_trades_between(before.trade_time, after.trade_time + 1)
            async for page in pages:
                aggs = runs.relevant(page)
                if not aggs:
                    continue
                async with asyncio.timeout(self._repair_timeout):
                    await self._wait_boundary(aggs, hole.last)
                was = runs.done
                got = runs.feed(aggs)
                frontier = min(resumed, minute_of(got[-1].trade_time))
                # minutes before the newest run's are whole now: written, in order
                self._hold.add_runs(got, final_before=frontier)
                self._hold.hold(key, frontier)
                self._release()
                self._say_progress(hole, was, runs.done)
            if runs.left is not None:
                raise Unrepairable(f"REST did not return trades {runs.left.first}..{hole.last}")
        except TimeoutError:
            self._unrepaired(
                runs.left or hole, "the stream did not deliver the trades around the hole"
            )
        except asyncio.CancelledError:
            if runs.left is not None:
                self._unrepaired(runs.left, "collecting stopped before the repair finished")
            raise
        except Unrepairable as exc:
            self._unrepaired(runs.left or hole, str(exc))
        except Exception as exc:  # RestError and its kinds: the network's doing, not ours
            if not _is_rest_error(exc):
                raise
            self._unrepaired(runs.left or hole, str(exc))
        else:
            self._hold.add_runs([], final_before=resumed)
            self._log(f"repaired a hole over REST: {hole.describe()}", "gap")
        finally:
            self.repaired += runs.done
            del self._repairing[key]
            self._hold.release(key)
            self._release()

    def _say_progress(self, hole: Hole, was: int, done: int) -> None:
        """A log line at each quarter of a big hole (the status carries the exact figures)."""
        crossed = 4 * done // hole.count > 4 * was // hole.count
        if hole.count >= PROGRESS_FROM and crossed and done < hole.count:
            self._log(
                f"repairing a hole over REST: {done:,} of {hole.count:,} trade(s) "
                f"({100 * done // hole.count}%), minutes written as they complete",
                "gap",
            )
        self._emit_status()

    async def _wait_seen(self, trade_id: int) -> Trade:
        """The live trade with this id, once the stream has delivered it."""
        while True:
            trade = self.seen.get(trade_id)
            if trade is not None:
                return trade
            last = self.stream.last_trade_id
            if last is not None and last >= trade_id:
                raise Unrepairable(f"trade {trade_id} was lost too (another hole)")
            await asyncio.sleep(0.005)

    async def _wait_boundary(self, aggs: list[AggTrade], last_missing: int) -> None:
        """If the hole ends inside an aggregate, wait for the stream to deliver the rest of it:
        its quantity is needed to tell what the lost part held."""
        for agg in aggs:
            if agg.first_id <= last_missing < agg.last_id:
                await self._wait_seen(agg.last_id)

    def _unrepaired(self, hole: Hole, why: str, count: int | None = None) -> None:
        self.unrepaired += hole.count if count is None else count
        self.holes.append(hole)
        del self.holes[:-100]  # the latest ones; the count above keeps the total
        self._log(f"hole not repaired: {hole.describe()}: {why}", "gap")

    async def _check_symbol(self) -> None:
        """Binance's stream accepts any pair's name and then sends nothing: ask REST once, so a
        typo in --symbol ends the run with Binance's own message instead of reconnecting every
        --stale-after seconds forever. Any other REST trouble is left to where it matters."""
        from btc_tui.market.rest import BinanceError

        assert self.rest is not None
        try:
            await self.rest.agg_trades(limit=1)
        except BinanceError as exc:
            if exc.code == -1121:
                raise UsageError(f"--symbol {self.settings.symbol}: {exc}") from None
        except Exception as exc:
            if not _is_rest_error(exc):
                raise

    # -- the start's fill ---------------------------------------------------------------------
    async def _fill(self, plan: _FillPlan) -> None:
        assert self._first_live is not None and self.rest is not None and self._store is not None
        first = await self._first_live
        job = self._fill_job(plan, first)
        self.filling = not job.quiet
        self._emit_status()
        if not job.quiet:
            self._progress(FillProgress(job.start, job.live_minute, 0, job.total, False))
        try:
            if job.start < job.live_minute:
                await self._fill_history(job)
            await self._fill_first_minute(job, first)
        except asyncio.CancelledError:
            # Stopped mid-fill: the held live minutes are written anyway (nothing received is
            # lost), so say which minutes before them are missing and how to fill them.
            resume = job.start + job.done * MINUTE_MS
            if resume < job.live_minute:
                self._log(
                    f"stopped while filling: {_utc(resume)} .. {_utc(job.live_minute)} not "
                    f"filled; {self._how_to_fill(resume, job.live_minute)}",
                    "fill",
                )
            self._tail_unjoined(job, first, "collecting stopped before the fill joined the stream")
            raise
        except Exception as exc:
            if not (_is_rest_error(exc) or isinstance(exc, Unrepairable)):
                raise
            self._fill_failed(job, first, exc)
        else:
            self._fill_done(job)
        finally:
            self.filling = False
            self._hold.release("fill")
            self._release()
            self._emit_status()

    def _fill_job(self, plan: _FillPlan, first: Trade) -> _FillJob:
        """Where the fill starts (no further back than --max-fill, said in the log) and ends."""
        assert self._store is not None
        live_minute = minute_of(first.trade_time)
        start = plan.start
        if start is None:
            start = minute_of(first.trade_time - plan.history_ms)
        max_fill = self.settings.max_fill
        earliest = minute_of(first.trade_time - int(max_fill * 1000))
        if start < earliest:
            self._log(
                f"not filling {_utc(start)} .. {_utc(earliest)} (more than --max-fill "
                f"{max_fill:g}s before the first live trade); {self._how_to_fill(start, earliest)}",
                "fill",
            )
            self._replace_ok.discard(start)
            start = earliest
        total = max(0, (live_minute - start) // MINUTE_MS)
        # Trades already in the CSV (the stored part of a rebuilt minute) are not "repaired".
        known = self._store.last_trade_id
        # An empty CSV without history: only the first live minute is completed; no history
        # fill to show progress for.
        quiet = total == 0 and plan.start is None
        job = _FillJob(start, live_minute, total, quiet, -1 if known is None else known)
        stored_first = self._store.last_first_trade_id
        if plan.rebuild and start == plan.start and stored_first is not None:
            # the rebuilt last row's minute is fetched whole: it follows the row before it
            job.tail_id, job.tail_minute = stored_first - 1, start
        return job

    async def _fill_history(self, job: _FillJob) -> None:
        """The whole minutes [start, first live minute), written as each page completes them."""
        assert self.rest is not None and self._store is not None
        store = self._store
        async for batch in fetch_minutes(self.rest, job.start, job.live_minute):
            bars = batch
            for bar in batch:
                if job.tail_id is not None and bar.first_trade_id > job.tail_id + 1:
                    hole = Hole(job.tail_id + 1, bar.first_trade_id - 1)
                    self._unrepaired(hole, "REST's answers to the start's fill skip them")
                job.tail_id = max(bar.last_trade_id, job.tail_id or -1)
                job.tail_minute = bar.minute
            job.written += len(batch)
            self.filled += sum(job.gained(b.first_trade_id, b.last_trade_id) for b in bars)
            if bars[0].minute == store.last_minute and bars[0].minute in self._replace_ok:
                self._write(bars[:1], live=False)
                bars = bars[1:]
            if bars:
                self._write_many(bars)
            job.done = (batch[-1].minute - job.start) // MINUTE_MS + 1
            self._progress(FillProgress(job.start, job.live_minute, job.done, job.total, False))

    async def _fill_first_minute(self, job: _FillJob, first: Trade) -> None:
        """The trades between the history part and the first live one (the first live minute's
        before it, and any the history part's ids stop short of), so that the live part follows
        the history part id by id. REST's aggTrades database can lag the stream: it is asked
        again until it shows the first live trade, for at most repair_timeout, else Unrepairable
        (the caller counts and names the ids)."""
        assert self.rest is not None
        need = None if job.tail_id is None else job.tail_id + 1  # first id the part must hold
        if need is not None and need > first.trade_id:
            both = Hole(first.trade_id, need - 1)
            self.unrepaired += both.count
            self.holes.append(both)
            self._log(
                f"the start's fill and the stream overlap: {both.describe()} are in a minute "
                f"before {_utc(job.live_minute)} by REST and in it by the stream; those minutes "
                "may count them twice",
                "gap",
            )
            return
        if need == first.trade_id:
            return  # the history part ends right before the first live trade
        # REST shows the first live trade: the aggregates before it are all there is
        aggs = [a for a in await self._fetch_tail(job, first, need) if a.first_id < first.trade_id]
        if not aggs:
            return  # the first live trade opens its minute: nothing before it to fetch
        try:
            async with asyncio.timeout(self._repair_timeout):
                await self._wait_boundary(aggs, first.trade_id - 1)
        except TimeoutError:
            raise Unrepairable("the stream did not deliver the rest of an aggregate") from None
        runs = missing_runs(aggs, first.trade_id - 1, self.seen.units, need)
        # runs of minutes already written are folded into their rows (MinuteHold.settle)
        self._hold.add_runs(runs, final_before=job.live_minute)
        job.early = sum(job.gained(r.first_id, r.last_id) for r in runs)
        self.filled += job.early

    async def _fetch_tail(self, job: _FillJob, first: Trade, need: int | None) -> list[AggTrade]:
        """REST's aggregates from the id `need` (or the first live minute's start) up to the
        first live trade, once REST has that trade: asked again while it lags the stream."""
        assert self.rest is not None
        since = max(job.start, job.live_minute)
        waited = 0.0
        said = False
        while True:
            try:
                async with asyncio.timeout(self._repair_timeout if job.quiet else None):
                    pages = self.rest.agg_trades_between(since, first.trade_time + 1)
                    aggs = await _collect(pages, need, first.trade_id)
            except TimeoutError:
                raise Unrepairable(
                    f"REST did not answer within {self._repair_timeout:g}s"
                ) from None
            joined = need is None or (bool(aggs) and aggs[0].first_id <= need)
            if joined and aggs and aggs[-1].last_id >= first.trade_id:
                if said:
                    self._log(f"the start's fill now joins the stream at {first.trade_id}", "fill")
                return aggs
            if not joined and since > job.tail_minute:
                since = job.tail_minute  # the missing ids are before the first live minute
                continue
            missing = "?" if need is None else f"{need}..{first.trade_id - 1}"
            if waited >= self._repair_timeout:
                raise Unrepairable(
                    f"REST did not show trades {missing} before the first live one within "
                    f"{self._repair_timeout:g}s (its database lags the stream)"
                )
            if not said:
                said = True
                self._log(
                    f"REST lags the stream: the start's fill lacks trades {missing} before the "
                    f"first live one ({first.trade_id}); asking again",
                    "fill",
                )
            await asyncio.sleep(self._poll_interval)
            waited += self._poll_interval

    def _fill_failed(self, job: _FillJob, first: Trade, exc: Exception) -> None:
        self._replace_ok.clear()
        self._tail_unjoined(job, first, f"the start's fill: {exc}")
        if job.quiet:
            self._log(
                f"could not fetch the trades of {_utc(job.live_minute)} before the first live "
                f"one: {exc}; that minute holds only the trades from {_utc(first.trade_time)} on",
                "fill",
            )
            return
        self._log(
            f"could not fill {_utc(job.start)} .. {_utc(first.trade_time)}: {exc}; "
            f"{self._how_to_fill(job.start, job.live_minute)}",
            "fill",
        )
        self._progress(
            FillProgress(job.start, job.live_minute, job.done, job.total, True, str(exc))
        )

    def _tail_unjoined(self, job: _FillJob, first: Trade, why: str) -> None:
        """The history part is written but the part joining it to the stream is not: its ids
        are a hole, counted and named."""
        if job.done >= job.total and job.tail_id is not None and job.tail_id + 1 < first.trade_id:
            self._unrepaired(Hole(job.tail_id + 1, first.trade_id - 1), why)

    def _fill_done(self, job: _FillJob) -> None:
        if job.quiet:
            if job.early:
                self._log(
                    f"completed the first minute, {_utc(job.live_minute)}, with the {job.early} "
                    "trade(s) before the first live one, over REST",
                    "fill",
                )
            return
        if job.written:
            self._log(
                f"filled {_utc(job.start)} .. {_utc(job.live_minute)} over REST: "
                f"{job.written:,} minute(s) with trades written",
                "fill",
            )
        self._progress(FillProgress(job.start, job.live_minute, job.total, job.total, True))

    def _how_to_fill(self, start: int, end: int) -> str:
        """The command that fills [start, end) later. The stored last row, if it was to be
        rebuilt, may be cut short: only `check --repair` rebuilds a row that exists (backfill
        never changes one)."""
        settings = self.settings
        rebuild = self._plan is not None and self._plan.rebuild
        return fill_hint(
            settings.data, settings.symbol, settings.demo, None if rebuild else (start, end)
        )

    def _progress(self, progress: FillProgress) -> None:
        if self._on_fill is not None:
            self._on_fill(progress)

    # -- periodic work -----------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        """Close quiet minutes once the exchange clock passes their end plus the grace period."""
        assert self.aggregator is not None
        while True:
            await asyncio.sleep(self._poll_interval)
            bars = self.aggregator.poll()
            if bars:
                self._closed(bars)
            if self._late_pending:  # a poll's worth of late trades: one rewrite, not one each
                self._late_pending = False
                self._release()

    async def _status_loop(self) -> None:
        while True:
            self._emit_status()
            await asyncio.sleep(self._status_interval)

    def _on_stream_event(self, event: StreamEvent) -> None:
        if event.kind == "connected" and self.aggregator is not None:
            self.aggregator.reset_clock()  # the new path may have a different delay
        if event.kind in _LOG_KINDS:
            self._log(event.text, _LOG_KINDS[event.kind])
        if event.kind == "gap":
            self._on_gap(event)
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


async def _collect(
    pages: AsyncIterator[list[AggTrade]], first_id: int | None, last_id: int
) -> list[AggTrade]:
    """The aggregates of `pages` that hold any of the trades first_id..last_id."""
    out: list[AggTrade] = []
    async for page in pages:
        for agg in page:
            if agg.first_id <= last_id and (first_id is None or agg.last_id >= first_id):
                out.append(agg)
    return out


def _lost_text(bars: list[MinuteBar]) -> str:
    first, last = min(b.minute for b in bars), max(b.minute for b in bars)
    span = _utc(first) if first == last else f"{_utc(first)} .. {_utc(last)}"
    trades = sum(b.trades for b in bars)
    return f"not written: {len(bars)} minute(s), {span}, {trades} trade(s)"


def _is_rest_error(exc: BaseException) -> bool:
    from btc_tui.market.rest import RestError

    return isinstance(exc, RestError)
