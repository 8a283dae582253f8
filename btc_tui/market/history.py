"""Exact history for the minute CSV: over REST (backfill), from Binance's dump files (import), and a
consistency check of the CSV itself (check, with repair over REST).

Every minute is built from aggregates (or trades) with `bars_from_runs`' rules, and only minutes that
are provably complete are written: over REST a minute is complete once a later aggregate (or the end
of the range) was seen; in a dump, a minute next to a break in the trade ids (a corrupt or missing
row, the file's first or last minute unless it is the period's edge) is left out and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import time
import warnings as warnings_module
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from btc_tui.errors import UsageError
from btc_tui.market import handoff
from btc_tui.market.bars import MINUTE_MS, MinuteBar, bars_from_runs, minute_of, run_from_agg
from btc_tui.market.binance import QTY_SCALE
from btc_tui.market.rows import HEADERS, parse_row, row_minute
from btc_tui.market.store import LockOwner, MinuteStore, read_lock_owner

if TYPE_CHECKING:
    import numpy as np

    from btc_tui.config import Settings
    from btc_tui.market.rest import BinanceRest

# A backfill merges history before existing rows by an atomic rewrite of the whole CSV; rewriting per
# page would be quadratic, so such minutes are buffered and merged a day at a time.
MERGE_BATCH = 1440


def ceil_minute(ms: int) -> int:
    return minute_of(ms + MINUTE_MS - 1)


def minute_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _second_text(ms: int) -> str:
    """To the second when it is not a whole minute (a message about partial minutes)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if ms % MINUTE_MS else "%Y-%m-%d %H:%M UTC")


def fill_hint(
    data: Path | str, symbol: str, demo: bool, span: tuple[int, int] | None = None
) -> str:
    """How to fill what collecting left missing, in words: the one wording of this advice (the
    collector's log, `collect`'s last line). The command names this CSV: its --data unless it is
    the default one, its --symbol, --demo. `span` [start, end): minutes after the last row, which
    backfill adds; without it, `check --repair` (which also rebuilds a row cut short)."""
    from btc_tui.config import DEFAULT_SYMBOL, default_data

    where = "" if Path(data) == default_data(symbol, demo) else f" --data {data}"
    if symbol.lower() != DEFAULT_SYMBOL:
        where += f" --symbol {symbol.lower()}"
    if demo:
        return (
            "the demo's simulated trades can't be fetched again once it stops; "
            f"btc-tui check --demo{where} names what is missing"
        )
    if span is None:
        command = f"btc-tui check --repair{where}"
    else:
        command = f"btc-tui backfill --start {_iso(span[0])} --end {_iso(span[1])}{where}"
    return f"to fill the gap once collecting has stopped: {command}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- REST -----------------------------------------------------------------------------------------
HEAD_MARGIN_MS = 10_000  # past a minute's end by the server's clock, REST is taken to have it all


async def fetch_minutes(
    rest: BinanceRest,
    start_ms: int,
    end_ms: int,
    now: int | None = None,
    unconfirmed: list[int] | None = None,
) -> AsyncIterator[list[MinuteBar]]:
    """Exact complete minute bars for [start_ms, end_ms), in time order, a batch per page.

    The range is narrowed to whole minutes (start rounded up, end down): a minute cut by the range
    would be partial. `end_ms` must not be after the exchange's clock (the minute still trading
    would come back partial): take it from `rest.server_time()` or from trade times. A minute is yielded once an aggregate of a later minute arrived (pages are
    oldest first, and one aggregate has one time), the last ones when the range is exhausted.
    """
    start, end = ceil_minute(start_ms), minute_of(end_ms)
    if end <= start:
        return
    pending: list = []
    async for page in rest.agg_trades_between(start, end):
        if not page:
            continue
        newest = minute_of(page[-1].trade_time)
        runs = pending + [run_from_agg(agg) for agg in page]
        split = len(runs)
        while split and minute_of(runs[split - 1].trade_time) >= newest:
            split -= 1
        done, pending = runs[:split], runs[split:]
        if done:
            yield bars_from_runs(done)
    if pending and now is not None:
        # The range's last minute had no later aggregate in these pages. It is complete only if
        # REST has a trade after it (its aggTrades database may lag the market), or the server's
        # clock is past its end by a margin; otherwise it is left out, said in `unconfirmed`.
        last = minute_of(pending[-1].trade_time)
        if now < last + MINUTE_MS + HEAD_MARGIN_MS:
            after = await rest.agg_trades(start_time=last + MINUTE_MS, limit=1)
            if not after:
                if unconfirmed is not None:
                    unconfirmed.append(last)
                pending = [run for run in pending if minute_of(run.trade_time) < last]
    if pending:
        yield bars_from_runs(pending)


@dataclass(frozen=True)
class BackfillProgress:
    done_minutes: int  # minutes of the requested range covered so far
    total_minutes: int  # minutes that had to be fetched (missing from the CSV)
    written: int
    requests: int


@dataclass(frozen=True)
class BackfillResult:
    start: int  # ms, the range actually covered: [start, end)
    end: int
    fetched: int  # minutes with trades that came over REST
    written: int  # rows added to the CSV
    present: int  # minutes of the range already in the CSV (never changed)
    empty: int  # minutes of the fetched ranges without a single trade
    requests: int
    used_weight: int
    rate_limited: int
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def summary(self, path: Path) -> str:
        return (
            f"{path}: {self.written:,} minutes written, {self.present:,} already there, "
            f"{self.empty:,} without trades, {minute_text(self.start)} to {minute_text(self.end)} "
            f"(end exclusive); {self.requests:,} request{'' if self.requests == 1 else 's'} in "
            f"{self.seconds:.1f} s"
        )


