"""Help screen: every action of the app with the keys that run it now (remapped keys included)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from btc_tui.ui.actions import ACTIONS

INTRO = (
    "btc-tui collects live trades into one CSV row per minute, trains an LSTM on that CSV and "
    "predicts the next minute. Everything is keyboard driven; ctrl+p opens the command palette "
    "with the same actions by name. Keys can be changed in the config file's [keys] table."
)


SIGNS = (
    "Dimmed keys can't be used now (t while training, x when idle).\n"
    "● connected  ↻ reconnecting  ◌ stale: nothing received  ○ not collecting\n"
    "▲/▼ and the sign: the price against the last minute's average\n"
    "persistence: copy the last price · skill = 1 − MAE / persistence MAE"
)


def key_label(key: str) -> str:
    return {"question_mark": "?", "f1": "F1"}.get(key, key)


def keys_for(action_id: str, keymap: Mapping[str, str]) -> str:
    """The keys that run an action now: the config file's [keys] entry, else the default."""
    default = next(a.keys for a in ACTIONS if a.id == action_id)
    return " / ".join(key_label(k.strip()) for k in keymap.get(action_id, default).split(","))


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark,f1",
            "dismiss",
            "Close help",
            id="close-help",
            tooltip="Close this help screen",
        ),
    ]

    def __init__(self, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Keys", id="help-title")
            yield Static(INTRO, id="help-intro", markup=False)
            for action in ACTIONS:
                yield Static(
                    f"[b]{keys_for(action.id, self.keymap):>10}[/b]  {action.label}:"
                    f" {action.tooltip}",
                    classes="help-row",
                )
            yield Static(
                f"[b]{'ctrl+p':>10}[/b]  Command palette: every action by name, and themes",
                classes="help-row",
            )
            yield Static(f"[b]{'ctrl+q':>10}[/b]  Quit: the same as q", classes="help-row")
            yield Static(SIGNS, id="help-signs")
            yield Static("escape closes this screen", id="help-close")
