"""Settings shared by the CLI, the collector, training and the UI, and where each value comes from.

Every option can come from four places, the first found wins: a command-line flag, a
`BTC_TUI_<NAME>` environment variable, the config file (`$XDG_CONFIG_HOME/btc-tui/config.toml`,
or `--config FILE` / `BTC_TUI_CONFIG`), the built-in default. All of them go through the same
converters in `OPTIONS`, so a value that is refused as a flag is refused from the environment and
from the file too, with a message naming where it came from.

This module is imported by every headless command: it must never import textual or tensorflow.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from btc_tui.errors import StorageError, UsageError
from btc_tui.keys import DEFAULT_KEYS
from btc_tui.market.alerts import parse_rule

DEFAULT_SYMBOL = "btcusdt"
DEFAULT_DATA = Path("data/bitcoin_price_stream.csv")  # the seed collector's name, kept for BTCUSDT
DEMO_DATA = Path("data/demo.csv")
DEFAULT_MODELS = Path("models")
DEMO_MODELS = Path("models/demo")
DEFAULT_URL = "wss://stream.binance.com:9443"
DEFAULT_REST_URL = "https://api.binance.com"
DEFAULT_THEME = "textual-dark"
MODEL_NAME = "btc_lstm"
CONFIG_NAME = "config.toml"
ENV_PREFIX = "BTC_TUI_"

# Textual's built-in themes, listed here because importing textual.theme would load Textual into
# every headless command; tests/test_config.py checks the list against textual.theme.BUILTIN_THEMES.
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

DAY = 86_400.0


def default_data(symbol: str = DEFAULT_SYMBOL, demo: bool = False) -> Path:
    """The minute CSV used when none is given: one file per symbol, and simulated minutes apart."""
    symbol = symbol.lower()
    if demo:
        return DEMO_DATA if symbol == DEFAULT_SYMBOL else Path(f"data/demo_{symbol}.csv")
    return DEFAULT_DATA if symbol == DEFAULT_SYMBOL else Path(f"data/{symbol}_price_stream.csv")


def default_models(demo: bool = False) -> Path:
    # A model fitted to the simulator's random walk must never predict real prices.
    return DEMO_MODELS if demo else DEFAULT_MODELS


@dataclass(frozen=True)
class Settings:
    data: Path = DEFAULT_DATA
    models: Path = DEFAULT_MODELS
    symbol: str = DEFAULT_SYMBOL
    url: str = DEFAULT_URL
    demo: bool = False
    # collector
    stale_after: float = 30.0
    minutes: int | None = None
    rest_url: str = DEFAULT_REST_URL
    repair: bool = True  # fetch the trades a reconnect missed over REST (--no-repair: don't)
    max_fill: float = 3 * DAY  # seconds; how far back a start fills from the last stored trade
    history: float = 3 * DAY  # seconds of history the app fills on launch; 0 = off
    # forecasting
    window: int = 60
    horizons: tuple[int, ...] = (1, 5, 15, 60)  # minutes ahead; --horizon N is (N,)
    epochs: int = 50
    batch_size: int = 256  # ~2.7x the seed's 32 in windows/s (benchmarks/train_speed.py)
    test_fraction: float = 0.2
    seed: int | None = None
    interval: float = 0.8  # nominal coverage of the prediction interval
    # the app
    config: Path | None = None  # the config file in effect (it may not exist); None: no file
    theme: str = DEFAULT_THEME
    refresh: float = 10.0  # Hz: how often the app may repaint a changing price
    chart: str = "candle"  # the market chart: candle | line
    timeframe: str = "1m"  # the market chart's first timeframe
    utc: bool = False  # times on the chart in UTC instead of local time
    # price alerts: rules as written ("above 70000", "move 1% 15m", "band")
    alerts: tuple[str, ...] = ()
    notify: str = "osc"  # how a firing alert is shown: bell | osc (bell + desktop) | off
    on_alert: str | None = None  # collect: a shell command run once per firing
    # binding id -> keys in Textual's keymap format ("ctrl+t,f5"); only the remapped ones
    keys: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), hash=False, compare=True
    )

    @property
    def horizon(self) -> int:
        """The first (shortest) horizon: what a one-horizon model predicts."""
        return self.horizons[0]

    @property
    def model_path(self) -> Path:
        return self.models / f"{MODEL_NAME}.keras"

    @property
    def metadata_path(self) -> Path:
        return self.models / f"{MODEL_NAME}.json"

    @property
    def data_is_default(self) -> bool:
        """True when `data` is the default file for this symbol and demo mode (no --data given)."""
        return self.data == default_data(self.symbol, self.demo)

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)


# --- durations and times ---------------------------------------------------------------------

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION_PART = re.compile(rf"({_NUMBER})([smhdw])")
_DURATION = re.compile(rf"{_NUMBER}|(?:{_NUMBER}[smhdw])+")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}


def parse_duration(text: str) -> float:
    """ "3d", "90m", "2h", "45s", "1h30m", "0" or a plain number of seconds -> seconds (float).

    A bare number is seconds only when it stands alone, so "1h30" is refused, not read as 1h 30s.
    """
    cleaned = str(text).strip().lower()
    if not _DURATION.fullmatch(cleaned):
        raise UsageError(f"{text!r} is not a duration: use a number with s, m, h, d or w, e.g. 3d")
    if cleaned.replace(".", "", 1).isdigit():  # a bare number of seconds
        return float(cleaned)
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(cleaned))


def format_duration(seconds: float) -> str:
    """The shortest exact form parse_duration reads back: 259200 -> "3d", 5400 -> "90m"."""
    if seconds == 0:
        return "0"
    for unit in ("w", "d", "h", "m"):
        count = seconds / _UNIT_SECONDS[unit]
        if count == int(count):
            return f"{int(count)}{unit}"
    text = repr(float(seconds))
    if "e" in text:  # parse_duration reads no exponent
        text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"{text}s"


# --- one converter per option, used for flags, environment and file alike ----------------------
#
# A converter gets the raw value (a str from a flag or the environment, any TOML value from the
# file) and returns the typed value or raises ValueError with a short reason.


def _text(raw: object, what: str) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be {what} in quotes, got {_toml_type(raw)}")
    return raw


def _toml_type(raw: object) -> str:
    if isinstance(raw, bool):
        return f"the boolean {str(raw).lower()}"
    if isinstance(raw, int | float):
        return f"the number {raw}"
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, list):
        return "an array"
    if isinstance(raw, str):
        return f"the string {raw!r}"
    return f"{type(raw).__name__} {raw!r}"


def _path(raw: object) -> Path:
    text = _text(raw, "a path").strip()
    if not text:
        raise ValueError("must not be empty")
    return Path(text).expanduser()


def _symbol(raw: object) -> str:
    text = _text(raw, "a trading pair").strip().lower()
    if not text.isascii() or not text.isalnum():
        raise ValueError("must be a trading pair of letters and digits, e.g. btcusdt")
    return text


def _url(schemes: tuple[str, ...]) -> Callable[[object], str]:
    def convert(raw: object) -> str:
        text = _text(raw, "a URL").strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(
                f"must be a {' or '.join(schemes)} URL, e.g. {schemes[-1]}://host:port"
            )
        try:
            parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        return text

    return convert


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in {"1", "true", "yes", "on"}:
            return True
        if word in {"0", "false", "no", "off"}:
            return False
        raise ValueError("must be true or false (1/0, yes/no, on/off)")
    raise ValueError(f"must be true or false, got {_toml_type(raw)}")


def _int(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"must be a whole number, got {_toml_type(raw)}")
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _float(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"must be a number, got {_toml_type(raw)}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _positive_int(raw: object) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _seed(raw: object) -> int:
    value = _int(raw)
    if not 0 <= value < 2**32:  # numpy's and TensorFlow's seed range
        raise ValueError(f"must be between 0 and {2**32 - 1}, got {value}")
    return value


def _positive_float(raw: object) -> float:
    value = _float(raw)
    if not value > 0:
        raise ValueError(f"must be greater than 0, got {value:g}")
    return value


def _fraction(raw: object) -> float:
    value = _float(raw)
    if not 0 < value < 1:
        raise ValueError(f"must be between 0 and 1 (exclusive), got {value:g}")
    return value


def _refresh(raw: object) -> float:
    value = _positive_float(raw)
    if value > 60:
        raise ValueError(f"must be at most 60 (repaints per second), got {value:g}")
    return value


def _duration(raw: object) -> float:
    if isinstance(raw, str):
        try:
            return parse_duration(raw)
        except UsageError:
            raise ValueError("must be a duration such as 3d, 12h, 90m, 45s or 0") from None
    value = _float(raw)  # a plain number of seconds (from the file)
    if value < 0:
        raise ValueError(f"must not be negative, got {value:g}")
    return value


def _theme(raw: object) -> str:
    name = _text(raw, "a theme name").strip()
    if name not in THEMES:
        raise ValueError(
            f"is not one of Textual's themes{_suggest(name, THEMES)}: " + ", ".join(THEMES)
        )
    return name


def _horizons(raw: object) -> tuple[int, ...]:
    """ "1,5,15,60" (or a TOML array, or one number) -> (1, 5, 15, 60): sorted, no repeats."""
    if isinstance(raw, list):
        parts: list[object] = list(raw)
    elif isinstance(raw, str):
        parts = [part for part in raw.replace(" ", "").split(",") if part]
    else:
        parts = [raw]
    if not parts:
        raise ValueError("must list at least one horizon in minutes, e.g. 1,5,15,60")
    values = sorted({_positive_int(part) for part in parts})
    if values[-1] > 1440:
        raise ValueError(f"must be at most 1440 minutes (a day) ahead, got {values[-1]}")
    return tuple(values)


def _choice(*choices: str) -> Callable[[object], str]:
    def convert(raw: object) -> str:
        word = _text(raw, "one of " + ", ".join(choices)).strip().lower()
        if word not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}{_suggest(word, choices)}")
        return word

    return convert


def _rules(raw: object) -> tuple[str, ...]:
    """Alert rules: a TOML array of strings, a list of flag values, or one string from the
    environment with rules separated by ';'."""
    if isinstance(raw, str):
        items: list[object] = [part for part in raw.split(";")]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ValueError(f"must be an array of rules in quotes, got {_toml_type(raw)}")
    rules = []
    for item in items:
        rule = " ".join(_text(item, "a rule").split())
        if rule:
            rules.append(parse_rule(rule).text)
    return tuple(rules)


def _command(raw: object) -> str:
    text = _text(raw, "a shell command").strip()
    if not text:
        raise ValueError("must not be empty")
    return text


CHARTS = ("candle", "line")
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
NOTIFY = ("bell", "osc", "off")


@dataclass(frozen=True)
class Option:
    """One setting: its Settings field, its flag, its env var, its config-file key."""

    name: str  # the Settings field
    convert: Callable[[object], object]
    help: str
    flag: str = ""  # default: --<name with dashes>

    @property
    def toml_types(self) -> tuple[type, ...]:
        """What a config file may hold for it: strings stay strings, numbers numbers."""
        if self.convert in (_bool,):
            return (bool,)
        if self.convert in (_positive_int, _seed):
            return (int,)
        if self.convert in (_positive_float, _fraction, _refresh):
            return (int, float)
        if self.convert is _duration:
            return (str, int, float)
        if self.convert is _horizons:
            return (str, int, list)
        if self.convert is _rules:
            return (list,)
        return (str,)

    @property
    def key(self) -> str:
        """The config-file key: the long flag's name (`stale-after`); `repair` for --no-repair."""
        return self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.key


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option("data", _path, "minute CSV (default data/bitcoin_price_stream.csv for btcusdt, "
               "data/<symbol>_price_stream.csv for another symbol, data/demo.csv with demo)"),
        Option("models", _path, "folder for the saved model (default models/, models/demo/ "
               "with demo)"),
        Option("symbol", _symbol, "trading pair, e.g. btcusdt (any case)"),
        Option("url", _url(("ws", "wss")), f"WebSocket base URL (default {DEFAULT_URL})"),
        Option("rest_url", _url(("http", "https")), f"REST base URL (default {DEFAULT_REST_URL})"),
        Option("demo", _bool, "collect from the built-in simulator, into files of its own"),
        Option("history", _duration, "history the app fills on launch (default 3d; 0 = off)"),
        Option("theme", _theme, f"Textual theme (default {DEFAULT_THEME})"),
        Option("refresh", _refresh, "how often a new price may repaint, per second (default 10)"),
        Option("window", _positive_int, "input minutes per window (default 60)"),
        Option("horizons", _horizons, "minutes ahead to forecast, comma-separated "
               "(default 1,5,15,60; --horizon N for one)"),
        Option("interval", _fraction, "prediction interval's nominal coverage (default 0.8)"),
        Option("stale_after", _positive_float, "reconnect when nothing arrived for this many "
               "seconds (default 30)"),
        Option("repair", _bool, "fetch missed trades over REST (default true)", flag="--no-repair"),
        Option("max_fill", _duration, "how far back a start fills a gap (default 3d)"),
        Option("minutes", _positive_int, "collect: exit after N minutes are written"),
        Option("epochs", _positive_int, "training epochs (default 50)"),
        Option("batch_size", _positive_int, "training batch size (default 256)"),
        Option("test_fraction", _fraction, "last share of windows held out (default 0.2)"),
        Option("seed", _seed, "random seed for a repeatable run"),
        Option("chart", _choice(*CHARTS), "market chart: candle or line (default candle)"),
        Option("timeframe", _choice(*TIMEFRAMES), "market chart's first timeframe: "
               + ", ".join(TIMEFRAMES) + " (default 1m)"),
        Option("utc", _bool, "show times in UTC instead of local time"),
        Option("alerts", _rules, "price alert rule, repeatable: 'above P', 'below P', "
               "'move X% N' (e.g. move 1% 15m), 'band'", flag="--alert"),
        Option("notify", _choice(*NOTIFY), "how an alert shows: bell, osc (the bell and a "
               "desktop notification over OSC 777/9) or off (default osc)"),
        Option("on_alert", _command, "collect: a shell command run once per alert firing"),
    )
}  # fmt: skip
CONFIG_ENV = ENV_PREFIX + "CONFIG"
# BTC_TUI_* variables that are not settings but are read elsewhere (serve's token)
OTHER_VARIABLES = frozenset({CONFIG_ENV, ENV_PREFIX + "TOKEN"})


