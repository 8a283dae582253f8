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


def apply_margin(outputs: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 3) quantile outputs -> (lo, median, hi) with the margin applied, in output units; the
    band always contains the median (a margin or a crossing of the heads can't invert it)."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1, 3)
    median = outputs[:, 1]
    lo = np.minimum(outputs[:, 0] - margin, median)
    hi = np.maximum(outputs[:, 2] + margin, median)
    return lo, median, hi
