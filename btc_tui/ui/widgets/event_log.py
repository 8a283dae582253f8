"""Log pane: one timestamped line per event, wrapped at word boundaries to the pane's width
(a long path or error is never cut off mid-word)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from rich.text import Text
from textual.widgets import RichLog

MAX_LINES = 1000


class EventLog(RichLog):
    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, id=id)
        self.clock = clock
        self.texts: deque[str] = deque(maxlen=MAX_LINES)  # what was logged, as plain lines

    def add(self, text: str) -> None:
        stamp = datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%H:%M:%S")
        line = f"{stamp} {text}"
        self.texts.append(line)
        self.write(Text(line))
