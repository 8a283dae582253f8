"""Log pane: one timestamped line per event, wrapped at word boundaries to the pane's width
(a long path or error is never cut off mid-word)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

MAX_LINES = 1000
REFLOW_LINES = 200  # lines wrapped again for a new width (older ones stay in .texts)


class EventLog(RichLog):
    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        # min_width: RichLog renders every line at least 78 cells wide by default, and a narrower
        # pane then cuts it off at its edge; 1 lets lines wrap at the pane's own width.
        super().__init__(
            max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, min_width=1, id=id
        )
        self.clock = clock
        self.texts: deque[str] = deque(maxlen=MAX_LINES)  # what was logged, as plain lines
        self._wrapped_at = 0

    def add(self, text: str) -> None:
        stamp = datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%H:%M:%S")
        line = f"{stamp} {text}"
        self.texts.append(line)
        self.write(Text(line))

    def on_resize(self, event: Resize) -> None:
        # RichLog wraps a line once, when written: wrap the recent ones again for the new width.
        if event.size.width != self._wrapped_at and self.texts:
            self._wrapped_at = event.size.width
            self.clear()
            for line in list(self.texts)[-REFLOW_LINES:]:
                self.write(Text(line))
