"""The in-memory frame of recent minutes the live predictor reads (pandas imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from btc_tui.market.bars import MINUTE_MS

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.market.bars import MinuteBar

COLUMNS = ("avg_price", "open", "high", "low", "close", "volume", "vwap", "trades")
KEEP = 1500  # minutes kept: comfortably more than any sensible window


def append_bar(frame: pd.DataFrame | None, bar: MinuteBar, keep: int = KEEP) -> pd.DataFrame:
    """A new frame (never mutated in place: a prediction thread may be reading the old one)."""
    import pandas as pd

    index = pd.DatetimeIndex([pd.Timestamp(bar.minute, unit="ms", tz="UTC")], name="time")
    row = pd.DataFrame(
        [[float(getattr(bar, c)) for c in COLUMNS]], columns=list(COLUMNS), index=index
    )
    if frame is None or frame.empty:
        return row
    if row.index[0] <= frame.index[-1]:
        return frame  # already there (e.g. loaded from the CSV at start)
    return pd.concat([frame.iloc[-(keep - 1) :], row])


def trailing_contiguous(frame: pd.DataFrame | None) -> int:
    """How many minutes at the end of the frame follow each other without a gap."""
    if frame is None or frame.empty:
        return 0
    import numpy as np

    minutes = frame.index.as_unit("ms").asi8 // MINUTE_MS
    gaps = np.nonzero(np.diff(minutes) != 1)[0]
    return len(minutes) - (int(gaps[-1]) + 1 if len(gaps) else 0)
