"""`btc-tui import` speed on a generated Binance aggTrades dump (target >= 1,000,000 aggregates/s).

Writes a zipped daily dump shaped like data.binance.vision's (no header, 8 columns, 8-decimal
prices and quantities; ms or µs timestamps), then times `history.import_dumps` end to end: unzip,
parse with pandas' C parser, exact minutes with numpy, merge into a fresh CSV. The minutes are
checked against a pure-Python `bars_from_runs` over the same rows (bit for bit) on a sample.

    .venv/bin/python benchmarks/import_speed.py [--aggregates 3000000] [--micro]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from btc_tui.config import Settings
from btc_tui.market.bars import MINUTE_MS, TradeRun, bars_from_runs
from btc_tui.market.binance import qty_to_units
from btc_tui.market.history import dump_minutes, import_dumps
from btc_tui.market.store import load_minutes

DAY = 1_723_075_200_000  # 2024-08-08 00:00 UTC


def make_dump(path: Path, aggregates: int, micro: bool) -> list[str]:
    """A day of aggregates spread evenly (ids consecutive, 1-4 trades each); returns the lines."""
    rng = np.random.default_rng(1)
    k = np.arange(aggregates, dtype=np.int64)
    counts = rng.integers(1, 5, aggregates)
    last = np.cumsum(counts) + 3_000_000_000
    first = last - counts + 1
    times = DAY + k * (1440 * MINUTE_MS) // aggregates
    cents = 6_000_000 + np.cumsum(rng.integers(-3, 4, aggregates))
    units = rng.integers(1, 50_000_000, aggregates)
    maker = rng.integers(0, 2, aggregates).astype(bool)
    scale = 1000 if micro else 1
    price = [f"{c // 100}.{c % 100:02d}000000" for c in cents.tolist()]
    qty = [f"{u // 10**8}.{u % 10**8:08d}" for u in units.tolist()]
    lines = [
        f"{a},{p},{q},{f},{lt},{t * scale},{m},True"
        for a, p, q, f, lt, t, m in zip(
            (k + 1).tolist(),
            price,
            qty,
            first.tolist(),
            last.tolist(),
            times.tolist(),
            ["True" if x else "False" for x in maker.tolist()],
            strict=True,
        )
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.name.replace(".zip", ".csv"), "\n".join(lines) + "\n")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregates", type=int, default=3_000_000)
    parser.add_argument("--micro", action="store_true", help="µs timestamps (2025-on dumps)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / "BTCUSDT-aggTrades-2024-08-08.zip"
        lines = make_dump(dump, args.aggregates, args.micro)
        size = dump.stat().st_size
        data = Path(folder) / "m.csv"
        began, cpu = time.perf_counter(), time.process_time()
        result = import_dumps(Settings().with_changes(data=data), [dump])
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        print(
            f"import: {result.rows:,} aggregates ({size / 1e6:.0f} MB zip) -> {result.written:,} "
            f"minutes in {seconds:.2f} s = {result.rows / seconds:,.0f} aggregates/s "
            f"(CPU time, all threads: {cpu:.2f} s; load average now {os.getloadavg()[0]:.1f})"
        )
        began = time.perf_counter()
        parsed = dump_minutes(dump, "btcusdt")
        parse_seconds = time.perf_counter() - began
        print(
            f"dump_minutes alone: {parse_seconds:.2f} s = {parsed.rows / parse_seconds:,.0f} "
            "aggregates/s"
        )
        # Exactness: the first 50 minutes again through the one-at-a-time reference path.
        runs = []
        limit = DAY + 50 * MINUTE_MS
        for line in lines:
            _a, p, q, f, lt, t = line.split(",")[:6]
            t = int(t) // (1000 if args.micro else 1)
            if t >= limit:
                break
            runs.append(TradeRun(int(f), int(lt), float(p), qty_to_units(q), t))
        reference = bars_from_runs(runs)
        assert parsed.bars[: len(reference)] == reference, "vectorised minutes differ"
        frame = load_minutes(data).frame
        assert len(frame) == result.written == 1440
        print(f"exact: the first {len(reference)} minutes equal bars_from_runs bit for bit")


if __name__ == "__main__":
    main()
