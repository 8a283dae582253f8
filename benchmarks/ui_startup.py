"""Launch cost of the TUI as a user sees it, in an 80x24 pseudo-terminal.

Default: a one-year minute CSV (525,600 rows, generated here in a temporary folder). Times from
launch to the first frame (the pane titles) and to the Live pane showing the CSV's row count (its
tail read), and the peak RSS (VmHWM) at the first frame and 3 s after the tail is shown, once the
collector has opened the CSV (no model loaded). Nothing reaches the network: the
stream and REST URLs point at a closed loopback port, history fill is off.

`--demo`: the first launch of `btc-tui --demo` in an empty folder instead (its simulator and
history fill), then q after a few seconds, timed until the process has exited.

    .venv/bin/python benchmarks/ui_startup.py [--runs 3] [--demo]

Targets (issues 10 and 17): first screen <= 1 s and <= 150 MB RSS with a one-year CSV, with
the market chart reading its candles from the end of that CSV.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _terminal import Pty

from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.store import CSV_COLUMNS, format_row

YEAR = 365 * 24 * 60
MARKERS = (b"Live", b"Market")  # the panes of the first screen at 80x24


def write_year(path: Path, minutes: int = YEAR) -> None:
    end = int(time.time()) // 60 * MINUTE_MS - 2 * MINUTE_MS
    start = end - (minutes - 1) * MINUTE_MS
    price, trade = 40_000.0, 1
    with path.open("w") as f:
        f.write(",".join(CSV_COLUMNS) + "\n")
        rows = []
        for i in range(minutes):
            price += ((i * 7919) % 13 - 6) * 0.5
            bar = MinuteBar(start + i * MINUTE_MS, price, price - 1, price + 3, price - 4,
                            price + 1, 1.25, price + 0.2, 50, trade, trade + 49)  # fmt: skip
            trade += 50
            rows.append(format_row(bar))
            if len(rows) == 10_000:
                f.write("".join(rows))
                rows.clear()
        f.write("".join(rows))


def year_run(csv: Path) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--data", str(csv), "--models", f"{tmp}/models", "--history", "0"]
        args += ["--url", "ws://127.0.0.1:9", "--rest-url", "http://127.0.0.1:9"]
        term = Pty(args, Path(tmp))
        try:
            first = max(term.wait_for(m) for m in MARKERS)
            rss_first = term.peak_rss_mb()
            rows = term.wait_for(f"{YEAR:,} rows".encode())
            term.read(3.0)  # the collector opens the CSV (MinuteStore.open) meanwhile
            rss = term.peak_rss_mb()
        finally:
            term.quit()
    return first, rows, rss_first, rss


def demo_run() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        term = Pty(["--demo"], Path(tmp))
        try:
            first = max(term.wait_for(m) for m in MARKERS)
            filled = term.wait_for(b"minute(s) with trades written", timeout=120)  # the log
            term.read(1.0)
        finally:
            pressed = time.perf_counter()
            term.quit()
            quit_seconds = time.perf_counter() - pressed
    return first, filled, quit_seconds


def report(name: str, values: list[float], unit: str, target: str) -> None:
    print(
        f"{name}: median {statistics.median(values):.3f} {unit}, best {min(values):.3f},"
        f" worst {max(values):.3f} over {len(values)} runs ({target})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    if args.demo:
        runs = [demo_run() for _ in range(args.runs)]
        report("demo first screen", [r[0] for r in runs], "s", "target <= 1 s")
        report("demo 3 days of history filled", [r[1] for r in runs], "s", "from launch")
        report("q to exit", [r[2] for r in runs], "s", "about 2 s")
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "year.csv"
        write_year(csv)
        size = csv.stat().st_size / 1e6
        runs = [year_run(csv) for _ in range(args.runs)]
    print(f"one-year CSV: {YEAR:,} rows, {size:.0f} MB")
    report("first screen", [r[0] for r in runs], "s", "target <= 1 s")
    report("CSV tail read and shown", [r[1] for r in runs], "s", "from launch")
    report("peak RSS at the first screen", [r[2] for r in runs], "MB", "target <= 150 MB")
    report("peak RSS 3 s later (collector running)", [r[3] for r in runs], "MB", "target <= 150 MB")


if __name__ == "__main__":
    main()
