"""One `train()` for the CLI and the TUI's worker thread: data -> fitted, evaluated, saved model.

The data is checked before TensorFlow is imported (3.5 s), so unusable input fails at once.
Progress goes out through plain callables receiving the frozen dataclasses below; a
`threading.Event` stops training within about a batch.
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
    VALIDATION_FRACTION,
    VOL_LOOKBACK,
    Encoded,
    Split,
    Windows,
    build_windows,
    chronological_split,
    encode,
    missing_columns,
    price_only,
    recent_volatility,
    required_columns,
    series_from_frame,
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
    from btc_tui.forecast.dataset import MinuteSeries
    from btc_tui.market.store import LoadedMinutes

# Fewer windows than this cannot give a model, a validation set for early stopping and a test
# set that mean anything.
MIN_WINDOWS = 30
MIN_TRAIN_WINDOWS = 20
BATCH_PROGRESS_INTERVAL = 0.2  # seconds: at most ~5 progress events per second
PREDICT_BATCH = 2048


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    total: int
    loss: float
    val_loss: float | None
    elapsed: float  # seconds since fit started


@dataclass(frozen=True)
class BatchProgress:
    epoch: int
    total_epochs: int
    batch: int  # 1-based, within the epoch
    batches: int
    elapsed: float


@dataclass(frozen=True)
class TrainResult:
    metrics: metrics_mod.Metrics
    predicted: np.ndarray  # test-set predictions, price units
    actual: np.ndarray  # test-set actual prices
    baseline: np.ndarray  # persistence: each test window's last observed price
    test_times: np.ndarray  # ms, the minute each test target belongs to
    epochs_run: int
    seconds: float
    model_path: Path
    metadata_path: Path
    train_windows: int
    test_windows: int
    dropped_windows: int
    history_loss: list[float] = field(default_factory=list)
    history_val_loss: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    validation_windows: int = 0
    # The model's interval on the test windows (price units), its nominal coverage, and the
    # last-price baseline (each test window's last close; None for files without a close).
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    interval: float = 0.8
    last_price: np.ndarray | None = None
    # The reference bands on the same test windows: bands.STATIC / bands.ROLLING -> figures.
    bands: dict[str, metrics_mod.IntervalStats] = field(default_factory=dict)


class TrainingCancelled(Exception):
    """The stop event was set; nothing was saved."""


@dataclass(frozen=True)
class PreparedData:
    """Everything decided before TensorFlow loads: windows, split, and the warnings to show."""

    encoded: Encoded
    split: Split
    rows: int
    path: Path
    warnings: list[str]
    spec: ModelSpec  # as asked, or with price-only features when the data lacks the columns


def _load(settings: Settings) -> LoadedMinutes:
    from btc_tui.market.store import load_minutes

    return load_minutes(settings.data)


def prepare(settings: Settings, data: LoadedMinutes, spec: ModelSpec) -> PreparedData:
    """Windows and split from the loaded minutes; UsageError when training cannot be useful.

    Features built from close/high/low need those columns: a six-column seed file (or one where
    they are mostly missing) trains on the price-only features instead, with a warning, and the
    returned spec says which features were used.
    """
    warnings = list(data.warnings)
    if data.bad_lines and not data.warnings:
        warnings.append(_bad_lines_warning(data.path, data.bad_lines))
    series = series_from_frame(data.frame)
    if series.skipped:
        warnings.append(f"{data.path}: {series.skipped} minutes without a usable avg_price skipped")
    windows: Windows = build_windows(series, settings.window, settings.horizon)
    spec, series, windows = _choose_features(settings, data, spec, series, windows, warnings)
    span = settings.window + settings.horizon
    if len(windows) < MIN_WINDOWS:
        gaps = f", {windows.dropped} more span missing minutes" if windows.dropped else ""
        raise UsageError(
            f"{data.path} has {len(series)} usable minutes, giving {len(windows)} windows of "
            f"{settings.window} input minutes + {settings.horizon} ahead{gaps}; training needs at "
            f"least {MIN_WINDOWS} windows, i.e. at least {span + MIN_WINDOWS - 1} consecutive "
            f"minutes (collect more, or use a smaller --window)"
        )
    if windows.dropped:
        warnings.append(
            f"{windows.dropped} windows dropped because they span missing minutes "
            f"({len(windows)} kept)"
        )
    split = chronological_split(len(windows), settings.test_fraction)
    n_train, n_val, n_test = split.sizes
    if n_train < MIN_TRAIN_WINDOWS:
        raise UsageError(
            f"{data.path}: of {len(windows)} windows, --test-fraction {settings.test_fraction} "
            f"holds out {n_test} for testing and {n_val} for validation, leaving {n_train} to "
            f"train on; training needs at least {MIN_TRAIN_WINDOWS} (use a smaller "
            f"--test-fraction or collect more minutes)"
        )
    encoded = encode(windows, spec.features, spec.target_kind)
    return PreparedData(encoded, split, len(series), Path(data.path), warnings, spec)


# With the extra columns, keep at least this share of the price-only windows, or fall back.
MIN_COLUMN_COVERAGE = 0.5


def _choose_features(
    settings: Settings,
    data: LoadedMinutes,
    spec: ModelSpec,
    series: MinuteSeries,
    windows: Windows,
    warnings: list[str],
) -> tuple[ModelSpec, MinuteSeries, Windows]:
    """The spec's features if the minutes carry the columns they need, else price-only ones."""
    needed = required_columns(spec.features)
    if not needed:
        return spec, series, windows
    fallback = dataclasses.replace(spec, features=price_only(spec.features))
    names = ", ".join(needed)
    instead = (
        f"training on the price-only features ({', '.join(fallback.features)}) instead of "
        f"({', '.join(spec.features)})"
    )
    absent = missing_columns(data.frame, needed)
    if absent:
        warnings.append(
            f"{data.path} has no {', '.join(absent)} values (a six-column file?); {instead}"
        )
        return fallback, series, windows
    rich = series_from_frame(data.frame, needed)
    rich_windows = build_windows(rich, settings.window, settings.horizon)
    if len(rich_windows) < max(MIN_WINDOWS, MIN_COLUMN_COVERAGE * len(windows)):
        warnings.append(
            f"{data.path}: only {len(rich_windows)} of {len(windows)} windows have {names} for "
            f"every minute; {instead}"
        )
        return fallback, series, windows
    lost = rich.skipped - series.skipped
    if lost:
        warnings.append(
            f"{data.path}: {lost} minutes without {names} treated as missing "
            f"({len(windows) - len(rich_windows)} windows fewer)"
        )
    return spec, rich, rich_windows


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
    """Fit, evaluate on the held-out test windows, and save the model (unless stopped)."""
    started = time.monotonic()
    interval = settings.interval
    spec = spec or ModelSpec()
    stop = stop or threading.Event()
    stage = on_stage or (lambda _text: None)
    if data is None:
        data = _load(settings)
    requested = spec
    prepared = prepare(settings, data, spec)
    spec = prepared.spec  # the features actually used
    _check_stop(stop)

    stage("loading TensorFlow")
    keras = import_keras()
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)
        # A seed promises a repeatable run; without this, multi-threaded kernels may sum in a
        # different order from run to run.
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    model = build_model(spec, settings.window, interval)
    _check_stop(stop)

    encoded, split = prepared.encoded, prepared.split
    stage("training")
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=spec.patience,
        min_delta=spec.min_delta,
        restore_best_weights=True,
    )
    history = model.fit(
        encoded.x[split.train],
        encoded.y[split.train],
        validation_data=(encoded.x[split.validation], encoded.y[split.validation]),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[
            stopper,
            _progress_callback(keras, settings.epochs, stop, on_epoch, on_batch),
        ],
    )
    _check_stop(stop)
    losses = [float(v) for v in history.history.get("loss", [])]
    val_losses = [float(v) for v in history.history.get("val_loss", [])]

    stage("evaluating")
    # The interval's margin comes from the validation windows only, never the test windows.
    val_out = model.predict(encoded.x[split.validation], batch_size=PREDICT_BATCH, verbose=0)
    margin = bands.conformal_margin(
        val_out[:, 0], val_out[:, 2], encoded.y[split.validation], interval
    )
    # So is the share of the network's correction kept in the point forecast.
    point_weight = bands.fit_point_weight(
        val_out[:, 1], encoded.y[split.validation], encoded.unit[split.validation]
    )
    evaluation = evaluate_outputs(
        encoded,
        split,
        model.predict(encoded.x[split.test], batch_size=PREDICT_BATCH, verbose=0),
        margin,
        interval,
        point_weight,
    )
    result_metrics = evaluation.metrics
    _check_stop(stop)

    stage("saving")
    n_train, n_val, n_test = split.sizes
    series = encoded.windows.series
    metadata = ModelMetadata(
        window=settings.window,
        horizon=settings.horizon,
        target_kind=spec.target_kind,
        features=list(spec.features),
        units=list(spec.units),
        epochs_requested=settings.epochs,
        epochs_run=len(losses),
        batch_size=settings.batch_size,
        seed=settings.seed,
        data_file=str(prepared.path.resolve()),
        data_first_minute=_iso(int(series.minutes[0])),
        data_last_minute=_iso(int(series.minutes[-1])),
        rows=prepared.rows,
        windows={
            "train": n_train,
            "validation": n_val,
            "test": n_test,
            "dropped": encoded.windows.dropped,
        },
        metrics=result_metrics.to_dict(),
        interval=interval,
        quantiles=list(quantile_levels(interval)),
        calibration=margin,
        point_weight=point_weight,
        anchor="close" if _anchor_column(encoded, spec.target_kind) else "avg_price",
        vol_lookback=VOL_LOOKBACK,
        bands={name: stats.to_dict() for name, stats in evaluation.bands.items()},
        versions=library_versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        training={
            "loss": "pinball",
            "optimizer": "adam",
            "learning_rate": spec.learning_rate,
            "early_stopping_patience": spec.patience,
            "early_stopping_min_delta": spec.min_delta,
            # restore_best_weights: the saved weights are those of the best validation epoch
            "best_epoch": _best_epoch(stopper, val_losses),
            "validation_fraction": VALIDATION_FRACTION,
            "test_fraction": settings.test_fraction,
            # what the spec asked for; `features` above is what was used (see the warnings)
            "features_requested": list(requested.features),
        },
    )
    save_model(model, metadata, settings.model_path, settings.metadata_path)
    test = encoded.windows.subset(split.test)
    return TrainResult(
        metrics=result_metrics,
        predicted=evaluation.predicted,
        actual=test.targets,
        baseline=test.last_prices,
        test_times=test.target_minutes,
        epochs_run=len(losses),
        seconds=time.monotonic() - started,
        model_path=settings.model_path,
        metadata_path=settings.metadata_path,
        train_windows=n_train,
        test_windows=n_test,
        dropped_windows=encoded.windows.dropped,
        history_loss=losses,
        history_val_loss=val_losses,
        warnings=prepared.warnings,
        validation_windows=n_val,
        lo=evaluation.lo,
        hi=evaluation.hi,
        interval=interval,
        last_price=evaluation.last_price,
        bands=evaluation.bands,
    )


