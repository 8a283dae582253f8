"""Prediction intervals: the model's calibration and two reference bands (numpy only).

All bands are fitted on windows that end before the test windows: the reference bands on the
training windows, the model's conformal margin on the validation windows. Nothing here ever sees
a test window's target.

- static band: the last price plus the training residuals' quantiles (actual - last price), the
  same width in a calm and in a wild market;
- rolling-volatility band: the last price plus the quantiles of the training residuals divided by
  each window's recent volatility (mean absolute change over its last 30 minutes), multiplied by
  the test window's own recent volatility;
- the model's band: its lower and upper quantile outputs widened (or narrowed) by one conformal
  margin, in units of recent volatility (conformalised quantile regression, Romano et al. 2019).

The point forecast's weight (`fit_point_weight`) is chosen on the validation windows too.
"""

from __future__ import annotations

import math

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


# The correction is kept only if it lowers the validation MAE by at least this share.
MIN_GAIN = 0.001


def fit_point_weight(median: np.ndarray, y: np.ndarray, unit: np.ndarray) -> float:
    """How much of the network's median correction to keep, chosen on the validation windows:
    the weight in POINT_WEIGHTS with the lowest mean absolute error in price units (the smallest
    such weight on a tie), unless that beats weight 0 by less than MIN_GAIN (0.1%) of the MAE.
    0 means the correction did not clearly help there, and the point forecast is the naive rule
    itself: a model that learned nothing then ties the baseline instead of losing to it by its
    noise."""
    median, y, unit = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (median, y, unit))
    if not len(y):
        return 1.0
    errors = [float(np.mean(np.abs((w * median - y) * unit))) for w in POINT_WEIGHTS]
    best = int(np.argmin(errors))
    if errors[0] - errors[best] < MIN_GAIN * errors[0]:
        return 0.0  # a gain this small is noise: the naive rule is the simpler, surer forecast
    return float(POINT_WEIGHTS[best])


def apply_margin(
    outputs: np.ndarray, margin: float, point_weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 3) quantile outputs -> (lo, point, hi) with the margin applied, in output units; the
    point is the median scaled by `point_weight`, and the band always contains it (a margin, a
    crossing of the heads or the weight can't put it outside)."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1, 3)
    median = point_weight * outputs[:, 1]
    lo = np.minimum(outputs[:, 0] - margin, median)
    hi = np.maximum(outputs[:, 2] + margin, median)
    return lo, median, hi
