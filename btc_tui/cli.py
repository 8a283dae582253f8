"""Command line: `btc-tui` (the TUI) and its subcommands.

The parser is derived from two tables and names nothing itself: the option table
(`btc_tui.config.OPTIONS`: every setting's flag, metavar, help and group) and the command
registry (`btc_tui.commands.registry()`: one module per subcommand, with the option groups it
takes and its own arguments). Each group's options are defined once, in a parent parser shared
by the main parser and every subcommand taking that group, with `default=argparse.SUPPRESS`: an
option given before the subcommand means the same as after it, and one left out never hides one
given elsewhere. argparse only collects the text; `btc_tui.config.resolve` converts and
validates it, the same way for flags, `BTC_TUI_*` variables and the config file.

A command's real work is imported only when it runs, so the headless commands never import
textual and nothing here imports tensorflow.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from argparse import SUPPRESS
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from btc_tui import __version__
from btc_tui.commands import Command, Context, registry
from btc_tui.config import OPTIONS, OTHER_VARIABLES, Option, Settings
from btc_tui.errors import EXIT_INTERRUPTED, EXIT_STORAGE, EXIT_USAGE, StorageError, UsageError


def add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    """One option as flags: a switch, a repeatable flag or a flag with a value, spelled as the
    option table declares it. Every one defaults to SUPPRESS: one left out never hides one given
    before or after the subcommand; `resolve` fills in the default."""
    flags = option.flags or (option.flag_name,)
    help = (option.flag_help or option.help_text).replace("%", "%%")  # argparse's % format
    kind = option.kind
    if kind.metavar is None:  # a switch: --demo sets true, --no-repair sets false
        action = "store_false" if option.flag_name.startswith("--no-") else "store_true"
        parser.add_argument(*flags, dest=option.name, action=action, default=SUPPRESS, help=help)
        return
    parser.add_argument(
        *flags,
        dest=option.name,
        action="append" if kind.repeat else "store",
        default=SUPPRESS,
        metavar=option.metavar or kind.metavar,
        help=help,
    )


def options_of(*groups: str) -> tuple[str, ...]:
    """The options (Settings field names) in these groups, in the table's order."""
    return tuple(name for name, option in OPTIONS.items() if option.group in groups)


def _group_parser(group: str) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in options_of(group):
        add_option(parent, OPTIONS[name])
    return parent


def _config_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parent.add_argument(
        "--config",
        default=SUPPRESS,
        metavar="FILE",
        help="config file (default ~/.config/btc-tui/config.toml; see below)",
    )
    return parent


def _epilog() -> str:
    def flag(option: Option) -> str:
        if option.kind.metavar is not None:
            return option.flag_name
        return f"0 = {option.flag_name}" if option.default else f"{option.flag_name} (1 or 0)"

    lines = ["environment (flags win over these; these win over the config file):"]
    lines += [f"  {o.env:<24} {flag(o)}" for o in OPTIONS.values()]
    lines += [f"  {variable:<24} {flag}" for variable, flag in OTHER_VARIABLES.items()]
    lines += [
        "",
        "config file: $XDG_CONFIG_HOME/btc-tui/config.toml (~/.config/...) or --config FILE;",
        "keys are the long options' names (stale-after = 30, repair = false), plus a [keys]",
        "table remapping the app's keys. `btc-tui config --init` writes one with every option.",
    ]
    return "\n".join(lines)


def _parser_kwargs(command: Command, parents: dict[str, argparse.ArgumentParser]) -> dict:
    chosen = [parents[group] for group in command.groups]
    if command.groups:
        chosen.append(parents["config"])
    kwargs: dict[str, Any] = {
        "description": command.description or command.help,
        "parents": chosen,
        "allow_abbrev": False,
    }
    if command.epilog:
        kwargs.update(epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    return kwargs


def build_parser() -> argparse.ArgumentParser:
    groups = {option.group for option in OPTIONS.values()}
    parents = {group: _group_parser(group) for group in groups}
    parents["config"] = _config_parser()
    commands = registry()
    main = next(command for command in commands if not command.subcommand)
    parser = argparse.ArgumentParser(prog="btc-tui", **_parser_kwargs(main, parents))
    parser.add_argument("--version", action="version", version=f"btc-tui {__version__}")
    main.add_arguments(parser)
    parser.set_defaults(command=main)
    sub = parser.add_subparsers(metavar="COMMAND")
    for command in commands:
        if command.subcommand:
            child = sub.add_parser(
                command.name, help=command.help, **_parser_kwargs(command, parents)
            )
            command.add_arguments(child)
            child.set_defaults(command=command)
    return parser


class Parsed(NamedTuple):
    """What a command line means."""

    command: str  # "tui" when no subcommand was given
    settings: Settings
    args: Any  # the command's own arguments, typed by the command (None when it has none)
    warnings: tuple[str, ...]


def parse(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Parsed:
    """`config_path` replaces the default config file's location (tests). argparse errors exit 2
    (SystemExit); bad values raise UsageError."""
    env = os.environ if environ is None else environ
    namespace = build_parser().parse_args(argv)
    command: Command = namespace.command
    flags = {name: getattr(namespace, name) for name in OPTIONS if hasattr(namespace, name)}
    if hasattr(namespace, "config"):
        flags["config"] = namespace.config
    resolved = command.settings(flags, namespace, env, config_path)
    args = command.arguments(namespace, Context(resolved, env))
    return Parsed(command.name, resolved.settings, args, resolved.warnings)


def dispatch(parsed: Parsed) -> int:
    command = next(c for c in registry() if c.name == parsed.command)
    return command.run(parsed.settings, parsed.args)


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> int:
    try:
        parsed = parse(argv, environ, config_path)
        for warning in parsed.warnings:
            print(f"btc-tui: warning: {warning}", file=sys.stderr)
        return dispatch(parsed)
    except UsageError as exc:
        print(f"btc-tui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"btc-tui: disk error: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    except BrokenPipeError:
        # The reader went away (`btc-tui config | head -3`): stop quietly, as coreutils do (128 +
        # SIGPIPE). What Python still holds for stdout goes to /dev/null so the flush at exit
        # can't fail again. (`collect` handles this itself: it writes the open minute first.)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        # Only reached where a command has no Ctrl+C handling of its own: whatever it was
        # writing goes to a temp file first, so nothing already saved has been touched.
        print("btc-tui: interrupted; nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
