"""Scores live forecasts against the minutes that later close (plain Python, no textual).

Every horizon of a prediction is scored when its own minute closes (the 60-minute forecast an hour
later). Besides the rolling figures the app has always read (`mae`, `persistence_mae` over the
last `keep` scored minutes of the shortest horizon), it keeps totals since launch per horizon for
`summary()`: the model's MAE beside both baselines (persistence = the last minute's average, last
price = its close) and how often the actual average fell inside the predicted interval. `describe_prediction` and `summary` return the
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
    horizon: int = 1  # minutes between the last observed minute and this one


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


@dataclass
class Tally:
    """One horizon's figures since launch."""

    total: int = 0
    abs_error: float = 0.0
    abs_persistence: float = 0.0
    with_close: int = 0  # scored minutes whose prediction knew the last close
    abs_error_with_close: float = 0.0
    abs_last_price: float = 0.0
    banded: int = 0  # scored minutes whose prediction had an interval
    inside: int = 0
    interval: float = math.nan

    def count(self, scored: ScoredPrediction, interval: float) -> None:
        self.total += 1
        self.abs_error += abs(scored.error)
        self.abs_persistence += abs(scored.persistence_error)
        if math.isfinite(scored.last_price_error):
            self.with_close += 1
            self.abs_error_with_close += abs(scored.error)
            self.abs_last_price += abs(scored.last_price_error)
        if scored.inside is not None:
            self.banded += 1
            self.inside += scored.inside
            self.interval = interval

    @property
    def coverage(self) -> float | None:
        return self.inside / self.banded if self.banded else None

    def brief(self, horizon: int) -> str:
        """ "60m: MAE 101 (last price 103), in band 80% of 12"."""
        text = f"{horizon}m: MAE {self.abs_error / self.total:,.0f}"
        if self.with_close == self.total:
            text += f" (last price {self.abs_last_price / self.with_close:,.0f})"
        if self.banded:
            text += f", in band {self.inside / self.banded:.0%} of {self.banded}"
        return text


def _forecasts(prediction: PredictionLike) -> tuple:
    forecasts = getattr(prediction, "forecasts", None)
    if forecasts:
        return tuple(forecasts)
    horizon = max(1, (prediction.target_minute - prediction.last_minute) // 60_000)
    lo = float(getattr(prediction, "lo", math.nan))
    hi = float(getattr(prediction, "hi", math.nan))
    return ((horizon, prediction.target_minute, prediction.price, lo, hi),)


def _parts(forecast: object) -> tuple[int, int, float, float, float]:
    if isinstance(forecast, tuple):
        return forecast  # type: ignore[return-value]
    return (
        forecast.horizon,  # type: ignore[attr-defined]
        forecast.target_minute,  # type: ignore[attr-defined]
        forecast.median,  # type: ignore[attr-defined]
        forecast.lo,  # type: ignore[attr-defined]
        forecast.hi,  # type: ignore[attr-defined]
    )


class LiveScore:
    """Pending forecasts by (horizon, target minute), each scored as its minute closes; a rolling
    MAE of the shortest horizon and of persistence; totals since launch per horizon (`tallies`)
    for `summary()`."""

    def __init__(self, keep: int = 60) -> None:
        self.keep = keep
        self._pending: dict[tuple[int, int], tuple[PredictionLike, object]] = {}
        self._scored: deque[ScoredPrediction] = deque(maxlen=keep)
        self.latest: PredictionLike | None = None
        self.last_scored: ScoredPrediction | None = None
        self.tallies: dict[int, Tally] = {}  # horizon -> since launch
        self.first_horizon: int | None = None

    def add(self, prediction: PredictionLike) -> None:
        for forecast in _forecasts(prediction):
            horizon, target, *_ = _parts(forecast)
            self._pending[(horizon, target)] = (prediction, forecast)
            if self.first_horizon is None or horizon < self.first_horizon:
                self.first_horizon = horizon
        self.latest = prediction

    def resolve(self, minute: int, actual: float) -> ScoredPrediction | None:
        """A minute closed at `actual`: score every forecast made for it (one per horizon);
        returns the shortest horizon's, if any."""
        scored = self.resolve_all(minute, actual)
        return scored[0] if scored else None

    def resolve_all(self, minute: int, actual: float) -> list[ScoredPrediction]:
        # Minutes without trades have no row, so forecasts aimed at them can never be scored.
        for key in [k for k in self._pending if k[1] < minute]:
            del self._pending[key]
        done = sorted(k for k in self._pending if k[1] == minute)
        results = []
        for key in done:
            prediction, forecast = self._pending.pop(key)
            results.append(self._score(prediction, forecast, actual))
        return results

    def _score(
        self, prediction: PredictionLike, forecast: object, actual: float
    ) -> ScoredPrediction:
        horizon, target, price, lo, hi = _parts(forecast)
        close = float(getattr(prediction, "last_close", math.nan))
        banded = math.isfinite(lo) and math.isfinite(hi)
        scored = ScoredPrediction(
            target_minute=target,
            predicted=price,
            actual=actual,
            error=price - actual,
            persistence_error=prediction.last_price - actual,
            last_price_error=close - actual,
            inside=(lo <= actual <= hi) if banded else None,
            horizon=horizon,
        )
        self.tallies.setdefault(horizon, Tally()).count(
            scored, getattr(prediction, "interval", math.nan)
        )
        if horizon == self.first_horizon:
            self._scored.append(scored)
            self.last_scored = scored
        return scored

    @property
    def _first(self) -> Tally:
        return self.tallies.get(self.first_horizon or 0) or Tally()

    @property
    def total(self) -> int:
        return self._first.total

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
        """Since launch: the share of the shortest horizon's scored minutes inside their band."""
        return self._first.coverage

    def describe_prediction(self, prediction: PredictionLike) -> str:
        return describe_prediction(prediction)

    def summary(self) -> str:
        """The shortest horizon since launch, under 80 columns, e.g.
        "live 42 min: MAE 7.12 · last price 7.30 · persistence 10.21 · in 80% band 81%", then
        each longer horizon scored so far, e.g. " · 60m: MAE 101 (last price 103), in band 80%
        of 12" (the Live pane wraps at the " · ")."""
        first = self._first
        if not first.total:
            return "live score: once a predicted minute closes"
        parts = [f"live {first.total} min: MAE {first.abs_error / first.total:,.2f}"]
        if first.with_close:
            # Against the minutes where both are known, so the two figures compare like for like.
            last = first.abs_last_price / first.with_close
            if first.with_close == first.total:
                parts.append(f"last price {last:,.2f}")
            else:
                model = first.abs_error_with_close / first.with_close
                parts.append(f"last price {last:,.2f} (model {model:,.2f})")
        parts.append(f"persistence {first.abs_persistence / first.total:,.2f}")
        if first.banded:
            parts.append(f"in {first.interval:.0%} band {first.inside / first.banded:.0%}")
        for horizon in sorted(self.tallies):
            if horizon != self.first_horizon and self.tallies[horizon].total:
                parts.append(self.tallies[horizon].brief(horizon))
        return " · ".join(parts)
