"""What the app reads of the CSV at launch, in plain Python (no textual): only its end (the
minutes live prediction needs), so a year of minutes opens as fast as a day."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from btc_tui.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.config import Settings


@dataclass(frozen=True)
class StartupMinutes:
    rows: int
    last_price: float | None
    frame: pd.DataFrame | None  # the most recent minutes


def read_startup_minutes(
    settings: Settings, log: Callable[[str], None], keep: int
) -> StartupMinutes:
    """The last `keep` minutes and the CSV's row count. Blocking (file IO, pandas): call it from
    a thread. Reads only the CSV's tail (and counts lines only when it holds more than `keep`)."""
    from btc_tui.market.follow import count_rows
    from btc_tui.market.store import load_tail

    frame = None
    if settings.data.exists():
        try:
            frame = load_tail(settings.data, keep).frame
        except UsageError as exc:
            log(f"cannot read {settings.data}: {exc}")
    rows = 0
    if frame is not None:
        rows = len(frame) if len(frame) < keep else count_rows(settings.data)
    last = None if frame is None or frame.empty else float(frame["avg_price"].iloc[-1])
    return StartupMinutes(rows=rows, last_price=last, frame=frame)
