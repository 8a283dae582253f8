"""Help screen: every key binding of the app, with what it does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "btc-tui collects live trades into one CSV row per minute, trains an LSTM on that CSV and "
    "predicts the next minute. Everything is keyboard driven; ctrl+p opens the command palette "
    "with the same actions by name."
)


SIGNS = (
    "Dimmed keys can't be used now (t while training, x when idle).\n"
    "● connected  ↻ reconnecting  ◌ stale: nothing received  ○ not collecting\n"
    "persistence: copy the last price · skill = 1 − MAE / persistence MAE"
)


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

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.app_bindings = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Keys", id="help-title")
            yield Static(INTRO, id="help-intro")
            for binding in self.app_bindings:
                keys = " / ".join(key_label(k) for k in binding.key.split(","))
                yield Static(
                    f"[b]{keys:>10}[/b]  {binding.description}: {binding.tooltip}",
                    classes="help-row",
                )
            yield Static(
                f"[b]{'ctrl+p':>10}[/b]  Command palette: every action by name", classes="help-row"
            )
            yield Static(f"[b]{'ctrl+q':>10}[/b]  Quit: the same as q", classes="help-row")
            yield Static(SIGNS, id="help-signs")
            yield Static("escape closes this screen", id="help-close")


def key_label(key: str) -> str:
    return {"question_mark": "?", "f1": "F1", "ctrl+q": "ctrl+q"}.get(key, key)
