"""`btc-tui config`: the settings in effect, where each came from, and the config file's path.

`btc-tui config --init` writes a commented file with every option (never over an existing one).
"""

from __future__ import annotations

from btc_tui.config import (
    DEFAULT_KEYS,
    OPTIONS,
    Resolved,
    Settings,
    config_template,
    write_config_template,
)


def _shown(name: str, value: object) -> str:
    if value is None or value == ():
        return "(none)"
    return OPTIONS[name].text(value)


def _origin(name: str, sources: Resolved | None) -> str:
    """default | file, line 3 | env BTC_TUI_WINDOW | flag --window"""
    if sources is None:
        return "default"
    kind = sources.sources[name]
    if kind == "file":
        line = sources.config.lines.get(name) if sources.config is not None else None
        return f"file, line {line}" if line else "file"
    if kind in ("env", "flag"):
        return f"{kind} {sources.where[name]}"
    return kind


def describe(settings: Settings, sources: Resolved | None) -> str:
    """The text `btc-tui config` prints: file path, then `key  value  source` per option."""
    config = sources.config if sources is not None else None
    if settings.config is None:
        header = "config file: (none)"
    elif config is not None and config.exists:
        header = f"config file: {settings.config}"
    else:
        header = f"config file: {settings.config} (not found; `btc-tui config --init` writes one)"
    rows: list[tuple[str, str, str]] = []
    for option in OPTIONS.values():
        rows.append(
            (
                option.key,
                _shown(option.name, getattr(settings, option.name)),
                _origin(option.name, sources),
            )
        )
    for binding, default in DEFAULT_KEYS.items():
        if binding in settings.keys:
            line = config.lines.get(f"keys.{binding}") if config is not None else None
            rows.append((f"keys.{binding}", settings.keys[binding], f"file, line {line}"))
        else:
            rows.append((f"keys.{binding}", default, "default"))
    key_width = max(len(r[0]) for r in rows)
    value_width = min(max(len(r[1]) for r in rows), 40)
    lines = [header, ""]
    lines += [f"{k:<{key_width}}  {v:<{value_width}}  {w}" for k, v, w in rows]
    return "\n".join(lines)


def run(settings: Settings, init: bool = False, sources: Resolved | None = None) -> int:
    if init:
        path = settings.config
        if path is None:  # parse() always sets it; only a hand-built Settings lacks one
            print(config_template(), end="")
            return 0
        write_config_template(path)
        print(f"wrote {path}: every option, commented out at its default; edit to taste")
        return 0
    print(describe(settings, sources))
    return 0
