"""`btc-tui --demo` end to end, as a user starts it: in a pseudo-terminal, first launch in an
empty folder. It fills the demo CSV, shows prices from its own loopback simulator, and q writes
the open minute and exits 0."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from btc_tui.market.store import load_minutes

BIN = Path(sys.executable).with_name("btc-tui")


def read_until(master: int, needle: bytes, seen: bytearray, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.05)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                return needle in seen
            if needle in seen:
                return True
    return False


def test_demo_first_launch_in_a_terminal(tmp_path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [str(BIN), "--demo"], stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, env=env
    )
    os.close(slave)
    seen = bytearray()
    open_minute = None
    try:
        assert read_until(master, b"SIMULATED", seen, timeout=30), bytes(seen[-500:])
        assert read_until(master, b"connected", seen, timeout=30), bytes(seen[-500:])
        assert read_until(master, b" trades", seen, timeout=30)  # the open minute has trades
        open_minute = (time.time() - 1) // 60 * 60  # trades arrive 20/s, so this minute has some
        os.write(master, b"q")
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            read_until(master, b"\x00never", seen, timeout=0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    assert proc.returncode == 0
    minutes = load_minutes(tmp_path / "data" / "demo.csv").frame
    # Three simulated days up to the previous minute, then the minute that was open at q.
    assert len(minutes) > 3 * 24 * 60
    assert minutes.index[-1].timestamp() >= open_minute
    assert (tmp_path / "data" / "btc-tui.native.log").exists()  # fd 2 went there, not the screen
