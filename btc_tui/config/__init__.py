"""Settings shared by the CLI, the collector, training and the UI, and where each value comes from.

Every option can come from four places, the first found wins: a command-line flag, a
`BTC_TUI_<NAME>` environment variable, the config file (`$XDG_CONFIG_HOME/btc-tui/config.toml`,
or `--config FILE` / `BTC_TUI_CONFIG`), the built-in default.

- `settings`  `Settings` and the option table: each option declared once, as a Settings field
- `kinds`     the types an option can have: converter, TOML types, metavar, value -> text
- `names`     the app's key binding ids and Textual's theme names, in plain Python
- `file`      reading and validating the config file
- `resolve`   flags > environment > file > defaults
- `write`     the commented template (`config --init`) and remembering the theme (tomlkit)

This package is imported by every headless command: it must never import textual or tensorflow.
"""

from btc_tui.config.file import ConfigFile, default_config_path, read_config
from btc_tui.config.kinds import DAY, format_duration, parse_duration, parse_time
from btc_tui.config.names import DEFAULT_KEYS, THEMES
from btc_tui.config.resolve import Resolved, config_file_path, resolve, settings_from
from btc_tui.config.settings import (
    CHARTS,
    CONFIG_ENV,
    DEFAULT_DATA,
    DEFAULT_MODELS,
    DEFAULT_REST_URL,
    DEFAULT_SYMBOL,
    DEFAULT_THEME,
    DEFAULT_URL,
    DEMO_DATA,
    DEMO_MODELS,
    ENV_PREFIX,
    MODEL_NAME,
    NOTIFY,
    OPTIONS,
    OTHER_VARIABLES,
    TIMEFRAMES,
    TOKEN_ENV,
    Option,
    Settings,
    default_data,
    default_models,
)
from btc_tui.config.write import (
    config_template,
    remember_alerts,
    remember_theme,
    write_config_template,
)

__all__ = [
    "CHARTS",
    "CONFIG_ENV",
    "DAY",
    "DEFAULT_DATA",
    "DEFAULT_KEYS",
    "DEFAULT_MODELS",
    "DEFAULT_REST_URL",
    "DEFAULT_SYMBOL",
    "DEFAULT_THEME",
    "DEFAULT_URL",
    "DEMO_DATA",
    "DEMO_MODELS",
    "ENV_PREFIX",
    "MODEL_NAME",
    "NOTIFY",
    "OPTIONS",
    "OTHER_VARIABLES",
    "THEMES",
    "TIMEFRAMES",
    "TOKEN_ENV",
    "ConfigFile",
    "Option",
    "Resolved",
    "Settings",
    "config_file_path",
    "config_template",
    "default_config_path",
    "default_data",
    "default_models",
    "format_duration",
    "parse_duration",
    "parse_time",
    "read_config",
    "remember_alerts",
    "remember_theme",
    "resolve",
    "settings_from",
    "write_config_template",
]
