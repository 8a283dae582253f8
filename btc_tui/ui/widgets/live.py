"""Live pane: ticker, connection health (or the process we are attached to), CSV rows, holes,
history fill and the live prediction. It composes the owners of collecting and live prediction
and shows their state; each line is its own widget with a reactive text, so a new price repaints
one line and an unchanged line costs nothing (over SSH every repaint is bytes on the wire)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from btc_tui.config import Settings
from btc_tui.market.bars import MINUTE_MS
from btc_tui.ui import messages as m
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.prediction import LivePrediction

if TYPE_CHECKING:
    from btc_tui.market.collector import Tick

STATUS_REFRESH = 1.0  # seconds: ages ("last 3 s ago") keep counting between status updates


def hhmm(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M")


def money(value: float) -> str:
    return f"{value:,.2f}"


SEPARATOR = " · "


def _wrap_words(text: Text, width: int) -> list[Text]:
    """Greedy word wrap that keeps styles; a word longer than the width is the only thing ever
    split (nothing we show has one)."""
    plain = text.plain
    if cell_len(plain) <= width:
        return [text]
    offsets: list[int] = []
    start = 0
    while cell_len(plain[start:]) > width:
        cut = plain.rfind(" ", start, start + width + 1)
        if cut <= start:  # one word wider than the line: split it rather than overflow
            cut = start + width
            offsets.append(cut)
            start = cut
        else:
            offsets.append(cut)
            start = cut + 1
    lines = list(text.divide(offsets))
    return [
        line if i == 0 else line[1:] if line.plain.startswith(" ") else line
        for i, line in enumerate(lines)
    ]


def fit_lines(text: Text, width: int) -> list[Text]:
    """One line when it fits; otherwise broken at its " · " separators (each line as many whole
    parts as fit), and a part still too wide at its spaces: never mid-word."""
    if width <= 0 or text.cell_len <= width:
        return [text]
    lines: list[Text] = []
    current: Text | None = None
    for part in text.split(SEPARATOR):
        if current is None:
            current = part
        elif current.cell_len + len(SEPARATOR) + part.cell_len <= width:
            current = current.copy()
            current.append(SEPARATOR)
            current.append_text(part)
        else:
            lines.append(current)
            current = part
    if current is not None:
        lines.append(current)
    return [wrapped for line in lines for wrapped in _wrap_words(line, width)]


class Fact(Widget):
    """One fact of the Live pane, on one line when it fits, else broken at its " · " separators
    and then at words (never cut mid-word); hidden while empty."""

    DEFAULT_CSS = "Fact { height: auto; width: 1fr; }"
    text: reactive[Text] = reactive(Text, layout=False)

    def lines(self, width: int) -> list[Text]:
        return fit_lines(self.text, width)

    def render(self) -> Text:
        return Text("\n").join(self.lines(self.size.width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # Our own line breaking decides the height (Textual's cache is keyed by width only).
        return len(self.lines(width)) if self.text.plain else 0

    def watch_text(self, old: Text, text: Text) -> None:
        self.display = bool(text.plain)
        # Only a fact that wraps (or did) can change height: lay out again just then, so a new
        # price repaints one line and nothing else.
        width = max(1, self.size.width)
        if (old.cell_len > width or text.cell_len > width) and old.plain != text.plain:
            self.refresh(layout=True)


class LivePane(Vertical):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "live--up",
        "live--down",
        "live--price",
        "live--good",
        "live--warn",
        "live--error",
        "live--muted",
    }
    LINES = (
        "price",
        "minute",
        "status",
        "status2",
        "status3",
        "rows",
        "holes",
        "fill",
        "forecast",
        "score",
    )
    # Left out first when the terminal is too short for every fact (see `max_lines`): the row
    # count, then the open minute's details, the live score, the second and third status lines.
    DROP_ORDER = ("rows", "minute", "score", "status3", "status2")

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float],
        refresh_hz: float,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.settings = settings
        self.clock = clock
        self.collecting = Collecting(settings, clock, refresh_hz)
        self.predicting = LivePrediction(settings)
        self.preparing = True  # until the CSV's tail has been read
        self.rows: int | None = None
        self.previous_minute: tuple[int, float] | None = None  # (minute ms, avg price)
        self.tick_at: float | None = None
        self.max_lines: int | None = None  # set by the app from the terminal's height

    def compose(self) -> ComposeResult:
        yield self.collecting
        yield self.predicting
        for name in self.LINES:
            yield Fact(id=f"live-{name}")

    def on_mount(self) -> None:
        for name in (
            "state",
            "error",
            "tick",
            "status",
            "fill",
            "owner",
            "owner_gone",
            "ticker_on",
        ):
            self.watch(self.collecting, name, self._changed, init=False)
        for name in ("model_state", "prediction", "scored", "ready"):
            self.watch(self.predicting, name, self._changed, init=False)
        self.set_interval(STATUS_REFRESH, self.redraw)
        self.redraw()

    def _changed(self, _value: object = None) -> None:
        if self.collecting.tick is not None and self.tick_at is None:
            self.tick_at = self.clock()
        self.redraw()

    # --- messages that bubble up from the owners -----------------------------------------------

    def on_data_prepared(self, message: m.DataPrepared) -> None:
        self.preparing = False
        self.rows = message.rows
        if message.frame is not None and not message.frame.empty:
            last = message.frame.index[-1]
            minute = int(last.timestamp()) * 1000
            self.collecting.last_minute = minute
            if self.previous_minute is None and message.last_price is not None:
                self.previous_minute = (minute, message.last_price)
        self.predicting.set_frame(message.frame)
        self.redraw()

    def on_bar_received(self, message: m.BarReceived) -> None:
        event = message.event
        self.previous_minute = (event.bar.minute, event.bar.avg_price)
        self.rows = event.rows
        self.predicting.add_bar(event.bar)
        self.redraw()

    # --- rendering -------------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"live--{name}")

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        status = self._status_lines()
        prediction = self._prediction_lines()
        lines = {
            "price": self._price_line(),
            "minute": self._minute_line(),
            "status": status[0] if status else Text(),
            "status2": status[1] if len(status) > 1 else Text(),
            "status3": status[2] if len(status) > 2 else Text(),
            "rows": self._rows_line(),
            "holes": self._holes_line(),
            "fill": self._fill_line(),
            "forecast": prediction[0] if prediction else Text(),
            "score": prediction[1] if len(prediction) > 1 else Text(),
        }
        self._keep_within(lines)
        for name, text in lines.items():
            self.query_one(f"#live-{name}", Fact).text = text

    def _keep_within(self, lines: dict[str, Text]) -> None:
        """Leave out the least needed facts while the pane would need more lines than the
        layout gives it (`max_lines`), so the panes below are never pushed off the screen."""
        # The pane's own width (in the two-column layout it is not the terminal's); before the
        # first layout there is none yet, and the resize that follows redraws.
        width = self.content_size.width
        if self.max_lines is None or width <= 0:
            return
        needed = sum(len(fit_lines(text, width)) for text in lines.values() if text.plain)
        for name in self.DROP_ORDER:
            if needed <= self.max_lines:
                return
            if lines[name].plain:
                needed -= len(fit_lines(lines[name], width))
                lines[name] = Text()

    def on_resize(self) -> None:
        self.redraw()

    def text(self) -> str:
        """Everything the pane shows, as plain text (tests)."""
        return "\n".join(f.text.plain for f in self.query(Fact) if f.text.plain)

    @property
    def tick(self) -> Tick | None:
        return self.collecting.tick

    def _price_line(self) -> Text:
        line = Text(f"{self.settings.symbol.upper()} ", style="bold")
        tick = self.collecting.tick
        if tick is None:
            line.append("waiting for the first trade…", self._style("muted"))
            return line
        price = tick.price
        if not self._streaming():
            # Stopped: the last price seen, said to be old, without a change that looks live.
            line.append(money(price), self._style("muted"))
            line.append(" last seen before stopping", self._style("muted"))
            return line
        if self.previous_minute is None:
            line.append(money(price), self._style("price"))
            return line
        change = price - self.previous_minute[1]
        direction = "up" if change >= 0 else "down"
        arrow = "▲" if change >= 0 else "▼"
        line.append(money(price), self._style("price") + self._style(direction))
        pct = 100 * change / self.previous_minute[1] if self.previous_minute[1] else 0.0
        line.append(f" {arrow} {change:+,.2f} ({pct:+.3f}%)", self._style(direction))
        return line

    def _streaming(self) -> bool:
        """Trades are arriving (or expected): collecting, or attached with our ticker on."""
        c = self.collecting
        return c.state in ("collecting", "starting") or (c.state == "attached" and c.ticker_on)

    def _minute_line(self) -> Text:
        tick = self.collecting.tick
        line = Text()
        if tick is not None and not self._streaming():
            return line  # no open minute while stopped: the status line says so
        if tick is not None and tick.minute_trades == 0:
            line.append(
                f"{hhmm(tick.minute)} already saved; next row {hhmm(tick.minute + MINUTE_MS)}",
                self._style("muted"),
            )
        elif tick is not None:
            line.append(
                f"{hhmm(tick.minute)} avg {money(tick.minute_avg)} · {tick.minute_trades:,} trades"
            )
        else:
            line.append("open minute: none yet", self._style("muted"))
        return line

    def _status_lines(self) -> list[Text]:
        c = self.collecting
        if c.error is not None:
            return [Text(f"✗ collector stopped: {c.error}", self._style("error"))]
        if self.preparing:
            return [Text("… reading the CSV", self._style("muted"))]
        lines = []
        if c.state == "attached" and c.owner is not None:
            owner = c.owner
            since = owner.started
            with contextlib.suppress(ValueError):
                since = datetime.fromisoformat(owner.started).strftime("%H:%M")
            if c.owner_gone:
                lines.append(
                    Text(f"✗ {owner.command} (pid {owner.pid}) stopped", self._style("error"))
                )
                lines.append(Text("press o to take over collecting", self._style("warn")))
                return lines
            lines.append(Text(f"collecting: {owner.command}, pid {owner.pid}, since {since}"))
            if not c.ticker_on:
                lines.append(Text("○ ticker off: press c to start it", self._style("warn")))
                return lines
        elif c.state == "off":
            return [Text("○ not collecting: press c to start", self._style("warn"))]
        elif c.state == "starting":
            what = "the simulator" if self.settings.demo else "collecting"
            return [Text(f"… starting {what}", self._style("muted"))]
        lines.append(self._connection_line())
        if not c.ever_connected and c.status is not None and c.status.last_error:
            lines.append(Text(f"✗ no connection: {c.status.last_error}", self._style("error")))
            if not self.settings.demo:
                lines.append(Text("offline? try: btc-tui --demo", self._style("warn")))
        return lines

    def _connection_line(self) -> Text:
        c = self.collecting
        status = c.status
        if status is None:
            return Text(f"… connecting to {self.settings.url}", self._style("muted"))
        now = self.clock()
        elapsed = max(0.0, now - c.status_at)
        # Said only once there were any: "0 reconnects" takes room and tells nothing.
        n = status.reconnects
        reconnects = f" · {n} reconnect{'s' if n != 1 else ''}" if n else ""
        if status.state == "backing_off":
            retry = max(0.0, (status.retry_in or 0.0) - elapsed)
            return Text(f"↻ reconnecting in {retry:.0f} s{reconnects}", self._style("warn"))
        if status.stale:
            age = (status.last_message_age or 0.0) + elapsed
            return Text(f"◌ stale: nothing for {age:.0f} s{reconnects}", self._style("warn"))
        if status.state == "connected":
            line = Text("● connected", self._style("good"))
            line.append(f" · {status.messages_per_second:.1f} msg/s")
            if status.last_message_age is not None:
                age = status.last_message_age + elapsed
                line.append(f" · last {age:.0f} s ago")
            line.append(reconnects)
            return line
        if status.state == "connecting":
            return Text(f"… connecting{reconnects}", self._style("muted"))
        return Text(f"■ {status.state}{reconnects}", self._style("muted"))

    def _rows_line(self) -> Text:
        status = self.collecting.status
        rows = "?" if self.rows is None else f"{self.rows:,}"
        line = Text(f"{rows} rows")
        if status is None:
            return line
        line.append(f" · bad {status.bad}")
        if status.late:
            # Trades for a minute already in the CSV (e.g. a restart within the minute).
            line.append(f" · late {status.late}", self._style("muted"))
        return line

    def _holes_line(self) -> Text:
        """Only when there is something wrong with what reaches the CSV: minutes the disk refused
        (kept in memory and retried, so nothing is lost: said loudly), and holes in the stream
        (trades it missed, those fetched again over REST and those lost for good, and while a
        repair runs how far it has come; the history fill's trades are not holes)."""
        status = self.collecting.status
        if status is None or self.collecting.state != "collecting":
            return Text()  # attached: the holes are the owning collector's, not this ticker's
        line = Text()
        unwritten = getattr(status, "unwritten", 0)
        if unwritten:
            line.append(
                f"✗ disk refused: {unwritten:,} min in memory, retrying", self._style("error")
            )
        if status.missed or status.unrepaired:
            if unwritten:
                line.append(" · ")
            line.append(f"holes: {status.missed:,} trades · {status.repaired:,} repaired · ")
            lost = status.unrepaired
            line.append(f"{lost:,} lost", self._style("error") if lost else "")
        left, of = getattr(status, "repairing", 0), getattr(status, "repairing_of", 0)
        if left:  # only while a repair runs: how far it has come
            line.append(" · " if line.plain else "")
            line.append(f"repairing {of - left:,}/{of:,} trades", self._style("warn"))
        left, of = getattr(status, "rebuilding", 0), getattr(status, "rebuilding_of", 0)
        if left:  # stored minutes being rebuilt (holes left in the CSV, or check --repair's)
            line.append(" · " if line.plain else "")
            line.append(f"rebuilding {of - left:,}/{of:,} stored min", self._style("warn"))
        return line

    def _fill_line(self) -> Text:
        """While the history fill runs, and if it failed; a finished fill is in the log (the
        collector says how many minutes it filled), so it takes no room here."""
        fill = self.collecting.fill
        if fill is None:
            return Text()
        if fill.error is not None:
            return Text(f"✗ history: {fill.error}", self._style("error"))
        if fill.finished:
            return Text()
        pct = 100 * fill.done_minutes / fill.total_minutes if fill.total_minutes else 0.0
        return Text(
            f"… history: {fill.done_minutes:,}/{fill.total_minutes:,} minutes ({pct:.0f}%)",
            self._style("muted"),
        )

    def _prediction_lines(self) -> list[Text]:
        p = self.predicting
        prediction = p.prediction
        tick = self.collecting.tick
        now_minute = max(
            self.previous_minute[0] if self.previous_minute else 0,
            tick.minute if tick else 0,
        )
        if prediction is None or prediction.target_minute < now_minute:
            # No prediction, or only one for a minute already past (a gap stops predicting).
            return [Text(f"model: {p.model_state}", self._style("muted"))]
        # Both lines are LiveScore's own words (owned by the forecast helper), shown as they are.
        return [
            Text(p.score.describe_prediction(prediction)),
            Text(p.score.summary(), self._style("muted")),
        ]
