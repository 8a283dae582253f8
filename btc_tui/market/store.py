"""The minute CSV: the one interface between collecting and forecasting.

Writing (`MinuteStore`) appends one fsynced row per closed minute under an exclusive lock, repairs a
torn last line left by a crash, and never writes a minute at or before the last one stored, so a
restart can't duplicate a row. Reading (`load_minutes`) accepts our 13-column files and the seed's
six-column ones, skips corrupt lines and names them by line number.
"""

from __future__ import annotations

import fcntl
import io
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from btc_tui.errors import UsageError
from btc_tui.market.bars import MinuteBar

if TYPE_CHECKING:
    import pandas as pd

CSV_COLUMNS = [
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "avg_price",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trades",
]
SEED_COLUMNS = CSV_COLUMNS[:6]  # the seed collector's file: time parts and the average price
VALUE_COLUMNS = CSV_COLUMNS[5:]
HEADER = ",".join(CSV_COLUMNS) + "\n"


def format_row(bar: MinuteBar) -> str:
    """One CSV line; floats in shortest round-trip form (repr), never rounded."""
    t = bar.start
    return (
        f"{t.year},{t.month},{t.day},{t.hour},{t.minute},"
        f"{bar.avg_price!r},{bar.open!r},{bar.high!r},{bar.low!r},{bar.close!r},"
        f"{bar.volume!r},{bar.vwap!r},{bar.trades}\n"
    )


def _row_minute(line: str) -> int | None:
    """The minute (ms) a CSV line describes, or None if the line is not a valid row."""
    parts = line.split(",")
    if len(parts) not in (len(CSV_COLUMNS), len(SEED_COLUMNS)):
        return None
    try:
        year, month, day, hour, minute = (int(p) for p in parts[:5])
        start = datetime(year, month, day, hour, minute, tzinfo=UTC)
        float(parts[5])
    except ValueError:
        return None
    return int(start.timestamp()) * 1000


