"""The real 20-day kline fixture, converted to our minute CSV for benchmarks.

The fixture lives outside the project (../shared/fixtures) and is never copied into it; the
converted CSV goes to a temporary folder chosen by the caller.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from btc_tui.market.store import V2_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
KLINES = (
    ROOT.parent / "shared" / "fixtures" / "klines-spot-1m" / "BTCUSDT-1m-2024-01-01_2024-01-21.csv"
)


def require_klines() -> Path:
    if not KLINES.exists():
        raise SystemExit(f"the kline fixture is absent ({KLINES}); this benchmark needs it")
    return KLINES


def fixture_csv(out: Path) -> Path:
    """The 20-day kline fixture as a 13-column minute CSV (klines carry no trade ids, so the
    13-column form, which the loader accepts, says so rather than 15 columns with empty ids).

    Klines have no trade prices, so avg_price = vwap = (O+H+L+C)/4 (the fixture README's
    stand-in), and trades is left empty (unknown)."""
    with require_klines().open(newline="") as src, out.open("w", newline="") as dst:
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(V2_COLUMNS)
        for row in csv.DictReader(src):
            o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
            t = datetime.fromtimestamp(int(row["open_time"]) / 1000, UTC)
            avg = (o + h + lo + c) / 4
            time_parts = (t.year, t.month, t.day, t.hour, t.minute)
            writer.writerow([*time_parts, repr(avg), o, h, lo, c, row["volume"], repr(avg), ""])
    return out