def existing_minutes(path: Path) -> set[int]:
    """The minutes that have a valid row in the CSV (a light parse of the time fields only)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    minutes = set()
    for line in data.decode("utf-8", "replace").split("\n")[1:]:
        minute = row_minute(line)
        if minute is not None:
            minutes.add(minute)
    return minutes


def missing_ranges(present: set[int], start: int, end: int) -> list[tuple[int, int]]:
    """[a, b) ranges of the minutes in [start, end) that `present` lacks, oldest first."""
    ranges: list[tuple[int, int]] = []
    run_start = None
    for minute in range(start, end, MINUTE_MS):
        if minute in present:
            if run_start is not None:
                ranges.append((run_start, minute))
                run_start = None
        elif run_start is None:
            run_start = minute
    if run_start is not None:
        ranges.append((run_start, end))
    return ranges


def open_rest(settings: Settings) -> BinanceRest:
    from btc_tui.market.rest import BinanceRest

    return BinanceRest(settings.rest_url, settings.symbol)


async def backfill(
    settings: Settings,
    start_ms: int | None,
    end_ms: int | None,
    on_progress: Callable[[BackfillProgress], object] | None = None,
    rest: BinanceRest | None = None,
    since: float | None = None,
    on_wait: Callable[[str], object] | None = None,
) -> BackfillResult:
    """Merge exact history for [start_ms, end_ms) into settings.data; rows already there stay.

    Only the minutes the CSV lacks are fetched, so running it twice fetches (almost) nothing and
    changes nothing. The CSV is locked before any request; on a REST error the minutes merged so far
    stay (each is exact and complete) and the error propagates.
    """
    began = time.monotonic()
    if start_ms is None and since is None:
        raise UsageError("backfill needs a start time or a duration (--since)")
    created = not Path(settings.data).exists()
    store = MinuteStore(settings.data, settings.symbol)
    store.open()  # locked before any request: another writer is named before we fetch anything
    own_rest = rest is None
    client = open_rest(settings) if rest is None else rest
    client.on_wait = on_wait  # a pause an earlier run was told to make, said with its end
    job = _Backfill(store, client, on_progress)
    try:
        if own_rest:
            await client.__aenter__()
        job.start, job.end, job.now = await _backfill_range(client, start_ms, end_ms, since)
        present_before = existing_minutes(store.path)
        job.present = sum(1 for m in present_before if job.start <= m < job.end)
        ranges = missing_ranges(present_before, job.start, job.end)
        job.missing = sum((b - a) // MINUTE_MS for a, b in ranges)
        if ranges:
            ranges = await _since_listing(client, ranges, job.end)
        await job.run(ranges)
    except BaseException:
        if created and job.written == 0:
            _remove_new_file(store)  # a failed first run leaves no empty CSV behind
        raise
    finally:
        if own_rest:
            await client.__aexit__(None, None, None)
        store.close()
    return job.result(time.monotonic() - began)


async def _backfill_range(
    client: BinanceRest, start_ms: int | None, end_ms: int | None, since: float | None
) -> tuple[int, int, int]:
    """The whole minutes [start, end) to backfill; UsageError if there is none."""
    # "now" is Binance's clock, never ours; an end after it would write the current minute
    # (still trading) as if it were complete.
    now = await client.server_time()
    end_ms = now if end_ms is None else min(end_ms, now)
    if start_ms is None:
        assert since is not None
        start_ms = end_ms - int(since * 1000)
    start, end = ceil_minute(start_ms), minute_of(end_ms)
    if start_ms >= now:
        raise UsageError(
            f"nothing to fetch: the start, {_second_text(start_ms)}, is not before now by "
            f"Binance's clock, {_second_text(now)}"
        )
    if end <= start:
        raise UsageError(
            f"nothing to fetch: {_second_text(start_ms)} to {_second_text(end_ms)} holds no "
            "whole minute"
        )
    return start, end, now


async def _since_listing(
    client: BinanceRest, ranges: list[tuple[int, int]], end: int
) -> list[tuple[int, int]]:
    """`ranges` from the symbol's first aggregate on: nothing traded before it, and without this
    a start years before the listing would walk empty hour windows, one request each."""
    oldest = await client.agg_trades(from_id=0, limit=1)
    listed = minute_of(oldest[0].trade_time) if oldest else end
    return [(max(a, listed), b) for a, b in ranges if b > listed]


@dataclass
class _Backfill:
    """One backfill's writing and counting: pages appended as they come, minutes before the last
    row merged a day at a time (MERGE_BATCH)."""

    store: MinuteStore
    client: BinanceRest
    on_progress: Callable[[BackfillProgress], object] | None
    start: int = 0
    end: int = 0
    present: int = 0  # minutes of [start, end) in the CSV before
    missing: int = 0  # minutes of [start, end) the CSV lacked
    fetched: int = 0
    written: int = 0
    total: int = 0  # minutes to fetch
    now: int | None = None  # the server's clock when the range was set
    unconfirmed: list[int] = field(default_factory=list)  # the head's minutes REST lacks yet
    buffered: list[MinuteBar] = field(default_factory=list)

    async def run(self, ranges: list[tuple[int, int]]) -> None:
        self.total = sum((b - a) // MINUTE_MS for a, b in ranges)
        done_before = 0
        try:
            for a, b in ranges:
                async for bars in fetch_minutes(self.client, a, b, self.now, self.unconfirmed):
                    self.take(bars)
                    if bars:
                        self.report(done_before + (bars[-1].minute + MINUTE_MS - a) // MINUTE_MS)
                done_before += (b - a) // MINUTE_MS
                self.report(done_before)
        finally:
            self.flush()  # minutes already fetched are exact: keep them even if a later page failed

    def take(self, bars: list[MinuteBar]) -> None:
        self.fetched += len(bars)
        last = self.store.last_minute
        newer = [bar for bar in bars if last is None or bar.minute > last]
        self.buffered.extend(bar for bar in bars if last is not None and bar.minute <= last)
        if newer:
            self.flush()  # keep time order: older buffered minutes go in first
            self.written += self.store.append_many(newer)  # one write + one fsync per page
        elif len(self.buffered) >= MERGE_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.buffered:
            self.written += self.store.merge(self.buffered)
            self.buffered.clear()

    def report(self, done: int) -> None:
        if self.on_progress is not None:
            self.on_progress(BackfillProgress(done, self.total, self.written, self.client.requests))

    def result(self, seconds: float) -> BackfillResult:
        return BackfillResult(
            start=self.start,
            end=self.end,
            fetched=self.fetched,
            written=self.written,
            present=self.present + self.fetched - self.written,
            empty=self.missing - self.fetched,
            requests=self.client.requests,
            used_weight=self.client.used_weight,
            rate_limited=self.client.rate_limited,
            seconds=seconds,
            warnings=list(self.store.warnings)
            + [
                f"left out {minute_text(m)}: REST shows no trade after it yet (its trade "
                "database may lag); run backfill again in a minute"
                for m in self.unconfirmed
            ],
        )


def _remove_new_file(store: MinuteStore) -> None:
    """Take away the header-only CSV (and its symbol record) this run created, under its lock."""
    from btc_tui.market.store import meta_path

    for path in (store.path, meta_path(store.path)):
        with contextlib.suppress(OSError):
            path.unlink()


# -- dumps ----------------------------------------------------------------------------------------
DUMP_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>aggTrades|trades)-(?P<year>\d{4})-(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2}))?\.(?:zip|csv)$"
)
AGG_FIELDS = 8  # agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,m,M
TRADE_FIELDS = 7  # id,price,qty,quote_qty,time,is_buyer_maker,is_best_match
US_THRESHOLD = 10**14  # ms timestamps are ~1.7e12 today; µs ones ~1.7e15
# round(float(q) * 1e8) is the exact unit count while q * 1e8 < 2**51 (error < 0.5 unit): see
# dump_minutes. Larger quantities are parsed from their text instead.
EXACT_FLOAT_UNITS = 2**51


@dataclass(frozen=True)
class DumpMinutes:
    path: Path
    kind: str  # "aggTrades" | "trades"
    rows: int  # aggregates (or trades) read
    bars: list[MinuteBar]
    bad_lines: list[int]
    dropped: list[int]  # minutes left out because they may be incomplete
    micro: bool  # timestamps were in µs
    warnings: list[str]


@dataclass(frozen=True)
class ImportResult:
    files: int
    rows: int
    minutes: int
    written: int
    present: int
    dropped: int
    bad_rows: int
    seconds: float
    warnings: list[str]

    def summary(self, path: Path) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{path}: {self.written:,} minutes written, {self.present:,} already there, "
            f"{self.dropped:,} left out as incomplete; {self.rows:,} rows from {self.files} "
            f"file(s), {self.bad_rows:,} corrupt row(s) skipped ({rate:,.0f} rows/s)"
        )


def check_dump_name(path: Path, symbol: str) -> re.Match[str]:
    """The name's parts; UsageError for another symbol's dump or a name that is not a dump's."""
    match = DUMP_NAME.match(path.name) or _member_name(path)
    if match is None:
        raise UsageError(
            f"{path}: not a Binance dump file name (expected e.g. "
            f"{symbol.upper()}-aggTrades-2024-08-08.zip or {symbol.upper()}-trades-2024-08.zip)"
        )
    if match["symbol"] != symbol.upper():
        raise UsageError(
            f"{path} holds {match['symbol']} trades, not {symbol.upper()} (--symbol); pass "
            f"--symbol {match['symbol'].lower()} and a --data file for it"
        )
    return match


