"""Every action of the app, said once: the key bindings, the footer, the help screen and the command
palette are all built from this table, so they can't disagree.

Binding ids are the names the config file's [keys] table remaps (Textual's keymap).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class AppAction:
    id: str  # binding id: the name in the config file's [keys] table
    keys: str  # default keys, comma separated
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
    AppAction("next-view", "v", "next_view", "View",
              "Small terminal: show the next of the lower panes (training, loss, forecast, log)",
              "Show the next pane"),
    AppAction("help", "question_mark,f1", "help", "Help", "Show every key", "Show help",
              key_display="?"),
    AppAction("quit", "q", "quit", "Quit", "Write the open minute, stop training, exit", "Quit"),
)  # fmt: skip

BY_ID = {a.id: a for a in ACTIONS}


def bindings() -> list[Binding]:
    return [
        Binding(
            a.keys,
            a.action,
            a.label,
            id=a.id,
            tooltip=a.tooltip,
            key_display=a.key_display,
            show=a.show,
        )
        for a in ACTIONS
    ]