class MinuteStore:
    """Appends closed minutes to the CSV. Use as a context manager, or open() / close()."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.last_minute: int | None = None
        self.rows = 0
        self.warnings: list[str] = []
        self._fd: int | None = None

    def __enter__(self) -> MinuteStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if self.path.is_dir():
            raise UsageError(f"{self.path} is a folder, not a CSV file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            # The lock lives as long as this descriptor, so a crashed collector never leaves it held.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"{self.path} is already being written by another btc-tui collector; "
                "stop that one or pass a different --data file"
            ) from None
        try:
            self._prepare(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _prepare(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0:
            self._write(fd, HEADER)
            return
        data = os.pread(fd, size, 0)
        text = data.decode("utf-8", errors="replace")
        first_line = text.split("\n", 1)[0].strip()
        if first_line != HEADER.strip():
            if first_line == ",".join(SEED_COLUMNS):
                raise UsageError(
                    f"{self.path} is a six-column file from the seed collector; it can be trained "
                    "on as it is, but new minutes must go to a new file (pass another --data)"
                )
            raise UsageError(
                f"{self.path} is not a btc-tui minute CSV (first line {first_line[:60]!r}); "
                "refusing to append to it"
            )
        if not data.endswith(b"\n"):
            # A crash mid-write leaves a partial last line: drop it, keep every complete row.
            keep = data.rfind(b"\n") + 1
            torn = text[keep:]
            line_no = text.count("\n", 0, keep) + 1
            os.ftruncate(fd, keep)
            os.fsync(fd)
            self.warnings.append(
                f"{self.path}: dropped a torn last line {line_no} ({torn[:40]!r}) left by an "
                "interrupted write"
            )
            text = text[:keep]
        lines = text.splitlines()[1:]
        self.rows = sum(1 for line in lines if line.strip())
        for line in reversed(lines):
            minute = _row_minute(line)
            if minute is not None:
                self.last_minute = minute
                break

    @staticmethod
    def _write(fd: int, text: str) -> None:
        os.write(fd, text.encode())
        os.fsync(fd)

    def append(self, bar: MinuteBar) -> bool:
        """Write one closed minute; False (and nothing written) if it is not after the last one."""
        if self._fd is None:
            raise RuntimeError("MinuteStore.append() before open()")
        if self.last_minute is not None and bar.minute <= self.last_minute:
            return False
        self._write(self._fd, format_row(bar))
        self.last_minute = bar.minute
        self.rows += 1
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # also releases the lock
            self._fd = None


@dataclass(frozen=True)
class LoadedMinutes:
    frame: pd.DataFrame  # index: UTC minute starts ("time"); columns: VALUE_COLUMNS as floats
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers that were skipped
    warnings: list[str] = field(default_factory=list)
    path: Path = Path()


def _to_float(cell: object) -> float:
    try:
        return float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _describe_lines(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def load_minutes(path: Path | str) -> LoadedMinutes:
    """Read a minute CSV (ours or the seed's) into a DataFrame indexed by UTC minute.

    Corrupt lines are skipped and reported by line number; a file with no usable row raises
    UsageError with a message that names the file and the problem.
    """
    # pandas and numpy load here, not at import, so `btc-tui collect` starts ~0.2 s faster.
    import numpy as np
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file (collect some minutes first: btc-tui collect)")
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a minute CSV")
    raw = path.read_bytes()
    if not raw.strip():
        raise UsageError(f"{path} is empty: it holds no minutes yet")
    if b"\x00" in raw[:4096]:
        raise UsageError(f"{path} is not a minute CSV (it looks like a binary file)")
    text = raw.decode("utf-8", errors="replace")
    lines = text.splitlines()
    header = lines[0].strip().lower()
    if header == ",".join(CSV_COLUMNS):
        columns, first = CSV_COLUMNS, 1
    elif header == ",".join(SEED_COLUMNS):
        columns, first = SEED_COLUMNS, 1
    elif _row_minute(lines[0]) is not None:  # a header-less file: go by the field count
        columns = CSV_COLUMNS if lines[0].count(",") == len(CSV_COLUMNS) - 1 else SEED_COLUMNS
        first = 0
    else:
        raise UsageError(
            f"{path} is not a minute CSV: line 1 is {lines[0][:60]!r}, expected the header "
            f"{','.join(CSV_COLUMNS)!r} (or the seed's first six columns)"
        )

    if not any(line.strip() for line in lines[first:]):
        raise UsageError(f"{path} holds no minutes yet (only a header)")
    commas = len(columns) - 1
    good: list[str] = []
    line_numbers: list[int] = []
    bad: list[int] = []
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        if line.count(",") == commas:
            good.append(line)
            line_numbers.append(number)
        else:
            bad.append(number)

    text_table = "\n".join(good)
    # round_trip: read back exactly the float that was written (the default parser can be off
    # in the last digit). A clean file takes this fast path; a column holding garbage comes back
    # as text and is converted cell by cell, so a bad cell marks only its own line.
    numbers = pd.read_csv(
        io.StringIO(text_table), header=None, names=columns, float_precision="round_trip"
    )
    table = numbers
    if any(not pd.api.types.is_numeric_dtype(numbers[c]) for c in columns):
        table = pd.read_csv(io.StringIO(text_table), header=None, names=columns, dtype=str)
        numbers = table.apply(lambda column: column.map(_to_float))
    times = pd.to_datetime(
        numbers[["year", "month", "day", "hour", "minute"]], errors="coerce", utc=True
    )
    prices = numbers["avg_price"].to_numpy(dtype=float)
    ok = times.notna().to_numpy() & np.isfinite(prices) & (prices > 0)
    if len(columns) == len(CSV_COLUMNS):
        # Missing optional fields are tolerated; present ones must be numbers.
        values = numbers[VALUE_COLUMNS[1:]]
        ok &= ~(values.isna() & table[VALUE_COLUMNS[1:]].notna()).any(axis=1).to_numpy()
    row_numbers = np.asarray(line_numbers, dtype=np.int64)
    bad.extend(int(n) for n in row_numbers[~ok])
    bad.sort()

    frame = numbers.loc[ok, [c for c in VALUE_COLUMNS if c in columns]].astype(float)
    frame = frame.reindex(columns=VALUE_COLUMNS)
    frame.index = pd.DatetimeIndex(times[ok], name="time")
    row_numbers = row_numbers[ok]

    warnings: list[str] = []
    if bad:
        warnings.append(f"{path}: skipped {len(bad)} corrupt line(s): {_describe_lines(bad)}")
    if not frame.index.is_monotonic_increasing:
        order = np.argsort(frame.index.asi8, kind="stable")
        frame, row_numbers = frame.iloc[order], row_numbers[order]
        warnings.append(f"{path}: rows were out of time order; sorted them")
    duplicated = frame.index.duplicated(keep="first")
    if duplicated.any():
        dup_lines = sorted(int(n) for n in row_numbers[duplicated])
        frame = frame[~duplicated]
        warnings.append(
            f"{path}: {len(dup_lines)} line(s) repeat an earlier minute and were skipped: "
            f"{_describe_lines(dup_lines)}"
        )
    if frame.empty:
        detail = f" ({len(bad)} corrupt line(s), first at line {bad[0]})" if bad else ""
        raise UsageError(f"{path} has no usable minute rows{detail}")
    return LoadedMinutes(frame=frame, bad_lines=bad, warnings=warnings, path=path)
