"""The command textual-serve runs for each browser session, and the settings it inherits.

textual-serve starts each session with the server's own environment (it takes a command string,
not an environment). So `serve` exports its effective settings as `BTC_TUI_*` variables into its
own environment before serving: the environment beats the config file and the defaults, so every
session runs with exactly the settings `serve` resolved (its flags, env and config file), and a
new option needs no change here. Remapped keys are not an option: the session reads them from the
same config file (`BTC_TUI_CONFIG`).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from btc_tui.config import CONFIG_ENV, OPTIONS, Settings

# Options that mean something to `serve`'s own collector only.
SERVER_ONLY = frozenset({"minutes"})


def settings_environment(settings: Settings) -> dict[str, str]:
    """`BTC_TUI_<OPTION>` for every option with a value, so a session resolves the same settings."""
    env = {}
    for name, option in OPTIONS.items():
        value = getattr(settings, name)
        if value is not None and name not in SERVER_ONLY:
            env[option.env] = option.text(value)
    config = settings.config
    if config is not None and Path(config).exists():
        env[CONFIG_ENV] = str(config)
    return env


def session_command(python: str = sys.executable) -> str:
    """A shell command (textual-serve runs it with a shell): `exec` so the app process is the
    server's direct child, one process per session and nothing in between."""
    return f"exec {shlex.quote(python)} -m btc_tui.web.session"
