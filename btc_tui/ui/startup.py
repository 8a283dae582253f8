"""The test metrics saved beside a model, in plain Python (no textual). (What the app reads of
the CSV at launch is `btc_tui.market.startup`.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from btc_tui.forecast.metrics import Metrics
    from btc_tui.forecast.predictor import Predictor


def saved_metrics(predictor: Predictor) -> Metrics | None:
    """The test metrics saved beside the model (NaN stored as null), if all are there."""
    from btc_tui.forecast.metrics import Metrics

    saved = getattr(getattr(predictor, "metadata", None), "metrics", None)
    if not isinstance(saved, dict):
        return None
    try:
        return Metrics.from_dict(saved)
    except (KeyError, TypeError, ValueError):
        return None  # an older or hand-edited JSON: show nothing rather than guess
