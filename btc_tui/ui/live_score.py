"""Scores live predictions against the minutes that later close (plain Python, no textual)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol


class PredictionLike(Protocol):
    target_minute: int
    price: float
    last_minute: int
    last_price: float


@dataclass(frozen=True)
class ScoredPrediction:
    target_minute: int
    predicted: float
    actual: float
    error: float  # predicted - actual
    persistence_error: float  # last known price - actual: the copy-the-last-price baseline


class LiveScore:
    """Pending predictions by target minute, and a rolling MAE of the model and of persistence."""

    def __init__(self, keep: int = 60) -> None:
        self.keep = keep
        self._pending: dict[int, PredictionLike] = {}
        self._scored: deque[ScoredPrediction] = deque(maxlen=keep)
        self.latest: PredictionLike | None = None
        self.last_scored: ScoredPrediction | None = None

    def add(self, prediction: PredictionLike) -> None:
        self._pending[prediction.target_minute] = prediction
        self.latest = prediction

    def resolve(self, minute: int, actual: float) -> ScoredPrediction | None:
        """A minute closed at `actual`; score the prediction made for it, if any."""
        # Minutes without trades have no row, so predictions aimed at them can never be scored.
        for target in [t for t in self._pending if t < minute]:
            del self._pending[target]
        prediction = self._pending.pop(minute, None)
        if prediction is None:
            return None
        scored = ScoredPrediction(
            target_minute=minute,
            predicted=prediction.price,
            actual=actual,
            error=prediction.price - actual,
            persistence_error=prediction.last_price - actual,
        )
        self._scored.append(scored)
        self.last_scored = scored
        return scored

    @property
    def count(self) -> int:
        return len(self._scored)

    @property
    def mae(self) -> float | None:
        if not self._scored:
            return None
        return sum(abs(s.error) for s in self._scored) / len(self._scored)

    @property
    def persistence_mae(self) -> float | None:
        if not self._scored:
            return None
        return sum(abs(s.persistence_error) for s in self._scored) / len(self._scored)
