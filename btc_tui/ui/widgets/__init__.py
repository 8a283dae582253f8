"""Widgets of the main screen: each renders what the app hands it and holds no domain logic."""

from btc_tui.ui.widgets.charts import ForecastChart, LossChart
from btc_tui.ui.widgets.event_log import EventLog
from btc_tui.ui.widgets.forecast import ForecastPane
from btc_tui.ui.widgets.live import LivePane
from btc_tui.ui.widgets.training import TrainingPane

__all__ = ["EventLog", "ForecastChart", "ForecastPane", "LivePane", "LossChart", "TrainingPane"]
