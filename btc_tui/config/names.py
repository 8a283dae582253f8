"""Names the app knows that live in Textual: the key binding ids and their default keys, the
built-in theme names. Kept here, in plain Python, so validating a config file never imports
textual (tests keep both in step with the app and with Textual)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The app's key binding ids and their default keys (btc_tui/ui/actions.py ACTIONS, the app's
# BINDINGS; a test keeps the two in step). Kept here, not read from the app, because reading it would import textual.
DEFAULT_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "collect": "c",
        "take-over": "o",
        "train": "t",
        "cancel-training": "x",
        "load-model": "l",
        "next-view": "v",
        "help": "question_mark,f1",
        "quit": "q",
    }
)

# Textual's built-in themes (textual.theme.BUILTIN_THEMES; a test keeps the two in step).
THEMES = (
    "ansi-dark",
    "ansi-light",
    "atom-one-dark",
    "atom-one-light",
    "catppuccin-frappe",
    "catppuccin-latte",
    "catppuccin-macchiato",
    "catppuccin-mocha",
    "dracula",
    "flexoki",
    "gruvbox",
    "monokai",
    "nord",
    "rose-pine",
    "rose-pine-dawn",
    "rose-pine-moon",
    "solarized-dark",
    "solarized-light",
    "textual-dark",
    "textual-light",
    "tokyo-night",
)