def _member_name(path: Path) -> re.Match[str] | None:
    """A renamed dump zip (`BTCUSDT-aggTrades-2024-08-08 (1).zip`): its one member still has the
    name Binance gave it."""
    if path.suffix.lower() != ".zip":
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError):
        return None
    if len(members) != 1:
        return None
    return DUMP_NAME.match(Path(members[0]).name)


def _period(match: re.Match[str]) -> tuple[int, int]:
    """[first minute, end) of the day or month a dump's name says it covers, ms."""
    year, month = int(match["year"]), int(match["month"])
    if match["day"]:
        start = datetime(year, month, int(match["day"]), tzinfo=UTC)
        stop = start + timedelta(days=1)
    else:
        start = datetime(year, month, 1, tzinfo=UTC)
        stop = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp() * 1000), int(stop.timestamp() * 1000)


def _dump_blocks(path: Path) -> Iterator[bytes]:
    """The CSV text of a dump (inside its zip or not), in blocks of about PARSE_BLOCK bytes."""
    try:
        if path.suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [n for n in archive.namelist() if not n.endswith("/")]
                    if len(members) != 1 or not members[0].endswith(".csv"):
                        raise UsageError(
                            f"{path}: not a Binance dump (a dump zip holds one .csv; this one "
                            f"holds {len(members)} file(s))"
                        )
                    with archive.open(members[0]) as member:
                        # decompressing releases the GIL: the parse threads run meanwhile
                        while block := member.read(PARSE_BLOCK):
                            yield block
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise UsageError(f"{path}: not a readable zip file ({exc})") from None
            return
        with open(path, "rb") as f:
            while block := f.read(PARSE_BLOCK):
                yield block
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a dump file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None


