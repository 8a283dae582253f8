"""Every message the app's workers and callbacks post: the only way domain events reach widgets.

Domain types are imported for type checking only, so importing this module loads neither the
collector nor tensorflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.forecast.predictor import Prediction, Predictor
    from btc_tui.forecast.training import BatchProgress, EpochEnd, TrainResult
    from btc_tui.market.alerts import Firing
    from btc_tui.market.collector import BarWritten


# --- collector -------------------------------------------------------------------------------


@dataclass
class BarReceived(Message):
    """A closed minute was written to the CSV."""

    event: BarWritten


@dataclass
class EventLogged(Message):
    """One human line for the Log pane."""

    text: str


@dataclass
class CsvReplaced(Message):
    """Minutes went into the CSV other than through on_bar (history filled, or the owner we
    are attached to rewrote it): the recent minutes must be read again."""


@dataclass
class DataPrepared(Message):
    """Startup read of the CSV's tail."""

    rows: int
    last_price: float | None
    frame: pd.DataFrame | None  # the most recent minutes, for live prediction


# --- training --------------------------------------------------------------------------------


@dataclass
class TrainingStage(Message):
    """train() moved to a stage: "loading TensorFlow", "training", "saving"."""

    stage: str


@dataclass
class EpochEnded(Message):
    epoch: EpochEnd


@dataclass
class BatchProgressed(Message):
    """Per-batch progress, throttled to ~5 Hz in the training thread."""

    progress: BatchProgress


@dataclass
class TrainingFinished(Message):
    result: TrainResult


@dataclass
class TrainingThreadExited(Message):
    """The training thread has really returned (a cancelled worker reports before its thread ends)."""


# --- live prediction -------------------------------------------------------------------------


@dataclass
class ModelLoaded(Message):
    predictor: Predictor
    path: str


@dataclass
class PredictionMade(Message):
    prediction: Prediction


# --- alerts ----------------------------------------------------------------------------------


@dataclass
class AlertFired(Message):
    firing: Firing
