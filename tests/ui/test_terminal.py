"""The app as a user runs it, in a pseudo-terminal: first launch of `--demo`, and every way a
session ends without `q` (SIGHUP, SIGTERM, the terminal vanishing), which must end like `q`:
the open minute written, the lock released, training stopped with the old model kept, exit 0."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from btc_tui.market.store import load_minutes, read_lock_owner
from tests.ui.conftest import write_history

BIN = Path(sys.executable).with_name("btc-tui")
MINUTE = 60


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


class Terminal:
    """`btc-tui ARGS` in a pseudo-terminal of the given size, in `cwd`, with no user config."""

    def __init__(self, cwd: Path, *args: str, size: tuple[int, int] = (80, 24)) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
        env.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(cwd / "config"))
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [str(BIN), *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env
        )
        os.close(slave)
        self.seen = bytearray()
        self.closed = False

    def wait_for(self, needle: bytes, timeout: float = 30) -> None:
        assert read_until(self.master, needle, self.seen, timeout), bytes(self.seen[-800:])

    def exit_code(self, timeout: float = 20) -> int | None:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.closed:
                time.sleep(0.05)
            else:
                read_until(self.master, b"\x00never", self.seen, timeout=0.1)
        return self.proc.poll()

    def read(self, seconds: float) -> None:
        read_until(self.master, b"\x00never", self.seen, timeout=seconds)

    def close_master(self) -> None:
        os.close(self.master)
        self.closed = True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self.closed:
            os.close(self.master)


def test_demo_first_launch_in_a_terminal(tmp_path):
    term = Terminal(tmp_path, "--demo")
    try:
        term.wait_for(b"SIMULATED")
        term.wait_for(b"connected")
        term.wait_for(b" trades")  # the open minute has trades
        asked = moment_in_an_open_minute()
        os.write(term.master, b"q")
        code = term.exit_code()
    finally:
        term.stop()
    assert code == 0
    minutes = load_minutes(tmp_path / "data" / "demo.csv").frame
    # The minute open when q was pressed (or, across a minute boundary, a later one) is written.
    assert minutes.index[-1].timestamp() >= asked // MINUTE * MINUTE
    assert (tmp_path / "data" / "btc-tui.native.log").exists()  # fd 2 went there, not the screen


def start_collecting(tmp_path: Path, *extra: str) -> tuple[Terminal, Path]:
    csv = tmp_path / "minutes.csv"
    args = ["--demo", "--history", "0", "--data", str(csv), "--models", str(tmp_path / "m")]
    term = Terminal(tmp_path, *args, *extra)
    term.wait_for(b"connected")
    term.wait_for(b" trades")
    return term, csv


SETTLE = 2.0  # seconds into a minute by which the simulator (20 trades/s) has traded in it


def moment_in_an_open_minute() -> float:
    """Now, or a moment later: a time at least SETTLE seconds after a minute began, so trades of
    that minute have reached the app. Right after a boundary the new minute may have no trade yet
    and the newest row would rightly be the previous minute's (the test raced there)."""
    into = time.time() % MINUTE
    if into < SETTLE:
        time.sleep(SETTLE - into)
    return time.time()


def assert_ended_like_q(csv: Path, before: float) -> None:
    """The minute open at `before` (or a later one, if a minute boundary passed) is in the CSV,
    and the lock was released cleanly (a killed process leaves its owner record behind).
    `before` comes from moment_in_an_open_minute(), so that minute had trades."""
    assert before % MINUTE >= SETTLE
    minutes = load_minutes(csv).frame
    assert minutes.index[-1].timestamp() >= before // MINUTE * MINUTE
    assert read_lock_owner(csv) is None


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_hang_up_signal_ends_the_app_like_q(tmp_path, sig):
    term, csv = start_collecting(tmp_path)
    try:
        before = moment_in_an_open_minute()
        term.proc.send_signal(sig)
        code = term.exit_code()
        restored = read_until(term.master, b"\x1b[?1049l", term.seen, timeout=2)
    finally:
        term.stop()
    assert code == 0
    assert_ended_like_q(csv, before)
    assert restored or b"\x1b[?1049l" in term.seen  # left the alternate screen


