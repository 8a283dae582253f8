"""Writing the config file: the commented template (`btc-tui config --init`) and the theme the
app remembers (tomlkit, imported only then, so the user's comments, order and layout stay as they were)."""

from __future__ import annotations

import os
from pathlib import Path

from btc_tui.config.names import DEFAULT_KEYS
from btc_tui.config.settings import OPTIONS, TOKEN_ENV, Settings
from btc_tui.errors import StorageError, UsageError

# What the template shows for an option without a default (as TOML values)
EXAMPLES: dict[str, object] = {
    "minutes": 60,
    "seed": 1,
    "on_alert": 'notify-send "$BTC_ALERT_RULE" "$BTC_ALERT_PRICE"',
    "alerts": ["above 100000", "move 1% 15m"],
}


def toml_literal(value: object) -> str:
    """A TOML value as the file spells it: 60, 0.8, true, "3d", [1, 5, 15, 60]."""
    import tomlkit

    return tomlkit.item(value).as_string()


def config_template() -> str:
    """Every option, commented out at its default, with what it does: `btc-tui config --init`."""
    out = [
        "# btc-tui configuration. Each key is a long option's name without the dashes",
        "# (stale-after = 30 is --stale-after 30); `repair = false` is --no-repair.",
        "# Precedence: command-line flags > BTC_TUI_* environment variables > this file > defaults.",
        "# Remove the leading '# ' to set a value. `btc-tui config` shows what is in effect.",
        "",
    ]
    for option in OPTIONS.values():
        value = option.default
        shown = EXAMPLES[option.name] if value is None or value == () else option.toml_value(value)
        out += [f"# {option.help_text}", f"# {option.key} = {toml_literal(shown)}", ""]
    out += [
        "[keys]",
        '# Remap the app\'s keys by binding id, in Textual\'s key format: "c", "C" (shift+c),',
        '# "ctrl+t", several keys as "ctrl+t,f5". A key may be bound to one action only.',
    ]
    out += [f"# {binding} = {toml_literal(keys)}" for binding, keys in DEFAULT_KEYS.items()]
    out += [
        "",
        "[serve]",
        "# btc-tui serve: the token a browser must give as ?token=... (--token and",
        f"# {TOKEN_ENV} win over it). Keep this file private if you set one.",
        '# token = "a-long-random-secret"',
    ]
    return "\n".join(out) + "\n"


def write_config_template(path: Path) -> None:
    """Write config_template() to a new file; UsageError if it exists (nothing is overwritten)."""
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} already exists; not overwriting it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as file:  # "x": never over a file made meanwhile
            file.write(config_template())
    except OSError as exc:
        raise StorageError(f"cannot write config file {path}: {exc.strerror or exc}") from None


def remember_theme(settings: Settings, name: str) -> None:
    """Set `theme = "<name>"` in the config file, keeping every other line and comment.

    Does nothing for Settings without a config file (built directly, as in tests). Creates the
    file (and its folder) if missing. StorageError if it cannot be written; UsageError for a name
    that is not a Textual theme. The write is atomic: temp file + rename.
    """
    path = settings.config
    if path is None:
        return
    option = OPTIONS["theme"]
    try:
        name = option.convert(name)
    except ValueError as exc:
        raise UsageError(f"theme {name!r} {exc}") from None
    _write_key(path, option.key, name)


def remember_alerts(settings: Settings, rules: tuple[str, ...]) -> None:
    """Set `alerts = [...]` in the config file (the alerts screen), as remember_theme does."""
    path = settings.config
    if path is None:
        return
    try:
        rules = OPTIONS["alerts"].convert(list(rules))  # type: ignore[assignment]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _write_key(path, OPTIONS["alerts"].key, list(rules))


def _write_key(path: Path, key: str, value: object) -> None:
    """One top-level key of the config file set with tomlkit (comments and layout kept)."""
    import tomlkit

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = tomlkit.document()
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read config file {path}: {exc}") from None
    except tomlkit.exceptions.ParseError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    document[key] = value  # tomlkit keeps top-level keys before the first table
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(tomlkit.dumps(document), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StorageError(f"cannot write config file {path}: {exc.strerror or exc}") from None
