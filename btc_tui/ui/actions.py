"""The app's key bindings, built from the one table of actions (btc_tui/keys.py), which the
footer, the help screen, the command palette and the config file's [keys] validation share."""

from __future__ import annotations

from textual.binding import Binding

from btc_tui.keys import ACTIONS, BY_ID, AppAction

__all__ = ["ACTIONS", "BY_ID", "AppAction", "bindings"]


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