def test_a_terminal_that_disappears_ends_the_app_like_q(tmp_path):
    # The pty is not the child's controlling terminal, so closing it sends no SIGHUP: the app
    # only sees its reads and writes fail (EIO), as when a terminal emulator dies.
    term, csv = start_collecting(tmp_path)
    try:
        before = moment_in_an_open_minute()
        term.close_master()
        code = term.exit_code()
    finally:
        term.stop()
    assert code == 0
    assert_ended_like_q(csv, before)


def test_sighup_while_training_keeps_the_old_model(tmp_path):
    csv = tmp_path / "minutes.csv"
    models = tmp_path / "m"
    write_history(csv, minutes=240)
    small = ["--window", "10", "--horizons", "1,5", "--batch-size", "16", "--seed", "1"]
    first = subprocess.run(
        [str(BIN), "train", "--data", str(csv), "--models", str(models), "--epochs", "1", *small],
        capture_output=True,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},
        check=False,
    )
    assert first.returncode == 0, first.stderr[-500:]
    model = models / "btc_lstm.keras"
    saved = model.read_bytes()
    args = ["--demo", "--history", "0", "--data", str(csv), "--models", str(models)]
    # 120x40: the Training pane (model name, ETA) is on screen beside the chart
    term = Terminal(tmp_path, *args, "--epochs", "500", *small, size=(120, 40))
    try:
        term.wait_for(b" trades")
        term.wait_for(b"btc_lstm.keras", timeout=60)  # named once the model is loaded
        os.write(term.master, b"t")
        term.wait_for(b"ETA", timeout=60)  # batches are running
        before = moment_in_an_open_minute()
        term.proc.send_signal(signal.SIGHUP)
        code = term.exit_code(timeout=60)
    finally:
        term.stop()
    assert code == 0
    assert model.read_bytes() == saved
    assert_ended_like_q(csv, before)


def test_two_processes_on_one_csv_attach_then_take_over(tmp_path):
    """`btc-tui collect` owns the CSV; the app started second attaches (never takes the lock);
    when the collector stops, o in the app takes over collecting."""
    port = _free_port()
    csv = tmp_path / "minutes.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    urls = ["--url", f"ws://127.0.0.1:{port}", "--rest-url", f"http://127.0.0.1:{port}"]
    sim = subprocess.Popen(
        [str(BIN), "simulate", "--port", str(port), "--rate", "20", "--history-minutes", "30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    collector = subprocess.Popen(
        [str(BIN), "collect", "--data", str(csv), *urls],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    term = None
    try:
        deadline = time.monotonic() + 30
        while (read_lock_owner(csv) is None or not csv.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_lock_owner(csv).pid == collector.pid
        args = ["--data", str(csv), "--models", str(tmp_path / "m"), "--history", "0", *urls]
        term = Terminal(tmp_path, *args, size=(100, 30))
        term.wait_for(f"pid {collector.pid}".encode())
        term.wait_for(b"connected")  # its own read-only ticker
        assert read_lock_owner(csv).pid == collector.pid  # the app took nothing

        collector.send_signal(signal.SIGTERM)
        assert collector.wait(timeout=20) == 0
        term.wait_for(b"press o to take over")
        os.write(term.master, b"o")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            owner = read_lock_owner(csv)
            if owner is not None and owner.pid == term.proc.pid:
                break
            term.read(0.05)
        assert read_lock_owner(csv).pid == term.proc.pid
        os.write(term.master, b"q")
        assert term.exit_code() == 0
        assert read_lock_owner(csv) is None
    finally:
        if term is not None:
            term.stop()
        for proc in (collector, sim):
            if proc.poll() is None:
                proc.terminate()
            proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("notify", ["osc", "bell"])
def test_an_alert_reaches_the_terminal_as_a_bell_and_a_desktop_notification(tmp_path, notify):
    """A rule that any live trade fires: the terminal gets the bell, and with --notify osc
    the OSC 777 and OSC 9 notifications too (bytes as read from the pty)."""
    rule = "move 0.0001% 1m"
    term, _ = start_collecting(tmp_path, "--alert", rule, "--notify", notify)
    try:
        osc777 = f"\x1b]777;notify;btc-tui: BTCUSDT alert;{rule}: ".encode()
        if notify == "osc":
            term.wait_for(b"\x07" + osc777)
            term.wait_for(f"\x1b]9;btc-tui: BTCUSDT alert: {rule}: ".encode())
        else:
            term.wait_for(b"Price alert")  # the toast: the firing happened
            assert b"\x07" in term.seen and osc777 not in term.seen
    finally:
        term.stop()
