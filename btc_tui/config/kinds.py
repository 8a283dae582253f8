"""The types a setting can have: how text becomes a value, and how a value becomes text again.

A `Kind` bundles what one type of setting needs everywhere: its converter (flag text, a
`BTC_TUI_*` value or a TOML value -> the typed value, or ValueError with a short reason), the TOML
types a config file may hold for it, its metavar in `--help`, and `text` — the one function that
turns a typed value back into text its converter reads (for `btc-tui config`, `--help` defaults,
the environment `serve` hands its sessions, and the config template).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from btc_tui.config.names import THEMES
from btc_tui.errors import UsageError
from btc_tui.market.alerts import parse_rule

DAY = 86_400.0

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


def suggest(word: str, choices: object) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)  # type: ignore[call-overload]
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe_raw(raw: object) -> str:
    """What a config file held, in words: `the number 3`, `the string '30'`, `a table`."""
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


# --- converters: raw value (str from a flag or env, any TOML value) -> typed value ----------------


def _text(raw: object, what: str) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be {what} in quotes, got {describe_raw(raw)}")
    return raw


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


def _url(*schemes: str) -> Callable[[object], str]:
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
    raise ValueError(f"must be true or false, got {describe_raw(raw)}")


def _int(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"must be a whole number, got {describe_raw(raw)}")
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _float(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"must be a number, got {describe_raw(raw)}")
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
            f"is not one of Textual's themes{suggest(name, THEMES)}: " + ", ".join(THEMES)
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


def _choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    def convert(raw: object) -> str:
        word = _text(raw, "one of " + ", ".join(choices)).strip().lower()
        if word not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}{suggest(word, choices)}")
        return word

    return convert


RULE_SEPARATOR = ";"  # alert rules in one environment variable: "above 70000;move 1% 15m"


def alert_rule(text: str) -> str:
    """One alert rule as written, spaces normalised ("" for a blank one)."""
    return " ".join(text.split())


def _rules(raw: object) -> tuple[str, ...]:
    """Alert rules: a TOML array of strings, a list of flag values, or one string from the
    environment with rules separated by RULE_SEPARATOR."""
    if isinstance(raw, str):
        items: list[object] = list(raw.split(RULE_SEPARATOR))
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ValueError(f"must be an array of rules in quotes, got {describe_raw(raw)}")
    rules = (alert_rule(_text(item, "a rule")) for item in items)
    return tuple(parse_rule(rule).text for rule in rules if rule)


def _command(raw: object) -> str:
    text = _text(raw, "a shell command").strip()
    if not text:
        raise ValueError("must not be empty")
    return text


# --- value -> text ---------------------------------------------------------------------------


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))  # 30, not 30.0
        return repr(value)  # the shortest form that reads back exactly
    return str(value)


def _joined(separator: str) -> Callable[[object], str]:
    def text(value: object) -> str:
        return separator.join(_plain(item) for item in value)  # type: ignore[attr-defined]

    return text


def _duration_text(value: object) -> str:
    return format_duration(float(value))  # type: ignore[arg-type]


# --- the kinds ---------------------------------------------------------------------------------

STRING = (str,)
WHOLE = (int,)
NUMBER = (int, float)


@dataclass(frozen=True)
class Kind:
    """One type of setting: converter, TOML types, `--help` metavar, and value -> text."""

    convert: Callable[[object], object]
    toml: tuple[type, ...]  # what a config file may hold for it
    metavar: str | None  # None: a switch (no value on the command line)
    text: Callable[[object], str] = _plain  # a value -> text that `convert` reads back
    repeat: bool = False  # a flag given several times adds one item each time


PATH = Kind(_path, STRING, "PATH")
SYMBOL = Kind(_symbol, STRING, "PAIR")
WS_URL = Kind(_url("ws", "wss"), STRING, "WS_BASE")
HTTP_URL = Kind(_url("http", "https"), STRING, "REST_BASE")
SWITCH = Kind(_bool, (bool,), None)
DURATION = Kind(_duration, (str, *NUMBER), "DURATION", _duration_text)
THEME = Kind(_theme, STRING, "NAME")
HERTZ = Kind(_refresh, NUMBER, "HZ")
COUNT = Kind(_positive_int, WHOLE, "N")
SEED = Kind(_seed, WHOLE, "N")
SECONDS = Kind(_positive_float, NUMBER, "SECONDS")
FRACTION = Kind(_fraction, NUMBER, "FRACTION")
HORIZONS = Kind(_horizons, (str, int, list), "N,N,...", _joined(","))
RULES = Kind(_rules, (list,), "RULE", _joined(RULE_SEPARATOR), repeat=True)
COMMAND = Kind(_command, STRING, "CMD")


def choice(*choices: str) -> Kind:
    """A word from a fixed list (`--chart candle|line`)."""
    return Kind(_choice(choices), STRING, "|".join(choices))
