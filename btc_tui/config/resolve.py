"""Resolving: flags > `BTC_TUI_*` environment > config file > defaults, validated in one place.

Every source goes through the option's own converter, so a value refused as a flag is refused
from the environment and from the file too, with a message naming where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType

from btc_tui.config.file import ConfigFile, default_config_path, read_config
from btc_tui.config.kinds import suggest
from btc_tui.config.settings import (
    CONFIG_ENV,
    DEFAULT_SYMBOL,
    ENV_PREFIX,
    OPTIONS,
    OTHER_VARIABLES,
    Settings,
    default_data,
    default_models,
)
from btc_tui.errors import UsageError

SOURCE_RANK = {"default": 0, "file": 1, "env": 2, "flag": 3}


def config_file_path(
    flags: Mapping[str, object], environ: Mapping[str, str] | None, default: Path | None = None
) -> tuple[Path, bool]:
    """(the config file to use, whether it must exist): --config, BTC_TUI_CONFIG, the default."""
    env = os.environ if environ is None else environ
    if flags.get("config"):
        return Path(str(flags["config"])).expanduser(), True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser(), True
    return (default or default_config_path()), False


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    sources: Mapping[str, str]  # field -> "default" | "file" | "env" | "flag"
    where: Mapping[str, str]  # field -> "BTC_TUI_WINDOW", "--window", "<file> line 3"
    config: ConfigFile | None
    warnings: tuple[str, ...] = ()


class _Found:
    """Values found so far, with where each came from; a later source overrides an earlier."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.sources: dict[str, str] = {}
        self.where: dict[str, str] = {}
        self.warnings: list[str] = []

    def set(self, name: str, value: object, source: str, where: str) -> None:
        self.values[name], self.sources[name], self.where[name] = value, source, where

    def drop(self, name: str) -> None:
        del self.values[name], self.sources[name], self.where[name]


def _from_file(found: _Found, config_file: ConfigFile) -> None:
    for name, value in config_file.values.items():
        found.set(name, value, "file", config_file.where(name))


def _from_environment(found: _Found, env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in OTHER_VARIABLES:
            continue
        option = OPTIONS.get(name[len(ENV_PREFIX) :].lower())
        if option is None:
            known = [o.env for o in OPTIONS.values()] + [CONFIG_ENV]
            found.warnings.append(f"{name} is not a btc-tui setting{suggest(name, known)}; ignored")
            continue
        try:
            found.set(option.name, option.convert(raw), "env", name)
        except ValueError as exc:
            raise UsageError(f"{name}={raw!r}: {exc}") from None


def _from_flags(found: _Found, flags: Mapping[str, object]) -> None:
    for name, raw in flags.items():
        if name == "config" or raw is None:
            continue
        option = OPTIONS.get(name)
        if option is None:
            raise KeyError(f"no such setting: {name}")  # a programming error, not the user's
        try:
            value = raw if isinstance(raw, bool) else option.convert(raw)
        except ValueError as exc:
            # a switch shows no value; a repeatable flag's message names the value at fault
            shown = "" if option.kind.metavar is None or isinstance(raw, list) else f" {raw}"
            raise UsageError(f"{option.flag_name}{shown}: {exc}") from None
        found.set(name, value, "flag", option.flag_name)


def _demo_files(found: _Found) -> None:
    """The data and model defaults follow symbol and demo. Simulated minutes never mix with real
    ones: `--demo` must not write into a real file named less explicitly (the config file, or the
    environment when --demo is a flag). A data file of another symbol needs no such rule: the
    store refuses to append one symbol to another's file."""
    values, sources, where = found.values, found.sources, found.where
    symbol = str(values.get("symbol", DEFAULT_SYMBOL))
    demo = bool(values.get("demo", False))
    defaults = {"data": default_data(symbol, demo), "models": default_models(demo)}
    for name, default in defaults.items():
        if demo and name in values and SOURCE_RANK[sources[name]] < SOURCE_RANK[sources["demo"]]:
            found.warnings.append(
                f"{where[name]} sets {name} = {values[name]}, ignored with {where['demo']}: "
                f"the demo uses {default}"
            )
            found.drop(name)
        values.setdefault(name, default)


def resolve(
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    *,
    read_file: bool = True,
) -> Resolved:
    """Settings from flags > BTC_TUI_* environment > config file > defaults, all validated.

    `flags` maps Settings field names to what the user typed (strings; booleans for switches;
    lists for repeatable flags), plus `config` for --config. `config_path` is the default config
    file (None: platformdirs').
    """
    flags = dict(flags or {})
    env = os.environ if environ is None else environ
    found = _Found()
    config_file: ConfigFile | None = None
    if read_file:
        chosen, required = config_file_path(flags, env, config_path)
        config_file = read_config(chosen, required=required)
        _from_file(found, config_file)
    _from_environment(found, env)
    _from_flags(found, flags)
    _demo_files(found)
    if config_file is not None:
        found.values["config"] = config_file.path
        found.values["keys"] = config_file.keys
        if config_file.keys:
            found.set("keys", config_file.keys, "file", str(config_file.path))
    for f in fields(Settings):
        found.sources.setdefault(f.name, "default")
        found.where.setdefault(f.name, "default")
    return Resolved(
        Settings(**found.values),  # type: ignore[arg-type]
        MappingProxyType(found.sources),
        MappingProxyType(found.where),
        config_file,
        tuple(found.warnings),
    )


def settings_from(
    overrides: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then `BTC_TUI_*` environment variables, then explicit (non-None) overrides.

    Kept for tests and benchmarks: it reads no config file, so a user's own file never changes
    what they measure. Overrides may be typed values: each goes through its option's text and
    converter, exactly as if typed as a flag.
    """
    flags = {
        name: value if isinstance(value, bool) else OPTIONS[name].text(value)
        for name, value in overrides.items()
        if value is not None
    }
    return resolve(flags, environ, read_file=False).settings
