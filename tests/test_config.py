"""Settings: defaults, BTC_TUI_* variables, the config file, and one validation for all three."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from btc_tui.cli import parse
from btc_tui.config import (
    DEFAULT_KEYS,
    DEMO_DATA,
    OPTIONS,
    THEMES,
    Settings,
    config_template,
    default_data,
    format_duration,
    parse_duration,
    read_config,
    remember_theme,
    resolve,
    settings_from,
    write_config_template,
)
from btc_tui.errors import UsageError

# --- defaults and the contract -------------------------------------------------------------------


def test_defaults_match_the_documented_contract():
    s = settings_from({}, environ={})
    assert s.data == Path("data/bitcoin_price_stream.csv")
    assert s.models == Path("models")
    assert s.url == "wss://stream.binance.com:9443"
    assert s.rest_url == "https://api.binance.com"
    assert (s.window, s.horizon, s.epochs, s.test_fraction, s.interval) == (60, 1, 50, 0.2, 0.8)
    assert (s.repair, s.max_fill, s.history, s.theme) == (True, 259200.0, 259200.0, "textual-dark")
    assert s.model_path == Path("models/btc_lstm.keras")
    assert s.metadata_path == Path("models/btc_lstm.json")
    assert s.data_is_default and dict(s.keys) == {} and s.config is None


def test_settings_built_directly_keep_working():
    s = Settings(data=Path("x.csv"), url="ws://127.0.0.1:9")
    assert (s.data, s.url, s.symbol) == (Path("x.csv"), "ws://127.0.0.1:9", "btcusdt")
    assert not s.data_is_default
    assert s.with_changes(window=10).window == 10 and s.window == 60


@pytest.mark.parametrize(
    ("symbol", "demo", "expected"),
    [
        ("btcusdt", False, "data/bitcoin_price_stream.csv"),
        ("ethusdt", False, "data/ethusdt_price_stream.csv"),
        ("btcusdt", True, "data/demo.csv"),
        ("ethusdt", True, "data/demo_ethusdt.csv"),
    ],
)
def test_the_default_data_file_depends_on_symbol_and_demo(symbol, demo, expected):
    assert default_data(symbol, demo) == Path(expected)
    flags = {"symbol": symbol.upper(), "demo": demo}
    s = resolve(flags, environ={}, read_file=False).settings
    assert (s.data, s.symbol, s.data_is_default) == (Path(expected), symbol, True)
    assert s.models == (Path("models/demo") if demo else Path("models"))


def test_demo_keeps_a_data_file_given_as_explicitly():
    assert settings_from({"demo": True, "data": "x.csv"}, environ={}).data == Path("x.csv")
    both_env = settings_from({}, environ={"BTC_TUI_DEMO": "1", "BTC_TUI_DATA": "x.csv"})
    assert both_env.data == Path("x.csv")


def test_demo_flag_never_writes_into_a_real_file_named_less_explicitly(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('data = "real.csv"\nmodels = "real-models"\n')
    resolved = resolve({"demo": True}, environ={"BTC_TUI_DATA": "env.csv"}, config_path=config)
    assert (resolved.settings.data, resolved.settings.models) == (DEMO_DATA, Path("models/demo"))
    assert any("env.csv" in w and "data/demo.csv" in w for w in resolved.warnings)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3d", 259200.0), ("90m", 5400.0), ("2h", 7200.0), ("45s", 45.0), ("0", 0.0),
     ("1h30m", 5400.0), ("1.5h", 5400.0), ("120", 120.0), ("1w", 604800.0)],
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [0.0, 45.0, 45.5, 5400.0, 259200.0, 604800.0, 1e-7, 1e17])
def test_format_duration_reads_back_exactly(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=0, abs=1e-6)


@pytest.mark.parametrize("text", ["", "3x", "d", "-1d", "3 days", "1h 30", "1h30", "nan", "1.5.2h"])
def test_parse_duration_refuses_garbage(text):
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration(text)


def test_theme_names_are_textuals_builtin_themes():
    from textual.theme import BUILTIN_THEMES

    assert set(THEMES) == set(BUILTIN_THEMES)


def test_key_binding_ids_and_defaults_are_the_apps():
    from textual.binding import Binding

    from btc_tui.ui.app import BtcTuiApp

    app_keys = {b.id: b.key for b in BtcTuiApp.BINDINGS if isinstance(b, Binding) and b.id}
    assert dict(DEFAULT_KEYS) == app_keys


# --- the environment: the same validation as flags --------------------------------------------


def test_flags_override_environment_which_overrides_defaults():
    env = {"BTC_TUI_EPOCHS": "7", "BTC_TUI_DATA": "/tmp/env.csv", "BTC_TUI_STALE_AFTER": "2.5"}
    s = settings_from({"epochs": 3, "data": None}, environ=env)
    assert (s.epochs, s.data, s.stale_after) == (3, Path("/tmp/env.csv"), 2.5)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("BTC_TUI_WINDOW", "0", "at least 1"),
        ("BTC_TUI_EPOCHS", "many", "whole number"),
        ("BTC_TUI_STALE_AFTER", "-1", "greater than 0"),
        ("BTC_TUI_STALE_AFTER", "inf", "finite"),
        ("BTC_TUI_INTERVAL", "1", "between 0 and 1"),
        ("BTC_TUI_TEST_FRACTION", "0", "between 0 and 1"),
        ("BTC_TUI_MAX_FILL", "3 days", "duration"),
        ("BTC_TUI_URL", "https://stream.binance.com", "ws or wss"),
        ("BTC_TUI_REST_URL", "wss://api.binance.com", "http or https"),
        ("BTC_TUI_SYMBOL", "btc/usdt", "letters and digits"),
        ("BTC_TUI_DEMO", "maybe", "true or false"),
        ("BTC_TUI_THEME", "drakula", "dracula"),
        ("BTC_TUI_SEED", "-3", "between 0"),
    ],
)
def test_bad_environment_value_is_a_usage_error_naming_the_variable(name, value, reason):
    with pytest.raises(UsageError) as info:
        settings_from({}, environ={name: value})
    assert name in str(info.value) and reason in str(info.value)


def test_the_same_value_is_refused_as_a_flag_naming_the_flag():
    with pytest.raises(UsageError, match=r"--stale-after -1: must be greater than 0"):
        resolve({"stale_after": "-1"}, environ={}, read_file=False)


def test_symbol_is_lower_cased_from_every_source(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('symbol = "ETHUSDT"\n')
    assert resolve({}, environ={}, config_path=config).settings.symbol == "ethusdt"
    assert settings_from({}, environ={"BTC_TUI_SYMBOL": "SolUsdt"}).symbol == "solusdt"


def test_an_unknown_variable_is_warned_about_not_silently_ignored():
    resolved = resolve({}, environ={"BTC_TUI_WINDWO": "3"}, read_file=False)
    assert resolved.settings.window == 60
    assert resolved.warnings == (
        "BTC_TUI_WINDWO is not a btc-tui setting (did you mean 'BTC_TUI_WINDOW'?); ignored",
    )


# --- the config file ----------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_is_flag_then_env_then_file_then_default(tmp_path):
    path = write(tmp_path, "window = 10\nhorizons = 2\nepochs = 3\n")
    env = {"BTC_TUI_HORIZONS": "4,1", "BTC_TUI_EPOCHS": "5"}
    resolved = resolve({"epochs": "6"}, environ=env, config_path=path)
    s = resolved.settings
    assert (s.window, s.horizons, s.epochs, s.batch_size) == (10, (1, 4), 6, 256)
    assert {k: resolved.sources[k] for k in ("window", "horizons", "epochs", "batch_size")} == {
        "window": "file",
        "horizons": "env",
        "epochs": "flag",
        "batch_size": "default",
    }
    assert s.config == path


def test_every_option_has_a_file_key_and_types_are_kept(tmp_path):
    path = write(
        tmp_path,
        'data = "d.csv"\nmodels = "m"\nsymbol = "ETHUSDT"\nurl = "ws://127.0.0.1:9"\n'
        'rest-url = "http://127.0.0.1:8"\ndemo = false\nhistory = "12h"\ntheme = "nord"\nrefresh = 4\n'
        "window = 30\nhorizons = [2, 1]\ninterval = 0.9\nstale-after = 5\nrepair = false\n"
        "max-fill = 3600\nminutes = 7\nepochs = 4\nbatch-size = 64\ntest-fraction = 0.25\n"
        'seed = 11\nchart = "line"\ntimeframe = "1h"\nutc = true\nalerts = ["above 1"]\n'
        'notify = "off"\non-alert = "true"\n',
    )
    config = read_config(path, required=True)
    assert set(config.values) == set(OPTIONS)
    s = resolve({}, environ={}, config_path=path).settings
    assert (s.data, s.models, s.symbol, s.url, s.rest_url) == (
        Path("d.csv"), Path("m"), "ethusdt", "ws://127.0.0.1:9", "http://127.0.0.1:8",
    )  # fmt: skip
    assert (s.demo, s.history, s.theme, s.window, s.horizons, s.interval) == (
        False, 43200.0, "nord", 30, (1, 2), 0.9,
    )  # fmt: skip
    assert (s.stale_after, s.repair, s.max_fill, s.minutes, s.epochs) == (5.0, False, 3600.0, 7, 4)
    assert (s.batch_size, s.test_fraction, s.seed, s.refresh) == (64, 0.25, 11, 4.0)
    assert (s.chart, s.timeframe, s.utc, s.alerts, s.notify, s.on_alert) == (
        "line", "1h", True, ("above 1",), "off", "true",
    )  # fmt: skip


def test_keys_table_remaps_bindings_with_spaces_removed(tmp_path):
    path = write(tmp_path, '[keys]\ntrain = "T, f5"\ncollect = "ctrl+k"\n')
    s = resolve({}, environ={}, config_path=path).settings
    assert dict(s.keys) == {"train": "T,f5", "collect": "ctrl+k"}


def test_swapping_two_keys_is_not_a_clash(tmp_path):
    path = write(tmp_path, '[keys]\ntrain = "c"\ncollect = "t"\n')
    assert dict(resolve({}, environ={}, config_path=path).settings.keys) == {
        "train": "c",
        "collect": "t",
    }


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        resolve({}, environ={}, config_path=path)
    message = str(info.value)
    assert str(path) in message
    return message[len(str(path)) :]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # TOML syntax: line and column from the parser
        ("window = 30\nepochs = \n", " line 2, column 10: not valid TOML"),
        ('window = 30\n[keys\ntrain = "t"\n', " line 2, column"),
        # unknown keys: named, with the nearest known one
        ("\n\nwindw = 30\n", " line 3: unknown key 'windw' (did you mean 'window'?)"),
        ("stale_after = 3\n", " line 1: unknown key 'stale_after' (did you mean 'stale-after'?)"),
        ("\n[other]\nx = 1\n", " line 2: unknown key 'other'"),
        ('[keys]\n\ntrian = "c"\n', " line 3: unknown key binding id 'trian' in [keys] "
                                    "(did you mean 'train'?)"),
        # wrong types
        ('window = "30"\n', " line 1: window must be a whole number, got the string '30'"),
        ("interval = true\n", " line 1: interval must be a number, got the boolean true"),
        ("data = 3\n", " line 1: data must be a string in quotes, got the number 3"),
        ("demo = 1\n", " line 1: demo must be true or false, got the number 1"),
        ('alerts = "above 1"\n', " line 1: alerts must be an array, got the string 'above 1'"),
        ("[keys]\ntrain = 5\n", " line 2: keys.train must be keys in quotes"),
        ("keys = 3\n", " line 1: 'keys' must be a table"),
        # values refused by the same rules as flags and env
        ("window = 0\n", " line 1: window must be at least 1, got 0"),
        ("interval = 1.5\n", " line 1: interval must be between 0 and 1"),
        ('history = "3x"\n', " line 1: history must be a duration"),
        ('url = "http://x"\n', " line 1: url must be a ws or wss URL"),
        ('[keys]\ntrain = "ctrl t"\n', " line 2: keys.train = 'ctrl t': 'ctrl t' is not a key"),
        # a key bound twice: against a default, and between two remapped bindings
        ('[keys]\ntrain = "c"\n', " line 2: key 'c' is bound to both collect (its default) and "
                                  "train"),
        ('[keys]\ntrain = "k"\n\nload-model = "z,k"\n', " line 4: key 'k' is bound to both train "
                                                        "and load-model"),
    ],
)  # fmt: skip
def test_every_config_file_error_names_the_line_and_key(tmp_path, text, expected):
    assert error_for(tmp_path, text).startswith(expected)


def test_a_missing_default_file_is_fine_but_a_named_one_is_an_error(tmp_path):
    absent = tmp_path / "absent.toml"
    resolved = resolve({}, environ={}, config_path=absent)
    assert resolved.settings == Settings(config=absent) and not resolved.config.exists
    with pytest.raises(UsageError, match=r"config file .*absent\.toml does not exist"):
        resolve({"config": str(absent)}, environ={})
    with pytest.raises(UsageError, match="does not exist"):
        resolve({}, environ={"BTC_TUI_CONFIG": str(absent)})


def test_config_flag_and_variable_choose_the_file(tmp_path):
    default = write(tmp_path, "window = 11\n")
    other = tmp_path / "other.toml"
    other.write_text("window = 22\n")
    third = tmp_path / "third.toml"
    third.write_text("window = 33\n")
    assert resolve({}, environ={}, config_path=default).settings.window == 11
    env = {"BTC_TUI_CONFIG": str(other)}
    assert resolve({}, environ=env, config_path=default).settings.window == 22
    flags = {"config": str(third)}
    assert resolve(flags, environ=env, config_path=default).settings.window == 33


# --- the template (config --init) and remembering the theme ---------------------------------------


def uncommented(template: str) -> str:
    """The template with every `# key = value` line made active."""
    return re.sub(r"(?m)^# ([a-z-]+ = .*)$", r"\1", template)


def test_the_template_names_every_option_and_parses_back_to_the_defaults(tmp_path):
    template = config_template()
    assert tomllib.loads(template) == {"keys": {}, "serve": {}}  # everything commented out
    active = uncommented(template)
    document = tomllib.loads(active)
    examples = ("minutes", "seed", "alerts", "on_alert")  # no default: shown with an example
    assert set(document) - {"keys", "serve", *(OPTIONS[n].key for n in examples)} == {
        o.key for o in OPTIONS.values() if o.name not in examples
    }
    assert document["keys"] == dict(DEFAULT_KEYS)
    assert document["serve"] == {"token": "a-long-random-secret"}  # the example, once active
    top, keys = active.split("[keys]")  # the `alerts` binding id in [keys] stays
    top = re.sub(r"(?m)^(minutes|seed|alerts|on-alert) = .*\n", "", top)
    path = write(tmp_path, top + "[keys]" + keys)
    resolved = resolve({}, environ={}, config_path=path)
    assert resolved.settings == Settings(config=path, keys=dict(DEFAULT_KEYS))
    assert resolved.config is not None and resolved.config.serve_token == "a-long-random-secret"
    assert all(resolved.sources[o] == "file" for o in OPTIONS if o not in examples)


def test_write_template_refuses_to_overwrite(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    write_config_template(path)
    assert path.read_text() == config_template()
    path.write_text("window = 5\n")
    with pytest.raises(UsageError, match="already exists"):
        write_config_template(path)
    assert path.read_text() == "window = 5\n"


def test_remember_theme_edits_one_line_and_keeps_the_rest(tmp_path):
    path = write(tmp_path, '# my settings\nwindow = 30  # short\ntheme = "nord"\n\n[keys]\n'
                           'train = "T"\n')  # fmt: skip
    settings = resolve({}, environ={}, config_path=path).settings
    remember_theme(settings, "dracula")
    assert path.read_text() == (
        '# my settings\nwindow = 30  # short\ntheme = "dracula"\n\n[keys]\ntrain = "T"\n'
    )
    assert resolve({}, environ={}, config_path=path).settings.theme == "dracula"


def test_remember_theme_adds_the_line_before_the_first_table(tmp_path):
    path = write(tmp_path, 'window = 30\n[keys]\ntrain = "T"\n')
    remember_theme(resolve({}, environ={}, config_path=path).settings, "nord")
    assert path.read_text() == 'window = 30\ntheme = "nord"\n\n[keys]\ntrain = "T"\n'
    s = resolve({}, environ={}, config_path=path).settings
    assert (s.theme, s.window, dict(s.keys)) == ("nord", 30, {"train": "T"})


def test_remember_theme_in_a_template_keeps_every_comment(tmp_path):
    path = tmp_path / "config.toml"
    write_config_template(path)
    remember_theme(Settings(config=path), "nord")
    text = path.read_text()
    # tomlkit adds the key after the last top-level line, before [keys]; every comment stays
    assert text == config_template().replace("\n\n[keys]", '\ntheme = "nord"\n\n[keys]', 1)
    assert resolve({}, environ={}, config_path=path).settings.theme == "nord"


def test_remember_theme_creates_the_file(tmp_path):
    path = tmp_path / "new" / "config.toml"
    remember_theme(Settings(config=path), "gruvbox")
    assert path.read_text() == 'theme = "gruvbox"\n'
    assert not list(path.parent.glob("*.tmp"))


def test_remember_theme_without_a_config_file_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    remember_theme(Settings(), "nord")
    assert list(tmp_path.iterdir()) == []


def test_remember_theme_refuses_an_unknown_theme(tmp_path):
    path = write(tmp_path, "window = 30\n")
    with pytest.raises(UsageError, match="drakula"):
        remember_theme(Settings(config=path), "drakula")
    assert path.read_text() == "window = 30\n"


def test_parse_reads_the_default_file_given_to_it(tmp_path):
    path = write(tmp_path, "window = 12\n")
    command, settings, _, _ = parse(["train"], environ={}, config_path=path)
    assert (command, settings.window, settings.config) == ("train", 12, path)