def _columns_for(kind: str) -> tuple[list[str], dict[str, str]]:
    if kind == "aggTrades":
        names = ["agg", "price", "qty", "first", "last", "time", "m", "best"]
    else:
        names = ["first", "price", "qty", "quote", "time", "m", "best"]
    dtypes = {"price": "float64", "qty": "float64", "first": "int64", "time": "int64"}
    if kind == "aggTrades":
        dtypes.update({"agg": "int64", "last": "int64"})
    return names, dtypes


def _good_line(parts: list[str], kind: str) -> bool:
    """The slow path's row check: the fields our parse needs are numbers of the right kind."""
    if len(parts) != (AGG_FIELDS if kind == "aggTrades" else TRADE_FIELDS):
        return False
    try:
        if kind == "aggTrades":
            agg, first, last, t = int(parts[0]), int(parts[3]), int(parts[4]), int(parts[5])
            ok = last >= first >= 0 and agg >= 0
        else:
            first, t = int(parts[0]), int(parts[4])
            ok = first >= 0
        price, qty = float(parts[1]), float(parts[2])
    except ValueError:
        return False
    return ok and t > 0 and 0 < price < float("inf") and 0 <= qty < float("inf")


PARSE_BLOCK = 8 << 20  # bytes per parse task: pandas' C tokenizer runs without the GIL
IN_FLIGHT = 3  # parse tasks queued at once: memory stays a few blocks, whatever the file's size


def _parse_block(
    buffer: bytes, kind: str, skiprows: int, first_line: int
) -> tuple[dict[str, np.ndarray], list[int], int]:
    """(columns, bad line numbers, lines in the block) for one block cut at line ends.

    The C parser reads a regular block at once; a block with any irregular row is read line by line
    instead (the careful path), so each bad row is named and skipped.
    """
    import numpy as np
    import pandas as pd

    names, dtypes = _columns_for(kind)
    usecols = [c for c in dtypes if c != "agg"]  # rows are ordered and checked by trade id
    lines = buffer.count(b"\n") + (0 if buffer.endswith(b"\n") else 1)

    def parse(text: bytes, skip: int = 0) -> dict[str, np.ndarray]:
        frame = pd.read_csv(
            io.BytesIO(text),
            header=None,
            names=names,
            usecols=usecols,
            dtype={c: dtypes[c] for c in usecols},
            engine="c",
            float_precision="high",  # fast; exact values are restored on the 1e-8 grid
            skiprows=skip,
        )
        return {c: frame[c].to_numpy() for c in usecols}

    try:
        columns = parse(buffer, skiprows)
        if _regular(columns, kind):
            return columns, [], lines
    except (ValueError, OverflowError, pd.errors.ParserError, Warning, IndexError):
        pass
    width = AGG_FIELDS if kind == "aggTrades" else TRADE_FIELDS
    good: list[bytes] = []
    bad: list[int] = []
    for number, line in enumerate(buffer.split(b"\n"), start=first_line):
        if number < first_line + skiprows or not line.strip():
            continue
        cells = line.decode("utf-8", "replace").strip().split(",")
        if len(cells) == width and _good_line(cells, kind):
            good.append(line)
        else:
            bad.append(number)
    if good:
        try:
            return parse(b"\n".join(good)), bad, lines
        except (ValueError, OverflowError, pd.errors.ParserError, Warning):  # e.g. > int64
            bad = sorted(bad + [first_line + skiprows + i for i in range(len(good))])
    return {c: np.empty(0, dtype=dtypes[c]) for c in usecols}, bad, lines


def _regular(columns: dict[str, np.ndarray], kind: str) -> bool:
    import numpy as np

    price, qty, first = columns["price"], columns["qty"], columns["first"]
    return bool(
        np.isfinite(price).all()
        and np.isfinite(qty).all()
        and (price > 0).all()
        and (qty >= 0).all()
        and (columns["time"] > 0).all()
        and (first >= 0).all()
        and (kind != "aggTrades" or (columns["last"] >= first).all())
    )


def _sniff(path: Path, kind: str, head: bytes) -> None:
    """UsageError unless the first data row looks like a row of this kind of dump."""
    if b"\x00" in head[:4096]:
        raise UsageError(f"{path}: not a Binance dump (the CSV inside is binary)")
    lines = head[:65536].split(b"\n", 2)
    line = lines[1] if head[:1].isalpha() and len(lines) > 1 else lines[0]
    text = line.decode("utf-8", "replace").strip()
    if text and not _good_line(text.split(","), kind):
        width = AGG_FIELDS if kind == "aggTrades" else TRADE_FIELDS
        raise UsageError(
            f"{path}: not a Binance {kind} dump: the first row {text[:60]!r} is not "
            f"{width} fields of the dump's format"
        )


