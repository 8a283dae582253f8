"""Bytes per second the app writes to its terminal while trades stream in (what an SSH link
carries), measured on the pty the real `btc-tui` runs in, against a `btc-tui simulate` server
on loopback at 200 trades/s.

    .venv/bin/python benchmarks/ui_terminal_bytes.py [--rate 200] [--seconds 30] [--refresh HZ]
        [--size 80x24] [--history-minutes 600]

The CSV starts with --history-minutes of minutes (default 600) ending now, so the market chart
is full of candles and its open minute redraws live, as in use.
Target: <= 5 KB/s at 200 trades/s with the default refresh and the chart live at 80x24
(issues 10 and 17).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _terminal import BIN, Pty, free_port


def write_history(csv: Path, minutes: int) -> None:
    from btc_tui.market.bars import MINUTE_MS
    from btc_tui.market.simulator import simulated_history
    from btc_tui.market.store import MinuteStore

    now = int(time.time() // 60) * MINUTE_MS
    with MinuteStore(csv) as store:
        for bar in simulated_history(minutes, end_minute=now - MINUTE_MS, seed=1):
            store.append(bar)


def measure(
    rate: float, seconds: float, refresh: float | None, size: tuple[int, int], history: int
) -> float:
    port = free_port()
    sim = subprocess.Popen(
        [str(BIN), "simulate", "--port", str(port), "--rate", str(rate), "--seed", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if history:
                write_history(Path(tmp) / "m.csv", history)
            args = ["--data", f"{tmp}/m.csv", "--models", f"{tmp}/models", "--history", "0"]
            args += ["--url", f"ws://127.0.0.1:{port}", "--rest-url", f"http://127.0.0.1:{port}"]
            if refresh is not None:
                args += ["--refresh", str(refresh)]
            time.sleep(0.5)  # the simulator listens
            term = Pty(args, Path(tmp), size)
            try:
                term.wait_for(b"connected", timeout=30)
                term.read(3.0)  # warm up: the first frames, the first status lines
                written = term.read(seconds)
            finally:
                term.quit()
    finally:
        sim.terminate()
        sim.wait()
    return written / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--refresh", type=float, default=None, help="--refresh HZ for the app")
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--history-minutes", type=int, default=600)
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    per_second = measure(
        args.rate, args.seconds, args.refresh, (width, height), args.history_minutes
    )
    refresh = "default" if args.refresh is None else f"{args.refresh:g} Hz"
    print(
        f"terminal output at {args.rate:g} trades/s, {args.size}, refresh {refresh}:"
        f" {per_second / 1000:.2f} KB/s over {args.seconds:g} s (target <= 5 KB/s)"
    )


if __name__ == "__main__":
    main()
