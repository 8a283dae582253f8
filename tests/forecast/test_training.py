"""A tiny real training run: saved, reloaded, predicting the same prices; cancellation; refusals.

TensorFlow is slow to import and to train, so one module-scoped run is shared by most tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.forecast.model import ModelSpec
from btc_tui.forecast.predictor import Predictor
from btc_tui.forecast.report import verdict
from btc_tui.forecast.training import (
    BatchProgress,
    EpochEnd,
    TrainingCancelled,
    prepare,
    train,
)
from btc_tui.market.store import LoadedMinutes, load_minutes
from tests.forecast.conftest import (
    MINUTE_MS,
    START_MS,
    bar_columns,
    random_walk,
    write_minutes,
    write_seed_minutes,
)

pytestmark = pytest.mark.filterwarnings(
    # keras 3.15 internals on numpy 2 (not our code)
    "ignore:__array__ implementation doesn.t accept a copy keyword:DeprecationWarning"
)

ROWS = 400
WINDOW = 10
HORIZONS = (1, 5, 15)
CHL = ("level", "change", "close", "high", "low")
COLUMNS = ("close", "high", "low", "volume", "trades")
# The features used by the module's trained model: the default ones (they need close/high/low).
FEATURES = ModelSpec().features


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    prices = random_walk(ROWS, seed=11)
    data = write_minutes(root / "minutes.csv", prices, bars=bar_columns(prices, seed=11))
    settings = Settings(
        data=data,
        models=root / "models",
        window=WINDOW,
        horizons=HORIZONS,
        epochs=2,
        batch_size=32,
        seed=7,
    )
    epochs: list[EpochEnd] = []
    stages: list[str] = []
    result = train(settings, on_epoch=epochs.append, on_stage=stages.append)
    return settings, result, epochs, stages, prices


def test_training_reports_epochs_and_stages(trained):
    _settings, result, epochs, stages, _prices = trained
    assert [e.epoch for e in epochs] == list(range(1, result.epochs_run + 1))
    assert all(e.total == 2 and e.val_loss is not None and e.loss > 0 for e in epochs)
    assert stages == ["loading TensorFlow", "training", "evaluating", "saving"]
    assert result.history_loss == [e.loss for e in epochs]


def test_test_set_is_the_last_windows_in_price_units_for_every_horizon(trained):
    _settings, result, _epochs, _stages, prices = trained
    windows = ROWS - WINDOW - max(HORIZONS) + 1
    n = result.test_windows
    assert n == round(windows * 0.2)
    w = result.windows
    assert w["fit"] + w["stopping"] + w["calibration"] + n + 3 * max(HORIZONS) == windows
    assert list(result.horizons) == list(HORIZONS)
    last_origin = ROWS - 1 - max(HORIZONS)
    origins = np.arange(last_origin - n + 1, last_origin + 1)
    for h, r in result.horizons.items():
        assert len(r.predicted) == len(r.actual) == len(r.lo) == n
        np.testing.assert_allclose(r.actual, prices[origins + h], rtol=1e-15)
        np.testing.assert_allclose(r.persistence, prices[origins], rtol=1e-15)
        assert r.minutes[-1] == START_MS + (last_origin + h) * MINUTE_MS
        m = r.metrics
        assert m.mae == pytest.approx(np.mean(np.abs(r.predicted - r.actual)))
        assert m.baseline_mae == pytest.approx(np.mean(np.abs(r.persistence - r.actual)))
    assert result.metrics == result.horizons[1].metrics  # the first horizon's, for old readers


def test_metadata_describes_the_saved_model(trained):
    settings, result, _epochs, _stages, _prices = trained
    meta = json.loads(settings.metadata_path.read_text())
    assert settings.model_path.stat().st_size > 0
    assert meta["window"] == WINDOW and meta["horizons"] == list(HORIZONS)
    assert meta["buffer"] == 0.05 and meta["units"] == list(ModelSpec().units)
    assert meta["features"] == list(FEATURES) == meta["training"]["features_requested"]
    assert result.warnings == []
    assert meta["epochs_run"] == result.epochs_run and meta["seed"] == 7
    assert meta["rows"] == ROWS
    assert meta["data_first_minute"] == "2024-01-01T00:00+00:00"
    assert meta["windows"] == result.windows
    assert meta["metrics"] == pytest.approx(result.metrics.to_dict())
    for h, r in result.horizons.items():
        assert meta["horizon_metrics"][str(h)] == pytest.approx(r.metrics.to_dict())
        assert meta["calibration"][str(h)] == r.calibration.to_dict()
        chart = meta["test_chart"][str(h)]
        assert chart["actual"] == r.actual.tolist() and chart["predicted"] == r.predicted.tolist()
        assert chart["lo"] == r.lo.tolist() and chart["minutes"] == r.minutes.tolist()
    # The loss curve is saved with the model, so a model loaded later draws it.
    assert meta["history"] == {"loss": result.history_loss, "val_loss": result.history_val_loss}
    assert {"tensorflow", "keras", "numpy", "python"} <= set(meta["versions"])
    assert meta["training"]["loss"] == "pinball" and meta["training"]["best_epoch"] in (1, 2)
    assert meta["interval"] == 0.8 and meta["quantiles"] == pytest.approx([0.1, 0.5, 0.9])
    assert meta["anchor"] == "close" and meta["weights_file"] == "btc_lstm.npz"
    assert set(meta["bands"]["1"]) == {"static band", "rolling-volatility band"}
    # Nothing left behind by the atomic writes.
    assert sorted(p.name for p in settings.models.iterdir()) == [
        "btc_lstm.json",
        "btc_lstm.keras",
        "btc_lstm.npz",
    ]


def test_reloaded_model_predicts_the_same_prices_at_every_horizon(trained):
    settings, result, _epochs, _stages, _prices = trained
    predictor = Predictor.load(settings)
    assert predictor.columns == COLUMNS and predictor.horizons == HORIZONS
    frame = load_minutes(settings.data).frame
    # Every test window, one at a time, through the live-prediction path: from the frame as the
    # UI passes it (the rows up to the window's last minute).
    n = result.test_windows
    last_origin = ROWS - 1 - max(HORIZONS)
    predictions = [
        predictor.predict(frame.iloc[: o + 1]) for o in range(last_origin - n + 1, last_origin + 1)
    ]
    for h, r in result.horizons.items():
        np.testing.assert_allclose([p.at(h).median for p in predictions], r.predicted, atol=1e-3)
        np.testing.assert_allclose([p.at(h).lo for p in predictions], r.lo, atol=1e-3)
        np.testing.assert_allclose([p.at(h).hi for p in predictions], r.hi, atol=1e-3)
        assert [p.at(h).target_minute for p in predictions] == r.minutes.tolist()
    # The bars matter: the same prices with other closes give other bands.
    moved = frame.iloc[: last_origin + 1].copy()
    moved.loc[moved.index[-3:], "close"] += 5.0
    assert predictor.predict(moved).at(5).hi != pytest.approx(predictions[-1].at(5).hi, abs=1e-3)


def test_live_prediction_uses_the_latest_contiguous_minutes(trained):
    settings, _result, _epochs, _stages, prices = trained
    predictor = Predictor.load(settings)
    frame = load_minutes(settings.data).frame
    prediction = predictor.predict(frame)
    assert prediction is not None
    assert prediction.last_minute == START_MS + (ROWS - 1) * MINUTE_MS
    assert prediction.horizons == HORIZONS
    for h in HORIZONS:
        forecast = prediction.at(h)
        assert forecast.target_minute == prediction.last_minute + h * MINUTE_MS
        assert forecast.lo <= forecast.median <= forecast.hi
        # A plausible price, not a scaled value.
        assert abs(forecast.median - prices[-1]) < 10 * np.sqrt(h) * np.std(np.diff(prices))
    assert prediction.price == prediction.at(1).median
    assert prediction.last_price == pytest.approx(prices[-1])
    # Bands widen with the horizon.
    widths = [prediction.at(h).hi - prediction.at(h).lo for h in HORIZONS]
    assert widths == sorted(widths)
    assert predictor.predict(frame.iloc[: WINDOW - 1]) is None
    assert predictor.predict(frame.drop(frame.index[-3])) is None  # a gap in the last window
    one_missing = frame.copy()
    one_missing.loc[frame.index[-3], "close"] = np.nan  # a minute without a close: a gap too
    assert predictor.predict(one_missing) is None


def test_prediction_refuses_minutes_without_the_columns_the_model_uses(trained, tmp_path):
    settings, _result, _epochs, _stages, prices = trained
    predictor = Predictor.load(settings)
    frame = load_minutes(settings.data).frame
    with pytest.raises(UsageError, match="uses the close of each minute"):
        predictor.predict(frame.drop(columns=["close"]))
    seed = load_minutes(write_seed_minutes(tmp_path / "seed.csv", prices)).frame
    with pytest.raises(UsageError, match="uses the close, high, low, volume, trades of each"):
        predictor.predict(seed)


def test_loading_refuses_a_model_for_other_settings(trained, tmp_path):
    settings, *_ = trained
    with pytest.raises(UsageError, match="window 10 \\(settings say 60\\)"):
        Predictor.load(settings.with_changes(window=60))
    with pytest.raises(UsageError, match="horizons 1,5,15 \\(settings say 1,5,15,60\\)"):
        Predictor.load(settings.with_changes(horizons=(1, 5, 15, 60)))
    with pytest.raises(UsageError, match="no saved model"):
        Predictor.load(settings.with_changes(models=tmp_path / "none"))
    broken = tmp_path / "broken"
    shutil.copytree(settings.models, broken)
    (broken / "btc_lstm.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        Predictor.load(settings.with_changes(models=broken))
    other = tmp_path / "other"
    shutil.copytree(settings.models, other)
    (other / "btc_lstm.keras").write_bytes(b"PK not the saved model")
    with pytest.raises(UsageError, match="checksum differs"):
        Predictor.load(settings.with_changes(models=other))


def test_cancelling_stops_within_a_batch_and_keeps_the_old_model(trained, tmp_path):
    settings, *_ = trained
    models = tmp_path / "models"
    shutil.copytree(settings.models, models)
    before = {p.name: p.read_bytes() for p in models.iterdir()}
    # Enough data and epochs that an unstoppable run would take minutes.
    data = write_minutes(tmp_path / "long.csv", random_walk(3_000, seed=3))
    stop = threading.Event()
    epochs: list[EpochEnd] = []

    def on_batch(progress: BatchProgress) -> None:
        if progress.batch >= 2 and not stop.is_set():
            stop.set()

    with pytest.raises(TrainingCancelled):
        train(
            settings.with_changes(data=data, models=models, epochs=500, batch_size=8),
            on_epoch=epochs.append,
            on_batch=on_batch,
            stop=stop,
        )
    # Stopped inside the first of 500 epochs (~300 batches each), not at its end: the stop is
    # honoured within a batch, whatever the machine's speed (no wall-clock bound).
    assert epochs == []
    assert {p.name: p.read_bytes() for p in models.iterdir()} == before


def test_too_few_minutes_fail_before_tensorflow_with_the_numbers(tmp_path):
    data = write_minutes(tmp_path / "short.csv", random_walk(50, seed=1))
    settings = Settings(data=data, models=tmp_path / "models")
    stages: list[str] = []
    with pytest.raises(UsageError) as excinfo:
        train(settings, on_stage=stages.append)
    message = str(excinfo.value)
    # 4 parts apart by 60 windows + 20 to fit: at least 263 windows of 60 + 60 minutes.
    assert "50 usable minutes" in message and "0 windows" in message and "382" in message
    assert stages == []  # TensorFlow never started loading
    assert not Path(tmp_path / "models").exists()


def test_a_test_fraction_that_leaves_too_little_to_train_on_is_refused(tmp_path):
    data = write_minutes(tmp_path / "m.csv", random_walk(100, seed=1))
    settings = Settings(
        data=data, models=tmp_path / "models", window=10, horizons=(1,), test_fraction=0.9
    )
    with pytest.raises(
        UsageError,
        match="holds out 81 for testing, 1 for calibration and 1 for early stopping, leaving 4",
    ):
        train(settings)
    assert not (tmp_path / "models").exists()


def loaded(frame, path: Path) -> LoadedMinutes:
    return LoadedMinutes(frame=frame, path=path)


def test_minutes_lacking_some_bars_train_with_them_as_gaps_or_fall_back(tmp_path):
    """Decided before TensorFlow: a few minutes without close -> those minutes are gaps; most
    minutes without -> the price-only features, said in a warning."""
    prices = random_walk(400, seed=2)
    path = write_minutes(tmp_path / "m.csv", prices, bars=bar_columns(prices, seed=2))
    frame = load_minutes(path).frame
    settings = Settings(data=path, window=WINDOW, horizons=(1,))
    spec = ModelSpec(features=CHL)

    full = prepare(settings, loaded(frame, path), spec)
    assert full.spec == spec and full.warnings == [] and len(full.source) == 390

    some = frame.copy()
    some.loc[some.index[100], "close"] = np.nan
    few = prepare(settings, loaded(some, path), spec)
    assert few.spec.features == CHL and len(few.source) == 390 - 11
    assert few.warnings == [
        f"{path}: 1 minutes without close, high, low treated as missing (11 windows fewer)",
        "10 windows dropped because they span missing minutes (379 kept)",
    ]

    most = frame.copy()
    most.loc[most.index[:300], ["close", "high", "low"]] = np.nan
    fallback = prepare(settings, loaded(most, path), spec)
    assert fallback.spec.features == ("level", "change") and len(fallback.source) == 390
    assert fallback.source.inputs(slice(0, 5)).shape[2] == 2
    assert "only 90 of 390 windows have close, high, low" in fallback.warnings[0]
    assert "training on the price inputs only" in fallback.warnings[0]

    no_trades = frame.copy()
    no_trades["trades"] = np.nan  # klines: no trade counts
    lean = prepare(settings, loaded(no_trades, path), ModelSpec())
    assert "trades" not in lean.spec.features and "volume" in lean.spec.features
    assert lean.warnings == [
        f"{path} has no trades values; training without the inputs built from them"
    ]


def test_a_six_column_seed_file_trains_on_price_only_features(tmp_path):
    prices = random_walk(120, seed=5)
    path = write_seed_minutes(tmp_path / "seed.csv", prices)
    settings = Settings(
        data=path,
        models=tmp_path / "models",
        window=WINDOW,
        horizons=(1,),
        epochs=1,
        batch_size=64,
        seed=1,
    )
    result = train(settings, spec=ModelSpec(features=CHL, units=(8, 4)))
    assert len(result.warnings) == 1
    assert "has no close, high, low values" in result.warnings[0]
    meta = json.loads(settings.metadata_path.read_text())
    assert meta["features"] == ["level", "change"]
    assert meta["training"]["features_requested"] == list(CHL)
    predictor = Predictor.load(settings)
    assert predictor.columns == ()
    frame = load_minutes(path).frame
    # The last test window ends one minute before the file does.
    prediction = predictor.predict(frame.iloc[:-1])
    assert prediction is not None and prediction.target_minute == result.test_times[-1]
    assert prediction.price == pytest.approx(result.predicted[-1], abs=1e-3)
    assert prediction.lo <= prediction.price <= prediction.hi
    # No close: persistence is the only baseline and the zero point, and the report says so.
    assert meta["anchor"] == "avg_price" and result.last_price is None
    m = result.metrics
    assert np.isnan(m.last_price_mae) and m.best_baseline == "persistence"
    assert "no close column, so persistence is the only baseline" in verdict(m)


def test_the_same_seed_repeats_the_same_run(trained, tmp_path):
    """--seed makes a run repeatable: same data, same seed -> the same losses and predictions."""
    settings, result, _epochs, _stages, _prices = trained
    again = train(settings.with_changes(models=tmp_path / "again"))
    assert again.history_loss == result.history_loss
    np.testing.assert_array_equal(again.predicted, result.predicted)
    assert again.metrics == result.metrics


def _csv_columns(path: Path) -> dict[str, np.ndarray]:
    """The CSV read with the csv module, not our loader: an independent view of the minutes."""
    import csv

    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {name: np.array([float(r[name]) for r in rows]) for name in ("avg_price", "close")}


def test_last_price_baseline_and_interval_figures_are_what_they_say(trained):
    settings, result, _epochs, _stages, _prices = trained
    columns = _csv_columns(settings.data)
    n = result.test_windows
    # Horizon 1's targets end 15 minutes before the file (the longest horizon's room); each
    # window's last price is the close a minute before its target.
    end = ROWS - max(HORIZONS) + 1
    actual = columns["avg_price"][end - n : end]
    last_close = columns["close"][end - n - 1 : end - 1]
    m = result.metrics
    assert m.last_price_mae == pytest.approx(np.mean(np.abs(last_close - actual)), rel=1e-12)
    assert m.skill_vs_last_price == pytest.approx(1 - m.mae / m.last_price_mae)
    np.testing.assert_array_equal(result.last_price, last_close)
    assert m.best_baseline == (
        "last price" if m.last_price_mae <= m.baseline_mae else "persistence"
    )
    # The interval: every band holds its median prediction; coverage counted by hand.
    assert np.all(result.lo <= result.predicted) and np.all(result.predicted <= result.hi)
    inside = sum(lo <= a <= hi for lo, a, hi in zip(result.lo, actual, result.hi, strict=True))
    assert m.coverage == pytest.approx(inside / n)
    assert m.width == pytest.approx(np.mean(result.hi - result.lo))
    assert m.interval == 0.8 and m.interval_score >= m.width
    assert set(result.bands) == {"static band", "rolling-volatility band"}
    assert m.static_band_score == result.bands["static band"].score
    assert m.rolling_band_score == result.bands["rolling-volatility band"].score
    # What the point forecast is: the saved weight, and "last price" exactly when it is that.
    meta = json.loads(settings.metadata_path.read_text())
    assert m.point_weight == meta["calibration"]["1"]["point_weight"]
    assert m.point_weight == meta["metrics"]["point_weight"]
    same = bool(np.array_equal(result.predicted, last_close))
    assert (m.point_forecast == "last price") == same == (m.point_weight == 0)


def test_numpy_forward_pass_equals_keras(trained):
    """The live predictor's NumPy LSTM against Keras on the module's trained model (weights
    fitted by model.fit, reloaded from the saved .keras file): equal to 1e-6 relative to Keras
    run in float64 with the same weights, and to float32 precision to the saved float32 model."""
    from btc_tui.forecast.lstm_numpy import NumpyLSTM
    from btc_tui.forecast.model import import_keras, read_metadata, read_weights
    from btc_tui.forecast.training import prepare

    settings, *_ = trained
    x = prepare(settings, load_minutes(settings.data), ModelSpec()).source.inputs(slice(None))
    keras = import_keras()
    model = keras.models.load_model(settings.model_path, compile=False, safe_mode=True)
    keras_out = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    # Really trained: the quantile heads came out ordered (lower < median < upper) for most
    # windows, which an untrained network's outputs are not.
    heads = keras_out.reshape(len(x), len(HORIZONS), 3)
    assert np.mean((heads[..., 0] < heads[..., 1]) & (heads[..., 1] < heads[..., 2])) > 0.9
    layers = [keras.Input(shape=x.shape[1:], dtype="float64")]
    for layer in model.layers:
        layers.append(type(layer).from_config({**layer.get_config(), "dtype": "float64"}))
    model64 = keras.Sequential(layers)
    model64.set_weights(model.get_weights())
    keras64 = np.asarray(model64.predict(x.astype(np.float64), verbose=0))
    metadata = read_metadata(settings.metadata_path, settings.model_path)
    numpy_out = NumpyLSTM(read_weights(metadata, settings.model_path, settings.metadata_path))(x)
    assert numpy_out.shape == keras_out.shape == keras64.shape == (len(x), 3 * len(HORIZONS))
    assert keras64.dtype == np.float64
    np.testing.assert_allclose(numpy_out, keras64, rtol=1e-6, atol=0)
    # The saved model computes in float32: agreement to float32 rounding (outputs are O(1)).
    np.testing.assert_allclose(numpy_out, keras_out, rtol=0, atol=1e-5)


def test_an_older_or_incomplete_model_is_refused_with_train_again(trained, tmp_path):
    settings, *_ = trained
    old = tmp_path / "old"
    shutil.copytree(settings.models, old)
    meta = json.loads((old / "btc_lstm.json").read_text())
    for name in ("interval", "quantiles", "calibration", "anchor", "weights_file"):
        del meta[name]
    (old / "btc_lstm.json").write_text(json.dumps({**meta, "format": "btc-tui-lstm/2"}))
    with pytest.raises(UsageError, match=r"older btc-tui .*one horizon.*train again"):
        Predictor.load(settings.with_changes(models=old))
    no_weights = tmp_path / "no-weights"
    shutil.copytree(settings.models, no_weights)
    (no_weights / "btc_lstm.npz").unlink()
    with pytest.raises(UsageError, match=r"cannot read the model weights .*train again"):
        Predictor.load(settings.with_changes(models=no_weights))
    swapped = tmp_path / "swapped"
    shutil.copytree(settings.models, swapped)
    (swapped / "btc_lstm.npz").write_bytes(b"PK not the weights")
    with pytest.raises(UsageError, match=r"btc_lstm\.npz does not match .*checksum differs"):
        Predictor.load(settings.with_changes(models=swapped))
    with pytest.raises(UsageError, match=r"interval 0\.8 \(settings say 0\.9\)"):
        Predictor.load(settings.with_changes(interval=0.9))


def test_a_saved_model_predicts_without_tensorflow_in_the_process(trained):
    settings, *_ = trained
    predictor = Predictor.load(settings)
    expected = predictor.predict(load_minutes(settings.data).frame)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import btc_tui.cli, btc_tui.ui.app, btc_tui.ui.prediction  # the app's own modules\n"
        "from btc_tui.config import Settings\n"
        "from btc_tui.forecast.predictor import Predictor\n"
        "from btc_tui.market.store import load_minutes\n"
        f"s = Settings(data=Path({str(settings.data)!r}), models=Path({str(settings.models)!r}),"
        f" window={WINDOW}, horizons={HORIZONS})\n"
        "p = Predictor.load(s).predict(load_minutes(s.data).frame)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(json.dumps({'price': p.price, 'lo': p.lo, 'hi': p.hi, 'heavy': heavy}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == []
    assert seen["price"] == pytest.approx(expected.price, rel=1e-12)
    assert (seen["lo"], seen["hi"]) == pytest.approx((expected.lo, expected.hi), rel=1e-12)
    assert expected.lo < expected.price < expected.hi and expected.interval == 0.8


def test_intervals_never_see_the_test_windows(trained, tmp_path):
    """Plant a wild market in the test part only: the model, its calibration and the reference
    bands (calibration windows) come out exactly the same; only the test figures change, the
    static band's coverage collapsing."""
    settings, result, *_ = trained
    prices = random_walk(ROWS, seed=11)
    close, high, low = bar_columns(prices, seed=11)
    first_test_target = ROWS - max(HORIZONS) - result.test_windows + 1
    wild = prices.copy()
    tail = slice(first_test_target, None)
    wild[tail] = prices[first_test_target - 1] + 8 * (prices[tail] - prices[first_test_target - 1])
    shift = wild - prices
    planted = write_minutes(
        tmp_path / "planted.csv", wild, bars=(close + shift, high + shift, low + shift)
    )
    again = train(settings.with_changes(data=planted, models=tmp_path / "planted"))
    saved = json.loads(settings.metadata_path.read_text())
    planted_meta = json.loads((tmp_path / "planted" / "btc_lstm.json").read_text())
    assert planted_meta["calibration"] == saved["calibration"]  # margins and weights, per horizon
    assert planted_meta["weights_sha256"] == saved["weights_sha256"]
    assert again.metrics.coverage != result.metrics.coverage or again.metrics.width != (
        result.metrics.width
    )
    static = "static band"
    assert again.bands[static].coverage < result.bands[static].coverage
    # The test windows before the shift reached their inputs: the same bands as before.
    np.testing.assert_array_equal(again.lo[:1], result.lo[:1])
    np.testing.assert_array_equal(again.hi[:1], result.hi[:1])


def test_a_window_longer_than_the_app_keeps_is_refused_before_anything(tmp_path):
    data = write_minutes(tmp_path / "m.csv", random_walk(100, seed=1))
    settings = Settings(data=data, models=tmp_path / "models", window=1441)
    stages: list[str] = []
    with pytest.raises(UsageError, match="--window 1441 is longer than 1440 minutes"):
        train(settings, on_stage=stages.append)
    assert stages == [] and not (tmp_path / "models").exists()
    # 1,440 is accepted (then refused only for too few minutes).
    with pytest.raises(UsageError, match="usable minutes"):
        train(settings.with_changes(window=1440))
