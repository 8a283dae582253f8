"""One `train()` for the CLI and the TUI's worker thread: data -> fitted, evaluated, saved model.

The data is checked before TensorFlow is imported (3.5 s), so unusable input fails at once.
Progress goes out through plain callables receiving the frozen dataclasses below; a
`threading.Event` stops training within about a batch. Windows are encoded batch by batch from the
minute arrays (`dataset.WindowSource` behind a `keras.utils.PyDataset`), never all at once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.forecast import bands
from btc_tui.forecast import metrics as metrics_mod
from btc_tui.forecast.dataset import (
    CALIBRATION_FRACTION,
    MAX_WINDOW,
    STOPPING_FRACTION,
    Parts,
    Windows,
    WindowSource,
    build_windows,
    chronological_parts,
    missing_columns,
    required_columns,
    series_from_frame,
    without_columns,
)
from btc_tui.forecast.model import (
    ModelMetadata,
    ModelSpec,
    build_model,
    import_keras,
    library_versions,
    quantile_levels,
    save_model,
)

if TYPE_CHECKING:
    from btc_tui.market.store import LoadedMinutes

# Fewer windows than this cannot give a model, early stopping, calibration and a test set that
# mean anything.
MIN_WINDOWS = 40
MIN_TRAIN_WINDOWS = 20
BATCH_PROGRESS_INTERVAL = 0.2  # seconds: at most ~5 progress events per second (the one throttle)
PREDICT_BATCH = 2048
CHART_POINTS = 360  # test windows per horizon saved with the model for its chart


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    total: int
    loss: float
    val_loss: float | None  # the early-stopping windows' loss
    elapsed: float  # seconds since fit started


@dataclass(frozen=True)
class BatchProgress:
    epoch: int
    total_epochs: int
    batch: int  # 1-based, within the epoch
    batches: int
    elapsed: float


@dataclass(frozen=True)
class HorizonResult:
    """One horizon on the test windows: prices, the model's band, both baselines, the figures."""

    horizon: int
    metrics: metrics_mod.Metrics
    predicted: np.ndarray  # the median (point forecast), price units
    lo: np.ndarray
    hi: np.ndarray
    actual: np.ndarray  # the average of the minute origin + horizon
    last_price: np.ndarray | None  # each window's last close (None without a close column)
    persistence: np.ndarray  # each window's last average
    origins: np.ndarray  # ms start of each window's last minute
    bands: dict[str, metrics_mod.IntervalStats]  # reference bands on the same windows
    calibration: bands.Calibration

    @property
    def interval(self) -> float:
        return self.metrics.interval

    @property
    def minutes(self) -> np.ndarray:
        """ms start of each predicted minute."""
        return self.origins + self.horizon * 60_000


@dataclass(frozen=True)
class TrainResult:
    """Every horizon's test figures (`horizons`, shortest first); the properties below are the
    first horizon's, as code that shows one horizon reads them."""

    horizons: dict[int, HorizonResult]
    epochs_run: int
    seconds: float
    model_path: Path
    metadata_path: Path
    windows: dict[str, int]  # fit, stopping, calibration, test, dropped
    history_loss: list[float] = field(default_factory=list)
    history_val_loss: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interval: float = 0.8

    @property
    def first(self) -> HorizonResult:
        return self.horizons[min(self.horizons)]

    @property
    def metrics(self) -> metrics_mod.Metrics:
        return self.first.metrics

    @property
    def predicted(self) -> np.ndarray:
        return self.first.predicted

    @property
    def actual(self) -> np.ndarray:
        return self.first.actual

    @property
    def lo(self) -> np.ndarray:
        return self.first.lo

    @property
    def hi(self) -> np.ndarray:
        return self.first.hi

    @property
    def last_price(self) -> np.ndarray | None:
        return self.first.last_price

    @property
    def baseline(self) -> np.ndarray:
        return self.first.persistence

    @property
    def test_times(self) -> np.ndarray:
        return self.first.minutes

    @property
    def bands(self) -> dict[str, metrics_mod.IntervalStats]:
        return self.first.bands

    @property
    def train_windows(self) -> int:
        return self.windows["fit"]

    @property
    def validation_windows(self) -> int:
        return self.windows["stopping"]

    @property
    def calibration_windows(self) -> int:
        return self.windows["calibration"]

    @property
    def test_windows(self) -> int:
        return self.windows["test"]

    @property
    def dropped_windows(self) -> int:
        return self.windows["dropped"]


