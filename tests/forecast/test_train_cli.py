"""`btc-tui train` as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from btc_tui.cli import main
from tests.forecast.conftest import (
    HEADER,
    bar_columns,
    minute_rows,
    random_walk,
    write_minutes,
)

PROJECT = Path(__file__).resolve().parents[2]


def run_train(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "btc_tui", "train", *map(str, args)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def models_with_old_model(tmp_path: Path) -> Path:
    """A models folder that already holds a model, which failed runs must not touch."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "btc_lstm.keras").write_bytes(b"old model bytes")
    (models / "btc_lstm.json").write_text('{"old": true}')
    return models


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def short_csv(tmp_path: Path) -> Path:
    return write_minutes(tmp_path / "short.csv", random_walk(40, seed=1))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.csv", "no such file"),
        (lambda d: _write(d / "empty.csv", b""), "is empty"),
        (lambda d: _write(d / "binary.csv", bytes(range(256)) * 4), "not a minute CSV"),
        (lambda d: _write(d / "garbage.csv", b"hello,world\nthis is not,a csv\n"), "not a minute"),
        (lambda d: _write(d / "header.csv", (HEADER + "\n").encode()), "no minutes"),
        (short_csv, "40 usable minutes"),
    ],
    ids=["missing", "empty", "binary", "garbage", "header-only", "too-few-rows"],
)
def test_unusable_input_exits_2_with_a_short_message(
    tmp_path, models_with_old_model, make, expected
):
    before = snapshot(models_with_old_model)
    data = make(tmp_path)
    done = run_train("--data", data, "--models", models_with_old_model, "--json")
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2
    assert snapshot(models_with_old_model) == before


