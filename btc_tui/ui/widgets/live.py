"""Live pane: ticker, connection health, CSV rows and the live prediction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from btc_tui.ui.live_score import LiveScore

if TYPE_CHECKING:
    from btc_tui.forecast.predictor import Prediction
    from btc_tui.market.collector import BarWritten, StreamStatus, Tick


def hhmm(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M")


def money(value: float) -> str:
    return f"{value:,.2f}"


class LivePane(Widget):
    """Renders the newest tick, status and prediction it was given; holds no domain logic."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "live--up",
        "live--down",
        "live--price",
        "live--good",
        "live--warn",
        "live--error",
        "live--muted",
    }

    def __init__(
        self,
        symbol: str,
        url: str,
        demo: bool,
        score: LiveScore,
        clock: Callable[[], float],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.symbol = symbol.upper()
        self.url = url
        self.demo = demo
        self.score = score
        self.clock = clock
        self.tick: Tick | None = None
        self.tick_at: float | None = None  # app clock when the newest tick was shown
        self.previous_minute: tuple[int, float] | None = None  # (minute ms, avg price)
        self.status: StreamStatus | None = None
        self.status_at = 0.0
        self.ever_connected = False
        self.collecting = False
        self.collector_error: str | None = None
        self.preparing = True  # until the app has read the CSV (and filled it, in demo mode)
        self.rows: int | None = None
        self.simulated_minutes = 0
        self.model_state = "no model yet: press t to train"
        self.prediction: Prediction | None = None

    # --- updates (called by the app's message handlers) ----------------------------------------

    def show_tick(self, tick: Tick) -> None:
        self.tick = tick
        self.tick_at = self.clock()
        self.refresh()

    def show_bar(self, event: BarWritten) -> None:
        self.previous_minute = (event.bar.minute, event.bar.avg_price)
        self.rows = event.rows
        self.refresh()

    def show_status(self, status: StreamStatus, at: float) -> None:
        self.status = status
        self.status_at = at
        if status.state == "connected":
            self.ever_connected = True
        self.refresh()

    def show_collecting(self, collecting: bool, error: str | None = None) -> None:
        self.collecting = collecting
        self.collector_error = error
        self.refresh()

    def show_data(self, rows: int, last_price: float | None, simulated_minutes: int) -> None:
        self.rows = rows
        self.preparing = False
        self.simulated_minutes = simulated_minutes
        if last_price is not None and self.previous_minute is None:
            self.previous_minute = (0, last_price)
        self.refresh()

    def show_model_state(self, text: str) -> None:
        self.model_state = text
        self.refresh()

    def show_prediction(self, prediction: Prediction) -> None:
        self.prediction = prediction
        self.refresh()

    # --- rendering -----------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"live--{name}")

    def render(self) -> Text:
        lines = [self._price_line(), self._minute_line(), *self._status_lines(), self._rows_line()]
        lines += self._prediction_lines()
        text = Text("\n").join(lines)
        # One fact per line: cut with … rather than wrap into the next fact.
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text

    def _price_line(self) -> Text:
        line = Text(f"{self.symbol} ", style="bold")
        if self.tick is None:
            line.append("waiting for the first trade…", self._style("muted"))
            return line
        price = self.tick.price
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

    def _minute_line(self) -> Text:
        line = Text()
        if self.tick is not None and self.tick.minute_trades == 0:
            line.append(
                f"{hhmm(self.tick.minute)} already saved; next row "
                f"{hhmm(self.tick.minute + 60_000)}",
                self._style("muted"),
            )
        elif self.tick is not None:
            line.append(
                f"{hhmm(self.tick.minute)} avg {money(self.tick.minute_avg)}"
                f" · {self.tick.minute_trades} trades"
            )
        else:
            line.append("open minute: none yet", self._style("muted"))
        if self.status is not None and self.collecting:
            line.append(f" · {self.status.messages_per_second:.1f}/s")
        return line

    def _status_lines(self) -> list[Text]:
        status = self.status
        if self.collector_error is not None:
            return [Text(f"✗ collector stopped: {self.collector_error}", self._style("error"))]
        if self.preparing:
            return [Text("… reading the CSV", self._style("muted"))]
        if not self.collecting:
            return [Text("○ not collecting: press c to start", self._style("warn"))]
        if status is None:
            return [Text(f"… connecting to {self.url}", self._style("muted"))]
        elapsed = max(0.0, self.clock() - self.status_at)
        reconnects = f" · {status.reconnects} reconnects"
        if status.state == "backing_off":
            retry = max(0.0, (status.retry_in or 0.0) - elapsed)
            line = Text(f"↻ reconnecting in {retry:.0f} s{reconnects}", self._style("warn"))
        elif status.stale:
            age = (status.last_message_age or 0.0) + elapsed
            line = Text(f"◌ stale: nothing for {age:.0f} s{reconnects}", self._style("warn"))
        elif status.state == "connected":
            line = Text("● connected", self._style("good"))
            if status.last_message_age is not None:
                # The status comes once a second; a tick shown since then is a newer message.
                age = status.last_message_age + elapsed
                if self.tick_at is not None and self.tick_at >= self.status_at:
                    age = min(age, self.clock() - self.tick_at)
                line.append(f" · msg {age:.1f} s ago")
            line.append(reconnects)
        elif status.state == "connecting":
            line = Text(f"… connecting{reconnects}", self._style("muted"))
        else:
            line = Text(f"■ {status.state}{reconnects}", self._style("muted"))
        lines = [line]
        if not self.ever_connected and status.last_error and not self.demo:
            lines.append(Text(f"✗ no connection: {status.last_error}", self._style("error")))
            lines.append(Text("offline? try: btc-tui --demo", self._style("warn")))
        return lines

    def _rows_line(self) -> Text:
        status = self.status
        rows = "?" if self.rows is None else f"{self.rows:,}"
        # Demo minutes are labelled simulated in the pane title, and in the log when written.
        line = Text(f"{rows} rows")
        if status is not None:
            line.append(f" · missed {status.missed} · bad {status.bad}")
            if status.late:
                # Trades for a minute already in the CSV (e.g. a restart within the minute).
                line.append(f" · late {status.late}", self._style("muted"))
        return line

    def _prediction_lines(self) -> list[Text]:
        prediction = self.prediction
        now_minute = max(
            self.previous_minute[0] if self.previous_minute else 0,
            self.tick.minute if self.tick else 0,
        )
        if prediction is None or prediction.target_minute < now_minute:
            # No prediction, or only one for a minute already past (a gap stops predicting).
            return [Text(f"model: {self.model_state}", self._style("muted"))]
        line = Text(f"{hhmm(prediction.target_minute)} forecast ")
        line.append(money(prediction.price), self._style("price"))
        scored = self.score.last_scored
        if scored is not None:
            line.append(f" · last err {scored.error:+,.2f}")
        lines = [line]
        mae, base = self.score.mae, self.score.persistence_mae
        if mae is not None and base is not None:
            better = "good" if mae < base else "warn"
            lines.append(
                Text.assemble(
                    ("live MAE ", ""),
                    (money(mae), self._style(better)),
                    f" vs persistence {money(base)} (n={self.score.count})",
                )
            )
        else:
            lines.append(Text("live MAE: once a predicted minute closes", self._style("muted")))
        return lines
