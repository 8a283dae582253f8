"""What a saved model shows about itself without retraining: its test figures per horizon, its
epoch losses and the test chart's points, all read from the model's JSON (plain Python)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from btc_tui.forecast.metrics import Metrics

if TYPE_CHECKING:
    from btc_tui.forecast.model import ModelMetadata


@dataclass(frozen=True)
class ChartPoints:
    """The tail of one horizon's test windows: predicted minute (ms), actual, median, band."""

    minutes: list[int]
    actual: list[float]
    predicted: list[float]
    lo: list[float]
    hi: list[float]


@dataclass(frozen=True)
class SavedModel:
    created: str  # ISO 8601, UTC
    metrics: Metrics | None  # the first horizon's test figures (None: unreadable)
    horizons: dict[int, Metrics] = field(default_factory=dict)
    loss: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    charts: dict[int, ChartPoints] = field(default_factory=dict)

    @property
    def chart(self) -> ChartPoints | None:
        """The first horizon's chart, the one the Forecast pane draws."""
        return self.charts[min(self.charts)] if self.charts else None


def _metrics(saved: object) -> Metrics | None:
    if not isinstance(saved, dict):
        return None
    try:
        return Metrics.from_dict(saved)
    except (KeyError, TypeError, ValueError):
        return None  # an older or hand-edited JSON: show nothing rather than guess


def _chart(saved: object) -> ChartPoints | None:
    if not isinstance(saved, dict):
        return None
    try:
        columns = [list(saved[k]) for k in ("minutes", "actual", "predicted", "lo", "hi")]
        minutes = [int(v) for v in columns[0]]
        values = [[float(v) for v in column] for column in columns[1:]]
    except (KeyError, TypeError, ValueError):
        return None
    if any(len(column) != len(minutes) for column in values):
        return None
    return ChartPoints(minutes, *values)


def _losses(values: object) -> list[float | None]:
    if not isinstance(values, list):
        return []
    out: list[float | None] = []
    for v in values:
        out.append(float(v) if isinstance(v, int | float) and math.isfinite(v) else None)
    return out


def saved_model(metadata: ModelMetadata) -> SavedModel:
    """Everything the panes draw for a loaded model; parts that don't read back are left out."""
    horizons = {}
    for key, figures in (metadata.horizon_metrics or {}).items():
        parsed = _metrics(figures)
        if parsed is not None and str(key).isdigit():
            horizons[int(key)] = parsed
    charts = {}
    for key, points in (metadata.test_chart or {}).items():
        chart = _chart(points)
        if chart is not None and str(key).isdigit():
            charts[int(key)] = chart
    history = metadata.history if isinstance(metadata.history, dict) else {}
    loss = [v for v in _losses(history.get("loss")) if v is not None]
    val_loss = _losses(history.get("val_loss"))
    if len(val_loss) != len(loss):
        val_loss = [None] * len(loss)
    return SavedModel(
        created=str(metadata.created),
        metrics=_metrics(metadata.metrics),
        horizons=horizons,
        loss=loss,
        val_loss=val_loss,
        charts=charts,
    )