class TrainingCancelled(Exception):
    """The stop event was set; nothing was saved."""


@dataclass(frozen=True)
class PreparedData:
    """Everything decided before TensorFlow loads: windows, parts, and the warnings to show."""

    source: WindowSource
    parts: Parts
    rows: int
    path: Path
    warnings: list[str]
    spec: ModelSpec  # as asked, less the features whose columns the minutes lack


def _load(settings: Settings) -> LoadedMinutes:
    from btc_tui.market.store import load_minutes

    return load_minutes(settings.data)


def prepare(settings: Settings, data: LoadedMinutes, spec: ModelSpec) -> PreparedData:
    """Windows and parts from the loaded minutes; UsageError when training cannot be useful.

    Features built from a column the minutes lack (close/high/low/volume/trades: a six-column
    seed file, klines without trade counts) are left out with a warning, and the returned spec
    says which features are used."""
    if settings.window > MAX_WINDOW:
        raise UsageError(
            f"--window {settings.window} is longer than {MAX_WINDOW} minutes: the app keeps the "
            f"last 1,500 minutes, so such a model could never predict live (use at most "
            f"{MAX_WINDOW})"
        )
    warnings = list(data.warnings)
    if data.bad_lines and not data.warnings:
        warnings.append(_bad_lines_warning(data.path, data.bad_lines))
    spec, windows = _choose_features(settings, data, spec, warnings)
    _check_enough(settings, data.path, windows)
    if windows.dropped:
        warnings.append(
            f"{windows.dropped} windows dropped because they span missing minutes "
            f"({len(windows)} kept)"
        )
    parts = chronological_parts(len(windows), settings.test_fraction, gap=max(windows.horizons))
    fit, stopping, calibration, test = parts.sizes
    if fit < MIN_TRAIN_WINDOWS or min(stopping, calibration, test) < 1:
        raise UsageError(
            f"{data.path}: of {len(windows)} windows, --test-fraction {settings.test_fraction} "
            f"holds out {test} for testing, {calibration} for calibration and {stopping} for "
            f"early stopping, leaving {fit} to fit on; training needs at least "
            f"{MIN_TRAIN_WINDOWS} (use a smaller --test-fraction or collect more minutes)"
        )
    source = WindowSource(windows, spec.features)
    return PreparedData(source, parts, len(windows.series), Path(data.path), warnings, spec)


def _check_enough(settings: Settings, path: Path, windows: Windows) -> None:
    needed = max(MIN_WINDOWS, 4 * max(windows.horizons) + MIN_TRAIN_WINDOWS + 3)
    if len(windows) >= needed:
        return
    longest = max(windows.horizons)
    gaps = f", {windows.dropped} more span missing minutes" if windows.dropped else ""
    raise UsageError(
        f"{path} has {len(windows.series)} usable minutes, giving {len(windows)} windows of "
        f"{settings.window} input minutes + {longest} ahead{gaps}; training needs at least "
        f"{needed} windows, i.e. at least {settings.window + longest + needed - 1} consecutive "
        f"minutes (collect more, or use a smaller --window or shorter --horizons)"
    )


def _choose_features(
    settings: Settings, data: LoadedMinutes, spec: ModelSpec, warnings: list[str]
) -> tuple[ModelSpec, Windows]:
    """The spec's features less those whose columns the minutes lack or mostly lack."""
    needed = required_columns(spec.features)
    absent = missing_columns(data.frame, needed)
    if absent:
        warnings.append(
            f"{data.path} has no {', '.join(absent)} values; training without the inputs "
            f"built from them"
        )
    present = [name for name in needed if name not in absent]
    base = series_from_frame(data.frame)
    if base.skipped:
        warnings.append(f"{data.path}: {base.skipped} minutes without a usable avg_price skipped")
    base_windows = build_windows(base, settings.window, settings.horizons)
    rich = series_from_frame(data.frame, present)
    windows = build_windows(rich, settings.window, settings.horizons)
    if present and len(windows) < max(MIN_WINDOWS, MIN_COLUMN_COVERAGE * len(base_windows)):
        warnings.append(
            f"{data.path}: only {len(windows)} of {len(base_windows)} windows have "
            f"{', '.join(present)} for every minute; training on the price inputs only"
        )
        absent, windows = list(needed), base_windows
    elif rich.skipped > base.skipped:
        warnings.append(
            f"{data.path}: {rich.skipped - base.skipped} minutes without {', '.join(present)} "
            f"treated as missing ({len(base_windows) - len(windows)} windows fewer)"
        )
    features = without_columns(spec.features, absent)
    return dataclasses.replace(spec, features=features), windows


