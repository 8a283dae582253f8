"""Hang-ups: SIGHUP, SIGTERM and a terminal that disappears all end the app the way `q` does.

Over SSH a dropped connection sends SIGHUP; a terminal closed under us makes reads and writes fail
with EIO (or EPIPE). Either way the open minute must still be written and the lock released, so
the app is asked to quit instead of being killed mid-write or stopped by a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App

HANGUP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
GONE_ERRNOS = {errno.EIO, errno.EPIPE, errno.ENXIO, errno.EBADF}

# Called (from any thread) once the terminal is found gone; set by the app while it runs.
_on_terminal_gone: Callable[[str], None] | None = None
_gone = threading.Event()


def terminal_gone(reason: str) -> None:
    """Note that the terminal is gone; the first call asks the app to quit."""
    if _gone.is_set():
        return
    _gone.set()
    if _on_terminal_gone is not None:
        _on_terminal_gone(reason)


@contextlib.contextmanager
def on_terminal_gone(callback: Callable[[str], None]) -> Iterator[None]:
    global _on_terminal_gone
    _on_terminal_gone = callback
    _gone.clear()
    try:
        yield
    finally:
        _on_terminal_gone = None


class TerminalOutput:
    """A text file for Textual's output thread that never raises once the terminal is gone.

    Textual writes from a thread through a bounded queue: a write that raised would kill that
    thread, the queue would fill and the app would hang instead of saving the open minute.
    """

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    def write(self, text: str) -> int:
        if _gone.is_set():
            return len(text)
        try:
            return self._file.write(text)
        except OSError as exc:
            terminal_gone(f"terminal output failed ({errno.errorcode.get(exc.errno or 0, exc)})")
            return len(text)

    def flush(self) -> None:
        if _gone.is_set():
            return
        try:
            self._file.flush()
        except OSError as exc:
            terminal_gone(f"terminal output failed ({errno.errorcode.get(exc.errno or 0, exc)})")

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()

    @property
    def encoding(self) -> str:
        return getattr(self._file, "encoding", "utf-8")


class HangupSafeDriver(LinuxDriver):
    """Textual's Linux driver, except that losing the terminal's input is a hang-up, not a crash
    (the stock driver turns the EIO of a vanished terminal into a traceback). It also hands its
    writer to the app, for the raw bytes of a desktop notification (OSC 777/9): Textual has no
    public way to reach the driver it made."""

    def __init__(self, app: App, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        app.terminal_write = self.write  # type: ignore[attr-defined]  (BtcTuiApp declares it)

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        except OSError as exc:
            if exc.errno not in GONE_ERRNOS:
                raise
            terminal_gone(f"terminal input failed ({errno.errorcode.get(exc.errno or 0, exc)})")


@contextlib.contextmanager
def terminal_output(native_log: Path) -> Iterator[None]:
    """Give Textual a hang-up-safe duplicate of the terminal and send fd 2 into `native_log`.

    Textual draws on stderr, and TensorFlow's native logging writes straight to fd 2 (its
    TF_CPP_MIN_LOG_LEVEL no longer silences absl's notices), which would scribble over the screen.
    """
    if not os.isatty(2):
        yield
        return
    native_log.parent.mkdir(parents=True, exist_ok=True)
    original = sys.__stderr__
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="backslashreplace")
    with open(native_log, "ab") as log:
        os.dup2(log.fileno(), 2)
    safe = TerminalOutput(terminal)
    sys.__stderr__ = sys.stderr = safe  # type: ignore[assignment]
    try:
        yield
    finally:
        safe.flush()
        with contextlib.suppress(OSError):
            os.dup2(terminal_fd, 2)
        sys.__stderr__ = sys.stderr = original
        safe.close()