@dataclass(frozen=True)
class Evaluation:
    metrics: metrics_mod.Metrics
    predicted: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    last_price: np.ndarray | None
    bands: dict[str, metrics_mod.IntervalStats]


def _anchor_column(encoded: Encoded, target_kind: str) -> bool:
    return target_kind == "correction" and "close" in encoded.windows.series.columns


def last_prices(windows: Windows) -> np.ndarray | None:
    """Each window's last close (the last-price baseline); None when the minutes have none."""
    if "close" not in windows.series.columns:
        return None
    return windows.series.columns["close"][windows.last_index]


def evaluate_outputs(
    encoded: Encoded,
    split: Split,
    outputs: np.ndarray,
    margin: float,
    interval: float,
    point_weight: float = 1.0,
) -> Evaluation:
    """The test windows' (n, 3) network outputs -> prices, the model's band, the metrics beside
    both baselines, and the two reference bands fitted on the training windows."""
    windows = encoded.windows
    test = windows.subset(split.test)
    lo, median, hi = bands.apply_margin(outputs, margin, point_weight)
    predicted = encoded.decode(median, split.test)
    lo_price = encoded.decode(lo, split.test)
    hi_price = encoded.decode(hi, split.test)
    actual = test.targets
    close = last_prices(test)
    # Reference bands around the last price (the last average without a close).
    train = windows.subset(split.train)
    train_close = last_prices(train)
    train_anchor = train.last_prices if train_close is None else train_close
    test_anchor = test.last_prices if close is None else close
    train_vol = recent_volatility(train.inputs)
    test_vol = recent_volatility(test.inputs)
    references = {
        bands.STATIC: bands.static_band(train.targets, train_anchor, test_anchor, interval),
        bands.ROLLING: bands.rolling_band(
            train.targets, train_anchor, train_vol, test_anchor, test_vol, interval
        ),
    }
    reference_stats = {
        name: metrics_mod.interval_stats(band_lo, band_hi, actual, interval)
        for name, (band_lo, band_hi) in references.items()
    }
    result = metrics_mod.evaluate(
        predicted,
        actual,
        test.last_prices,
        close,
        (lo_price, hi_price, interval),
        point_weight=point_weight,
        reference_scores=(
            reference_stats[bands.STATIC].score,
            reference_stats[bands.ROLLING].score,
        ),
    )
    return Evaluation(
        metrics=result,
        predicted=predicted,
        lo=lo_price,
        hi=hi_price,
        last_price=close,
        bands=reference_stats,
    )


def _best_epoch(stopper: Any, val_losses: list[float]) -> int | None:
    """The epoch whose weights were kept: the last one better by more than min_delta (Keras's
    own record when it has one), which is not always the lowest validation loss."""
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