# With the extra columns, keep at least this share of the price-only windows, or fall back.
MIN_COLUMN_COVERAGE = 0.5


def _bad_lines_warning(path: Path, lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:10])
    more = f" and {len(lines) - 10} more" if len(lines) > 10 else ""
    return f"{path}: skipped {len(lines)} corrupt lines (line {shown}{more})"


def train(
    settings: Settings,
    data: LoadedMinutes | None = None,
    on_epoch: Callable[[EpochEnd], None] | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    *,
    spec: ModelSpec | None = None,
) -> TrainResult:
    """Fit, calibrate, evaluate on the held-out test windows, and save the model (unless
    stopped)."""
    started = time.monotonic()
    stop = stop or threading.Event()
    stage = on_stage or (lambda _text: None)
    requested = spec or ModelSpec()
    prepared = prepare(settings, _load(settings) if data is None else data, requested)
    _check_stop(stop)

    stage("loading TensorFlow")
    keras = _keras(settings.seed)
    source = prepared.source
    model = build_model(
        prepared.spec, settings.window, len(source.windows.horizons), settings.interval
    )
    _check_stop(stop)

    stage("training")
    fitted = _fit(keras, model, prepared, settings, stop, (on_epoch, on_batch))
    _check_stop(stop)

    stage("evaluating")
    parts = prepared.parts
    horizons = evaluate_outputs(
        source,
        parts,
        predict_outputs(model, source, parts.calibration),
        predict_outputs(model, source, parts.test),
        settings.interval,
    )
    _check_stop(stop)

    stage("saving")
    result = TrainResult(
        horizons=horizons,
        epochs_run=len(fitted.loss),
        seconds=0.0,
        model_path=settings.model_path,
        metadata_path=settings.metadata_path,
        windows=_window_counts(prepared),
        history_loss=fitted.loss,
        history_val_loss=fitted.val_loss,
        warnings=prepared.warnings,
        interval=settings.interval,
    )
    metadata = _metadata(settings, prepared, requested, result, fitted)
    save_model(model, metadata, settings.model_path, settings.metadata_path)
    return dataclasses.replace(result, seconds=time.monotonic() - started)


def _keras(seed: int | None) -> Any:
    keras = import_keras()
    if seed is not None:
        keras.utils.set_random_seed(seed)
        # A seed promises a repeatable run; without this, multi-threaded kernels may sum in a
        # different order from run to run.
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return keras


@dataclass(frozen=True)
class Fitted:
    loss: list[float]
    val_loss: list[float]
    best_epoch: int | None


def _fit(
    keras: Any,
    model: Any,
    prepared: PreparedData,
    settings: Settings,
    stop: threading.Event,
    callbacks: tuple[Callable[[EpochEnd], None] | None, Callable[[BatchProgress], None] | None],
) -> Fitted:
    """model.fit on the fit windows, early stopping on the stopping windows, both streamed."""
    spec, parts, source = prepared.spec, prepared.parts, prepared.source
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=spec.patience, min_delta=spec.min_delta,
        restore_best_weights=True,
    )  # fmt: skip
    fit_rows = np.arange(parts.fit.start, parts.fit.stop)
    stop_rows = np.arange(parts.stopping.start, parts.stopping.stop)
    history = model.fit(
        window_batches(keras, source, fit_rows, settings.batch_size, seed=settings.seed),
        validation_data=window_batches(keras, source, stop_rows, PREDICT_BATCH, seed=None),
        epochs=settings.epochs,
        verbose=0,
        callbacks=[stopper, _progress_callback(keras, settings.epochs, stop, *callbacks)],
    )
    loss = [float(v) for v in history.history.get("loss", [])]
    val_loss = [float(v) for v in history.history.get("val_loss", [])]
    return Fitted(loss, val_loss, _best_epoch(stopper, val_loss))


