"""Names the app knows that live in Textual: the key binding ids and their default keys (from
`btc_tui.keys`), the built-in theme names. Kept here, in plain Python, so validating a config file never imports
textual (tests keep both in step with the app and with Textual)."""

from __future__ import annotations

# The app's key binding ids and their default keys come from the one table of actions
# (btc_tui/keys.py, textual-free), which ui/actions.py builds the app's bindings from too.
from btc_tui.keys import DEFAULT_KEYS

__all__ = ["DEFAULT_KEYS", "THEMES"]

# Textual's built-in themes, listed here because importing textual.theme would load Textual into
# every headless command; tests/test_config.py checks the list against textual.theme.BUILTIN_THEMES.
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
