"""Names the app knows that live in Textual: the key binding ids and their default keys (from
`btc_tui.keys`), the built-in theme names. Kept here, in plain Python, so validating a config file never imports
textual (tests keep both in step with the app and with Textual)."""

from __future__ import annotations

from collections.abc import Mapping

from btc_tui.keys import DEFAULT_KEYS as _DEFAULT_KEYS

# The app's key binding ids and their default keys: the one table of actions (btc_tui/keys.py,
# plain Python), which the app's bindings are derived from too.
DEFAULT_KEYS: Mapping[str, str] = _DEFAULT_KEYS

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
