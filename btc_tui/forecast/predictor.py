"""The saved model applied to the latest minutes: the live prediction the TUI shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.forecast.dataset import (
    MINUTE_MS,
    decode_targets,
    encode_features,
    missing_columns,
    required_columns,
    series_from_frame,
    window_scaling,
)
from btc_tui.forecast.model import ModelMetadata, load_model, read_metadata


@dataclass(frozen=True)
class Prediction:
    target_minute: int  # ms start of the predicted minute
    price: float
    last_minute: int  # ms start of the last observed minute
    last_price: float


class Predictor:
    def __init__(self, model: Any, metadata: ModelMetadata) -> None:
        self.model = model
        self.metadata = metadata
        self._spec = metadata.spec
        self.columns = required_columns(self._spec.features)  # CSV columns besides avg_price
        self._forward = _compiled_forward(model, metadata.window, len(metadata.features))

    @classmethod
    def load(cls, settings: Settings) -> Predictor:
        """The saved model, refused with a clear reason when missing or not for these settings."""
        metadata = read_metadata(settings.metadata_path, settings.model_path)
        mismatches = [
            f"{name} {saved} (settings say {wanted})"
            for name, saved, wanted in (
                ("window", metadata.window, settings.window),
                ("horizon", metadata.horizon, settings.horizon),
            )
            if saved != wanted
        ]
        if mismatches:
            raise UsageError(
                f"the model in {settings.model_path} was trained with "
                + " and ".join(mismatches)
                + "; train again with these settings or pass the model's values"
            )
        model = load_model(settings.model_path)
        expected = (None, metadata.window, len(metadata.features))
        shape = tuple(model.input_shape)
        if shape != expected:
            raise UsageError(
                f"{settings.model_path} expects inputs {shape}, but {settings.metadata_path} "
                f"describes {expected}; train again with `btc-tui train`"
            )
        return cls(model, metadata)

    @property
    def window(self) -> int:
        return self.metadata.window

    @property
    def horizon(self) -> int:
        return self.metadata.horizon

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
        output = np.asarray(self._forward(x))
        last_price = float(inputs[0, -1])
        price = decode_targets(output, inputs[:, -1], scaling, self._spec.target_kind)[0]
        return Prediction(
            target_minute=last_minute + self.horizon * MINUTE_MS,
            price=float(price),
            last_minute=last_minute,
            last_price=last_price,
        )


def _compiled_forward(model: Any, window: int, features: int) -> Any:
    """The model as one traced graph for a single window.

    model.predict builds a data pipeline per call, and an eager call runs the LSTM step by step
    in Python: measured ~300 ms per prediction for 60 minutes, against ~3 ms traced.
    """
    import tensorflow as tf

    return tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((1, window, features), tf.float32)],
    )
