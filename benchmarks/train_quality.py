"""Forecast quality and training speed on 20 days of real minutes (the kline fixture).

Converts the fixture to our minute CSV in a temp dir, trains each chosen variant with `train()`
(the code the CLI and the TUI use) and prints, on the same test windows: MAE, MAPE, skill vs
persistence and vs a linear autoregression (least squares on the last 10 price changes, fitted
on the non-test windows only), epochs, time to a trained model and training windows/s.

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
    "default": (ModelSpec(), None),
}


def linear_ar(windows, split) -> np.ndarray:
    """Least-squares AR on the last AR_LAGS price changes -> next change, fitted before the test."""
    inputs = windows.inputs
    changes = np.diff(inputs[:, -(AR_LAGS + 1) :], axis=1)
    design = np.column_stack([changes, np.ones(len(changes))])
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

    windows = build_windows(series_from_frame(data.frame), base.window, base.horizon)
    split = chronological_split(len(windows), base.test_fraction)
    test = windows.subset(split.test)
    ar = metrics.evaluate(linear_ar(windows, split), test.targets, test.last_prices)
    print(
        f"{len(data.frame)} minutes, windows train/val/test = {split.sizes}, "
        f"window {base.window}, horizon {base.horizon}, seed {args.seed}"
    )
    print(f"persistence: MAE {ar.baseline_mae:.3f}  MAPE {ar.baseline_mape:.4f}%")
    print(
        f"linear AR({AR_LAGS} changes): MAE {ar.mae:.3f}  MAPE {ar.mape:.4f}%  "
        f"skill {ar.skill:+.4f}  direction {ar.direction_accuracy:.3f}"
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
        rows.append(
            (name, settings.batch_size, result.epochs_run, total, result.train_windows / steady, m)
        )
        print(
            f"{name}: MAE {m.mae:.3f} MAPE {m.mape:.4f}% skill {m.skill:+.4f} "
            f"(vs AR {1 - m.mae / ar.mae:+.4f}) direction {m.direction_accuracy:.3f} "
            f"epochs {result.epochs_run} time {total:.1f}s "
            f"{result.train_windows / steady:.0f} windows/s",
            flush=True,
        )
        if name == args.variants[-1]:
            predict_speed(settings, data)

    print()
    print(
        f"{'variant':<20}{'batch':>6}{'epochs':>7}{'seconds':>9}{'win/s':>8}"
        f"{'MAE':>9}{'MAPE %':>9}{'skill':>9}{'vs AR':>8}{'dir':>7}"
    )
    print(
        f"{'persistence':<20}{'':>6}{'':>7}{'':>9}{'':>8}{ar.baseline_mae:>9.3f}"
        f"{ar.baseline_mape:>9.4f}{0:>+9.4f}{'':>8}{'':>7}"
    )
    print(
        f"{'linear AR':<20}{'':>6}{'':>7}{'':>9}{'':>8}{ar.mae:>9.3f}"
        f"{ar.mape:>9.4f}{ar.skill:>+9.4f}{0:>+8.3f}{ar.direction_accuracy:>7.3f}"
    )
    for name, batch, epochs, total, rate, m in rows:
        print(
            f"{name:<20}{batch:>6}{epochs:>7}{total:>9.1f}{rate:>8.0f}{m.mae:>9.3f}"
            f"{m.mape:>9.4f}{m.skill:>+9.4f}{1 - m.mae / ar.mae:>+8.3f}"
            f"{m.direction_accuracy:>7.3f}"
        )


if __name__ == "__main__":
    main()
