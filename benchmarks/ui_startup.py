"""Time from launching `btc-tui --demo` to its first screen, as a user in an 80x24 terminal sees it.

Each run starts the real console script in a fresh directory (so demo mode also has to create its
CSV: the first-launch case) inside a pseudo-terminal, and times until the first frame's text
(the Live and Training pane titles) has been written to the terminal. Then, once it has collected
for a couple of seconds, it presses q and times until the process has exited (the open minute
written, the simulator stopped).

    .venv/bin/python benchmarks/ui_startup.py [--runs 5]

Targets: first screen within 1 s; q exits within about 2 s.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("btc-tui")
MARKERS = (b"Live", b"Training", b"Log")


def drain(master: int, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if select.select([master], [], [], 0.05)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                return


def one_run() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(BIN), "--demo"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=tmp,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        seen = b""
        first_screen = None
        deadline = started + 30
        try:
            while time.perf_counter() < deadline:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                seen += chunk
                if all(marker in seen for marker in MARKERS):
                    first_screen = time.perf_counter() - started
                    break
            drain(master, 2.0)
            pressed = time.perf_counter()
            os.write(master, b"q")
            end = pressed + 10
            while proc.poll() is None and time.perf_counter() < end:
                drain(master, 0.01)
            quit_seconds = time.perf_counter() - pressed
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            os.close(master)
        if first_screen is None:
            raise SystemExit("no first screen within 30 s")
        return first_screen, quit_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    for name, values, target in (
        ("first screen", [r[0] for r in runs], "<= 1 s"),
        ("q to exit", [r[1] for r in runs], "about 2 s"),
    ):
        print(
            f"{name}: median {statistics.median(values):.3f} s, best {min(values):.3f} s,"
            f" worst {max(values):.3f} s over {len(values)} runs (target {target})"
        )


if __name__ == "__main__":
    main()
