"""Settings: defaults, BTC_TUI_* environment variables, flags, and the demo's separate file."""

from __future__ import annotations

from pathlib import Path

import pytest

from btc_tui.cli import main
from btc_tui.config import DEMO_DATA, Settings, settings_from
from btc_tui.errors import UsageError


def test_defaults_match_the_documented_contract():
    s = settings_from({}, environ={})
    assert s.data == Path("data/bitcoin_price_stream.csv")
    assert s.models == Path("models")
    assert s.url == "wss://stream.binance.com:9443"
    assert (s.window, s.horizon, s.epochs, s.test_fraction) == (60, 1, 50, 0.2)
    assert s.model_path == Path("models/btc_lstm.keras")
    assert s.metadata_path == Path("models/btc_lstm.json")


def test_flags_override_environment_which_overrides_defaults():
    env = {"BTC_TUI_EPOCHS": "7", "BTC_TUI_DATA": "/tmp/env.csv", "BTC_TUI_STALE_AFTER": "2.5"}
    s = settings_from({"epochs": 3, "data": None}, environ=env)
    assert (s.epochs, s.data, s.stale_after) == (3, Path("/tmp/env.csv"), 2.5)


def test_demo_gets_its_own_file_unless_one_is_given():
    demo = settings_from({"demo": True}, environ={})
    assert (demo.data, demo.models) == (DEMO_DATA, Path("models/demo"))
    assert settings_from({"demo": True, "data": "x.csv"}, environ={}).data == Path("x.csv")


def test_bad_environment_value_is_a_usage_error():
    with pytest.raises(UsageError, match="BTC_TUI_EPOCHS"):
        settings_from({}, environ={"BTC_TUI_EPOCHS": "many"})


def test_settings_are_immutable_and_copyable():
    s = Settings()
    assert s.with_changes(window=10).window == 10 and s.window == 60


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "0"],
        ["train", "--test-fraction", "1.5"],
        ["collect", "--minutes", "x"],
    ],
)
def test_invalid_flags_exit_2_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "btc-tui" in capsys.readouterr().err


def test_bad_environment_exits_2_without_traceback(monkeypatch, capsys):
    monkeypatch.setenv("BTC_TUI_WINDOW", "wide")
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert "BTC_TUI_WINDOW" in err and "Traceback" not in err
