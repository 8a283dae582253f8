"""Scores live predictions against the minutes that later close (plain Python, no textual).

Besides the rolling figures the app has always read (`mae`, `persistence_mae` over the last
`keep` scored minutes), it keeps totals since launch for `summary()`: the model's MAE beside both
baselines (persistence = the last minute's average, last price = its close) and how often the
actual average fell inside the predicted interval. `describe_prediction` and `summary` return the
plain lines the Live pane shows as they are.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class PredictionLike(Protocol):
    target_minute: int
    price: float
    last_minute: int
    last_price: float


@dataclass(frozen=True)
class ScoredPrediction:
    target_minute: int
    predicted: float
    actual: float
    error: float  # predicted - actual
    persistence_error: float  # last known average - actual: the persistence baseline
    last_price_error: float = math.nan  # last close - actual (NaN without a close)
    inside: bool | None = None  # actual within [lo, hi]; None without an interval


def _decimals(price: float) -> int:
    """Enough decimals for about five significant digits: 60,196 · 3,012.5 · 1.2345."""
    if not math.isfinite(price) or price <= 0:
        return 2
    return min(8, max(0, 4 - math.floor(math.log10(price))))


def _price(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def describe_prediction(prediction: PredictionLike) -> str:
    """ "12:34 → 60,196 (80%: 60,170–60,220)": the predicted minute (UTC), its average price and
    the interval when the model has one; about 40 columns for BTC prices."""
    minute = datetime.fromtimestamp(prediction.target_minute / 1000, UTC).strftime("%H:%M")
    decimals = _decimals(prediction.price)
    text = f"{minute} → {_price(prediction.price, decimals)}"
    lo = getattr(prediction, "lo", math.nan)
    hi = getattr(prediction, "hi", math.nan)
    interval = getattr(prediction, "interval", math.nan)
    if all(isinstance(v, float | int) and math.isfinite(v) for v in (lo, hi, interval)):
        text += f" ({interval:.0%}: {_price(lo, decimals)}–{_price(hi, decimals)})"
    return text


class LiveScore:
    """Pending predictions by target minute, a rolling MAE of the model and of persistence, and
    totals since launch for `summary()`."""

    def __init__(self, keep: int = 60) -> None:
        self.keep = keep
        self._pending: dict[int, PredictionLike] = {}
        self._scored: deque[ScoredPrediction] = deque(maxlen=keep)
        self.latest: PredictionLike | None = None
        self.last_scored: ScoredPrediction | None = None
        # Since launch.
        self.total = 0
        self._abs_error = 0.0
        self._abs_persistence = 0.0
        self._with_close = 0  # scored minutes whose prediction knew the last close
        self._abs_error_with_close = 0.0
        self._abs_last_price = 0.0
        self._banded = 0  # scored minutes whose prediction had an interval
        self._inside = 0
        self._interval = math.nan

    def add(self, prediction: PredictionLike) -> None:
        self._pending[prediction.target_minute] = prediction
        self.latest = prediction

    def resolve(self, minute: int, actual: float) -> ScoredPrediction | None:
        """A minute closed at `actual`; score the prediction made for it, if any."""
        # Minutes without trades have no row, so predictions aimed at them can never be scored.
        for target in [t for t in self._pending if t < minute]:
            del self._pending[target]
        prediction = self._pending.pop(minute, None)
        if prediction is None:
            return None
        close = float(getattr(prediction, "last_close", math.nan))
        lo = float(getattr(prediction, "lo", math.nan))
        hi = float(getattr(prediction, "hi", math.nan))
        banded = math.isfinite(lo) and math.isfinite(hi)
        scored = ScoredPrediction(
            target_minute=minute,
            predicted=prediction.price,
            actual=actual,
            error=prediction.price - actual,
            persistence_error=prediction.last_price - actual,
            last_price_error=close - actual,
            inside=(lo <= actual <= hi) if banded else None,
        )
        self._scored.append(scored)
        self.last_scored = scored
        self._count(scored, getattr(prediction, "interval", math.nan))
        return scored

    def _count(self, scored: ScoredPrediction, interval: float) -> None:
        self.total += 1
        self._abs_error += abs(scored.error)
        self._abs_persistence += abs(scored.persistence_error)
        if math.isfinite(scored.last_price_error):
            self._with_close += 1
            self._abs_error_with_close += abs(scored.error)
            self._abs_last_price += abs(scored.last_price_error)
        if scored.inside is not None:
            self._banded += 1
            self._inside += scored.inside
            self._interval = interval

    @property
    def count(self) -> int:
        return len(self._scored)

    @property
    def mae(self) -> float | None:
        if not self._scored:
            return None
        return sum(abs(s.error) for s in self._scored) / len(self._scored)

    @property
    def persistence_mae(self) -> float | None:
        if not self._scored:
            return None
        return sum(abs(s.persistence_error) for s in self._scored) / len(self._scored)

    @property
    def last_price_mae(self) -> float | None:
        """Rolling, over the scored minutes whose prediction knew the last close."""
        known = [s for s in self._scored if math.isfinite(s.last_price_error)]
        if not known:
            return None
        return sum(abs(s.last_price_error) for s in known) / len(known)

    @property
    def coverage(self) -> float | None:
        """Since launch: the share of scored minutes inside their predicted interval."""
        return self._inside / self._banded if self._banded else None

    def describe_prediction(self, prediction: PredictionLike) -> str:
        return describe_prediction(prediction)

    def summary(self) -> str:
        """One line since launch, under 80 columns, e.g.
        "live 42 min: MAE 7.12 · last price 7.30 · persistence 10.21 · in 80% band 81%"."""
        if not self.total:
            return "live score: once a predicted minute closes"
        parts = [f"live {self.total} min: MAE {self._abs_error / self.total:,.2f}"]
        if self._with_close:
            # Against the minutes where both are known, so the two figures compare like for like.
            if self._with_close == self.total:
                parts.append(f"last price {self._abs_last_price / self._with_close:,.2f}")
            else:
                parts.append(
                    f"last price {self._abs_last_price / self._with_close:,.2f} "
                    f"(model {self._abs_error_with_close / self._with_close:,.2f})"
                )
        parts.append(f"persistence {self._abs_persistence / self.total:,.2f}")
        if self._banded:
            parts.append(f"in {self._interval:.0%} band {self._inside / self._banded:.0%}")
        return " · ".join(parts)
