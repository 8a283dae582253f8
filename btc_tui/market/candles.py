"""Candles for the market chart: minutes resampled to a timeframe (1m, 5m, 15m, 1h, 4h, 1d).

A candle is the open of its first minute, the high and low of all its minutes, the close of its
last and the sum of their volumes. Buckets are aligned to UTC (a 1d candle is a UTC day, as
Binance's klines are). A bucket without any minute is not a candle: the chart leaves a gap there,
never a flat candle. Plain Python and numpy (pandas only through the store's tail reader).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from btc_tui.market.bars import MINUTE_MS

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.market.bars import MinuteBar

QTY_UNITS = 100_000_000  # quantities have 8 decimals: summed as integers, never drift


def units(quantity: float) -> int:
    return round(quantity * QTY_UNITS)


# Timeframe -> minutes per candle; the names are config.TIMEFRAMES (a test keeps them in step).
TIMEFRAME_MINUTES: Mapping[str, int] = MappingProxyType(
    {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
)


@dataclass(frozen=True, slots=True)
class Candle:
    start: int  # the bucket's start, ms since the epoch, UTC
    open: float
    high: float
    low: float
    close: float
    volume_units: int  # the volumes' sum in units of 1e-8 (Binance's quantity step): exact
    minutes: int  # minutes with trades in it

    @property
    def volume(self) -> float:
        return self.volume_units / QTY_UNITS


def span_ms(timeframe: str) -> int:
    """One candle's length in ms; KeyError names an unknown timeframe."""
    return TIMEFRAME_MINUTES[timeframe] * MINUTE_MS


def bucket_of(minute_ms: int, timeframe: str) -> int:
    """The start of the candle a minute belongs to."""
    span = span_ms(timeframe)
    return minute_ms - minute_ms % span


def next_timeframe(timeframe: str) -> str:
    names = list(TIMEFRAME_MINUTES)
    return names[(names.index(timeframe) + 1) % len(names)]


def candle_of_minute(bar: MinuteBar, timeframe: str) -> Candle:
    start = bucket_of(bar.minute, timeframe)
    return Candle(start, bar.open, bar.high, bar.low, bar.close, units(bar.volume), 1)


def merge(candle: Candle, later: Candle) -> Candle:
    """Two parts of one bucket, `later` after `candle`: the first's open, the last's close."""
    return Candle(
        candle.start,
        candle.open,
        max(candle.high, later.high),
        min(candle.low, later.low),
        later.close,
        candle.volume_units + later.volume_units,
        candle.minutes + later.minutes,
    )


def add_minute(candles: list[Candle], bar: MinuteBar, timeframe: str, keep: int) -> list[Candle]:
    """A new list with a closed minute folded into its candle (or a new one); at most `keep`.
    A minute already covered (it is older than the last candle's) changes nothing."""
    new = candle_of_minute(bar, timeframe)
    if candles and new.start < candles[-1].start:
        return candles
    if candles and new.start == candles[-1].start:
        return [*candles[:-1], merge(candles[-1], new)][-keep:]
    return [*candles, new][-keep:]


def resample(frame: pd.DataFrame, timeframe: str) -> list[Candle]:
    """Minutes (the store's frame: UTC minute index, open/high/low/close/volume) -> candles.
    Volumes are summed as whole 1e-8 units, so a candle's volume is exact."""
    import numpy as np

    if frame is None or frame.empty:
        return []
    minutes = frame.index.as_unit("ms").asi8
    span = span_ms(timeframe)
    buckets = minutes - minutes % span
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(buckets)]
    opens = frame["open"].to_numpy(dtype=float)
    highs = np.maximum.reduceat(frame["high"].to_numpy(dtype=float), starts)
    lows = np.minimum.reduceat(frame["low"].to_numpy(dtype=float), starts)
    closes = frame["close"].to_numpy(dtype=float)
    volumes = np.rint(frame["volume"].to_numpy(dtype=float) * QTY_UNITS).astype(np.int64)
    sums = np.add.reduceat(volumes, starts)
    return [
        Candle(
            int(buckets[s]),
            float(opens[s]),
            float(highs[i]),
            float(lows[i]),
            float(closes[e - 1]),
            int(sums[i]),
            int(e - s),
        )
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))
    ]


@dataclass(frozen=True)
class CandleTail:
    candles: list[Candle]
    last_minute: int | None  # the newest minute read (the open minute comes after it)


def read_candles(path: Path, timeframe: str, count: int) -> CandleTail:
    """The last `count` candles of a minute CSV, reading only the minutes they can hold from the
    file's end (blocking: call it from a thread). The first candle read may be partial (its
    earlier minutes lie before what was read): it is dropped unless it is all there is."""
    from btc_tui.market.store import load_tail

    if count <= 0 or not path.exists():
        return CandleTail([], None)
    wanted = count * TIMEFRAME_MINUTES[timeframe] + 1
    frame = load_tail(path, wanted).frame
    candles = resample(frame, timeframe)
    # Fewer rows than asked for: the whole file was read, and its first candle is all it holds.
    if len(frame) >= wanted and len(candles) > 1:
        first_minute = int(frame.index[0].timestamp()) * 1000
        if first_minute != candles[0].start:
            candles = candles[1:]
    last = int(frame.index[-1].timestamp()) * 1000 if len(frame) else None
    return CandleTail(candles[-count:], last)


@dataclass(frozen=True, slots=True)
class OpenCandle:
    """The minute still trading, from live trades: what the chart draws after the last closed
    minute. Replaced by the exact row once the minute is written."""

    minute: int
    open: float
    high: float
    low: float
    close: float

    def with_price(self, price: float) -> OpenCandle:
        return replace(self, high=max(self.high, price), low=min(self.low, price), close=price)

    @classmethod
    def first(cls, minute: int, price: float) -> OpenCandle:
        return cls(minute, price, price, price, price)

    def as_candle(self) -> Candle:
        return Candle(self.minute, self.open, self.high, self.low, self.close, 0, 1)


def with_open_minute(
    candles: list[Candle], live: OpenCandle | None, timeframe: str, last_closed: int | None
) -> list[Candle]:
    """The closed candles plus the open minute folded into its candle (its volume is not known
    until it is written). `last_closed`: the newest minute already in `candles`."""
    if live is None or (last_closed is not None and live.minute <= last_closed):
        return candles
    part = replace(live.as_candle(), start=bucket_of(live.minute, timeframe))
    if candles and candles[-1].start == part.start:
        return [*candles[:-1], merge(candles[-1], part)]
    if candles and candles[-1].start > part.start:
        return candles
    return [*candles, part]


def iter_slots(candles: Iterable[Candle], timeframe: str) -> list[tuple[int, Candle]]:
    """(slot, candle): slot = candles since the last one's bucket, negative to the left; a bucket
    with no minutes keeps its slot empty (a gap on the chart)."""
    candles = list(candles)
    if not candles:
        return []
    span = span_ms(timeframe)
    last = candles[-1].start
    return [((c.start - last) // span, c) for c in candles]
