"""Minute CSVs written the way the collector writes them, for the forecasting tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HEADER = "year,month,day,hour,minute,avg_price,open,high,low,close,volume,vwap,trades"
SEED_HEADER = "year,month,day,hour,minute,avg_price"
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000


def random_walk(n: int, seed: int = 0, start: float = 42_000.0) -> np.ndarray:
    """Prices whose changes are positively autocorrelated, like averaged minute prices."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 10.0, n)
    changes = np.empty(n)
    changes[0] = noise[0]
    for i in range(1, n):
        changes[i] = 0.4 * changes[i - 1] + noise[i]
    return start + np.cumsum(changes)


Bars = tuple[np.ndarray, np.ndarray, np.ndarray]  # close, high, low per minute


def bar_columns(prices: np.ndarray, seed: int = 0) -> Bars:
    """Plausible close/high/low around each minute's average, the close leaning towards the next
    average (as in real minutes, where the last trade says where the price is heading)."""
    prices = np.asarray(prices, dtype=float)
    rng = np.random.default_rng(seed)
    ahead = np.append(np.diff(prices), 0.0)
    close = prices + 0.5 * ahead + rng.normal(0.0, 2.0, len(prices))
    high = np.maximum(prices, close) + rng.exponential(3.0, len(prices))
    low = np.minimum(prices, close) - rng.exponential(3.0, len(prices))
    return close, high, low


def minute_rows(
    prices: Iterable[float], minutes: Iterable[int] | None = None, bars: Bars | None = None
) -> list[str]:
    """Rows of the 13-column CSV; without `bars`, open/high/low/close/vwap all equal avg_price."""
    prices = list(prices)
    if minutes is None:
        minutes = range(len(prices))
    if bars is None:
        bars = (np.asarray(prices, float),) * 3
    rows = []
    for offset, price, c, h, lo in zip(minutes, prices, *bars, strict=True):
        t = datetime.fromtimestamp((START_MS + offset * MINUTE_MS) / 1000, UTC)
        p, c, h, lo = (repr(float(v)) for v in (price, c, h, lo))
        rows.append(
            f"{t.year},{t.month},{t.day},{t.hour},{t.minute},{p},{p},{h},{lo},{c},1.5,{p},12"
        )
    return rows


def write_minutes(
    path: Path,
    prices: Iterable[float],
    minutes: Iterable[int] | None = None,
    bars: Bars | None = None,
) -> Path:
    """The 13-column minute CSV; `minutes` are offsets from START_MS (leave some out for gaps)."""
    path.write_text("\n".join([HEADER, *minute_rows(prices, minutes, bars)]) + "\n")
    return path


def write_seed_minutes(path: Path, prices: Iterable[float]) -> Path:
    """The seed collector's six-column file: time parts and avg_price only."""
    rows = [",".join(row.split(",")[:6]) for row in minute_rows(prices)]
    path.write_text("\n".join([SEED_HEADER, *rows]) + "\n")
    return path
