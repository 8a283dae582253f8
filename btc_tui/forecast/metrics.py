"""Forecast quality in price units, always beside the naive baselines (numpy only).

Two baselines, both "the next minute's average is what we last saw":
- persistence: the last minute's average price (what the seed compared against, a weak rule);
- last price: the last minute's close, the latest traded price, a much stronger rule (the average
  of the next minute starts where the last trade left off). Six-column files have no close, so
  only persistence can be computed for them (its figures are NaN then, and `best_baseline` says
  "persistence").
The verdict is always against the better of the two on the windows evaluated.

Direction accuracy: the share of windows where the predicted change from the last price (the last
close; the last average for files without one) has the same sign as the actual change from it.
Measured from the close, a forecast anchored on the close gets nothing for free from the gap
between the close and the minute's average. Windows whose actual change is exactly zero have no
direction to get right and are left out; a predicted change of exactly zero against a real move
counts as wrong (it called no direction). So the last-price rule, which always predicts zero change
from itself, scores 0 by this definition, and the figure is NaN when no window moved.

Significance: `diebold_mariano` compares two forecasts' absolute errors on the same windows; the
variance of their mean difference is Newey-West's (Bartlett weights), with max(h - 1,
floor(4 (T/100)^(2/9))) lags, as the errors of h-minute forecasts overlap.

Intervals: coverage is the share of actual prices inside [lo, hi] (both ends included); width is
the mean of hi - lo; the interval (Winkler) score adds to the width 2/alpha times how far the
actual price fell outside the band (alpha = 1 - nominal coverage), so a narrow band that misses
is punished; lower is better, in price units.

The point forecast may be a naive rule itself: training keeps none of the network's correction
when it did not clearly lower the validation error (`bands.fit_point_weight`). `point_forecast`
then names that rule ("last price" or "persistence"), found by comparing the predictions with the
rule's prices exactly, so no report can present the last price as the model's skill.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

PERSISTENCE = "persistence"
LAST_PRICE = "last price"


@dataclass(frozen=True)
class IntervalStats:
    nominal: float  # e.g. 0.8
    coverage: float  # share in [0, 1]
    width: float  # mean hi - lo, price units
    score: float  # mean interval (Winkler) score, price units; lower is better

    def to_dict(self) -> dict[str, float | None]:
        return {k: _plain(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Metrics:
    mae: float  # mean absolute error, price units
    mape: float  # mean absolute percentage error, percent
    baseline_mae: float  # persistence
    baseline_mape: float
    skill: float  # 1 - mae / baseline_mae: > 0 beats persistence
    direction_accuracy: float  # share in [0, 1]; see the module docstring for zero changes
    # The last-price baseline (NaN without a close column) and the skill against it.
    last_price_mae: float = math.nan
    last_price_mape: float = math.nan
    skill_vs_last_price: float = math.nan
    # The model's interval on the same windows (NaN when there is none).
    interval: float = math.nan
    coverage: float = math.nan
    width: float = math.nan
    interval_score: float = math.nan
    # The reference bands' interval scores on the same windows (bands.STATIC, bands.ROLLING).
    static_band_score: float = math.nan
    rolling_band_score: float = math.nan
    # The share of the network's correction the point forecast keeps (chosen on validation), and
    # what the point forecast is: "model", or the naive rule it equals exactly ("last price",
    # "persistence"); "" when unknown (figures saved by an older btc-tui).
    point_weight: float = math.nan
    point_forecast: str = ""
    # Diebold-Mariano test of the absolute errors, model vs last price (two-sided p-value; 1.0
    # when the two forecasts are identical; NaN without a close).
    dm_pvalue: float = math.nan

    def to_dict(self) -> dict[str, float | str | None]:
        """Plain floats, NaN as None, so the dict is valid JSON; plus `best_baseline`."""
        values: dict[str, float | str | None] = {
            k: v if isinstance(v, str) else _plain(v) for k, v in asdict(self).items()
        }
        values["best_baseline"] = self.best_baseline
        return values

    @classmethod
    def from_dict(cls, saved: dict[str, object]) -> Metrics:
        """Back from `to_dict` (None -> NaN); fields an older file lacks are NaN. KeyError when
        one of the six original figures is missing, TypeError/ValueError on a non-number."""
        values = {}
        for name in cls.__dataclass_fields__:
            if name not in saved and name in _ORIGINAL:
                raise KeyError(name)
            value = saved.get(name)
            if name in _TEXT:
                values[name] = value if isinstance(value, str) else ""
            else:
                values[name] = math.nan if value is None else float(value)  # type: ignore[arg-type]
        return cls(**values)

    @property
    def point_is_naive(self) -> bool:
        """The point forecast is a naive rule (the last price, or persistence), not the model's."""
        return self.point_forecast in (LAST_PRICE, PERSISTENCE)

    @property
    def beats_persistence(self) -> bool:
        return self.skill > 0

    @property
    def best_baseline(self) -> str:
        """The baseline with the lower MAE: last price when it is known and at least as good."""
        if not math.isnan(self.last_price_mae) and not self.last_price_mae > self.baseline_mae:
            return LAST_PRICE
        return PERSISTENCE

    @property
    def best_baseline_mae(self) -> float:
        return self.last_price_mae if self.best_baseline == LAST_PRICE else self.baseline_mae

    @property
    def best_skill(self) -> float:
        """Skill against the best baseline: > 0 means the model beats every naive rule."""
        return self.skill_vs_last_price if self.best_baseline == LAST_PRICE else self.skill


