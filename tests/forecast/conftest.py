"""Minute CSVs written the way the collector writes them, for the forecasting tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HEADER = "year,month,day,hour,minute,avg_price,open,high,low,close,volume,vwap,trades"
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


def minute_rows(prices: Iterable[float], minutes: Iterable[int] | None = None) -> list[str]:
    prices = list(prices)
    if minutes is None:
        minutes = range(len(prices))
    rows = []
    for offset, price in zip(minutes, prices, strict=True):
        t = datetime.fromtimestamp((START_MS + offset * MINUTE_MS) / 1000, UTC)
        p = repr(float(price))
        rows.append(
            f"{t.year},{t.month},{t.day},{t.hour},{t.minute},{p},{p},{p},{p},{p},1.5,{p},12"
        )
    return rows


def write_minutes(
    path: Path, prices: Iterable[float], minutes: Iterable[int] | None = None
) -> Path:
    """The 13-column minute CSV; `minutes` are offsets from START_MS (leave some out for gaps)."""
    path.write_text("\n".join([HEADER, *minute_rows(prices, minutes)]) + "\n")
    return path
