"""Every horizon on real minutes: the model beside the last price and the reference bands.

Converts the 20-day kline fixture (../shared/fixtures) to our minute CSV in a temp dir (or takes
`--data FILE`), trains with `train()` (the code the CLI and the app run) on the whole file and on
each half of it, and prints per horizon: MAE beside the last price's, the Diebold-Mariano p-value,
the 80% band's coverage and interval score beside the rolling-volatility and static bands'
(calibrated on the same calibration windows), and whether each acceptance check of issue 16 holds:
point MAE within 0.1% of the last price's, coverage 77-83%, score <= 1.01 x the rolling band's.

    .venv/bin/python benchmarks/horizons_report.py                  # full, first half, second half
    .venv/bin/python benchmarks/horizons_report.py --parts full --epochs 5
    .venv/bin/python benchmarks/horizons_report.py --select         # choose defaults: validation only

`--select` never looks at the file's last 20%: it trains on the first 80% only, so what it reports
as "test" are windows before the real test windows (use it to choose defaults).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fixtures import fixture_csv
from btc_tui.config import Settings
from btc_tui.forecast.report import horizons_table
from btc_tui.forecast.training import TrainResult, train

SELECT_SHARE = 0.8  # --select: the share of the file kept (the rest is the real test region)


def slice_csv(source: Path, out: Path, start: float, stop: float) -> Path:
    """Rows [start, stop) (shares of the file) of a minute CSV, header kept."""
    lines = source.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    picked = rows[int(len(rows) * start) : int(len(rows) * stop)]
    out.write_text("\n".join([header, *picked]) + "\n")
    return out


def checks(result: TrainResult) -> list[str]:
    """One line per horizon: the acceptance checks of issue 16 and the gain over the rolling
    band."""
    lines = []
    for h, r in result.horizons.items():
        m = r.metrics
        point = m.mae <= 1.001 * m.last_price_mae
        coverage = 0.77 <= m.coverage <= 0.83
        band = m.interval_score <= 1.01 * m.rolling_band_score
        gain = 1 - m.interval_score / m.rolling_band_score
        lines.append(
            f"  {h:>3} min: MAE/last {m.mae / m.last_price_mae:.4f} {'ok' if point else 'FAIL'}"
            f" · coverage {m.coverage:.1%} {'ok' if coverage else 'FAIL'}"
            f" · score/rolling {m.interval_score / m.rolling_band_score:.3f}"
            f" {'ok' if band else 'FAIL'} ({gain:+.1%} vs rolling)"
            f" · point weight {r.calibration.point_weight:.2f}"
            f" · band weight {r.calibration.band_weight:.2f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a minute CSV (default: the kline fixture)")
    parser.add_argument("--parts", nargs="+", default=["full", "half1", "half2"],
                        choices=["full", "half1", "half2"])  # fmt: skip
    parser.add_argument("--epochs", type=int, default=Settings().epochs)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--select", action="store_true", help="train on the first 80%% only")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="btc-tui-horizons-"))
    whole = args.data or fixture_csv(tmp / "minutes.csv")
    end = SELECT_SHARE if args.select else 1.0
    spans = {"full": (0.0, end), "half1": (0.0, end / 2), "half2": (end / 2, end)}
    for name in args.parts:
        data = slice_csv(whole, tmp / f"{name}.csv", *spans[name])
        settings = Settings(data=data, models=tmp / name, epochs=args.epochs, seed=args.seed)
        started = time.monotonic()
        result = train(settings)
        w = result.windows
        print(
            f"\n== {name} ({w['fit']:,} fit, {w['stopping']:,} early stopping, "
            f"{w['calibration']:,} calibration, {w['test']:,} test windows; "
            f"{result.epochs_run} epochs, {time.monotonic() - started:.0f} s)"
            + (" [--select: the file's last 20% left out]" if args.select else "")
        )
        print(horizons_table(result))
        print("\n".join(checks(result)), flush=True)


if __name__ == "__main__":
    main()
