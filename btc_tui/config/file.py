"""The config file: reading and validating it, naming the file, line and key in every error.

`$XDG_CONFIG_HOME/btc-tui/config.toml` (or `--config FILE` / `BTC_TUI_CONFIG`): each key is an
option's long flag without the dashes, typed as the option's kind declares; a `[keys]` table
remaps the app's keys; a `[serve]` table holds serve's token.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from btc_tui.config.kinds import describe_raw, suggest
from btc_tui.config.names import DEFAULT_KEYS
from btc_tui.config.settings import CONFIG_NAME, OPTIONS, Option
from btc_tui.errors import UsageError


def default_config_path() -> Path:
    """`$XDG_CONFIG_HOME/btc-tui/config.toml` (platformdirs' idea of it on this platform)."""
    from platformdirs import user_config_path

    return user_config_path("btc-tui") / CONFIG_NAME


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """(table, key) -> 1-based line number of `key = ...`, for naming lines in messages."""
    lines: dict[tuple[str, str], int] = {}
    table = ""
    header = re.compile(r"\s*\[\s*([^\]]*?)\s*\]\s*(#.*)?$")
    assignment = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")
    for number, line in enumerate(text.splitlines(), start=1):
        if m := header.match(line):
            table = m[1].strip("\"'")
            lines.setdefault(("", table), number)
        elif m := assignment.match(line):
            key = m[1] if m[1] is not None else m[2] if m[2] is not None else m[3]
            lines.setdefault((table, key), number)
    return lines


@dataclass(frozen=True)
class ConfigFile:
    """A parsed config file: converted option values, remapped keys, and where each one is."""

    path: Path
    exists: bool
    values: Mapping[str, object]
    keys: Mapping[str, str]
    lines: Mapping[str, int]  # option name (or "keys.<id>", "serve.token") -> line
    # `btc-tui serve`'s token from a [serve] table: a secret, so it is no Settings field (never
    # exported, printed or put on a command line); --token and BTC_TUI_TOKEN win over it.
    serve_token: str | None = None

    def where(self, name: str) -> str:
        line = self.lines.get(name)
        return f"{self.path} line {line}" if line else str(self.path)


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_KEY_TOKEN = re.compile(r"^[A-Za-z0-9_+\-]+$")


def read_config(path: Path, *, required: bool) -> ConfigFile:
    """Parse and validate a config file; UsageError naming the file, line and key on any error.

    A missing file is fine unless `required` (it was named with --config or BTC_TUI_CONFIG).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise UsageError(f"config file {path} does not exist") from None
        return ConfigFile(path, False, {}, {}, {})
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"cannot read config file {path}: {reason}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if m := _TOML_POSITION.search(message):
            message = message[: m.start()].strip()
            raise UsageError(
                f"{path} line {m[1]}, column {m[2]}: not valid TOML: {message}"
            ) from None
        raise UsageError(f"{path}: not valid TOML: {message}") from None

    line_of = _key_lines(text)
    by_key = {option.key: option for option in OPTIONS.values()}
    values: dict[str, object] = {}
    lines: dict[str, int] = {}
    keys: dict[str, str] = {}
    serve_token: str | None = None
    for key, raw in document.items():
        line = line_of.get(("", key))
        where = f"{path} line {line}" if line else str(path)
        if key == "keys":
            if not isinstance(raw, dict):
                raise UsageError(
                    f"{where}: 'keys' must be a table ([keys]), got {describe_raw(raw)}"
                )
            keys = _read_keys(raw, path, line_of)
            continue
        if key == "serve":
            serve_token = _read_serve(raw, path, where, line_of)
            if serve_token is not None and (line := line_of.get(("serve", "token"))):
                lines["serve.token"] = line
            continue
        option = by_key.get(key)
        if option is None:
            known = [*by_key, "keys", "serve"]
            raise UsageError(f"{where}: unknown key {key!r}{suggest(key, known)}")
        values[option.name] = _read_value(option, raw, where)
        if line:
            lines[option.name] = line
    for binding in keys:
        if line := line_of.get(("keys", binding)):
            lines[f"keys.{binding}"] = line
    return ConfigFile(path, True, values, MappingProxyType(keys), lines, serve_token)


_TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", list: "an array"}


def _read_value(option: Option, raw: object, where: str) -> object:
    """One option's value from the file: of a TOML type its kind declares, then converted."""
    wanted = option.toml_types
    if not isinstance(raw, wanted) or (isinstance(raw, bool) and bool not in wanted):
        expected = " or ".join(_TYPE_WORDS.get(t, "a string in quotes") for t in wanted)
        expected = expected.replace("a whole number or a number", "a number")
        raise UsageError(f"{where}: {option.key} must be {expected}, got {describe_raw(raw)}")
    try:
        return option.convert(raw)
    except ValueError as exc:
        raise UsageError(f"{where}: {option.key} {exc}") from None


def _read_serve(
    raw: object, path: Path, where: str, line_of: dict[tuple[str, str], int]
) -> str | None:
    """The [serve] table: only `token`, a non-empty string."""
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: 'serve' must be a table ([serve]), got {describe_raw(raw)}")
    token = None
    for key, value in raw.items():
        line = line_of.get(("serve", key))
        at = f"{path} line {line}" if line else str(path)
        if key != "token":
            raise UsageError(f"{at}: unknown key serve.{key}{suggest(key, ['token'])}")
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{at}: serve.token must be a non-empty string in quotes")
        token = value.strip()
    return token


def _read_keys(table: dict[str, object], path: Path, line_of: dict[tuple[str, str], int]) -> dict:
    def where(binding: str) -> str:
        line = line_of.get(("keys", binding))
        return f"{path} line {line}" if line else str(path)

    keys: dict[str, str] = {}
    for binding, raw in table.items():
        if binding not in DEFAULT_KEYS:
            raise UsageError(
                f"{where(binding)}: unknown key binding id {binding!r} in [keys]"
                f"{suggest(binding, DEFAULT_KEYS)}; ids: {', '.join(DEFAULT_KEYS)}"
            )
        if not isinstance(raw, str):
            raise UsageError(
                f'{where(binding)}: keys.{binding} must be keys in quotes such as "ctrl+t,f5", '
                f"got {describe_raw(raw)}"
            )
        # Textual splits a keymap value on "," without stripping, so " f5" would never match.
        tokens = [token.strip() for token in raw.split(",")]
        for token in tokens:
            if not _KEY_TOKEN.match(token):
                raise UsageError(
                    f"{where(binding)}: keys.{binding} = {raw!r}: {token!r} is not a key name "
                    '(use Textual\'s names: c, C, ctrl+t, f5, question_mark; several as "c,f5")'
                )
        keys[binding] = ",".join(tokens)

    # A key may do only one thing: check the remapped keys against each other and against the
    # defaults of the bindings that keep theirs.
    owner: dict[str, str] = {}
    for binding, default in DEFAULT_KEYS.items():
        for token in keys.get(binding, default).split(","):
            other = owner.get(token)
            if other is not None:
                culprit = binding if binding in keys else other
                partner = other if culprit == binding else binding
                note = "" if partner in keys else " (its default)"
                raise UsageError(
                    f"{where(culprit)}: key {token!r} is bound to both {partner}{note} and "
                    f"{culprit}; give one of them another key in [keys]"
                )
            owner[token] = binding
    return keys
