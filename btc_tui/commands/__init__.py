"""The command registry: one module per subcommand, found by looking in this folder.

A module here is a command when it declares `COMMAND = Command(...)`: its name, help, which
option groups it takes (see `btc_tui.config.settings`), how to add its own arguments, how to turn
them into a typed value (`arguments`), and `run(settings, args) -> exit code`. The CLI builds one
argparse sub-parser per command and knows none of them by name: adding a subcommand is adding a
module. `app.py` is the one command that is no subcommand: what `btc-tui` alone runs.

Every module here is imported to build the parser, so each keeps its top-level imports light
(config, errors, the standard library) and imports its real work (market, forecast, textual,
textual-serve) inside `run`: a headless command never loads textual, and nothing loads
tensorflow until training starts (tests/test_import_hygiene.py).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from btc_tui.config import Resolved, Settings, resolve
from btc_tui.config.settings import APP


@dataclass(frozen=True)
class Context:
    """What a command's `arguments` may read besides its own flags."""

    resolved: Resolved
    environ: Mapping[str, str]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command with nothing of its own besides the options of its groups."""


def _no_args(namespace: argparse.Namespace, context: Context) -> None:
    return None


def default_settings(
    flags: Mapping[str, object],
    namespace: argparse.Namespace,
    environ: Mapping[str, str],
    config_path: Path | None,
) -> Resolved:
    """Flags > BTC_TUI_* > the config file > defaults (what almost every command wants)."""
    return resolve(flags, environ, config_path)


@dataclass(frozen=True)
class Command:
    name: str  # as typed: `btc-tui <name>`
    help: str  # one line, in `btc-tui --help`'s list and atop the command's own help
    run: Callable[[Settings, Any], int]  # (settings, what `arguments` returned) -> exit code
    groups: tuple[str, ...] = (APP,)  # the option groups it takes (before or after its name)
    description: str | None = None  # the command's own --help, when longer than `help`
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    arguments: Callable[[argparse.Namespace, Context], Any] = _no_args  # -> typed args
    # how its Settings are resolved (simulate reads no config file; config --init none either)
    settings: Callable[..., Resolved] = default_settings
    subcommand: bool = True  # False: the app, run when no subcommand is given
    epilog: bool = True  # list the BTC_TUI_* variables under its --help


@cache
def registry() -> tuple[Command, ...]:
    """Every command in this folder, in the order of their names."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        command = getattr(importlib.import_module(f"{__name__}.{module.name}"), "COMMAND", None)
        if isinstance(command, Command):
            found.append(command)
    return tuple(sorted(found, key=lambda c: c.name))


def find(name: str) -> Command:
    return next(command for command in registry() if command.name == name)