def test_too_few_rows_names_the_numbers(tmp_path):
    done = run_train("--data", short_csv(tmp_path), "--models", tmp_path / "models")
    assert done.returncode == 2
    assert "40 usable minutes" in done.stderr and "0 windows" in done.stderr
    # 60 input minutes + 60 ahead, and 263 windows: four parts 60 apart, 20 to fit on
    assert "at least 382 consecutive minutes" in done.stderr
    assert not (tmp_path / "models").exists()


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_corrupt_lines_are_warned_and_json_is_the_last_line(tmp_path):
    rows = minute_rows(random_walk(260, seed=4))
    rows[4] = "2024,1,1,0,4,not-a-price,1,1,1,1,1,1,1"  # file line 6
    rows[99] = "garbage"  # file line 101
    del rows[200]  # a missing minute; with the two corrupt ones, 4 + 10 + 10 windows span gaps
    data = tmp_path / "minutes.csv"
    data.write_text("\n".join([HEADER, *rows]) + "\n")
    models = tmp_path / "models"
    done = run_train(
        "--data", data, "--models", models, "--window", "10", "--epochs", "2", "--seed", "3",
        "--horizons", "1", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "6" in done.stderr and "101" in done.stderr and "corrupt" in done.stderr
    assert "24 windows dropped because they span missing minutes" in done.stderr
    assert "epoch 1/2" in done.stderr  # progress on stderr, stdout stays parseable
    result = json.loads(done.stdout.strip().splitlines()[-1])
    required = {
        "mae", "mape", "baseline_mae", "baseline_mape", "skill", "direction_accuracy",
        "train_windows", "test_windows", "epochs_run", "seconds", "model_path", "metadata_path",
    }  # fmt: skip
    assert required <= set(result)
    assert result["skill"] == pytest.approx(1 - result["mae"] / result["baseline_mae"])
    assert Path(result["model_path"]).exists() and Path(result["metadata_path"]).exists()
    assert result["epochs_run"] == 2
    # TensorFlow's start-up chatter stays out of the user's terminal.
    assert "cuda" not in done.stderr.lower() and "I0000" not in done.stderr


def test_text_report_shows_progress_table_verdict_and_chart(tmp_path):
    data = write_minutes(tmp_path / "minutes.csv", random_walk(200, seed=8))
    done = run_train(
        "--data", data, "--models", tmp_path / "models", "--window", "10", "--epochs", "1",
        "--seed", "1", "--horizons", "1,5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "epoch 1/1" in out and "val_loss" in out
    assert "LSTM model" in out and "persistence" in out and "MAE" in out and "skill" in out
    # minute_rows' closes equal the averages: the last price is persistence, and the verdict
    # names the better baseline in plain words.
    assert "last price" in out and "coverage" in out and "static band" in out
    assert re.search(
        r"The model (is \d+\.\d% (better|worse) than|ties) repeating the last price"
        r"|The point forecast is the last price itself",
        out,
    )
    # Piped (no terminal): every line but those naming the files, the chart's too, fits a
    # standard 80-column terminal.
    assert max(len(line) for line in out.splitlines() if str(tmp_path) not in line) <= 80, out
    assert "predicted, interval and actual" in out
    # Every horizon: a row in the table and a verdict with its Diebold-Mariano p-value.
    assert re.search(r"^5 min +[\d.]+ +[\d.]+ ", out, re.M), out
    assert re.search(r"^5 min: against the last price, (a tie|better|worse).*\(p ", out, re.M)
    assert "saved" in out and (tmp_path / "models" / "btc_lstm.keras").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_training_cleanly_and_keeps_the_old_model(
    tmp_path, models_with_old_model, sig
):
    data = write_minutes(tmp_path / "m.csv", random_walk(600, seed=3))
    before = snapshot(models_with_old_model)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btc_tui",
            "train",
            "--data",
            str(data),
            "--models",
            str(models_with_old_model),
            "--window",
            "10",
            "--epochs",
            "500",
            "--batch-size",
            "8",
        ],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # our own signals only, and not ignored as in a background job
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until it is really training
        if line.startswith("epoch"):
            break
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "cancelled: nothing saved" in err
    assert "Traceback" not in err
    assert snapshot(models_with_old_model) == before


def readme_check() -> str:
    """The README's pandas check, exactly as printed there."""
    readme = (PROJECT / "README.md").read_text()
    start = readme.index("```python\nimport json\nimport pandas as pd")
    return readme[start + len("```python\n") : readme.index("```", start + 10)]


def test_json_and_predictions_file_let_anyone_check_the_figures(tmp_path, monkeypatch, capsys):
    prices = random_walk(400, seed=5)
    data = write_minutes(tmp_path / "minutes.csv", prices, bars=bar_columns(prices, seed=5))
    predictions = tmp_path / "test-predictions.csv"
    done = run_train(
        "--data", data, "--models", tmp_path / "models", "--window", "10", "--epochs", "2",
        "--seed", "3", "--horizons", "1,5,15", "--json", "--predictions", predictions,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (tmp_path / "result.json").write_text(done.stdout)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    required = {
        "mae", "mape", "baseline_mae", "baseline_mape", "skill", "last_price_mae",
        "last_price_mape", "skill_vs_last_price", "best_baseline", "direction_accuracy",
        "interval", "coverage", "width", "interval_score", "verdict", "bands", "dm_pvalue",
        "train_windows", "test_windows", "epochs_run", "seconds", "model_path", "metadata_path",
    }  # fmt: skip
    assert required <= set(result)
    assert set(result["horizons"]) == {"1", "5", "15"}
    for figures in result["horizons"].values():
        assert set(figures) == {
            "mae", "last_price_mae", "baseline_mae", "skill_vs_last_price", "dm_pvalue",
            "coverage", "width", "interval_score", "rolling_band_score", "static_band_score",
            "verdict",
        }  # fmt: skip
        assert 0 <= figures["dm_pvalue"] <= 1 and "(p " in figures["verdict"]
    # Today's top-level keys are horizon 1's.
    for key in ("mae", "last_price_mae", "coverage", "interval_score", "dm_pvalue"):
        assert result[key] == result["horizons"]["1"][key]
    # The README's check, run as printed: every figure again from the file alone.
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(readme_check(), namespace)
    checked = namespace["checked"]
    assert set(checked) == {1, 5, 15}
    for h, figures in checked.items():
        expected = result["horizons"][str(h)]
        for key in ("mae", "last_price_mae", "baseline_mae", "interval_score"):
            assert figures[key] == pytest.approx(expected[key], rel=1e-12), (h, key)
        assert figures["coverage"] == expected["coverage"]
        assert figures["rows"] == result["test_windows"]
    rows = __import__("pandas").read_csv(predictions)
    assert list(rows.columns) == [
        "origin", "horizon", "minute", "actual", "predicted", "lo", "hi", "last_price",
        "persistence",
    ]  # fmt: skip
    assert len(rows) == 3 * result["test_windows"]
    # What the point forecast is, said in the JSON, and true of every horizon-1 row.
    first = rows[rows.horizon == 1]
    is_last_price = bool((first.predicted == first.last_price).all())
    assert is_last_price == (result["point_forecast"] == "last price")
    assert first.minute.iloc[-1] == "2024-01-01T06:25+00:00"  # row 385: 15 minutes before the end


def test_an_interval_outside_0_1_or_an_unwritable_predictions_file_exit_2(
    tmp_path, models_with_old_model, capsys
):
    data = write_minutes(tmp_path / "minutes.csv", random_walk(200, seed=8))
    before = snapshot(models_with_old_model)
    for interval in ("1.5", "0", "1"):
        code = main(["train", "--data", str(data), "--models", str(models_with_old_model),
                     "--interval", interval])  # fmt: skip
        assert code == 2
        assert "interval" in capsys.readouterr().err
    code = main(["train", "--data", str(data), "--models", str(models_with_old_model),
                 "--predictions", str(tmp_path / "no-such-folder" / "p.csv")])  # fmt: skip
    assert code == 2
    assert "no-such-folder" in capsys.readouterr().err
    assert snapshot(models_with_old_model) == before
