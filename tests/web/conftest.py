"""A real `serve --demo` in a subprocess on a free loopback port, with its own data, models and
config folders, and ways to look at it from outside: its stdout/stderr, and the app processes it
has started (its child processes: serve starts nothing else, the demo simulator and the
collector run inside it)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("textual_serve", reason="serve needs the web extra: pip install 'btc-tui[web]'")

SERVE = [sys.executable, "-m", "btc_tui", "serve"]  # `btc-tui serve`, as a user runs it
START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll until `predicate()` is true; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def child_pids(pid: int) -> list[int]:
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    return pids


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    root: Path
    data: Path
    out_path: Path
    err_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def children(self) -> list[int]:
        return child_pids(self.proc.pid)

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"serve did not stop on {sig!r}:\n{self.stderr()}") from None


def serve_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(root / "config")  # never the user's own config file
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def serving(root: Path, *args: str, demo: bool = True) -> Iterator[Served]:
    port = free_port()
    data = root / "demo.csv"
    out_path, err_path = root / "serve.out", root / "serve.err"
    command = [
        *SERVE,
        *(["--demo"] if demo else []),
        "--port",
        str(port),
        "--data",
        str(data),
        "--models",
        str(root / "models"),
        *args,
    ]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(command, cwd=root, env=serve_env(root), stdout=out, stderr=err)
    served = Served(proc, port, root, data, out_path, err_path)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}:\n{served.stderr()}")
            return "serving btc-tui on" in served.stdout()

        wait_for(ready, START_TIMEOUT, "serve to listen")
        yield served
    finally:
        if proc.poll() is None:
            served.stop()


@pytest.fixture
def serve_root(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    return tmp_path
