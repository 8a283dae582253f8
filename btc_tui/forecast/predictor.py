"""The saved model applied to the latest minutes: every horizon's median and band, live.

It runs the LSTM's forward pass in NumPy from the weights saved beside the model
(`lstm_numpy`), so a process that loads a model and predicts never imports TensorFlow: the app
stays small while it watches and predicts, and TensorFlow loads only to train.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.forecast.dataset import (
    MINUTE_MS,
    MinuteSeries,
    RowFeatures,
    Windows,
    WindowSource,
    missing_columns,
    required_columns,
    series_from_frame,
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
        self._calibrations = [metadata.calibration_for(h) for h in metadata.horizons]
        # Rows read from the frame's end: the window and the longest volatility scale before it.
        self._rows = metadata.window + max(*metadata.vol_scales, metadata.vol_lookback)

    @classmethod
    def load(cls, settings: Settings) -> Predictor:
        """The saved model, refused with a clear reason when missing, from an older version or
        not for these settings. Reads the JSON and the .npz weights only: no TensorFlow."""
        metadata = read_metadata(settings.metadata_path, settings.model_path)
        mismatches = [
            f"{name} {saved} (settings say {wanted})"
            for name, saved, wanted in (
                ("window", metadata.window, settings.window),
                ("horizons", _listed(metadata.horizons), _listed(settings.horizons)),
                ("interval", metadata.interval, settings.interval),
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
    def horizons(self) -> tuple[int, ...]:
        return tuple(self.metadata.horizons)

    @property
    def horizon(self) -> int:
        return self.horizons[0]

    @property
    def interval(self) -> float:
        return self.metadata.interval

    def predict(self, frame: pd.DataFrame) -> Prediction | None:
        """Every horizon's forecast after the frame's last row, or None without `window`
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
        # The volatility inputs look further back than the window: the earlier usable prices.
        history = frame["avg_price"].to_numpy(dtype=np.float64)[-self._rows :]
        history = history[np.isfinite(history) & (history > 0)]
        return self.predict_series(series, history)

    def predict_series(self, series: MinuteSeries, history: np.ndarray | None = None) -> Prediction:
        """From minutes whose last `window` rows are consecutive, with the columns the model uses
        (`self.columns`: close...); `history`: the prices up to the last one, as far back as the
        volatility inputs look (default: the series' own)."""
        lacking = [name for name in self.columns if name not in series.columns]
        if lacking:
            raise UsageError(f"the model needs the {', '.join(lacking)} of each minute as well")
        last = len(series) - 1
        windows = Windows(series, self.window, self.horizons, np.array([last]), 0)
        history = series.prices if history is None else history
        lookback = self.metadata.vol_lookback
        rows = RowFeatures.at_end(series, history, lookback)
        source = WindowSource(windows, self._spec.features, lookback, rows)
        outputs = self._forward(source.inputs(slice(None))).reshape(len(self.horizons), 3)
        anchor = (
            float(series.anchor()[last])
            if self.metadata.anchor == "close"
            else float(series.prices[last])
        )
        units = source.units(slice(None))[0]
        last_minute = int(series.minutes[last])
        forecasts = []
        for j, horizon in enumerate(self.horizons):
            lo, point, hi = self._calibrations[j].apply(outputs[j])
            low, median, high = (float(anchor + v[0] * units[j]) for v in (lo, point, hi))
            forecasts.append(
                HorizonForecast(horizon, last_minute + horizon * MINUTE_MS, median, low, high)
            )
        close = series.columns.get("close")
        return Prediction(
            last_minute=last_minute,
            last_price=float(series.prices[last]),
            interval=self.metadata.interval,
            forecasts=tuple(forecasts),
            last_close=math.nan if close is None else float(close[last]),
        )


def _listed(horizons: Sequence[int]) -> str:
    return ",".join(str(h) for h in horizons)