class _MinuteBuilder:
    """Exact minutes from parsed blocks fed in file order; the last minute of each block is carried
    into the next (it may continue there), so block edges never split a minute."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.micro: bool | None = None
        self.rows = 0
        self.bars: list[MinuteBar] = []
        self.doubtful: set[int] = set()
        self.first_minute: int | None = None
        self.last_minute: int | None = None
        self._carry: tuple[np.ndarray, ...] | None = None

    def feed(self, columns: dict[str, np.ndarray], kind: str) -> None:
        import numpy as np

        if len(columns["first"]) == 0:
            return
        self.rows += len(columns["first"])
        first = columns["first"].astype(np.int64, copy=False)
        last = columns["last"].astype(np.int64, copy=False) if kind == "aggTrades" else first
        times = columns["time"].astype(np.int64, copy=False)
        big = times >= US_THRESHOLD
        if self.micro is None:
            # µs from 2025-01-01 on: decided per file from the magnitude
            self.micro = bool(big.any())
        if bool(big.any()) != self.micro or (self.micro and not big.all()):
            raise UsageError(f"{self.path}: timestamps mix ms and µs; not a Binance dump")
        if self.micro:
            times = times // 1000
        units = _grid_units(self.path, columns["qty"], "quantities").astype(np.int64)
        # float(text) is the double nearest to N / 1e8, and so is the IEEE division of the exact
        # doubles N and 1e8: prices come out bit for bit as the REST path parses them.
        price = _grid_units(self.path, columns["price"], "prices") / QTY_SCALE
        arrays = (first, last, times - times % MINUTE_MS, price, units)
        if self._carry is not None:
            arrays = tuple(np.concatenate([c, a]) for c, a in zip(self._carry, arrays, strict=True))
        first, last, minutes, price, units = arrays
        if (minutes[1:] < minutes[:-1]).any():
            raise UsageError(
                f"{self.path}: trade times go backwards as ids rise; not a Binance dump"
            )
        # A minute is complete only if the ids run on without a break on both of its sides: a
        # corrupt row, a missing row or the file's own edge is a break.
        breaks = np.flatnonzero(first[1:] != last[:-1] + 1) + 1
        self.doubtful.update(minutes[breaks - 1].tolist())
        self.doubtful.update(minutes[breaks].tolist())
        if self.first_minute is None:
            self.first_minute = int(minutes[0])
        self.last_minute = int(minutes[-1])
        cut = int(np.searchsorted(minutes, minutes[-1]))
        if cut:
            self.bars.extend(_bars_from_arrays(*(a[:cut] for a in arrays)))
        self._carry = tuple(a[cut:] for a in arrays)

    def finish(self, period_start: int, period_end: int) -> tuple[list[MinuteBar], list[int]]:
        if self._carry is not None:
            self.bars.extend(_bars_from_arrays(*self._carry))
            self._carry = None
        # The file's own first and last minute may hold only part of their trades, unless they
        # are the edges of the day (month) the file is named for.
        if self.first_minute is not None and self.first_minute != period_start:
            self.doubtful.add(self.first_minute)
        if self.last_minute is not None and self.last_minute != period_end - MINUTE_MS:
            self.doubtful.add(self.last_minute)
        bars = [bar for bar in self.bars if bar.minute not in self.doubtful]
        return bars, sorted(self.doubtful)


def dump_minutes(path: Path | str, symbol: str) -> DumpMinutes:
    """Exact complete minutes from one Binance dump file (aggTrades or trades; zip or csv).

    Streamed: blocks of the (decompressed) text are parsed by pandas' C parser on two threads and
    turned into minutes with numpy, so memory stays a few blocks even for a monthly dump. Prices
    and quantities are read as float64 and turned into exact 1e-8 units N by rint(v * 1e8): a
    decimal with at most 8 decimals parses to within a few ulps of itself, and the product adds one
    more rounding, so |v*1e8 - N| < 0.5 while N < 2**51 (v < 22.5 million), and rint gives N
    exactly. Every value is also checked to lie on the 1e-8 grid, so one with more decimals is
    refused instead of rounded, and larger values are refused too. Quantities stay integer units
    (volume exact); prices become N / 1e8, which is exactly float(text).

    Sums that are floats (avg_price, vwap) are added in trade-id order per minute (np.cumsum is
    sequential) so each row equals `bars_from_runs` over the same aggregates bit for bit.
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    path = Path(path)
    match = check_dump_name(path, symbol)
    kind = match["kind"]
    builder = _MinuteBuilder(path)
    bad: list[int] = []
    line_no = 1  # the first line of the next block

    with warnings_module.catch_warnings():
        warnings_module.simplefilter("error")  # pandas' warnings about odd rows -> careful path
        with ThreadPoolExecutor(2) as pool:
            queue: deque[Future] = deque()

            def take_one() -> None:
                columns, bad_here, _ = queue.popleft().result()
                bad.extend(bad_here)
                builder.feed(columns, kind)

            pending = b""
            skip = 0
            started = False
            for raw in _dump_blocks(path):
                if not started:
                    started = True
                    _sniff(path, kind, raw)
                    skip = 1 if raw[:1].isalpha() else 0  # some newer dumps carry a header
                buffer = pending + raw if pending else raw
                cut = buffer.rfind(b"\n") + 1
                pending = buffer[cut:]
                if not cut:
                    continue
                block = buffer[:cut]
                queue.append(pool.submit(_parse_block, block, kind, skip, line_no))
                line_no += block.count(b"\n")
                skip = 0
                while len(queue) >= IN_FLIGHT:
                    take_one()
            if pending.strip():
                queue.append(pool.submit(_parse_block, pending, kind, skip, line_no))
            while queue:
                take_one()

    file_warnings: list[str] = []
    if bad:
        bad.sort()
        shown = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
        file_warnings.append(f"{path}: skipped {len(bad)} corrupt row(s) at line(s) {shown}")
    bars, dropped = builder.finish(*_period(match))
    if dropped:
        file_warnings.append(
            f"{path}: left out {len(dropped)} minute(s) that may be incomplete (at a break in the "
            f"trade ids or at the file's edge): {', '.join(minute_text(m) for m in dropped[:5])}"
            + (" ..." if len(dropped) > 5 else "")
        )
    return DumpMinutes(
        path, kind, builder.rows, bars, bad, dropped, bool(builder.micro), file_warnings
    )


