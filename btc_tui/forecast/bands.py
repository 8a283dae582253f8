"""Prediction intervals: the model's calibration and two reference bands (numpy only).

Everything is fitted on the calibration windows (after the fitting and early-stopping windows,
before the test windows): the reference bands, the model's margin, its point and band weights, so
the model and the references learn from the same, equally recent data. Nothing here ever sees a
test window's target.

- static band: the last price plus the calibration residuals' quantiles (actual - last price), the
  same width in a calm and in a wild market;
- rolling-volatility band: the last price plus the quantiles of the calibration residuals divided by
  each window's recent volatility (mean absolute change over its last 30 minutes), multiplied by
  the test window's own recent volatility;
- the model's band: its lower and upper quantile outputs (blended with constant quantiles when
  that scores better on calibration: `calibrate`) widened or narrowed by one conformal margin, in
  units of recent volatility × sqrt(horizon) (conformalised quantile regression, Romano et al.
  2019).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

STATIC = "static band"
ROLLING = "rolling-volatility band"


def _tail_levels(nominal: float) -> tuple[float, float]:
    return (1.0 - nominal) / 2.0, (1.0 + nominal) / 2.0


def static_band(
    train_actual: np.ndarray,
    train_anchor: np.ndarray,
    test_anchor: np.ndarray,
    nominal: float,
) -> tuple[np.ndarray, np.ndarray]:
    low, high = np.quantile(np.asarray(train_actual) - train_anchor, _tail_levels(nominal))
    return test_anchor + low, test_anchor + high


def rolling_band(
    train_actual: np.ndarray,
    train_anchor: np.ndarray,
    train_vol: np.ndarray,
    test_anchor: np.ndarray,
    test_vol: np.ndarray,
    nominal: float,
) -> tuple[np.ndarray, np.ndarray]:
    scaled = (np.asarray(train_actual) - train_anchor) / train_vol
    low, high = np.quantile(scaled, _tail_levels(nominal))
    return test_anchor + low * test_vol, test_anchor + high * test_vol


def conformal_margin(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, nominal: float) -> float:
    """The margin m such that [lo - m, hi + m] holds `nominal` of the calibration targets `y`
    (with the finite-sample correction: the ceil((n + 1) * nominal)-th smallest conformity score).
    Negative when the raw band is wider than needed."""
    scores = np.maximum(np.asarray(lo) - y, np.asarray(y) - hi)
    n = len(scores)
    if not n:
        return 0.0
    rank = min(n, math.ceil((n + 1) * nominal))
    return float(np.partition(scores, rank - 1)[rank - 1])


# Candidate weights of the network's correction, 0 (the naive rule itself) to 1 (all of it).
POINT_WEIGHTS = np.linspace(0.0, 1.0, 21)


# The correction is kept only if it lowers the calibration MAE by at least this share.
MIN_GAIN = 0.001


# ... and only if that gain is significant on the calibration windows (Diebold-Mariano p-value).
MAX_PVALUE = 0.05


def fit_point_weight(
    median: np.ndarray, y: np.ndarray, unit: np.ndarray, horizon: int = 1
) -> float:
    """How much of the network's median correction to keep, chosen on the calibration windows:
    the weight in POINT_WEIGHTS with the lowest mean absolute error in price units (the smallest
    such weight on a tie), unless that beats weight 0 by less than MIN_GAIN (0.1%) of the MAE or
    not significantly (a Diebold-Mariano p-value of MAX_PVALUE or more, with the lags of
    `horizon`-minute forecasts). 0 means the correction did not clearly help there, and the
    point forecast is the naive rule itself: a model that learned nothing then ties the baseline
    instead of losing to it by its noise."""
    from btc_tui.forecast.metrics import diebold_mariano

    median, y, unit = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (median, y, unit))
    if not len(y):
        return 1.0
    errors = [float(np.mean(np.abs((w * median - y) * unit))) for w in POINT_WEIGHTS]
    best = int(np.argmin(errors))
    if errors[0] - errors[best] < MIN_GAIN * errors[0]:
        return 0.0  # a gain this small is noise: the naive rule is the simpler, surer forecast
    weight = float(POINT_WEIGHTS[best])
    if diebold_mariano((weight * median - y) * unit, -y * unit, horizon) >= MAX_PVALUE:
        return 0.0  # not significant on these windows: as above
    return weight


# Candidate weights of the network's quantile heads against constant quantiles (0 = the constant
# band, which is the rolling-volatility band in the network's units; 1 = the heads alone).
BAND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Calibration:
    """What the calibration windows fit for one horizon, in the network's output units."""

    point_weight: float  # share of the median correction kept (0: the point is the last price)
    band_weight: float  # share of the quantile heads in the band (the rest: base_lo/base_hi)
    base_lo: float  # constant lower/upper quantiles of the calibration targets
    base_hi: float
    margin: float  # conformal margin added on both sides

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def apply(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, 3) outputs (lower, median, upper) -> (lo, point, hi), output units; the band always
        holds the point (a margin, crossing heads or the weights can't put it outside)."""
        outputs = np.asarray(outputs, dtype=np.float64).reshape(-1, 3)
        lo, hi = _blend(outputs, self.band_weight, self.base_lo, self.base_hi)
        point = self.point_weight * outputs[:, 1]
        return np.minimum(lo - self.margin, point), point, np.maximum(hi + self.margin, point)


def _blend(
    outputs: np.ndarray, weight: float, base_lo: float, base_hi: float
) -> tuple[np.ndarray, np.ndarray]:
    lo = weight * outputs[:, 0] + (1 - weight) * base_lo
    hi = weight * outputs[:, 2] + (1 - weight) * base_hi
    return lo, hi


def calibrate(
    outputs: np.ndarray, y: np.ndarray, unit: np.ndarray, nominal: float, horizon: int = 1
) -> Calibration:
    """Fit one horizon's point weight, band weight and conformal margin on the calibration
    windows: the band weight with the lowest interval score in price units (each weight's band
    first given its own conformal margin), the smallest weight on a tie."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1, 3)
    y, unit = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (y, unit))
    point_weight = fit_point_weight(outputs[:, 1], y, unit, horizon)
    if not len(y):
        return Calibration(point_weight, 1.0, 0.0, 0.0, 0.0)
    base_lo, base_hi = (float(q) for q in np.quantile(y, _tail_levels(nominal)))
    best: tuple[float, float, float] | None = None  # score, weight, margin
    for weight in BAND_WEIGHTS:
        lo, hi = _blend(outputs, weight, base_lo, base_hi)
        margin = conformal_margin(lo, hi, y, nominal)
        score = _score(lo - margin, hi + margin, y, nominal, unit)
        if best is None or score < best[0] * (1 - 1e-9):
            best = (score, weight, margin)
    assert best is not None
    return Calibration(point_weight, best[1], base_lo, base_hi, best[2])


def _score(
    lo: np.ndarray, hi: np.ndarray, y: np.ndarray, nominal: float, unit: np.ndarray
) -> float:
    alpha = 1.0 - nominal
    miss = np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0)
    return float(np.mean((hi - lo + 2.0 / alpha * miss) * unit))
