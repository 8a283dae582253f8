"""Log pane: one timestamped line per event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual.widgets import Log


class EventLog(Log):
    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(max_lines=1000, id=id)
        self.clock = clock

    def add(self, text: str) -> None:
        stamp = datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%H:%M:%S")
        self.write_line(f"{stamp} {text}")