_TEXT = ("point_forecast",)
_ORIGINAL = ("mae", "mape", "baseline_mae", "baseline_mape", "skill", "direction_accuracy")


def _plain(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    predicted, actual = _pair(predicted, actual)
    if not len(actual):
        return math.nan
    return float(np.mean(np.abs(predicted - actual)))


def mape(predicted: np.ndarray, actual: np.ndarray) -> float:
    """In percent. Prices are positive, so the denominator is never zero for real data."""
    predicted, actual = _pair(predicted, actual)
    if not len(actual) or np.any(actual == 0):
        return math.nan
    return float(np.mean(np.abs((predicted - actual) / actual)) * 100.0)


def skill(model_mae: float, baseline_mae: float) -> float:
    if not baseline_mae > 0:
        return math.nan
    return 1.0 - model_mae / baseline_mae


def direction_accuracy(predicted: np.ndarray, actual: np.ndarray, last: np.ndarray) -> float:
    predicted, actual = _pair(predicted, actual)
    last = np.asarray(last, dtype=np.float64).reshape(-1)
    actual_sign = np.sign(actual - last)
    moved = actual_sign != 0
    if not moved.any():
        return math.nan
    return float(np.mean(np.sign(predicted - last)[moved] == actual_sign[moved]))


def newey_west_lags(count: int, horizon: int) -> int:
    """max(h - 1, floor(4 (T/100)^(2/9))): the lags the Diebold-Mariano variance sums."""
    return max(horizon - 1, math.floor(4 * (count / 100) ** (2 / 9)))


def diebold_mariano(errors: np.ndarray, reference_errors: np.ndarray, horizon: int) -> float:
    """Two-sided p-value of the Diebold-Mariano test that the mean absolute errors are equal
    (normal approximation); 1.0 when the two forecasts' absolute errors never differ."""
    errors, reference_errors = _pair(errors, reference_errors)
    d = np.abs(errors) - np.abs(reference_errors)
    count = len(d)
    if count < 2:
        return math.nan
    centred = d - d.mean()
    lags = min(newey_west_lags(count, horizon), count - 1)
    variance = float(centred @ centred) / count
    for lag in range(1, lags + 1):
        gamma = float(centred[lag:] @ centred[:-lag]) / count
        variance += 2.0 * (1.0 - lag / (lags + 1)) * gamma
    if not variance > 0:
        return 1.0 if not np.any(d) else 0.0
    statistic = float(d.mean()) / math.sqrt(variance / count)
    return math.erfc(abs(statistic) / math.sqrt(2.0))


def interval_stats(
    lo: np.ndarray, hi: np.ndarray, actual: np.ndarray, nominal: float
) -> IntervalStats:
    """Coverage, mean width and mean interval (Winkler) score of the bands [lo, hi]."""
    if not 0 < nominal < 1:
        raise ValueError(f"nominal coverage must be between 0 and 1, got {nominal}")
    lo, actual = _pair(lo, actual)
    hi, _ = _pair(hi, actual)
    if not len(actual):
        return IntervalStats(nominal, math.nan, math.nan, math.nan)
    alpha = 1.0 - nominal
    below = np.maximum(lo - actual, 0.0)
    above = np.maximum(actual - hi, 0.0)
    width = hi - lo
    inside = (actual >= lo) & (actual <= hi)
    return IntervalStats(
        nominal=nominal,
        coverage=float(np.mean(inside)),
        width=float(np.mean(width)),
        score=float(np.mean(width + (2.0 / alpha) * (below + above))),
    )


def evaluate(
    predicted: np.ndarray,
    actual: np.ndarray,
    last: np.ndarray,
    last_close: np.ndarray | None = None,
    band: tuple[np.ndarray, np.ndarray, float] | None = None,
    *,
    point_weight: float = math.nan,
    reference_scores: tuple[float, float] = (math.nan, math.nan),
    horizon: int = 1,
) -> Metrics:
    """Model vs the baselines on the same windows: `last` is each window's last average price
    (persistence), `last_close` its last traded price (None for files without a close);
    `band` = (lo, hi, nominal coverage) of the model's interval, if it has one; `point_weight`
    the share of the network's correction kept; `reference_scores` the static and the
    rolling-volatility bands' interval scores on these windows; `horizon` (minutes) sets the
    Diebold-Mariano test's lags."""
    model_mae = mae(predicted, actual)
    baseline_mae = mae(last, actual)
    close_mae = close_mape = math.nan
    if last_close is not None:
        close_mae = mae(last_close, actual)
        close_mape = mape(last_close, actual)
    stats = interval_stats(*band[:2], actual, band[2]) if band is not None else None
    return Metrics(
        mae=model_mae,
        mape=mape(predicted, actual),
        baseline_mae=baseline_mae,
        baseline_mape=mape(last, actual),
        skill=skill(model_mae, baseline_mae),
        direction_accuracy=direction_accuracy(
            predicted, actual, last if last_close is None else last_close
        ),
        last_price_mae=close_mae,
        last_price_mape=close_mape,
        skill_vs_last_price=skill(model_mae, close_mae),
        interval=math.nan if stats is None else stats.nominal,
        coverage=math.nan if stats is None else stats.coverage,
        width=math.nan if stats is None else stats.width,
        interval_score=math.nan if stats is None else stats.score,
        static_band_score=reference_scores[0],
        rolling_band_score=reference_scores[1],
        point_weight=point_weight,
        point_forecast=_point_forecast(predicted, last, last_close),
        dm_pvalue=(
            math.nan
            if last_close is None
            else diebold_mariano(
                np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64),
                np.asarray(last_close, dtype=np.float64) - np.asarray(actual, dtype=np.float64),
                horizon,
            )
        ),
    )


def _point_forecast(predicted: np.ndarray, last: np.ndarray, last_close: np.ndarray | None) -> str:
    """The naive rule the predictions equal exactly, if any (then the model adds no point skill);
    "model" otherwise. Exact equality, not closeness: a correction of 0.001 USDT is the model's."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if not len(predicted):
        return ""
    if last_close is not None and np.array_equal(predicted, np.asarray(last_close, np.float64)):
        return LAST_PRICE
    if np.array_equal(predicted, np.asarray(last, np.float64).reshape(-1)):
        return PERSISTENCE
    return "model"


def _pair(predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    actual = np.asarray(actual, dtype=np.float64).reshape(-1)
    if predicted.shape != actual.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(actual)} actual prices")
    return predicted, actual
