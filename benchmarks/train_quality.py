"""Forecast quality on real minutes: the model beside every baseline, and its intervals.

By default converts the 20-day kline fixture to our minute CSV in a temp dir (`--data FILE`
evaluates any minute CSV instead), trains each chosen variant with `train()` (the code the CLI and
the TUI use) and prints, on the same test windows:
- point forecasts: MAE, MAPE and skill against persistence (last average) and the last price (last
  close) of the model, the two baselines, and two linear autoregressions fitted by least squares on
  the non-test windows: on the last 10 changes ("AR"), and on those plus the last minute's close,
  high and low relative to its avg_price ("feature-AR");
- intervals: coverage, mean width and interval (Winkler) score of the model's band, the static
  band and the rolling-volatility band (forecast/bands.py);
- time to a saved model and the live prediction's cost.

    .venv/bin/python benchmarks/train_quality.py                       # the default model
    .venv/bin/python benchmarks/train_quality.py --data data/bitcoin_price_stream.csv
    .venv/bin/python benchmarks/train_quality.py --variants default change --epochs 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fixtures import fixture_csv
from btc_tui.config import Settings
from btc_tui.forecast import metrics
from btc_tui.forecast.bands import ROLLING, STATIC
from btc_tui.forecast.dataset import (
    build_windows,
    chronological_split,
    missing_columns,
    series_from_frame,
)
from btc_tui.forecast.model import ModelSpec
from btc_tui.forecast.report import verdict
from btc_tui.forecast.training import EpochEnd, last_prices, train
from btc_tui.market.store import load_minutes

AR_LAGS = 10
CHL = ("level", "change", "close", "high", "low")

# name -> (spec, batch size); "default" is whatever ModelSpec() and Settings() give users.
VARIANTS: dict[str, tuple[ModelSpec, int | None]] = {
    "default": (ModelSpec(), None),
    # the previous default's target: the change from the last average in window units
    "change": (ModelSpec(target_kind="change"), None),
    "32x16": (ModelSpec(units=(32, 16)), None),
    "lr1e-3": (ModelSpec(learning_rate=1e-3), None),
    "p5": (ModelSpec(patience=5), None),
    "min-delta-1e-3": (ModelSpec(min_delta=1e-3), None),
    "min-delta-3e-4": (ModelSpec(min_delta=3e-4), None),
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
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        predictor.predict(frame)
    per_call = (time.perf_counter() - started) / runs
    print(f"  Predictor.predict (latest {settings.window} minutes): {per_call * 1000:.2f} ms/call")


def row(name: str, mae: float, mape: float, persistence: float, last: float) -> str:
    vs_last = "" if np.isnan(last) else f"{1 - mae / last:>+9.4f}"
    return f"{name:<34}{mae:>9.3f}{mape:>10.5f}{1 - mae / persistence:>+9.4f}{vs_last:>9}"


def band_row(name: str, stats: metrics.IntervalStats) -> str:
    return f"{name:<34}{stats.coverage:>9.1%}{stats.width:>9.2f}{stats.score:>9.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a minute CSV (default: the kline fixture)")
    parser.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS))
    parser.add_argument("--epochs", type=int, default=Settings().epochs)
    parser.add_argument("--interval", type=float, default=Settings().interval)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="btc-tui-bench-"))
    csv_path = args.data or fixture_csv(tmp / "minutes.csv")
    data = load_minutes(csv_path)
    base = Settings(
        data=csv_path,
        models=tmp / "models",
        epochs=args.epochs,
        seed=args.seed,
        interval=args.interval,
    )

    chl = ("close", "high", "low")
    has_bars = not missing_columns(data.frame, chl)
    series = series_from_frame(data.frame, chl if has_bars else ())
    windows = build_windows(series, base.window, base.horizon)
    split = chronological_split(len(windows), base.test_fraction)
    test = windows.subset(split.test)
    close = last_prices(test)
    ar = metrics.evaluate(linear_ar(windows, split), test.targets, test.last_prices, close)
    far = (
        metrics.evaluate(linear_ar(windows, split, chl), test.targets, test.last_prices, close)
        if has_bars
        else None
    )
    print(
        f"{csv_path}: {len(data.frame)} minutes, windows train/val/test = {split.sizes}, "
        f"window {base.window}, horizon {base.horizon}, seed {args.seed}"
        + ("" if has_bars else "; no close/high/low: persistence is the only baseline")
    )
    sys.stdout.flush()

    results = []
    for name in args.variants:
        spec, batch = VARIANTS[name]
        settings = base.with_changes(
            batch_size=batch or base.batch_size, models=tmp / "models" / name
        )

        def on_epoch(e: EpochEnd, _name=name) -> None:
            if not args.quiet:
                print(
                    f"  [{_name}] epoch {e.epoch}/{e.total} loss {e.loss:.6f} "
                    f"val_loss {e.val_loss:.6f} {e.elapsed:.1f}s",
                    flush=True,
                )

        started = time.monotonic()
        result = train(settings, data, on_epoch=on_epoch, spec=spec)
        total = time.monotonic() - started
        # The baselines and ARs above were computed on this script's own windows: they must be
        # the model's test windows exactly, or every skill printed below would be silently off.
        if len(result.actual) != len(test) or not np.array_equal(result.actual, test.targets):
            sys.exit(
                f"{name}: the model was tested on {len(result.actual)} windows, this script's "
                f"baselines on {len(test)} other ones (minutes lacking close/high/low?); "
                f"compare the model's own figures: btc-tui train --data {csv_path} --json"
            )
        results.append((name, result, total))
        for warning in result.warnings:
            print(f"  warning: {warning}")
        print(
            f"{name}: epochs {result.epochs_run}, {total:.1f}s to a saved model, "
            f"features {','.join(result_features(settings))}",
            flush=True,
        )
        if name == args.variants[-1]:
            predict_speed(settings, data)

    m0 = ar
    print()
    print(
        f"{'point forecast (test windows)':<34}{'MAE':>9}{'MAPE %':>10}{'vs pers':>9}{'vs last':>9}"
    )
    print(
        row(
            "persistence (last average)",
            m0.baseline_mae,
            m0.baseline_mape,
            m0.baseline_mae,
            m0.last_price_mae,
        )
    )
    if has_bars:
        print(
            row(
                "last price (last close)",
                m0.last_price_mae,
                m0.last_price_mape,
                m0.baseline_mae,
                m0.last_price_mae,
            )
        )
    print(row(f"linear AR({AR_LAGS} changes)", ar.mae, ar.mape, m0.baseline_mae, m0.last_price_mae))
    if far is not None:
        print(
            row(
                f"feature-AR({AR_LAGS} + last c/h/l)",
                far.mae,
                far.mape,
                m0.baseline_mae,
                m0.last_price_mae,
            )
        )
    for name, result, _total in results:
        m = result.metrics
        # Say so when the point forecast is a naive rule itself (no correction kept).
        label = f"LSTM {name}" + (f" (= {m.point_forecast})" if m.point_is_naive else "")
        print(row(label, m.mae, m.mape, m0.baseline_mae, m0.last_price_mae))
    for name, result, _total in results:
        print(f"  LSTM {name}: {verdict(result.metrics)}")
    print()
    print(
        f"{args.interval:.0%} intervals (test windows)".ljust(34)
        + f"{'coverage':>9}{'width':>9}{'score':>9}"
    )
    for name, result, _total in results:
        for band, stats in result.bands.items():
            if name == results[0][0]:
                print(band_row(band, stats))
        m = result.metrics
        print(
            band_row(
                f"LSTM {name}",
                metrics.IntervalStats(m.interval, m.coverage, m.width, m.interval_score),
            )
        )
        static, rolling = result.bands[STATIC].score, result.bands[ROLLING].score
        print(
            f"  LSTM {name}: score {1 - m.interval_score / static:+.1%} vs static band, "
            f"{1 - m.interval_score / rolling:+.1%} vs rolling-volatility band "
            f"(positive = better)"
        )


def result_features(settings: Settings) -> list[str]:
    """The features the saved model used (its metadata), after any fallback."""
    import json

    return json.loads(settings.metadata_path.read_text())["features"]


if __name__ == "__main__":
    main()