def _grid_units(path: Path, values: np.ndarray, what: str) -> np.ndarray:
    """Exact counts of 1e-8 in decimal values with at most 8 decimals, as float64 integers.

    Any parse within a few ulps of the decimal (pandas' "high" one is) gives N exactly: the error
    of v * 1e8 is below N * 2**-51 < 0.5 while N < 2**51, so rint restores N.
    """
    import numpy as np

    scaled = values * QTY_SCALE
    units = np.rint(scaled)
    if (units >= EXACT_FLOAT_UNITS).any():
        raise UsageError(f"{path}: {what} too large for an exact import")
    if (np.abs(scaled - units) > 1e-3).any():
        raise UsageError(f"{path}: not a Binance dump: {what} with more than 8 decimals")
    return units


def _bars_from_arrays(
    first: np.ndarray,
    last: np.ndarray,
    minutes: np.ndarray,
    price: np.ndarray,
    units: np.ndarray,
) -> list[MinuteBar]:
    """One bar per run of equal minutes, with `bars_from_runs`' arithmetic in the same order."""
    import numpy as np

    counts = last - first + 1
    starts = np.flatnonzero(np.r_[True, minutes[1:] != minutes[:-1]])
    ends = np.r_[starts[1:], len(minutes)]
    pn = price * counts
    pu = price * units.astype(np.float64)
    n_sum = np.add.reduceat(counts, starts)
    u_sum = np.add.reduceat(units, starts)
    highs = np.maximum.reduceat(price, starts)
    lows = np.minimum.reduceat(price, starts)
    bars = []
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        count = int(n_sum[i])
        total_units = int(u_sum[i])
        sum_pn = float(np.cumsum(pn[s:e])[-1])  # sequential, like bars_from_runs
        sum_pu = float(np.cumsum(pu[s:e])[-1])
        bars.append(
            MinuteBar(
                minute=int(minutes[s]),
                avg_price=sum_pn / count,
                open=float(price[s]),
                high=float(highs[i]),
                low=float(lows[i]),
                close=float(price[e - 1]),
                volume=total_units / QTY_SCALE,
                vwap=sum_pu / total_units if total_units else sum_pn / count,
                trades=count,
                first_trade_id=int(first[s]),
                last_trade_id=int(last[e - 1]),
            )
        )
    return bars


def import_dumps(settings: Settings, files: Iterable[Path]) -> ImportResult:
    """Merge the complete minutes of dump files into settings.data; rows already there stay.

    Every file is read and checked before the CSV is touched: one unusable file (another symbol,
    not a dump) stops the import with nothing written (not even a new empty CSV).
    """
    began = time.monotonic()
    files = [Path(f) for f in files]
    if not files:
        raise UsageError("import: name at least one dump file")
    for path in files:
        check_dump_name(path, settings.symbol)
    owner = read_lock_owner(settings.data)
    if owner is not None and owner.alive and owner.pid != os.getpid():
        # Said before minutes of reading; the lock taken below is what really decides.
        raise UsageError(
            f"{settings.data} is being written by {owner.describe()}; stop that one or pass "
            "another --data"
        )
    results = [dump_minutes(path, settings.symbol) for path in files]
    bars: dict[int, MinuteBar] = {}
    for result in results:
        for bar in result.bars:
            bars.setdefault(bar.minute, bar)
    store = MinuteStore(settings.data, settings.symbol)
    store.open()
    try:
        written = store.merge(bars[m] for m in sorted(bars))
    finally:
        store.close()
    notes = [w for r in results for w in r.warnings] + list(store.warnings)
    return ImportResult(
        files=len(files),
        rows=sum(r.rows for r in results),
        minutes=len(bars),
        written=written,
        present=len(bars) - written,
        dropped=sum(len(r.dropped) for r in results),
        bad_rows=sum(len(r.bad_lines) for r in results),
        seconds=time.monotonic() - began,
        warnings=notes,
    )


# -- check ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hole:
    after_minute: int  # the row before the hole (its last id is `after_id`)
    minute: int  # the row after it
    after_id: int
    first_id: int  # the row's first id; missing ids: after_id + 1 .. first_id - 1

    def describe(self) -> str:
        if self.first_id <= self.after_id:
            return (
                f"{minute_text(self.minute)}: trade ids overlap the previous row "
                f"(it ends at {self.after_id}, this one starts at {self.first_id})"
            )
        missing = self.first_id - self.after_id - 1
        return (
            f"{minute_text(self.after_minute)} to {minute_text(self.minute)}: {missing:,} "
            f"trade(s) missing (ids {self.after_id + 1}..{self.first_id - 1})"
        )