def window_batches(
    keras: Any, source: WindowSource, rows: np.ndarray, batch_size: int, seed: int | None
) -> Any:
    """A keras.utils.PyDataset over `rows` of the source: each batch encoded when asked for, the
    order shuffled every epoch when a seed (or None for a random one) is given... except for
    evaluation sets (`seed=None` with PREDICT_BATCH), kept in order."""

    class WindowBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.order = rows.copy()
            self.shuffle = batch_size != PREDICT_BATCH
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self) -> int:
            return -(-len(rows) // batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            picked = self.order[index * batch_size : (index + 1) * batch_size]
            batch = source.batch(picked)
            return batch.x, batch.y

        def on_epoch_end(self) -> None:
            if self.shuffle:
                self.rng.shuffle(self.order)

    return WindowBatches()


def predict_outputs(model: Any, source: WindowSource, rows: slice) -> np.ndarray:
    """(n, horizons, 3) network outputs for the windows `rows`, a block at a time."""
    blocks = [
        np.asarray(
            model.predict_on_batch(source.inputs(slice(i, min(rows.stop, i + PREDICT_BATCH))))
        )
        for i in range(rows.start, rows.stop, PREDICT_BATCH)
    ]
    outputs = np.concatenate(blocks) if blocks else np.zeros((0, 3 * len(source.horizons)))
    return outputs.reshape(len(outputs), len(source.horizons), 3)


def evaluate_outputs(
    source: WindowSource,
    parts: Parts,
    calibration_outputs: np.ndarray,
    test_outputs: np.ndarray,
    interval: float,
) -> dict[int, HorizonResult]:
    """Each horizon: calibrate on the calibration windows (the model's margin and weights, and the
    two reference bands), then measure everything once on the test windows."""
    cal_y, cal_anchor, cal_unit = source.targets(parts.calibration)
    _, test_anchor, test_unit = source.targets(parts.test)
    vol = source.rows.vol[source.vol_lookback]
    windows = source.windows
    cal_vol = vol[windows.origins[parts.calibration]]
    cal = windows.subset(parts.calibration)
    test = windows.subset(parts.test)
    test_vol = vol[test.origins]
    results = {}
    for j, h in enumerate(windows.horizons):
        calibration = bands.calibrate(
            calibration_outputs[:, j], cal_y[:, j], cal_unit[:, j], interval, h
        )
        lo, point, hi = calibration.apply(test_outputs[:, j])
        unit = test_unit[:, j]
        cal_actual = cal.targets(h)
        references = {
            bands.STATIC: bands.static_band(cal_actual, cal_anchor, test_anchor, interval),
            bands.ROLLING: bands.rolling_band(
                cal_actual, cal_anchor, cal_vol, test_anchor, test_vol, interval
            ),
        }
        results[h] = _horizon_result(
            h, test, (test_anchor + lo * unit, test_anchor + point * unit, test_anchor + hi * unit),
            references, calibration, interval,
        )  # fmt: skip
    return results


def _horizon_result(
    horizon: int,
    test: Windows,
    band: tuple[np.ndarray, np.ndarray, np.ndarray],
    references: dict[str, tuple[np.ndarray, np.ndarray]],
    calibration: bands.Calibration,
    interval: float,
) -> HorizonResult:
    lo, predicted, hi = band
    actual = test.targets(horizon)
    stats = {
        name: metrics_mod.interval_stats(ref_lo, ref_hi, actual, interval)
        for name, (ref_lo, ref_hi) in references.items()
    }
    close = test.last_close
    result = metrics_mod.evaluate(
        predicted,
        actual,
        test.last_prices,
        close,
        (lo, hi, interval),
        point_weight=calibration.point_weight,
        reference_scores=(stats[bands.STATIC].score, stats[bands.ROLLING].score),
        horizon=horizon,
    )
    return HorizonResult(
        horizon=horizon, metrics=result, predicted=predicted, lo=lo, hi=hi, actual=actual,
        last_price=close, persistence=test.last_prices, origins=test.origin_minutes,
        bands=stats, calibration=calibration,
    )  # fmt: skip


def _window_counts(prepared: PreparedData) -> dict[str, int]:
    fit, stopping, calibration, test = prepared.parts.sizes
    dropped = prepared.source.windows.dropped
    return {"fit": fit, "stopping": stopping, "calibration": calibration, "test": test,
            "dropped": dropped}  # fmt: skip


def _metadata(
    settings: Settings,
    prepared: PreparedData,
    requested: ModelSpec,
    result: TrainResult,
    fitted: Fitted,
) -> ModelMetadata:
    series = prepared.source.windows.series
    spec = prepared.spec
    return ModelMetadata(
        window=settings.window,
        horizons=list(result.horizons),
        features=list(spec.features),
        units=list(spec.units),
        epochs_requested=settings.epochs,
        epochs_run=result.epochs_run,
        batch_size=settings.batch_size,
        seed=settings.seed,
        data_file=str(prepared.path.resolve()),
        data_first_minute=_iso(int(series.minutes[0])),
        data_last_minute=_iso(int(series.minutes[-1])),
        rows=prepared.rows,
        windows=result.windows,
        metrics=result.metrics.to_dict(),
        interval=settings.interval,
        quantiles=list(quantile_levels(settings.interval)),
        calibration={str(h): r.calibration.to_dict() for h, r in result.horizons.items()},
        anchor="close" if "close" in series.columns else "avg_price",
        vol_lookback=prepared.source.vol_lookback,
        horizon_metrics={str(h): r.metrics.to_dict() for h, r in result.horizons.items()},
        bands={
            str(h): {name: s.to_dict() for name, s in r.bands.items()}
            for h, r in result.horizons.items()
        },
        history={"loss": fitted.loss, "val_loss": fitted.val_loss},
        test_chart={str(h): chart_points(r) for h, r in result.horizons.items()},
        versions=library_versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        training={
            "loss": "pinball", "optimizer": "adam", "learning_rate": spec.learning_rate,
            "early_stopping_patience": spec.patience, "early_stopping_min_delta": spec.min_delta,
            # restore_best_weights: the saved weights are those of the best early-stopping epoch
            "best_epoch": fitted.best_epoch,
            "stopping_fraction": STOPPING_FRACTION, "calibration_fraction": CALIBRATION_FRACTION,
            "test_fraction": settings.test_fraction,
            # what the spec asked for; `features` above is what was used (see the warnings)
            "features_requested": list(requested.features),
        },
    )  # fmt: skip


def chart_points(result: HorizonResult, points: int = CHART_POINTS) -> dict[str, list[float]]:
    """The last `points` test windows of a horizon, as plain lists for the model's JSON."""
    tail = slice(-points, None)
    return {
        "minutes": [int(v) for v in result.minutes[tail]],
        "actual": [float(v) for v in result.actual[tail]],
        "predicted": [float(v) for v in result.predicted[tail]],
        "lo": [float(v) for v in result.lo[tail]],
        "hi": [float(v) for v in result.hi[tail]],
    }


def _best_epoch(stopper: Any, val_losses: list[float]) -> int | None:
    """The epoch whose weights were kept: the last one better by more than min_delta (Keras's
    own record when it has one), which is not always the lowest early-stopping loss."""
    if not val_losses:
        return None
    best = getattr(stopper, "best_epoch", None)
    if isinstance(best, int) and 0 <= best < len(val_losses):
        return best + 1
    return int(np.argmin(val_losses)) + 1


def _check_stop(stop: threading.Event) -> None:
    if stop.is_set():
        raise TrainingCancelled("training was cancelled; the saved model was left as it was")


def _iso(minute_ms: int) -> str:
    return datetime.fromtimestamp(minute_ms / 1000, UTC).isoformat(timespec="minutes")


def _progress_callback(
    keras: Any,
    total_epochs: int,
    stop: threading.Event,
    on_epoch: Callable[[EpochEnd], None] | None,
    on_batch: Callable[[BatchProgress], None] | None,
) -> Any:
    """A Keras callback: stop on the event (checked every batch), report epochs and batches."""

    class Progress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.fit_started = time.monotonic()
            self.epoch = 0
            self.batches = 0
            self.last_report = 0.0

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.fit_started = time.monotonic()
            self.batches = int(self.params.get("steps") or 0)

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if stop.is_set():
                self.model.stop_training = True
                return
            if on_batch is None:
                return
            now = time.monotonic()
            if now - self.last_report >= BATCH_PROGRESS_INTERVAL:
                self.last_report = now
                on_batch(
                    BatchProgress(
                        epoch=self.epoch,
                        total_epochs=total_epochs,
                        batch=batch + 1,
                        batches=self.batches,
                        elapsed=now - self.fit_started,
                    )
                )

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if stop.is_set():
                self.model.stop_training = True
                return
            if on_epoch is None:
                return
            logs = logs or {}
            val_loss = logs.get("val_loss")
            on_epoch(
                EpochEnd(
                    epoch=epoch + 1,
                    total=total_epochs,
                    loss=float(logs.get("loss", float("nan"))),
                    val_loss=None if val_loss is None else float(val_loss),
                    elapsed=time.monotonic() - self.fit_started,
                )
            )

    return Progress()
