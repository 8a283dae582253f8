"""The command line as a user types it: what each command receives, exit codes and messages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from btc_tui.cli import main, options_of, parse
from btc_tui.commands.serve import ServeArgs
from btc_tui.config import OPTIONS, Settings, config_template
from btc_tui.config.settings import APP

NO_FILE = Path("/nonexistent/btc-tui-test/config.toml")  # a default config file that is absent

# a valid value for every option, as typed on the command line
TYPED = {
    "data": "X.csv",
    "models": "M",
    "symbol": "ETHUSDT",
    "url": "ws://127.0.0.1:9",
    "rest_url": "http://127.0.0.1:8",
    "history": "12h",
    "theme": "nord",
    "refresh": "4",
    "window": "30",
    "horizons": "2",
    "interval": "0.9",
    "stale_after": "5",
    "max_fill": "1d",
    "epochs": "3",
    "batch_size": "64",
    "test_fraction": "0.3",
    "seed": "7",
    "chart": "line",
    "timeframe": "15m",
    "alerts": "above 70000",
    "notify": "off",
    "on_alert": "true",
}


# what each of TYPED (and each switch) means, typed: what a command must receive
EXPECTED = {
    "data": Path("X.csv"),
    "models": Path("M"),
    "symbol": "ethusdt",
    "url": "ws://127.0.0.1:9",
    "rest_url": "http://127.0.0.1:8",
    "demo": True,
    "history": 43200.0,
    "theme": "nord",
    "refresh": 4.0,
    "window": 30,
    "horizons": (2,),
    "interval": 0.9,
    "stale_after": 5.0,
    "repair": False,
    "max_fill": 86400.0,
    "epochs": 3,
    "batch_size": 64,
    "test_fraction": 0.3,
    "seed": 7,
    "chart": "line",
    "timeframe": "15m",
    "utc": True,
    "alerts": ("above 70000",),
    "notify": "off",
    "on_alert": "true",
}


def args_for(name: str) -> list[str]:
    option = OPTIONS[name]
    if name in ("demo", "utc"):
        return [option.flag_name]
    if name == "repair":
        return ["--no-repair"]
    return [option.flag_name, TYPED[name]]


def settings(argv: list[str], environ: dict[str, str] | None = None) -> tuple[str, Settings]:
    parsed = parse(argv, environ={} if environ is None else environ, config_path=NO_FILE)
    return parsed.command, parsed.settings


# --- an option means the same before or after the subcommand -----------------------------------


@pytest.mark.parametrize("name", options_of(APP))
@pytest.mark.parametrize("command", ["collect", "train", "backfill", "import", "check", "config"])
def test_shared_option_before_or_after_the_subcommand_is_the_same(command, name):
    rest = {"backfill": ["--since", "1h"], "import": ["dump.zip"]}.get(command, [])
    before = settings([*args_for(name), command, *rest])
    after = settings([command, *args_for(name), *rest])
    assert before == after == (command, before[1])
    assert getattr(before[1], name) == EXPECTED[name]  # not only equal, but what was typed
    assert before[1] != settings([command, *rest])[1], f"{name} had no effect"


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ("collect", ["stale_after", "repair", "max_fill"]),
        ("train", ["epochs", "batch_size", "test_fraction", "seed"]),
        ("config", ["stale_after", "repair", "epochs", "seed"]),
    ],
)
def test_command_options_also_work_before_the_subcommand(command, names):
    for name in names:
        before = settings([*args_for(name), command])
        assert before == settings([command, *args_for(name)])
        assert getattr(before[1], name) == EXPECTED[name]


def test_data_given_before_collect_is_the_file_collect_writes():
    # the seed's bug: `btc-tui --data X.csv collect` wrote the default CSV
    _, s = settings(["--data", "X.csv", "collect"])
    assert s.data == Path("X.csv") and not s.data_is_default


def test_every_setting_reaches_the_tui():
    argv = [a for name in OPTIONS if name != "minutes" for a in args_for(name)]
    command, s = settings(argv)
    assert command == "tui"
    assert (s.data, s.symbol, s.window, s.epochs, s.repair, s.history) == (
        Path("X.csv"), "ethusdt", 30, 3, False, 43200.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "data", "models"),
    [
        (["collect"], "data/bitcoin_price_stream.csv", "models"),
        (["--symbol", "ethusdt", "collect"], "data/ethusdt_price_stream.csv", "models"),
        (["collect", "--symbol", "ETHUSDT"], "data/ethusdt_price_stream.csv", "models"),
        (["--demo", "collect"], "data/demo.csv", "models/demo"),
        (["collect", "--demo"], "data/demo.csv", "models/demo"),
        (["--demo", "--symbol", "ethusdt"], "data/demo_ethusdt.csv", "models/demo"),
        (["--demo", "train", "--data", "mine.csv"], "mine.csv", "models/demo"),
    ],
)
def test_default_files_follow_symbol_and_demo(argv, data, models):
    _, s = settings(argv)
    assert (s.data, s.models) == (Path(data), Path(models))


# --- what each command receives ----------------------------------------------------------------


def test_collect_options():
    _, s, args, warnings = parse(
        ["collect", "--no-repair", "--stale-after", "5", "--minutes", "3", "--max-fill", "90m"],
        environ={},
        config_path=NO_FILE,
    )
    assert (s.repair, s.stale_after, s.minutes, s.max_fill) == (False, 5.0, 3, 5400.0)
    assert (args, warnings) == (None, ())


def test_train_options(tmp_path):
    argv = ["train", "--json", "--predictions", str(tmp_path / "p.csv"), "--interval", "0.9"]
    command, s, args, _ = parse(argv, environ={}, config_path=NO_FILE)
    assert (command, s.interval) == ("train", 0.9)
    assert (args.json_output, args.predictions) == (True, tmp_path / "p.csv")
    plain = parse(["train"], environ={}, config_path=NO_FILE).args
    assert (plain.json_output, plain.predictions) == (False, None)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("argv", "since", "start", "end"),
    [
        (["--since", "3d"], 259200.0, None, None),
        (["--start", "2024-08-08T23:55:00Z"], None, ms("2024-08-08T23:55:00"), None),
        (["--start", "2024-08-08", "--end", "2024-08-09T00:00"], None, ms("2024-08-08"),
         ms("2024-08-09")),
        (["--start", "2024-08-08T23:55:00+02:00"], None, ms("2024-08-08T21:55:00"), None),
        (["--start", "2024-08-08T23:55:00.123Z"], None, ms("2024-08-08T23:55:00") + 123, None),
    ],
)  # fmt: skip
def test_backfill_times(argv, since, start, end):
    args = parse(["backfill", *argv], environ={}, config_path=NO_FILE).args
    assert (args.since, args.start, args.end) == (since, start, end)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "3x"], "--since: '3x' is not a duration"),
        (["--since", "0"], "--since 0: must be longer than 0"),
        (["--start", "yesterday"], "--start 'yesterday': not an ISO time"),
        (["--start", "2024-08-09", "--end", "2024-08-08"], "is not after --start"),
        (["--since", "1d", "--end", "2024-08-08"], "--end needs --start"),
    ],
)
def test_bad_backfill_times_exit_2(argv, message, capsys):
    assert main(["backfill", *argv], environ={}, config_path=NO_FILE) == 2
    assert message in capsys.readouterr().err


def test_backfill_needs_since_or_start(capsys):
    with pytest.raises(SystemExit) as info:
        parse(["backfill"], environ={}, config_path=NO_FILE)
    assert info.value.code == 2
    assert "one of the arguments --since --start is required" in capsys.readouterr().err


def test_import_check_and_simulate_arguments():
    args = parse(["import", "a.zip", "b.csv"], environ={}, config_path=NO_FILE).args
    assert args.files == [Path("a.zip"), Path("b.csv")]
    assert parse(["check"], environ={}, config_path=NO_FILE).args.repair is False
    assert parse(["check", "--repair"], environ={}, config_path=NO_FILE).args.repair is True
    command, _, args, _ = parse(["simulate", "--history-minutes", "90", "--port", "0"], environ={})
    assert (command, args.history_minutes, args.port) == ("simulate", 90, 0)


def test_serve_arguments_and_app_options():
    argv = ["--demo", "serve", "--port", "0", "--token", "t0k", "--public", "--window", "30"]
    command, s, args, warnings = parse(argv, environ={}, config_path=NO_FILE)
    assert (command, s.demo, s.window, s.data) == ("serve", True, 30, Path("data/demo.csv"))
    assert (args, warnings) == (ServeArgs("127.0.0.1", 0, "t0k", True, 4), ())


def test_serve_token_variable_is_not_called_unknown():
    command, _, args, warnings = parse(
        ["serve"], environ={"BTC_TUI_TOKEN": "x"}, config_path=NO_FILE
    )
    assert (command, warnings, args.token) == ("serve", (), "x")


def test_serve_token_flag_then_variable_then_config_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('window = 30\n\n[serve]\ntoken = "from-file"\n')
    env = {"BTC_TUI_TOKEN": "from-env"}
    assert parse(["serve"], environ={}, config_path=path).args.token == "from-file"
    assert parse(["serve"], environ=env, config_path=path).args.token == "from-env"
    flag = parse(["serve", "--token", "from-flag"], environ=env, config_path=path)
    assert flag.args.token == "from-flag"
    assert parse(["serve"], environ={}, config_path=NO_FILE).args.token is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[serve]\ntokn = "x"\n', "line 2: unknown key serve.tokn (did you mean 'token'?)"),
        ("[serve]\ntoken = 5\n", "line 2: serve.token must be a non-empty string"),
        ('serve = "x"\n', "line 1: 'serve' must be a table ([serve])"),
    ],
)
def test_a_bad_serve_table_exits_2_naming_line_and_key(tmp_path, capsys, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert main(["serve"], environ={}, config_path=path) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--symbol", "ETHUSDT", "--seed", "5", "simulate"],
        ["simulate", "--symbol", "ethusdt", "--seed", "5"],
    ],
)
def test_simulate_symbol_and_seed_before_or_after(argv):
    settings = parse(argv, environ={}).settings
    assert (settings.symbol, settings.seed) == ("ethusdt", 5)


def test_simulate_defaults_and_validation(capsys):
    _, settings, args, _ = parse(["simulate"], environ={})
    assert (settings.symbol, settings.seed, args.history_minutes) == ("btcusdt", None, 4320)
    assert (args.host, args.port, args.rate, args.start_price) == ("127.0.0.1", 9443, 20.0, 60_000)
    assert main(["simulate", "--symbol", "btc/usdt"], environ={}) == 2
    assert "--symbol btc/usdt: must be a trading pair" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "argument --port: must be 0 to 65535, got 70000"),
        (["--start-price", "inf"], "argument --start-price: must be a number greater than 0"),
        (["--rate", "nan"], "argument --rate: must be a number greater than 0, got nan"),
        (["--history-minutes", "-5"], "argument --history-minutes: must be 0 or more, got -5"),
    ],
)
def test_simulate_refuses_values_it_cannot_serve(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(["simulate", *argv], environ={})
    assert exit_.value.code == 2 and message in capsys.readouterr().err


# --- validation and exit codes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--epochs", "0"], "--epochs 0: must be at least 1"),
        (["train", "--test-fraction", "1.5"], "--test-fraction 1.5: must be between 0 and 1"),
        (["train", "--interval", "1"], "--interval 1: must be between 0 and 1"),
        (["collect", "--minutes", "x"], "--minutes x: must be a whole number"),
        (["--url", "https://x", "collect"], "--url https://x: must be a ws or wss URL"),
        (["collect", "--rest-url", "ftp://x"], "--rest-url ftp://x: must be a http or https URL"),
        (["--symbol", "btc-usdt"], "--symbol btc-usdt: must be a trading pair"),
        (["--history", "3 days"], "--history 3 days: must be a duration"),
        (["--theme", "drakula"], "did you mean 'dracula'?"),
    ],
)
def test_invalid_flags_exit_2_with_one_line(argv, message, capsys):
    assert main(argv, environ={}, config_path=NO_FILE) == 2
    err = capsys.readouterr().err
    assert err == f"btc-tui: error: {err.removeprefix('btc-tui: error: ')}"
    assert message in err and err.count("\n") == 1


def test_bad_environment_exits_2_without_traceback(capsys):
    assert main(["train"], environ={"BTC_TUI_WINDOW": "wide"}, config_path=NO_FILE) == 2
    err = capsys.readouterr().err
    assert "BTC_TUI_WINDOW='wide'" in err and "Traceback" not in err


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")  # never the developer's own config file
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("command", "variable", "value", "message"),
    [
        ("train", "BTC_TUI_WINDOW", "0", "BTC_TUI_WINDOW='0': must be at least 1, got 0"),
        (
            "collect",
            "BTC_TUI_STALE_AFTER",
            "-1",
            "BTC_TUI_STALE_AFTER='-1': must be greater than 0, got -1",
        ),
    ],
)
def test_bad_environment_in_a_real_process_exits_2(tmp_path, command, variable, value, message):
    # -1 used to reconnect forever and 0 to end in a traceback; now both stop before any work
    done = subprocess.run(
        [sys.executable, "-m", "btc_tui", command, "--data", str(tmp_path / "m.csv")],
        env=clean_env(tmp_path, **{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"btc-tui: error: {message}\n"
    assert not (tmp_path / "m.csv").exists()


def test_config_file_errors_exit_2_naming_line_and_key(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('window = 30\n\n[keys]\ntrain = "c"\n')
    assert main(["collect"], environ={}, config_path=path) == 2
    assert capsys.readouterr().err == (
        f"btc-tui: error: {path} line 4: key 'c' is bound to both collect (its default) and "
        "train; give one of them another key in [keys]\n"
    )
    path.write_text("window = 30\nepochs = = 3\n")
    assert main(["train"], environ={}, config_path=path) == 2
    assert f"{path} line 2, column 10: not valid TOML" in capsys.readouterr().err
    path.write_text("epoch = 3\n")
    assert main(["train"], environ={}, config_path=path) == 2
    assert "line 1: unknown key 'epoch' (did you mean 'epochs'?)" in capsys.readouterr().err
    path.write_text('epochs = "3"\n')
    assert main([], environ={}, config_path=path) == 2
    assert "line 1: epochs must be a whole number" in capsys.readouterr().err


def test_a_missing_config_file_named_by_flag_or_variable_exits_2(tmp_path, capsys):
    absent = tmp_path / "absent.toml"
    assert main(["--config", str(absent), "collect"], environ={}, config_path=NO_FILE) == 2
    assert f"config file {absent} does not exist" in capsys.readouterr().err
    env = {"BTC_TUI_CONFIG": str(absent)}
    assert main(["collect"], environ=env, config_path=NO_FILE) == 2
    assert f"config file {absent} does not exist" in capsys.readouterr().err


def test_precedence_flag_env_file_default(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("window = 10\nhorizons = 2\nepochs = 3\n")
    env = {"BTC_TUI_HORIZONS": "4", "BTC_TUI_EPOCHS": "5"}
    s = parse(["train", "--epochs", "6"], environ=env, config_path=path).settings
    assert (s.window, s.horizons, s.epochs, s.batch_size) == (10, (4,), 6, 256)


def test_unknown_variable_is_a_warning_on_stderr(capsys):
    env = {"BTC_TUI_EPOCH": "3"}
    assert main(["config"], environ=env, config_path=NO_FILE) == 0
    assert "warning: BTC_TUI_EPOCH is not a btc-tui setting (did you mean 'BTC_TUI_EPOCHS'?)" in (
        capsys.readouterr().err
    )


# --- btc-tui config ------------------------------------------------------------------------


def test_config_shows_each_value_and_where_it_came_from(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('window = 30\n\n[keys]\ntrain = "T"\n')
    env = {"BTC_TUI_EPOCHS": "3"}
    assert main(["--horizon", "2", "config"], environ=env, config_path=path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"config file: {path}"
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in lines[2:]}
    assert rows["window"] == ["30", "file, line 1"]
    assert rows["horizons"] == ["2", "flag --horizons"]
    assert rows["epochs"] == ["3", "env BTC_TUI_EPOCHS"]
    assert rows["data"] == ["data/bitcoin_price_stream.csv", "default"]
    assert rows["history"] == ["3d", "default"]
    assert rows["keys.train"] == ["T", "file, line 4"]
    assert rows["keys.collect"] == ["c", "default"]
    assert set(rows) >= {o.key for o in OPTIONS.values()}


def test_config_says_when_the_file_is_absent(capsys):
    assert main(["config"], environ={}, config_path=NO_FILE) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"config file: {NO_FILE} (not found; `btc-tui config --init` writes one)")


def test_config_init_writes_a_file_that_parses_back_to_the_defaults(tmp_path, capsys):
    path = tmp_path / "xdg" / "btc-tui" / "config.toml"
    assert main(["config", "--init"], environ={}, config_path=path) == 0
    assert str(path) in capsys.readouterr().out
    assert path.read_text() == config_template()
    assert parse(["train"], environ={}, config_path=path).settings == Settings(config=path)

    path.write_text("# mine\nwindow = 5\n")
    assert main(["config", "--init"], environ={}, config_path=path) == 2
    assert "already exists; not overwriting it" in capsys.readouterr().err
    assert path.read_text() == "# mine\nwindow = 5\n"


def test_config_init_writes_where_config_points(tmp_path, capsys):
    named = tmp_path / "named.toml"  # need not exist: it is the file to write
    assert main(["config", "--init", "--config", str(named)], environ={}, config_path=NO_FILE) == 0
    assert tomllib.loads(named.read_text()) == {"keys": {}, "serve": {}}


def test_a_config_file_that_cannot_be_written_is_a_disk_error(capsys):
    target = Path("/proc/version/config.toml")  # /proc/version is a file: no folder can be made
    assert main(["config", "--init", "--config", str(target)], environ={}) == 3
    assert capsys.readouterr().err.startswith(
        f"btc-tui: disk error: cannot write config file {target}"
    )


def test_config_command_does_not_import_textual(tmp_path):
    code = (
        "import sys\nfrom btc_tui.cli import main\n"
        "assert main(['config']) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'tensorflow'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "[]"
    assert f"config file: {tmp_path}/xdg/btc-tui/config.toml" in done.stdout


# --- --version and --help -------------------------------------------------------------------------


def test_version(capsys):
    from btc_tui import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"btc-tui {__version__}\n"


@pytest.mark.parametrize("argv", [["--help"], ["collect", "--help"], ["train", "--help"]])
def test_help_lists_every_environment_variable(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in OPTIONS.values():
        assert option.env in out
    assert "BTC_TUI_DATA" in out and "BTC_TUI_CONFIG" in out and "BTC_TUI_TOKEN" in out


def test_help_shows_each_declared_default(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--window N input minutes per window (default 60)" in out
    assert "--history DURATION history the app fills on launch; 0 = off (default 3d)" in out
    # Python 3.13's argparse names the metavar once for a flag with an alias
    assert re.search(r"--horizons( N,N,\.\.\.)?, --horizon N,N,\.\.\.", out)
    assert "(default 1,5,15,60)" in out
    assert "--stale-after SECONDS" in out and "many seconds (default 30)" in out


# --- the demo never mixes with real data -------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--demo", "backfill", "--since", "1h"], "backfill fetches real history from Binance"),
        (["import", "--demo", "BTCUSDT-aggTrades-2024-08-08.zip"], "import merges real Binance"),
        (["--demo", "check", "--repair"], "--repair fetches real trades from Binance"),
    ],
)
def test_demo_never_takes_real_data_into_its_file(argv, message, tmp_path, monkeypatch, capsys):
    from btc_tui.market.store import MinuteStore
    from tests.market.test_store import bar

    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "data" / "demo.csv"
    with MinuteStore(demo) as store:
        store.append_many([bar(0), bar(1)])  # both claim trades 1..100: check finds a problem
    before = demo.read_bytes()
    assert main(argv, environ={}, config_path=NO_FILE) == 2
    err = capsys.readouterr().err
    assert message in err and "never into the demo's data/demo.csv" in err
    assert err.count("btc-tui: error:") == 1 and "Traceback" not in err
    assert demo.read_bytes() == before
