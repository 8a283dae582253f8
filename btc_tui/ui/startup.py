"""What the app reads at launch, in plain Python (no textual): only the end of the CSV (the
minutes live prediction needs), so a year of minutes opens as fast as a day; and the test metrics
saved beside a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.market.frames import KEEP

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.forecast.metrics import Metrics
    from btc_tui.forecast.predictor import Predictor


@dataclass(frozen=True)
class StartupMinutes:
    rows: int
    last_price: float | None
    frame: pd.DataFrame | None  # the most recent minutes


def read_startup_minutes(settings: Settings, log: Callable[[str], None]) -> StartupMinutes:
    """Blocking (file IO, pandas): call it from a thread. Reads only the CSV's tail."""
    from btc_tui.market.follow import count_rows
    from btc_tui.market.store import load_tail

    frame = None
    if settings.data.exists():
        try:
            frame = load_tail(settings.data, KEEP).frame
        except UsageError as exc:
            log(f"cannot read {settings.data}: {exc}")
    rows = 0
    if frame is not None:
        rows = len(frame) if len(frame) < KEEP else count_rows(settings.data)
    last = None if frame is None or frame.empty else float(frame["avg_price"].iloc[-1])
    return StartupMinutes(rows=rows, last_price=last, frame=frame)


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
