"""Help screen: every action of the app with the keys that run it now (remapped keys included)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from btc_tui.ui.actions import ACTIONS

INTRO = (
    "btc-tui collects live trades into one CSV row per minute, trains an LSTM on that CSV and "
    "predicts the next minute. Everything is keyboard driven; ctrl+p opens the command palette "
    "with the same actions by name. Keys can be changed in the config file's [keys] table."
)


# The baselines in forecast/report.py's words: persistence repeats the last minute's average,
# the last price is its close; skill is against the better of the two.
SIGNS = (
    "Dimmed keys can't be used now (t while training, x when idle).\n"
    "● connected  ↻ reconnecting  ◌ stale: nothing received  ○ not collecting\n"
    "▲/▼ and the sign: the price against the last minute's average\n"
    "persistence = last minute's average; last price = last minute's close; "
    "skill = 1 − MAE / the better baseline's MAE"
)


def key_label(key: str) -> str:
    return {"question_mark": "?", "f1": "F1"}.get(key, key)


def keys_for(action_id: str, keymap: Mapping[str, str]) -> str:
    """The keys that run an action now: the config file's [keys] entry, else the default."""
    default = next(a.keys for a in ACTIONS if a.id == action_id)
    return " / ".join(key_label(k.strip()) for k in keymap.get(action_id, default).split(","))


def key_rows(keymap: Mapping[str, str]) -> list[tuple[str, str]]:
    """(keys, what they do) for every action, then the palette and ctrl+q."""
    rows = [(keys_for(a.id, keymap), f"{a.label}: {a.tooltip}") for a in ACTIONS]
    rows.append(("ctrl+p", "Command palette: every action by name, and themes"))
    rows.append(("ctrl+q", "Quit: the same as q"))
    return rows


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

    def rows(self) -> list[str]:
        """Each row as plain text, "keys  description" (tests)."""
        return [
            "  ".join(str(s.render()) for s in row.query(Static).results(Static))
            for row in self.query(".help-row")
        ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Keys", id="help-title")
            yield Static(INTRO, id="help-intro", markup=False)  # "[keys]" is text, not markup
            # Keys in a column of their own; a long description wraps within its column (a
            # hanging indent), so the keys still read as a table in a narrow terminal.
            for keys, what in key_rows(self.keymap):
                with Horizontal(classes="help-row"):
                    yield Static(keys, classes="help-key", markup=False)
                    yield Static(what, classes="help-what", markup=False)
            yield Static(SIGNS, id="help-signs", markup=False)
            yield Static("escape closes this screen", id="help-close")
