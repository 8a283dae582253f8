"""The minute CSV's row: its columns, and the one codec every reader and writer of a line uses.

`format_row` writes a line; `parse_row` reads one back, or says None for anything that is not a
whole valid row (wrong number of cells, a cell that is not a number, a time that does not exist, a
value out of range: a year of 2**31 is a corrupt line like any other, never an OverflowError).
The store, the attach follower, `check`, merge, rebuild and the 13 -> 15 column upgrade all go
through here, so they agree on what a row is. (`store.load_minutes` reads whole files with
pandas' vectorised parser for speed, under the same rules.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from btc_tui.market.bars import MINUTE_MS, MinuteBar, minute_of

__all__ = [
    "CSV_COLUMNS",
    "FRAME_COLUMNS",
    "HEADER",
    "ID_COLUMNS",
    "MINUTE_MS",
    "SEED_COLUMNS",
    "TIME_COLUMNS",
    "V2_COLUMNS",
    "V2_HEADER",
    "VALUE_COLUMNS",
    "Row",
    "format_row",
    "minute_of",
    "parse_row",
    "row_minute",
]

TIME_COLUMNS = ["year", "month", "day", "hour", "minute"]
VALUE_COLUMNS = ["avg_price", "open", "high", "low", "close", "volume", "vwap", "trades"]
ID_COLUMNS = ["first_trade_id", "last_trade_id"]
CSV_COLUMNS = TIME_COLUMNS + VALUE_COLUMNS + ID_COLUMNS  # 15 columns
V2_COLUMNS = TIME_COLUMNS + VALUE_COLUMNS  # the 13-column files written before trade ids
SEED_COLUMNS = CSV_COLUMNS[:6]  # the seed collector's file: time parts and the average price
FRAME_COLUMNS = VALUE_COLUMNS + ID_COLUMNS
HEADER = ",".join(CSV_COLUMNS) + "\n"
V2_HEADER = ",".join(V2_COLUMNS) + "\n"
WIDTHS = (len(CSV_COLUMNS), len(V2_COLUMNS), len(SEED_COLUMNS))
HEADERS = tuple(",".join(columns) for columns in (CSV_COLUMNS, V2_COLUMNS, SEED_COLUMNS))


def format_row(bar: MinuteBar) -> str:
    """One CSV line; floats in shortest round-trip form (repr), never rounded."""
    t = bar.start
    return (
        f"{t.year},{t.month},{t.day},{t.hour},{t.minute},"
        f"{bar.avg_price!r},{bar.open!r},{bar.high!r},{bar.low!r},{bar.close!r},"
        f"{bar.volume!r},{bar.vwap!r},{bar.trades},{bar.first_trade_id},{bar.last_trade_id}\n"
    )


@dataclass(frozen=True, slots=True)
class Row:
    """A valid line: 15 cells (ours), 13 (before trade ids) or 6 (the seed's)."""

    minute: int  # ms, UTC
    width: int
    avg_price: float
    values: tuple[float, ...]  # open, high, low, close, volume, vwap (empty for 6 cells)
    trades: int | None  # None for 6 cells
    first_trade_id: int | None  # None: not recorded (13 or 6 cells, or empty cells)
    last_trade_id: int | None

    def bar(self) -> MinuteBar | None:
        """The row as a MinuteBar (ids 0 when not recorded); None for a seed row."""
        if self.trades is None:
            return None
        open_, high, low, close, volume, vwap = self.values
        return MinuteBar(
            self.minute,
            self.avg_price,
            open_,
            high,
            low,
            close,
            volume,
            vwap,
            self.trades,
            self.first_trade_id or 0,
            self.last_trade_id or 0,
        )


def _finite(cell: str) -> float:
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(cell)
    return value


def parse_row(line: str | bytes) -> Row | None:
    """The row a line holds, or None if it is not a valid one (never an exception)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    parts = line.strip().split(",")
    width = len(parts)
    if width not in WIDTHS:
        return None
    try:
        year, month, day, hour, minute = (int(p) for p in parts[:5])
        start = datetime(year, month, day, hour, minute, tzinfo=UTC)
        avg = _finite(parts[5])
        if avg <= 0:
            return None
        values: tuple[float, ...] = ()
        trades = first = last = None
        if width > len(SEED_COLUMNS):
            values = tuple(_finite(p) for p in parts[6:12])
            trades = int(parts[12])
            if trades < 0:
                return None
            if width == len(CSV_COLUMNS) and (parts[13] or parts[14]):
                first, last = int(parts[13]), int(parts[14])
        ms = int(start.timestamp()) * 1000
    except (ValueError, OverflowError):
        return None
    return Row(ms, width, avg, values, trades, first, last)


def row_minute(line: str | bytes) -> int | None:
    """The minute (ms) of a valid row, None for anything else."""
    row = parse_row(line)
    return None if row is None else row.minute
