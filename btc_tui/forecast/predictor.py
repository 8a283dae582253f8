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
class HorizonForecast:
    """One horizon's forecast: the average price of the minute `horizon` minutes after the last
    observed one, as a median and an interval [lo, hi] meant to hold it `interval` of the time."""

    horizon: int  # minutes after the last observed minute
    target_minute: int  # ms start of the predicted minute
    median: float  # the point forecast
    lo: float
    hi: float


@dataclass(frozen=True)
class Prediction:
    """Every horizon's forecast from one window of minutes (`forecasts`, shortest horizon
    first). `target_minute`, `price`, `lo` and `hi` are the first horizon's, for code that shows
    one."""

    last_minute: int  # ms start of the last observed minute
    last_price: float  # the last minute's average: the persistence baseline
    interval: float  # nominal coverage of every band, e.g. 0.8
    forecasts: tuple[HorizonForecast, ...]
    # The last minute's close: the last-price baseline (NaN when the minutes have no close).
    last_close: float = math.nan

    @classmethod
    def one(
        cls,
        target_minute: int,
        price: float,
        last_minute: int,
        last_price: float,
        lo: float = math.nan,
        hi: float = math.nan,
        interval: float = math.nan,
        last_close: float = math.nan,
    ) -> Prediction:
        """A single-horizon prediction (the horizon from the two minutes), for tests and demos."""
        horizon = max(1, (target_minute - last_minute) // MINUTE_MS)
        forecast = HorizonForecast(horizon, target_minute, price, lo, hi)
        return cls(last_minute, last_price, interval, (forecast,), last_close)

    @property
    def horizons(self) -> tuple[int, ...]:
        return tuple(f.horizon for f in self.forecasts)

    def at(self, horizon: int) -> HorizonForecast:
        """The forecast for `horizon` minutes ahead (KeyError if the model has no such horizon)."""
        for forecast in self.forecasts:
            if forecast.horizon == horizon:
                return forecast
        raise KeyError(horizon)

    @property
    def target_minute(self) -> int:
        return self.forecasts[0].target_minute

    @property
    def price(self) -> float:
        return self.forecasts[0].median

    @property
    def lo(self) -> float:
        return self.forecasts[0].lo

    @property
    def hi(self) -> float:
        return self.forecasts[0].hi


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
        forecast = HorizonForecast(
            self.horizon, last_minute + self.horizon * MINUTE_MS, price, low, high
        )
        return Prediction(
            last_minute=last_minute,
            last_price=float(inputs[0, -1]),
            interval=self.metadata.interval,
            forecasts=(forecast,),
            last_close=math.nan if last_close is None else float(last_close[0]),
        )