@dataclass(frozen=True)
class CheckReport:
    path: Path
    rows: int
    holes: list[Hole]
    short_minutes: list[tuple[int, int, int]]  # (minute, trades, last-first+1)
    out_of_order: list[tuple[int, int]]  # (line, minute)
    duplicates: list[tuple[int, int]]  # (line, minute)
    corrupt: list[int]  # line numbers
    without_ids: int  # rows from before trade ids were recorded (not checkable for holes)
    blank: list[int] = field(default_factory=list)  # line numbers of blank lines (ignored)

    @property
    def problems(self) -> int:
        return (
            len(self.holes)
            + len(self.short_minutes)
            + len(self.out_of_order)
            + len(self.duplicates)
            + len(self.corrupt)
            + len(self.blank)
        )

    def affected_minutes(self) -> set[int]:
        """Minutes a repair rebuilds from REST: both sides of each hole, and short minutes."""
        minutes: set[int] = set()
        for hole in self.holes:
            minutes.update(range(hole.after_minute, hole.minute + MINUTE_MS, MINUTE_MS))
        minutes.update(m for m, _, _ in self.short_minutes)
        minutes.update(m for _, m in self.duplicates)
        minutes.update(m for _, m in self.out_of_order)
        return minutes

    def lines(self) -> list[str]:
        out = []
        out += [f"hole: {h.describe()}" for h in self.holes]
        out += [
            f"short minute: {minute_text(m)} holds {n:,} trades but spans {span:,} ids"
            for m, n, span in self.short_minutes
        ]
        out += [
            f"out of order: line {line} ({minute_text(m)}) comes after a later minute"
            for line, m in self.out_of_order
        ]
        out += [f"duplicate: line {line} repeats {minute_text(m)}" for line, m in self.duplicates]
        if self.corrupt:
            shown = ", ".join(str(n) for n in self.corrupt[:10])
            more = f" and {len(self.corrupt) - 10} more" if len(self.corrupt) > 10 else ""
            out.append(f"corrupt: {len(self.corrupt)} line(s): {shown}{more}")
        if self.blank:
            shown = ", ".join(str(n) for n in self.blank[:10])
            more = f" and {len(self.blank) - 10} more" if len(self.blank) > 10 else ""
            out.append(
                f"blank: {len(self.blank)} line(s), ignored (--repair takes them out): "
                f"{shown}{more}"
            )
        return out


