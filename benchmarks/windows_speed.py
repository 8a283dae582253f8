"""How fast windows are built and scaled: 500,000 minutes, 60-minute windows.

    .venv/bin/python benchmarks/windows_speed.py [--minutes 500000] [--window 60]

Prints the best of a few runs for: finding the gap-free windows, and the full encoding of the
default features (scaled levels, changes and the close/high/low offsets as float32 network
inputs, targets). Timings are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from btc_tui.forecast.dataset import (
    MINUTE_MS,
    MinuteSeries,
    build_windows,
    encode,
    required_columns,
)
from btc_tui.forecast.model import ModelSpec


def best_of(runs: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=500_000)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    minutes = np.arange(args.minutes, dtype=np.int64) * MINUTE_MS
    # Drop one minute in 10,000 so the gap check has work to do.
    keep = rng.random(args.minutes) > 1e-4
    prices = 40_000 + np.cumsum(rng.normal(0, 10, args.minutes))
    close = prices + rng.normal(0, 3, args.minutes)
    columns = {
        "close": close,
        "high": np.maximum(prices, close) + rng.exponential(3, args.minutes),
        "low": np.minimum(prices, close) - rng.exponential(3, args.minutes),
    }
    spec = ModelSpec()
    series = MinuteSeries(
        minutes[keep],
        prices[keep],
        columns={name: columns[name][keep] for name in required_columns(spec.features)},
    )

    t_windows, windows = best_of(args.runs, lambda: build_windows(series, args.window, 1))
    t_encode, encoded = best_of(args.runs, lambda: encode(windows, spec.features, spec.target_kind))
    t_all, _ = best_of(
        args.runs,
        lambda: encode(build_windows(series, args.window, 1), spec.features, spec.target_kind),
    )
    print(
        f"{len(series):,} minutes -> {len(windows):,} windows of {args.window} "
        f"({windows.dropped:,} dropped at gaps), x {encoded.x.shape} {encoded.x.dtype}"
    )
    print(f"find windows:          {t_windows * 1000:8.1f} ms")
    print(f"scale + encode:        {t_encode * 1000:8.1f} ms")
    print(
        f"total (best of {args.runs}):    {t_all * 1000:8.1f} ms  "
        f"({len(windows) / t_all / 1e6:.2f} M windows/s)"
    )


if __name__ == "__main__":
    main()
