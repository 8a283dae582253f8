"""Every action of the app, said once, in plain Python (no textual): binding id, default keys,
what it is called and what it does. The config file's [keys] validation (config.py) and the
app's bindings, footer, help screen and command palette (ui/actions.py) are all derived from
this table, so they can't disagree.

Binding ids are the names the config file's [keys] table remaps (Textual's keymap).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class AppAction:
    id: str  # binding id: the name in the config file's [keys] table
    keys: str  # default keys, comma separated (Textual's key names)
    action: str  # the App's action_<name>
    label: str  # footer label
    tooltip: str  # help screen and footer tooltip
    palette: str  # command palette text
    key_display: str | None = None
    show: bool = True  # in the footer


ACTIONS: tuple[AppAction, ...] = (
    AppAction("collect", "c", "toggle_collect", "Collect",
              "Start or stop collecting trades into the minute CSV (attached: the ticker only)",
              "Start or stop collecting"),
    AppAction("take-over", "o", "take_over", "Take over",
              "The collector that owned the CSV stopped: collect into it from here",
              "Take over collecting"),
    AppAction("train", "t", "train", "Train",
              "Train the LSTM on the current CSV in the background",
              "Train on the current CSV"),
    AppAction("cancel-training", "x", "cancel_training", "Cancel",
              "Cancel training; the previous model is kept",
              "Cancel training"),
    AppAction("load-model", "l", "load_model", "Load",
              "Load the saved model and predict each next minute",
              "Load the saved model"),
    AppAction("timeframe", "f", "next_timeframe", "Timeframe",
              "Market chart: the next timeframe (1m, 5m, 15m, 1h, 4h, 1d)",
              "Next chart timeframe"),
    AppAction("chart-style", "s", "toggle_chart", "Candles/line",
              "Market chart: candles or a line", "Switch the chart between candles and a line",
              show=False),
    AppAction("alerts", "a", "alerts", "Alerts",
              "Price alerts: list, add and remove them (saved to the config file)",
              "Edit price alerts"),
    AppAction("next-view", "v", "next_view", "View",
              "Show the next of the panes that don't fit beside the chart (training, loss, "
              "forecast, log)",
              "Show the next pane"),
    AppAction("help", "question_mark,f1", "help", "Help", "Show every key", "Show help",
              key_display="?"),
    AppAction("quit", "q", "quit", "Quit", "Write the open minute, stop training, exit", "Quit"),
)  # fmt: skip

BY_ID: Mapping[str, AppAction] = MappingProxyType({a.id: a for a in ACTIONS})

# binding id -> default keys: what the config file's [keys] table may remap
DEFAULT_KEYS: Mapping[str, str] = MappingProxyType({a.id: a.keys for a in ACTIONS})