def _suggest(word: str, choices: object) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)  # type: ignore[call-overload]
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- the config file ---------------------------------------------------------------------------


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
                raise UsageError(f"{where}: 'keys' must be a table ([keys]), got {_toml_type(raw)}")
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
            raise UsageError(f"{where}: unknown key {key!r}{_suggest(key, known)}")
        wanted = option.toml_types
        if not isinstance(raw, wanted) or (isinstance(raw, bool) and bool not in wanted):
            kind = {bool: "true or false", int: "a whole number", float: "a number"}
            expected = " or ".join(kind.get(t, "a string in quotes") for t in wanted)
            expected = expected.replace("a whole number or a number", "a number")
            raise UsageError(f"{where}: {key} must be {expected}, got {_toml_type(raw)}")
        try:
            values[option.name] = option.convert(raw)
        except ValueError as exc:
            raise UsageError(f"{where}: {key} {exc}") from None
        if line:
            lines[option.name] = line
    for binding in keys:
        if line := line_of.get(("keys", binding)):
            lines[f"keys.{binding}"] = line
    return ConfigFile(path, True, values, MappingProxyType(keys), lines, serve_token)


def _read_serve(
    raw: object, path: Path, where: str, line_of: dict[tuple[str, str], int]
) -> str | None:
    """The [serve] table: only `token`, a non-empty string."""
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: 'serve' must be a table ([serve]), got {_toml_type(raw)}")
    token = None
    for key, value in raw.items():
        line = line_of.get(("serve", key))
        at = f"{path} line {line}" if line else str(path)
        if key != "token":
            raise UsageError(f"{at}: unknown key serve.{key}{_suggest(key, ['token'])}")
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
                f"{_suggest(binding, DEFAULT_KEYS)}; ids: {', '.join(DEFAULT_KEYS)}"
            )
        if not isinstance(raw, str):
            raise UsageError(
                f'{where(binding)}: keys.{binding} must be keys in quotes such as "ctrl+t,f5", '
                f"got {_toml_type(raw)}"
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


# --- resolving: flags > environment > file > defaults --------------------------------------------

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


def resolve(
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    *,
    read_file: bool = True,
) -> Resolved:
    """Settings from flags > BTC_TUI_* environment > config file > defaults, all validated.

    `flags` maps Settings field names to what the user typed (strings; booleans for switches),
    plus `config` for --config. `config_path` is the default config file (None: platformdirs').
    """
    flags = dict(flags or {})
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    where: dict[str, str] = {}
    warnings: list[str] = []

    config_file: ConfigFile | None = None
    if read_file:
        chosen, required = config_file_path(flags, env, config_path)
        config_file = read_config(chosen, required=required)
        for name, value in config_file.values.items():
            values[name], sources[name], where[name] = value, "file", config_file.where(name)
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in OTHER_VARIABLES:
            continue
        field_name = name[len(ENV_PREFIX) :].lower()
        option = OPTIONS.get(field_name)
        if option is None:
            known = [o.env for o in OPTIONS.values()] + [CONFIG_ENV]
            warnings.append(f"{name} is not a btc-tui setting{_suggest(name, known)}; ignored")
            continue
        try:
            values[field_name] = option.convert(raw)
        except ValueError as exc:
            raise UsageError(f"{name}={raw!r}: {exc}") from None
        sources[field_name], where[field_name] = "env", name

    for field_name, raw in flags.items():
        if field_name == "config" or raw is None:
            continue
        option = OPTIONS.get(field_name)
        if option is None:
            raise KeyError(f"no such setting: {field_name}")  # a programming error, not the user's
        try:
            values[field_name] = raw if isinstance(raw, bool) else option.convert(raw)
        except ValueError as exc:
            shown = "" if option.name == "repair" else f" {raw}"
            raise UsageError(f"{option.flag_name}{shown}: {exc}") from None
        sources[field_name], where[field_name] = "flag", option.flag_name

    # Simulated minutes never mix with real ones: `--demo` must not write into a real file named
    # less explicitly (the config file, or the environment when --demo is a flag). A data file of
    # another symbol needs no such rule: the store refuses to append one symbol to another's file.
    symbol = str(values.get("symbol", DEFAULT_SYMBOL))
    demo = bool(values.get("demo", False))
    defaults = {"data": default_data(symbol, demo), "models": default_models(demo)}
    for name, default in defaults.items():
        if demo and name in values and SOURCE_RANK[sources[name]] < SOURCE_RANK[sources["demo"]]:
            warnings.append(
                f"{where[name]} sets {name} = {values[name]}, ignored with {where['demo']}: "
                f"the demo uses {default}"
            )
            del values[name], sources[name], where[name]
        values.setdefault(name, default)

    if config_file is not None:
        values["config"] = config_file.path
        values["keys"] = config_file.keys
        if config_file.keys:
            sources["keys"], where["keys"] = "file", str(config_file.path)
    for f in fields(Settings):
        sources.setdefault(f.name, "default")
        where.setdefault(f.name, "default")
    return Resolved(
        Settings(**values),  # type: ignore[arg-type]
        MappingProxyType(sources),
        MappingProxyType(where),
        config_file,
        tuple(warnings),
    )


def settings_from(
    overrides: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then `BTC_TUI_*` environment variables, then explicit (non-None) overrides.

    Kept for tests and benchmarks: it reads no config file, so a user's own file never changes
    what they measure. Overrides may be typed values.
    """
    flags = {name: _as_flag(value) for name, value in overrides.items() if value is not None}
    return resolve(flags, environ, read_file=False).settings


def _as_flag(value: object) -> object:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, tuple | list):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return repr(value) if isinstance(value, float) else str(value)


# --- remembering the theme ---------------------------------------------------------------------

_THEME_LINE = re.compile(r"""^\s*(theme|"theme"|'theme')\s*=""")
_COMMENTED_THEME_LINE = re.compile(r"""^\s*#\s*theme\s*=""")
_TABLE_LINE = re.compile(r"^\s*\[")


def remember_theme(settings: Settings, name: str) -> None:
    """Set `theme = "<name>"` in the config file, keeping every other line and comment.

    Does nothing for Settings without a config file (built directly, as in tests). Creates the
    file (and its folder) if missing. StorageError if it cannot be written; UsageError for a name
    that is not a Textual theme. The write is atomic: temp file + rename.
    """
    path = settings.config
    if path is None:
        return
    try:
        name = _theme(name)
    except ValueError as exc:
        raise UsageError(f"theme {name!r} {exc}") from None
    line = f'theme = "{name}"\n'
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read config file {path}: {exc}") from None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    # top-level keys must come before the first table, so look (and insert) only there
    first_table = next((i for i, ln in enumerate(lines) if _TABLE_LINE.match(ln)), len(lines))
    active = [i for i in range(first_table) if _THEME_LINE.match(lines[i])]
    # `config --init` writes `# theme = "textual-dark"`: the choice goes where the user looks
    commented = [i for i in range(first_table) if _COMMENTED_THEME_LINE.match(lines[i])]
    if active or commented:
        lines[(active or commented)[0]] = line
    else:
        lines.insert(first_table, line if first_table == len(lines) else line + "\n")
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text("".join(lines), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StorageError(f"cannot write config file {path}: {exc.strerror or exc}") from None


# --- writing a fresh, commented file --------------------------------------------------------------


def _toml_value(name: str, value: object) -> str:
    if name in ("history", "max_fill"):
        return f'"{format_duration(float(value))}"'  # type: ignore[arg-type]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(name, item) for item in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_template() -> str:
    """Every option, commented out at its default, with what it does: `btc-tui config --init`."""
    defaults = Settings()
    out = [
        "# btc-tui configuration. Each key is a long option's name without the dashes",
        "# (stale-after = 30 is --stale-after 30); `repair = false` is --no-repair.",
        "# Precedence: command-line flags > BTC_TUI_* environment variables > this file > defaults.",
        "# Remove the leading '# ' to set a value. `btc-tui config` shows what is in effect.",
        "",
    ]
    for option in OPTIONS.values():
        value = getattr(defaults, option.name)
        out.append(f"# {option.help}")
        examples = {
            "minutes": "60",
            "seed": "1",
            "on_alert": '"notify-send \\"$BTC_ALERT_RULE\\" \\"$BTC_ALERT_PRICE\\""',
            "alerts": '["above 100000", "move 1% 15m"]',
        }
        if value is None or value == ():
            out.append(f"# {option.key} = {examples[option.name]}")
        else:
            out.append(f"# {option.key} = {_toml_value(option.name, value)}")
        out.append("")
    out += [
        "[keys]",
        '# Remap the app\'s keys by binding id, in Textual\'s key format: "c", "C" (shift+c),',
        '# "ctrl+t", several keys as "ctrl+t,f5". A key may be bound to one action only.',
    ]
    out += [f'# {binding} = "{keys}"' for binding, keys in DEFAULT_KEYS.items()]
    out += [
        "",
        "[serve]",
        "# btc-tui serve: the token a browser must give as ?token=... (--token and",
        "# BTC_TUI_TOKEN win over it). Keep this file private if you set one.",
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str, flag: str) -> int:
    """ISO 8601 in UTC ("2024-08-08T23:55:00Z", "2024-08-08 23:55", "2024-08-08") -> ms."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{flag} {text!r}: not an ISO time such as 2024-08-08T23:55:00Z (UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # documented: times are UTC
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
