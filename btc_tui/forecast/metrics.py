"""Forecast quality in price units, always beside the persistence baseline (numpy only).

Persistence ("the next price equals the last observed one") is the honest yardstick for minute
prices: a model that does not beat it has learned nothing useful.

Direction accuracy: the share of windows where the predicted change from the last observed price
has the same sign as the actual change. Windows whose actual change is exactly zero have no
direction to get right and are left out; a predicted change of exactly zero against a real move
counts as wrong (it called no direction). So persistence, which always predicts zero change, scores
0 by this definition, and the figure is NaN when no window moved.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Metrics:
    mae: float  # mean absolute error, price units
    mape: float  # mean absolute percentage error, percent
    baseline_mae: float  # persistence
    baseline_mape: float
    skill: float  # 1 - mae / baseline_mae: > 0 beats persistence
    direction_accuracy: float  # share in [0, 1]; see the module docstring for zero changes

    def to_dict(self) -> dict[str, float | None]:
        """Plain floats, NaN as None, so the dict is valid JSON."""
        return {k: (None if math.isnan(v) else float(v)) for k, v in asdict(self).items()}

    @property
    def beats_persistence(self) -> bool:
        return self.skill > 0


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


def evaluate(predicted: np.ndarray, actual: np.ndarray, last: np.ndarray) -> Metrics:
    """Model vs persistence on the same windows: `last` is each window's last observed price."""
    model_mae = mae(predicted, actual)
    baseline_mae = mae(last, actual)
    return Metrics(
        mae=model_mae,
        mape=mape(predicted, actual),
        baseline_mae=baseline_mae,
        baseline_mape=mape(last, actual),
        skill=skill(model_mae, baseline_mae),
        direction_accuracy=direction_accuracy(predicted, actual, last),
    )


def _pair(predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    actual = np.asarray(actual, dtype=np.float64).reshape(-1)
    if predicted.shape != actual.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(actual)} actual prices")
    return predicted, actual
