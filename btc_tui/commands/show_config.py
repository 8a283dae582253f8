"""`btc-tui config`: the settings in effect, where each came from, and the config file's path.

`btc-tui config --init` writes a commented file with every option (never over an existing one).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from btc_tui.commands import Command, Context
from btc_tui.config import (
    DEFAULT_KEYS,
    OPTIONS,
    Resolved,
    Settings,
    config_file_path,
    config_template,
    resolve,
    write_config_template,
)
from btc_tui.config.settings import APP, COLLECTOR, TRAINING


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


@dataclass(frozen=True)
class ConfigArgs:
    init: bool  # --init: write the template instead of showing the settings
    resolved: Resolved  # the settings with where each came from


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--init", action="store_true", help="write a commented config file with every option"
    )


def _settings(flags, namespace, environ, config_path) -> Resolved:
    if not namespace.init:
        return resolve(flags, environ, config_path)
    # The file to write need not exist and is not read (it may be the broken one being
    # replaced): only its path matters.
    path, _ = config_file_path(flags, environ, config_path)
    resolved = resolve(flags, environ, read_file=False)
    return replace(resolved, settings=resolved.settings.with_changes(config=path), warnings=())


def _arguments(namespace: argparse.Namespace, context: Context) -> ConfigArgs:
    return ConfigArgs(bool(namespace.init), context.resolved)


def _run(settings: Settings, args: ConfigArgs) -> int:
    return run(settings, init=args.init, sources=None if args.init else args.resolved)


COMMAND = Command(
    name="config",
    help="show the settings in effect and where each comes from",
    run=_run,
    groups=(APP, COLLECTOR, TRAINING),
    add_arguments=_add_arguments,
    arguments=_arguments,
    settings=_settings,
)
