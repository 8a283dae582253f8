"""Forecast quality and training speed on 20 days of real minutes (the kline fixture).

Converts the fixture to our minute CSV in a temp dir, trains each chosen variant with `train()`
(the code the CLI and the TUI use) and prints, on the same test windows: MAE, MAPE, skill vs
persistence and vs two linear autoregressions fitted by least squares on the non-test windows
only: on the last 10 price changes ("AR"), and on those plus the last minute's close, high and low
relative to its avg_price ("feature-AR", the same extra information the "chl" LSTMs get). Also:
epochs, the best validation loss (what to choose by: the test set is only reported), time to a
trained model and training windows/s.

    .venv/bin/python benchmarks/train_quality.py                   # the default model
    .venv/bin/python benchmarks/train_quality.py --variants seed default --epochs 50
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fixtures import require_klines, write_minute_csv
from btc_tui.config import Settings
from btc_tui.forecast import metrics
from btc_tui.forecast.dataset import build_windows, chronological_split, series_from_frame
from btc_tui.forecast.model import ModelSpec
from btc_tui.forecast.training import EpochEnd, train
from btc_tui.market.store import load_minutes

AR_LAGS = 10
CHL = ("level", "change", "close", "high", "low")

# name -> (spec, batch size); "default" is whatever ModelSpec() and Settings() give users.
VARIANTS: dict[str, tuple[ModelSpec, int | None]] = {
    "seed": (ModelSpec(target_kind="level", features=("level",)), 32),
    "seed-b256": (ModelSpec(target_kind="level", features=("level",)), 256),
    "change": (ModelSpec(target_kind="change", features=("level",)), 256),
    "change+diffs": (ModelSpec(target_kind="change", features=("level", "change")), 256),
    "diffs-only": (ModelSpec(target_kind="change", features=("change",)), 256),
    "change+diffs-b32": (ModelSpec(target_kind="change", features=("level", "change")), 32),
    "change+diffs-b128": (ModelSpec(target_kind="change", features=("level", "change")), 128),
    "change+diffs-b512": (ModelSpec(target_kind="change", features=("level", "change")), 512),
    "change+diffs-jit": (
        ModelSpec(target_kind="change", features=("level", "change"), jit_compile=True),
        256,
    ),
    "change+diffs-mae": (
        ModelSpec(target_kind="change", features=("level", "change"), loss="mae"),
        256,
    ),
    "change+diffs-lr2e-3": (
        ModelSpec(target_kind="change", features=("level", "change"), learning_rate=2e-3),
        256,
    ),
    "change+diffs-p10": (
        ModelSpec(target_kind="change", features=("level", "change"), patience=10),
        256,
    ),
    "change+diffs-mae-lr2e-3": (
        ModelSpec(
            target_kind="change", features=("level", "change"), loss="mae", learning_rate=2e-3
        ),
        256,
    ),
    "diffs-only-mae-lr2e-3": (
        ModelSpec(target_kind="change", features=("change",), loss="mae", learning_rate=2e-3),
        256,
    ),
    "change+diffs-mae-lr3e-3-p3": (
        ModelSpec(
            target_kind="change",
            features=("level", "change"),
            loss="mae",
            learning_rate=3e-3,
            patience=3,
        ),
        256,
    ),
    # With the minute's close/high/low relative to its avg_price (dataset.COLUMN_FEATURES).
    "chl": (ModelSpec(features=CHL), 256),
    "chl-b256-lr2e-3-p3": (
        ModelSpec(features=CHL, units=(64, 32), learning_rate=2e-3, patience=3),
        256,
    ),
    "chl-b512-lr3e-3-p3": (ModelSpec(features=CHL, learning_rate=3e-3, patience=3), 512),
    "chl-32x16-b512-lr3e-3-p3": (
        ModelSpec(features=CHL, units=(32, 16), learning_rate=3e-3, patience=3),
        512,
    ),
    "chl-32x16-b256-lr2e-3-p3": (
        ModelSpec(features=CHL, units=(32, 16), learning_rate=2e-3, patience=3),
        256,
    ),
    "chl-32x16-b1024-lr5e-3-p3": (
        ModelSpec(features=CHL, units=(32, 16), learning_rate=5e-3, patience=3),
        1024,
    ),
    "chl-32x16-b512-lr3e-3-p2": (
        ModelSpec(features=CHL, units=(32, 16), learning_rate=3e-3, patience=2),
        512,
    ),
    "chl-32x16-b512-lr4e-3-p3": (
        ModelSpec(features=CHL, units=(32, 16), learning_rate=4e-3, patience=3),
        512,
    ),
    "chl-16x8-b512-lr3e-3-p3": (
        ModelSpec(features=CHL, units=(16, 8), learning_rate=3e-3, patience=3),
        512,
    ),
    "chl-nolevel-b512-lr3e-3-p3": (
        ModelSpec(features=("change", "close", "high", "low"), learning_rate=3e-3, patience=3),
        512,
    ),
    "change+diffs-b512-lr3e-3-p3": (
        ModelSpec(features=("level", "change"), learning_rate=3e-3, patience=3),
        512,
    ),
    "default": (ModelSpec(), None),
}


def linear_ar(windows, split, columns: tuple[str, ...] = ()) -> np.ndarray:
    """Least-squares AR on the last AR_LAGS price changes (and the last minute's `columns` minus
    its avg_price) -> next change, fitted on the windows before the test set."""
    inputs = windows.inputs
    changes = np.diff(inputs[:, -(AR_LAGS + 1) :], axis=1)
    extra = [windows.column_inputs(name)[:, -1] - inputs[:, -1] for name in columns]
    design = np.column_stack([changes, *extra, np.ones(len(changes))])
    target = windows.targets - windows.last_prices
    fit = slice(0, split.test.start)
    coef, *_ = np.linalg.lstsq(design[fit], target[fit], rcond=None)
    return windows.last_prices[split.test] + design[split.test] @ coef


def predict_speed(settings: Settings, data) -> None:
    """The live prediction's cost: Predictor.predict on the latest minutes, after a warm-up."""
    from btc_tui.forecast.predictor import Predictor

    predictor = Predictor.load(settings)
    frame = data.frame.iloc[-500:]
    predictor.predict(frame)
    runs = 50
    started = time.perf_counter()
    for _ in range(runs):
        predictor.predict(frame)
    per_call = (time.perf_counter() - started) / runs
    print(f"  Predictor.predict (latest {settings.window} minutes): {per_call * 1000:.1f} ms/call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS))
    parser.add_argument("--epochs", type=int, default=Settings().epochs)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="btc-tui-bench-"))
    csv_path = tmp / "minutes.csv"
    write_minute_csv(require_klines(), csv_path)
    data = load_minutes(csv_path)
    base = Settings(data=csv_path, models=tmp / "models", epochs=args.epochs, seed=args.seed)

    chl = ("close", "high", "low")
    windows = build_windows(series_from_frame(data.frame, chl), base.window, base.horizon)
    assert windows.series.skipped == 0, "the fixture has every column of every minute"
    split = chronological_split(len(windows), base.test_fraction)
    test = windows.subset(split.test)
    ar = metrics.evaluate(linear_ar(windows, split), test.targets, test.last_prices)
    far = metrics.evaluate(linear_ar(windows, split, chl), test.targets, test.last_prices)
    print(
        f"{len(data.frame)} minutes, windows train/val/test = {split.sizes}, "
        f"window {base.window}, horizon {base.horizon}, seed {args.seed}"
    )
    print(f"persistence: MAE {ar.baseline_mae:.3f}  MAPE {ar.baseline_mape:.4f}%")
    print(
        f"linear AR({AR_LAGS} changes): MAE {ar.mae:.3f}  MAPE {ar.mape:.4f}%  "
        f"skill {ar.skill:+.4f}  direction {ar.direction_accuracy:.3f}"
    )
    print(
        f"feature-AR({AR_LAGS} changes + last close/high/low - avg): MAE {far.mae:.3f}  "
        f"MAPE {far.mape:.4f}%  skill {far.skill:+.4f}  direction {far.direction_accuracy:.3f}"
    )
    sys.stdout.flush()

    rows = []
    for name in args.variants:
        spec, batch = VARIANTS[name]
        settings = base.with_changes(
            batch_size=batch or base.batch_size, models=tmp / "models" / name
        )
        epoch_times: list[float] = []

        def on_epoch(e: EpochEnd, _times=epoch_times, _name=name) -> None:
            _times.append(e.elapsed)
            if not args.quiet:
                print(
                    f"  [{_name}] epoch {e.epoch}/{e.total} loss {e.loss:.6f} "
                    f"val_loss {e.val_loss:.6f} {e.elapsed:.1f}s",
                    flush=True,
                )

        started = time.monotonic()
        result = train(settings, data, on_epoch=on_epoch, spec=spec)
        total = time.monotonic() - started
        per_epoch = np.diff([0.0, *epoch_times])
        # The first epoch includes tracing; the median of the rest is the steady throughput.
        steady = float(np.median(per_epoch[1:] if len(per_epoch) > 1 else per_epoch))
        m = result.metrics
        best_val = min(result.history_val_loss) if result.history_val_loss else float("nan")
        rows.append(
            (
                name,
                settings.batch_size,
                result.epochs_run,
                total,
                result.train_windows / steady,
                m,
                best_val,
            )
        )
        print(
            f"{name}: MAE {m.mae:.3f} MAPE {m.mape:.4f}% skill {m.skill:+.4f} "
            f"(vs AR {1 - m.mae / ar.mae:+.4f}, vs feature-AR {1 - m.mae / far.mae:+.4f}) "
            f"direction {m.direction_accuracy:.3f} best val_loss {best_val:.6g} "
            f"epochs {result.epochs_run} time {total:.1f}s "
            f"{result.train_windows / steady:.0f} windows/s "
            f"features {','.join(result_features(settings))}",
            flush=True,
        )
        for warning in result.warnings:
            print(f"  warning: {warning}")
        if name == args.variants[-1]:
            predict_speed(settings, data)

    print()
    print(
        f"{'variant':<28}{'batch':>6}{'epochs':>7}{'seconds':>9}{'win/s':>8}{'val_loss':>10}"
        f"{'MAE':>9}{'MAPE %':>9}{'skill':>9}{'vs AR':>8}{'vs fAR':>8}{'dir':>7}"
    )
    blank = f"{'':>6}{'':>7}{'':>9}{'':>8}{'':>10}"
    print(
        f"{'persistence':<28}{blank}{ar.baseline_mae:>9.3f}"
        f"{ar.baseline_mape:>9.4f}{0:>+9.4f}{'':>8}{'':>8}{'':>7}"
    )
    for label, ref in (("linear AR(10)", ar), ("feature-AR(10+chl)", far)):
        print(
            f"{label:<28}{blank}{ref.mae:>9.3f}{ref.mape:>9.4f}{ref.skill:>+9.4f}"
            f"{1 - ref.mae / ar.mae:>+8.3f}{1 - ref.mae / far.mae:>+8.3f}"
            f"{ref.direction_accuracy:>7.3f}"
        )
    for name, batch, epochs, total, rate, m, best_val in rows:
        print(
            f"{name:<28}{batch:>6}{epochs:>7}{total:>9.1f}{rate:>8.0f}{best_val:>10.6f}"
            f"{m.mae:>9.3f}{m.mape:>9.4f}{m.skill:>+9.4f}{1 - m.mae / ar.mae:>+8.3f}"
            f"{1 - m.mae / far.mae:>+8.3f}{m.direction_accuracy:>7.3f}"
        )


def result_features(settings: Settings) -> list[str]:
    """The features the saved model used (its metadata), after any fallback."""
    import json

    return json.loads(settings.metadata_path.read_text())["features"]


if __name__ == "__main__":
    main()
