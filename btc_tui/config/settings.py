"""`Settings`, and the option table: each setting declared once, as a field of `Settings`.

A field declared with `setting(default, KIND, help, group=...)` is an option: its name is the
field's, its default the field's, its type, converter, TOML types and metavar come from its
`Kind`, its flag is `--<name-with-dashes>`, its variable `BTC_TUI_<NAME>`, its config-file key the
flag's name without dashes. `OPTIONS` is read from the fields, and from it come the parser, the
environment, the config file's validation, `btc-tui config`, `config --init` and `--help`.

Groups say which commands take an option (a command lists the groups it takes):
- `app`: everything that chooses the data and the app (every command but `simulate`);
- `collector`, `training`: the collector's and the trainer's knobs;
- `collect`: options that mean something only to a headless run (`--minutes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from btc_tui.config import kinds as k
from btc_tui.config.kinds import DAY, Kind

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
CONFIG_ENV = ENV_PREFIX + "CONFIG"
TOKEN_ENV = ENV_PREFIX + "TOKEN"  # `btc-tui serve`'s token: a secret, so no Settings field
# BTC_TUI_* variables that are not settings, and the flag each stands for (shown in --help)
OTHER_VARIABLES: Mapping[str, str] = MappingProxyType(
    {CONFIG_ENV: "--config", TOKEN_ENV: "serve --token"}
)

CHARTS = ("candle", "line")
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
NOTIFY = ("bell", "osc", "off")

APP, COLLECTOR, TRAINING, COLLECT = "app", "collector", "training", "collect"


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
class Option:
    """One setting as the user spells it. `name` and `default` come from its Settings field."""

    kind: Kind
    help: str  # what it does; "(default …)" is added from the default, never written here
    group: str
    flags: tuple[str, ...] = ()  # default: (--<key>,); more are aliases (--horizon)
    metavar: str | None = None  # default: the kind's
    flag_help: str | None = None  # for a switch that turns a default-on setting off
    name: str = ""
    default: Any = None

    @property
    def key(self) -> str:
        """The config-file key: the long flag's name (`stale-after`); `repair` for --no-repair."""
        return self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag_name(self) -> str:
        return self.flags[0] if self.flags else "--" + self.key

    @property
    def convert(self) -> Any:
        return self.kind.convert

    @property
    def toml_types(self) -> tuple[type, ...]:
        return self.kind.toml

    def text(self, value: object) -> str:
        """The value as text its converter reads back: `3d`, `1,5,15,60`, `true`, `0.8`."""
        return self.kind.text(value)

    def toml_value(self, value: object) -> object:
        """The value as the config file holds it (a TOML array, number, boolean or string)."""
        if isinstance(value, tuple) and list in self.kind.toml:
            return [item if type(item) in self.kind.toml else str(item) for item in value]
        if str in self.kind.toml:
            return self.text(value)  # durations as "3d", paths as strings
        return value  # a number or a boolean

    @property
    def help_text(self) -> str:
        """The help with the default derived from the declaration (none for off/unset/empty)."""
        if self.default is None or self.default is False or self.default == ():
            return self.help
        return f"{self.help} (default {self.text(self.default)})"


def setting(default: Any, kind: Kind, help: str, group: str, **spelling: Any) -> Any:
    """A Settings field that is an option (see the module's docstring)."""
    return field(default=default, metadata={"option": Option(kind, help, group, **spelling)})


@dataclass(frozen=True)
class Settings:
    # fmt: off
    data: Path = setting(DEFAULT_DATA, k.PATH, "minute CSV; data/<symbol>_price_stream.csv for "
                         "another symbol, data/demo.csv with demo", APP, metavar="CSV")
    models: Path = setting(DEFAULT_MODELS, k.PATH, "folder for the saved model; models/demo/ "
                           "with demo", APP, metavar="DIR")
    symbol: str = setting(DEFAULT_SYMBOL, k.SYMBOL, "trading pair, any case", APP)
    url: str = setting(DEFAULT_URL, k.WS_URL, "WebSocket base URL", APP)
    rest_url: str = setting(DEFAULT_REST_URL, k.HTTP_URL, "REST base URL", APP)
    demo: bool = setting(False, k.SWITCH, "collect from the built-in simulator, into files of "
                         "its own", APP)
    history: float = setting(3 * DAY, k.DURATION, "history the app fills on launch; 0 = off", APP)
    theme: str = setting(DEFAULT_THEME, k.THEME, "Textual theme", APP)
    refresh: float = setting(10.0, k.HERTZ, "how often a new price may repaint, per second", APP)
    # forecasting
    window: int = setting(60, k.COUNT, "input minutes per window", APP)
    # minutes ahead; a one-horizon model predicts the first (`horizon`)
    horizons: tuple[int, ...] = setting((1, 5, 15, 60), k.HORIZONS, "minutes ahead to forecast, "
                                        "comma-separated; --horizon N for one", APP,
                                        flags=("--horizons", "--horizon"))
    interval: float = setting(0.8, k.FRACTION, "prediction interval's nominal coverage", APP)
    # collector
    stale_after: float = setting(30.0, k.SECONDS, "reconnect when nothing arrived for this "
                                 "many seconds", COLLECTOR)
    repair: bool = setting(True, k.SWITCH, "fetch missed trades over REST", COLLECTOR,
                           flags=("--no-repair",),
                           flag_help="do not fetch missed trades over REST; report the holes only")
    max_fill: float = setting(3 * DAY, k.DURATION, "how far back a start fills a gap", COLLECTOR)
    minutes: int | None = setting(None, k.COUNT, "collect: exit after N minutes are written",
                                  COLLECT)
    # training
    epochs: int = setting(50, k.COUNT, "training epochs", TRAINING)
    # 256: ~2.7x the seed's 32 in windows/s (benchmarks/train_speed.py)
    batch_size: int = setting(256, k.COUNT, "training batch size", TRAINING)
    test_fraction: float = setting(0.2, k.FRACTION, "last share of windows held out", TRAINING)
    seed: int | None = setting(None, k.SEED, "random seed for a repeatable run", TRAINING)
    # the market chart
    chart: str = setting("candle", k.choice(*CHARTS), "market chart", APP)
    timeframe: str = setting("1m", k.choice(*TIMEFRAMES), "market chart's first timeframe", APP)
    utc: bool = setting(False, k.SWITCH, "show times in UTC instead of local time", APP)
    # price alerts: rules as written ("above 70000", "move 1% 15m", "band")
    alerts: tuple[str, ...] = setting((), k.RULES, "price alert rule, repeatable: 'above P', "
                                      "'below P', 'move X% N' (e.g. move 1% 15m), 'band'", APP,
                                      flags=("--alert",))
    notify: str = setting("osc", k.choice(*NOTIFY), "how an alert shows: bell, osc (the bell "
                          "and a desktop notification over OSC 777/9) or off", APP)
    on_alert: str | None = setting(None, k.COMMAND, "collect: a shell command run once per "
                                   "alert firing", COLLECTOR)
    # fmt: on
    # not options: where they come from is the config file itself
    config: Path | None = None  # the config file in effect (it may not exist); None: no file
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


# fmt: off
OPTIONS: Mapping[str, Option] = MappingProxyType({
    f.name: replace(f.metadata["option"], name=f.name, default=f.default)
    for f in fields(Settings)
    if "option" in f.metadata
})
# fmt: on
