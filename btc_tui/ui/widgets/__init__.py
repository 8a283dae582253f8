"""Widgets of the main screen: each renders what its owner hands it.

ForecastPane is loaded on first use (PEP 562): its module imports the forecast package (pandas,
metrics, report), which would otherwise delay the first screen by about half a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc_tui.ui.widgets.charts import ForecastChart, LossChart
from btc_tui.ui.widgets.event_log import EventLog
from btc_tui.ui.widgets.live import LivePane
from btc_tui.ui.widgets.training import TrainingPane

if TYPE_CHECKING:
    from btc_tui.ui.widgets.forecast import ForecastPane

__all__ = ["EventLog", "ForecastChart", "ForecastPane", "LivePane", "LossChart", "TrainingPane"]


def __getattr__(name: str) -> Any:
    if name == "ForecastPane":
        from btc_tui.ui.widgets.forecast import ForecastPane

        return ForecastPane
    raise AttributeError(name)
