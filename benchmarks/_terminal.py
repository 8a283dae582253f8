"""Run the real `btc-tui` console script in a pseudo-terminal (shared by the UI benchmarks)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("btc-tui")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pty:
    def __init__(self, args: list[str], cwd: Path, size: tuple[int, int] = (80, 24)) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
        env.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(cwd / "config"))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(BIN), *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.seen = bytearray()

    def read(self, seconds: float) -> int:
        """Read for `seconds`; return how many bytes the app wrote."""
        got = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if select.select([self.master], [], [], 0.02)[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                got += len(chunk)
                self.seen += chunk
                if len(self.seen) > 1 << 20:
                    del self.seen[: len(self.seen) - (1 << 16)]
        return got

    def wait_for(self, needle: bytes, timeout: float = 60) -> float:
        """Seconds since launch when `needle` had been written."""
        end = time.perf_counter() + timeout
        while needle not in self.seen:
            if time.perf_counter() > end:
                raise SystemExit(f"{needle!r} not on screen within {timeout} s")
            self.read(0.02)
        return time.perf_counter() - self.started

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def quit(self) -> None:
        try:
            os.write(self.master, b"q")
            end = time.perf_counter() + 10
            while self.proc.poll() is None and time.perf_counter() < end:
                self.read(0.05)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            os.close(self.master)