def check(path: Path | str) -> CheckReport:
    """Read the CSV line by line (in file order) and report every inconsistency."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a minute CSV")
    text = path.read_bytes().decode("utf-8", "replace")
    lines = text.split("\n")
    header = lines[0].strip()
    if header not in HEADERS:
        raise UsageError(f"{path} is not a minute CSV (line 1 is {header[:60]!r})")
    width = header.count(",") + 1
    holes: list[Hole] = []
    short: list[tuple[int, int, int]] = []
    out_of_order: list[tuple[int, int]] = []
    duplicates: list[tuple[int, int]] = []
    corrupt: list[int] = []
    seen: set[int] = set()
    rows = without_ids = 0
    newest: int | None = None
    previous: tuple[int, int] | None = None  # (minute, last id) of the previous row with ids
    blank: list[int] = []
    if lines and lines[-1] == "":
        lines.pop()  # the text after the last newline
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            blank.append(number)
            continue
        row = parse_row(line)
        if row is None or row.width != width:
            corrupt.append(number)
            continue
        rows += 1
        minute = row.minute
        if minute in seen:
            duplicates.append((number, minute))
            continue
        seen.add(minute)
        if newest is not None and minute < newest:
            out_of_order.append((number, minute))
            continue
        newest = minute
        first, last = row.first_trade_id, row.last_trade_id
        if first is None or last is None:
            without_ids += 1
            previous = None
            continue
        if row.trades is not None and row.trades != last - first + 1:
            short.append((minute, row.trades, last - first + 1))
        if previous is not None and first != previous[1] + 1:
            holes.append(Hole(previous[0], minute, previous[1], first))
        previous = (minute, last)
    return CheckReport(
        path, rows, holes, short, out_of_order, duplicates, corrupt, without_ids, blank
    )


@dataclass(frozen=True)
class RepairResult:
    rebuilt: int  # minutes replaced or inserted from REST
    unrepaired: list[int]  # affected minutes REST had no trades for (their rows kept)
    removed_lines: int  # corrupt or duplicate lines taken out (saved beside the CSV)
    saved_to: Path | None
    by: LockOwner | None = None  # the collector that did it for us, if one held the CSV


class RepairFailed(Exception):
    """The collector we handed the repair to could not finish it (what it rebuilt stays)."""

    def __init__(self, text: str, rebuilt: int) -> None:
        super().__init__(text)
        self.rebuilt = rebuilt


@dataclass(frozen=True)
class RebuildProgress:
    done: int  # minutes of the job covered so far
    total: int
    rebuilt: int  # rows written (replaced or inserted) so far: kept whatever happens next
    kept_before: int | None = None  # every asked minute before it is in the CSV (or not in REST)


REBUILD_CHUNK = 720  # minutes per merge; each merge rewrites the CSV once


async def rebuild_minutes(
    store: MinuteStore,
    client: BinanceRest,
    minutes: Iterable[int],
    on_progress: Callable[[RebuildProgress], object] | None = None,
    chunk: int = REBUILD_CHUNK,
) -> tuple[int, list[int]]:
    """Rebuild these minutes wholly from REST, oldest first, a chunk at a time: each chunk is
    merged into the CSV (replacing their rows, under the store's lock) as soon as it is complete,
    so a stop or an error keeps every chunk done, and memory holds one chunk whatever the size.
    Returns (rows written, the minutes REST had no trade for)."""
    wanted = sorted(set(minutes))
    want = set(wanted)
    total, done, rebuilt = len(wanted), 0, 0
    kept: int | None = None
    missing: list[int] = []
    buffer: list[MinuteBar] = []

    def flush(until: int | None = None) -> None:
        nonlocal rebuilt, kept
        if buffer:
            rebuilt += store.merge(buffer, replace=True)
            kept = buffer[-1].minute + MINUTE_MS
            buffer.clear()
        if until is not None:
            kept = until

    def report(covered: int) -> None:
        if on_progress is not None:
            on_progress(RebuildProgress(covered, total, rebuilt, kept))

    try:
        for a, b in handoff.spans_of(wanted):
            got: set[int] = set()
            async for bars in fetch_minutes(client, a, b):
                for bar in bars:
                    if bar.minute in want:
                        buffer.append(bar)
                        got.add(bar.minute)
                if len(buffer) >= chunk:
                    flush()
                if bars:
                    report(done + (bars[-1].minute + MINUTE_MS - a) // MINUTE_MS)
            missing.extend(m for m in range(a, b, MINUTE_MS) if m not in got)
            done += (b - a) // MINUTE_MS
            flush(until=b)
            report(done)
    finally:
        flush()  # every minute fetched is exact and complete: keep it
    return rebuilt, missing


def holes_near_end(store: MinuteStore, since: int) -> list[int]:
    """Minutes from `since` on that a repair must rebuild, found from the trade ids of the rows
    at the end of the CSV (read back only to `since`): both sides of a break in the ids, and
    rows that hold fewer trades than their ids span. What a stopped repair left, for instance."""
    minutes: set[int] = set()
    newer = None
    for row in store.rows_from_end():
        if row.minute < since or row.first_trade_id is None or row.last_trade_id is None:
            break
        if row.trades != row.last_trade_id - row.first_trade_id + 1:
            minutes.add(row.minute)
        if newer is not None and newer.first_trade_id != row.last_trade_id + 1:
            minutes.update(range(row.minute, newer.minute + MINUTE_MS, MINUTE_MS))
        newer = row
    return sorted(minutes)


HANDOFF_POLL = 0.25  # seconds between looks at the collector's progress


async def repair(
    settings: Settings,
    report: CheckReport,
    rest: BinanceRest | None = None,
    on_progress: Callable[[RebuildProgress], object] | None = None,
    on_handoff: Callable[[LockOwner], object] | None = None,
) -> RepairResult:
    """`check --repair`: take out corrupt, duplicate and blank lines (kept in `<csv>.rejected`)
    and sort the rows, in one atomic rewrite; then rebuild the affected minutes wholly from REST,
    chunk by chunk (`rebuild_minutes`): a stop, a 418 or a network error keeps what is done.

    Whoever holds the CSV's lock does the work (market/handoff.py): when a collector holds it,
    the work is handed to it and this waits for it (`on_handoff` is told); when we hold it, we
    also do what was asked of a collector and left unfinished."""
    affected = report.affected_minutes()
    clean = bool(report.corrupt or report.duplicates or report.blank or report.out_of_order)
    store = MinuteStore(settings.data, settings.symbol)
    while True:
        try:
            store.open()
            break
        except UsageError as exc:
            owner = read_lock_owner(settings.data)
            if owner is None or not owner.alive:
                raise
            if not owner.takes_repairs:
                raise UsageError(
                    f"{exc}; it does not take repairs (it is not a collector, or it runs with "
                    "--no-repair): run check --repair again once it is done"
                ) from None
            if on_handoff is not None:
                on_handoff(owner)
            result = await _hand_off(settings.data, owner, affected, clean, on_progress)
            if result is not None:
                return result
            # the collector stopped before it was done: the lock is free, take our turn
    try:
        return await _repair_holding_lock(settings, store, affected, clean, rest, on_progress)
    finally:
        store.close()


async def _repair_holding_lock(
    settings: Settings,
    store: MinuteStore,
    affected: set[int],
    clean: bool,
    rest: BinanceRest | None,
    on_progress: Callable[[RebuildProgress], object] | None,
) -> RepairResult:
    left = handoff.take(store.path)  # asked of a collector that stopped before it was done
    if left is not None:
        affected |= {m for a, b in left.spans for m in range(a, b, MINUTE_MS)}
    removed, saved = store.rebuild([])  # sorts the rows, and takes bad lines out if any
    rebuilt, unrepaired = 0, []
    if affected:
        own_rest = rest is None
        client = open_rest(settings) if rest is None else rest
        if own_rest:
            await client.__aenter__()
        try:
            rebuilt, unrepaired = await rebuild_minutes(store, client, affected, on_progress)
        finally:
            if own_rest:
                await client.__aexit__(None, None, None)
    handoff.finish(store.path)
    return RepairResult(rebuilt, unrepaired, removed, saved)


async def _hand_off(
    path: Path,
    owner: LockOwner,
    affected: set[int],
    clean: bool,
    on_progress: Callable[[RebuildProgress], object] | None,
) -> RepairResult | None:
    """Ask the collector holding the CSV to do the repair and wait until it has. None when the
    lock is free again before it was done (the caller then does the rest itself)."""
    token = handoff.ask(path, affected, clean)
    while True:
        await asyncio.sleep(HANDOFF_POLL)
        status = handoff.read_status(path)
        if status is not None and token in status.tokens:
            if on_progress is not None:
                on_progress(RebuildProgress(status.done, status.total, status.rebuilt))
            if status.ended and status.state != "stopped":
                handoff.read_out(path, status, token)
            if status.state == "done":
                saved = None if status.saved_to is None else Path(status.saved_to)
                return RepairResult(status.rebuilt, status.missing, status.removed, saved, owner)
            if status.state == "failed":
                raise RepairFailed(
                    f"{owner.describe()} could not finish the repair: {status.error}; the rest "
                    "stays asked for (its next start, or check --repair, resumes it)",
                    status.rebuilt,
                )
        now = read_lock_owner(path)
        if now is None or not now.alive:
            return None  # it stopped: what it took and did not finish waits in the taken file
        if now.pid != owner.pid:
            owner = now  # restarted: the new one resumes what the old one took (our token too)
