"""The saved model applied to the latest minutes: the live prediction the TUI shows.

It runs the LSTM's forward pass in NumPy from the weights saved beside the model
(`lstm_numpy`), so a process that loads a model and predicts never imports TensorFlow: the app
stays small while it watches and predicts, and TensorFlow loads only to train.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.forecast.bands import apply_margin
from btc_tui.forecast.dataset import (
    MINUTE_MS,
    encode_features,
    missing_columns,
    required_columns,
    series_from_frame,
    target_frame,
    window_scaling,
)
from btc_tui.forecast.lstm_numpy import NumpyLSTM
from btc_tui.forecast.model import ModelMetadata, read_metadata, read_weights


@dataclass(frozen=True)
class Prediction:
    target_minute: int  # ms start of the predicted minute
    price: float  # the predicted average price of that minute (the median of the interval)
    last_minute: int  # ms start of the last observed minute
    last_price: float  # the last minute's average: the persistence baseline
    # The interval: [lo, hi] should hold the minute's average `interval` of the time (e.g. 0.8).
    lo: float = math.nan
    hi: float = math.nan
    interval: float = math.nan
    # The last minute's close: the last-price baseline (NaN when the minutes have no close).
    last_close: float = math.nan


class Predictor:
    def __init__(self, weights: Mapping[str, np.ndarray], metadata: ModelMetadata) -> None:
        self.metadata = metadata
        self._spec = metadata.spec
        self.columns = required_columns(self._spec.features)  # CSV columns besides avg_price
        if metadata.anchor == "close" and "close" not in self.columns:
            self.columns = (*self.columns, "close")
        self._forward = NumpyLSTM(weights)

    @classmethod
    def load(cls, settings: Settings) -> Predictor:
        """The saved model, refused with a clear reason when missing, from an older version or
        not for these settings. Reads the JSON and the .npz weights only: no TensorFlow."""
        metadata = read_metadata(settings.metadata_path, settings.model_path)
        interval = settings.interval
        mismatches = [
            f"{name} {saved} (settings say {wanted})"
            for name, saved, wanted in (
                ("window", metadata.window, settings.window),
                ("horizon", metadata.horizon, settings.horizon),
                ("interval", metadata.interval, interval),
            )
            if saved != wanted
        ]
        if mismatches:
            raise UsageError(
                f"the model in {settings.model_path} was trained with "
                + " and ".join(mismatches)
                + "; train again with these settings or pass the model's values"
            )
        weights = read_weights(metadata, settings.model_path, settings.metadata_path)
        return cls(weights, metadata)

    @property
    def window(self) -> int:
        return self.metadata.window

    @property
    def horizon(self) -> int:
        return self.metadata.horizon

    @property
    def interval(self) -> float:
        return self.metadata.interval

    def predict(self, frame: pd.DataFrame) -> Prediction | None:
        """The price `horizon` minutes after the frame's last row, or None without `window`
        contiguous minutes ending there (a minute lacking a column the model uses counts as
        missing). UsageError when the frame has none of a column the model needs, e.g. a
        six-column seed file given to a model trained on close/high/low."""
        if len(frame) < self.window:
            return None
        latest = frame.iloc[-self.window :]
        absent = missing_columns(latest, self.columns)
        if absent:
            raise UsageError(
                f"the model uses the {', '.join(absent)} of each minute (features "
                f"{', '.join(self._spec.features)}), but the latest {self.window} minutes have "
                f"none; collect with this version, or train again on these minutes"
            )
        series = series_from_frame(latest, self.columns)
        if len(series) < self.window:
            return None  # an unusable value among the last minutes
        minutes = series.minutes
        if minutes[-1] - minutes[0] != (self.window - 1) * MINUTE_MS:
            return None
        return self.predict_prices(series.prices, int(minutes[-1]), series.columns)

    def predict_prices(
        self,
        prices: np.ndarray,
        last_minute: int,
        columns: Mapping[str, np.ndarray] | None = None,
    ) -> Prediction:
        """From exactly `window` consecutive minutes' prices, the last one at `last_minute`, and
        the same minutes' values of the columns the model uses (`self.columns`: close...)."""
        inputs = np.asarray(prices, dtype=np.float64).reshape(1, self.window)
        scaling = window_scaling(inputs)
        columns = columns or {}
        lacking = [name for name in self.columns if name not in columns]
        if lacking:
            raise UsageError(f"the model needs the {', '.join(lacking)} of each minute as well")
        rows = {
            name: np.asarray(columns[name], dtype=np.float64).reshape(1, self.window)
            for name in self.columns
        }
        x = encode_features(inputs, scaling, self._spec.features, rows)
        lo, median, hi = apply_margin(
            self._forward(x), self.metadata.calibration, self.metadata.point_weight
        )
        last_close = rows["close"][:, -1] if "close" in rows else None
        anchor_close = last_close if self.metadata.anchor == "close" else None
        anchor, unit = target_frame(self._spec.target_kind, inputs, scaling, anchor_close)
        price, low, high = (float(anchor[0] + v[0] * unit[0]) for v in (median, lo, hi))
        return Prediction(
            target_minute=last_minute + self.horizon * MINUTE_MS,
            price=price,
            last_minute=last_minute,
            last_price=float(inputs[0, -1]),
            lo=low,
            hi=high,
            interval=self.metadata.interval,
            last_close=math.nan if last_close is None else float(last_close[0]),
        )
