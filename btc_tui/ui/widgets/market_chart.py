"""The market chart: candles (or a line) of the CSV plus the open minute, volume under them, the
live predictions against what happened and the forecast ahead of the last candle, and a mark
where an alert fired. It owns its data: it reads the candles that fit its width from the CSV's
end in a thread, folds in each closed minute, and redraws the open minute at most once a second
(over SSH every repaint is bytes on the wire).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from textual import work
from textual.geometry import Region
from textual.reactive import reactive
from textual.timer import Timer
from textual.worker import Worker, WorkerState
from textual_plotext.plot import Plot

from btc_tui.config import Settings
from btc_tui.market.candles import (
    Candle,
    CandleTail,
    OpenCandle,
    add_minute,
    bucket_of,
    iter_slots,
    read_candles,
    span_ms,
    with_open_minute,
)
from btc_tui.ui.widgets.charts import SafePlot, price_axis, tick_room

if TYPE_CHECKING:
    from btc_tui.forecast.predictor import Prediction
    from btc_tui.market.bars import MinuteBar

Y_LABEL = 10  # columns plotext takes for "100,000 ┤" and the frame
LIVE_REDRAW = (
    3.0  # seconds between looks at the open minute (bytes on the wire: ui_terminal_bytes.py)
)
# Minutes that arrive in a burst (an attach catching up, a repair's minutes, a fast simulator)
# redraw the whole chart at most this often: each redraw is ~5 ms of plotext on the event loop
# (benchmarks/ui_loop_stall.py). A key, a resize or a new timeframe still draws at once.
DATA_REDRAW_GAP = 1.0  # seconds
VOLUME_SHARE = 0.22  # of the chart's height, under the prices
VOLUME_MIN_HEIGHT = 12  # rows of the widget below which the prices get them all
AHEAD_SHARE = 0.25  # at most this much of the width for the forecast ahead
UP, DOWN, MUTED, FORECAST, MARK = "green", "red", "gray", "cyan", "yellow"
# Each timeframe's time labels: hours and minutes up to an hour, then days.
TIME_FORMATS = {"1m": "%H:%M", "5m": "%H:%M", "15m": "%H:%M", "1h": "%d %H:%M", "4h": "%d %Hh",
                "1d": "%m-%d"}  # fmt: skip


@dataclass(frozen=True)
class Forecast:
    """A band ahead of the last candle: at `minute` (ms), median `price` within [lo, hi]."""

    minute: int
    price: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Mark:
    """Where an alert fired: its time (ms), the price, the rule."""

    at: int
    price: float
    rule: str


def fan_slots(
    forecasts: list[Forecast], last_start: int, timeframe: str, room: int
) -> list[tuple[int, Forecast]]:
    """Where each horizon goes: its slot after the last candle's (0 = the last candle's own
    bucket), only those within `room` slots; horizons that fall in one candle (a wide timeframe)
    are shown by the longest of them."""
    span = span_ms(timeframe)
    by_slot: dict[int, Forecast] = {}
    for f in forecasts:
        slot = (bucket_of(f.minute, timeframe) - last_start) // span
        if 0 <= slot <= room:
            by_slot[slot] = f  # shortest first: a longer horizon in the same slot wins
    return sorted(by_slot.items())


class MarketChart(SafePlot):
    """Market · SYMBOL · timeframe."""

    timeframe: reactive[str] = reactive("1m")
    style: reactive[str] = reactive("candle")

    def __init__(self, settings: Settings, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.settings = settings
        self.candles: list[Candle] = []
        self.last_closed: int | None = None  # newest minute folded into the candles
        self.live: OpenCandle | None = None
        self.live_source: Callable[[], OpenCandle | None] = lambda: None
        self.predictions: dict[int, float] = {}  # target minute -> predicted price (live)
        self.forecasts: list[Forecast] = []
        self.marks: list[Mark] = []
        self.loaded_count = 0
        self._scale: tuple[float, float, int] | None = None  # last drawn: y from, y to, rows
        self._slots = (0, 0)  # last drawn: the first slot and the last one ahead
        self._reader: Worker[CandleTail] | None = None
        self._drawn_at = -math.inf  # monotonic time of the last whole redraw
        self._redraw: Timer | None = None  # a data redraw put off by DATA_REDRAW_GAP
        self.set_reactive(MarketChart.timeframe, settings.timeframe)
        self.set_reactive(MarketChart.style, settings.chart)

    def on_mount(self) -> None:
        self._title()
        self.set_interval(LIVE_REDRAW, self._live_tick)

    def _title(self) -> None:
        self.border_title = f"Market · {self.settings.symbol.upper()} · {self.timeframe}"
        parts = ["candles" if self.style == "candle" else "close"]
        if self.size.height >= VOLUME_MIN_HEIGHT:
            parts.append("█ volume")
        if self.predictions or self.forecasts:
            parts.append("• predicted · ┃ band")
        self.border_subtitle = " · ".join(parts)

    # --- what the app tells it -------------------------------------------------------------------

    def wanted(self) -> int:
        """How many candles fit the width now (at least a few, before the first layout)."""
        plot = max(10, self.size.width - Y_LABEL - 2)
        return plot // 2 if self.style == "candle" else plot

    def reload(self) -> None:
        """Read the candles that fit from the CSV's end, off the loop."""
        self._reader = self._read(self.timeframe, self.wanted())

    @work(thread=True, exclusive=True, exit_on_error=False, name="read candles", group="chart")
    def _read(self, timeframe: str, count: int) -> CandleTail:
        return read_candles(self.settings.data, timeframe, count)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._reader:
            return
        event.stop()
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            tail = event.worker.result
            self.candles = tail.candles
            self.last_closed = tail.last_minute
            self.loaded_count = self.wanted()
            self._draw()
        elif event.state == WorkerState.ERROR:
            self.error = f"cannot read the CSV: {event.worker.error}"
            self.refresh()

    def add_bar(self, bar: MinuteBar) -> None:
        self.candles = add_minute(self.candles, bar, self.timeframe, keep=max(self.wanted(), 2))
        self.last_closed = max(self.last_closed or bar.minute, bar.minute)
        self._draw_soon()

    def _draw(self) -> None:
        self._drawn_at = time.monotonic()
        if self._redraw is not None:
            self._redraw.stop()
            self._redraw = None
        super()._draw()

    def _draw_soon(self) -> None:
        """New data: draw now, or once DATA_REDRAW_GAP has passed since the last redraw."""
        if self._redraw is not None:
            return  # one is coming, and it draws whatever the data is by then
        wait = self._drawn_at + DATA_REDRAW_GAP - time.monotonic()
        if wait <= 0:
            self._draw()
        else:
            self._redraw = self.set_timer(wait, self._draw)

    def next_timeframe(self, timeframe: str) -> None:
        self.timeframe = timeframe

    def watch_timeframe(self) -> None:
        if self.is_mounted:
            self._title()
            self.candles = []
            self.reload()

    def watch_style(self) -> None:
        if self.is_mounted:
            self._title()
            self.reload()

    def on_resize(self) -> None:
        self._title()
        if self.wanted() > self.loaded_count:
            self.reload()
        self._draw()

    def show_prediction(self, prediction: Prediction | None) -> None:
        """The model's forecast from the newest window: every horizon's median and band (the fan
        ahead of the last candle); the first horizon's median is kept as a dot at its minute, to
        be seen against what happened."""
        if prediction is None:
            return
        fan = [Forecast(f.target_minute, f.median, f.lo, f.hi) for f in prediction.forecasts]
        if not fan:
            return
        self.predictions[fan[0].minute] = fan[0].price
        if len(self.predictions) > 2000:
            for key in sorted(self.predictions)[:-1000]:
                del self.predictions[key]
        self.forecasts = fan
        self._title()
        self._draw()

    def set_forecasts(self, forecasts: list[Forecast]) -> None:
        self.forecasts = forecasts
        self._draw()

    def add_mark(self, at: int, price: float, rule: str) -> None:
        self.marks = [*self.marks[-50:], Mark(at, price, rule)]
        self._draw()

    def _live_tick(self) -> None:
        """The open minute, once a second: redrawn only when it would look different (another
        minute, or a price in another row of the chart): every redraw sends the chart's rows
        over the wire again."""
        live = self.live_source()
        if live == self.live:
            return
        before, self.live = self._cells(self.live), live
        after = self._cells(live)
        if after == before:
            return
        if before is None or after is None or before[0] != after[0] or len(after) == 3:
            self._draw()  # a new minute, or a new scale: everything moves
            return
        # Same scale, same minute: only the last candle's columns change. Repaint just those
        # (and the forecast beside them), not the whole chart.
        self._version += 1
        self.refresh(self._right_edge())

    def _right_edge(self) -> Region:
        first, ahead = self._slots
        plot = max(1, self.size.width - Y_LABEL)
        per_slot = plot / max(1, ahead - first + 1)
        width = min(self.size.width, int((ahead + 1.5) * per_slot) + 3)
        return Region(self.size.width - width, 0, width, self.size.height)

    def _cells(self, live: OpenCandle | None) -> tuple[object, ...] | None:
        if live is None or self._scale is None:
            return None
        base, top, rows = self._scale
        if live.low < base or live.high > top:
            return (live.minute, live.low, live.high)  # off the scale: always a redraw
        row = (rows - 1) / (top - base)
        prices = (live.open, live.high, live.low, live.close)
        return (live.minute, *(round((p - base) * row) for p in prices))

    # --- drawing ---------------------------------------------------------------------------------

    def shown(self) -> list[Candle]:
        return with_open_minute(self.candles, self.live, self.timeframe, self.last_closed)

    def draw(self, plt: Plot) -> None:
        candles = self.shown()[-self.wanted() :]
        if not candles:
            plt.xticks([])
            plt.yticks([])
            plt.text("waiting for minutes…", 0, 0)
            return
        slots = iter_slots(candles, self.timeframe)
        span = span_ms(self.timeframe)
        last_start = candles[-1].start
        first_slot = slots[0][0]
        forecasts = self._forecast_slots(last_start, span, len(candles))
        ahead = max([0, *(s for s, _ in forecasts)])
        lo = min([c.low for c in candles] + [f.lo for _, f in forecasts if math.isfinite(f.lo)])
        hi = max([c.high for c in candles] + [f.hi for _, f in forecasts if math.isfinite(f.hi)])
        if hi <= lo:
            hi, lo = hi + 1, lo - 1
        plt.xaxes(True, False)  # no frame line above and right: a row and a column for data
        plt.yaxes(True, False)
        base = lo
        if self.size.height >= VOLUME_MIN_HEIGHT:
            base = lo - (hi - lo) * VOLUME_SHARE / (1 - VOLUME_SHARE)
            self._draw_volume(plt, slots, base, lo)
        self._draw_prices(plt, slots)
        self._draw_predictions(plt, last_start, span, first_slot)
        self._draw_fan(plt, forecasts)
        for mark in self.marks:
            slot = (bucket_of(mark.at, self.timeframe) - last_start) // span
            if first_slot <= slot <= 0:
                plt.scatter([slot], [mark.price], marker="◆", color=MARK)
        plt.xlim(first_slot - 0.5, ahead + 0.5)
        plt.ylim(base, hi)
        self._scale = (base, hi, max(2, self.size.height - 3))
        self._slots = (first_slot, ahead)
        self._ticks(plt, first_slot, ahead, last_start, span, lo, hi)

    def _forecast_slots(self, last_start: int, span: int, shown: int) -> list[tuple[int, Forecast]]:
        room = max(1, int(shown * AHEAD_SHARE))
        return fan_slots(self.forecasts, last_start, self.timeframe, room)

    def _draw_fan(self, plt: Plot, forecasts: list[tuple[int, Forecast]]) -> None:
        """Each horizon's band as a bar at its minute, its median a dot; with several horizons,
        lines join the medians and the band's edges into a fan."""
        banded = [(s, f) for s, f in forecasts if math.isfinite(f.lo) and math.isfinite(f.hi)]
        if len(banded) > 1:  # the edges first: the bars drawn after them stay whole
            xs = [s for s, _ in banded]
            plt.plot(xs, [f.lo for _, f in banded], marker="·", color=FORECAST)
            plt.plot(xs, [f.hi for _, f in banded], marker="·", color=FORECAST)
        for slot, f in banded:
            plt.plot([slot, slot], [f.lo, f.hi], marker="┃", color=FORECAST)
        if forecasts:
            plt.scatter([s for s, _ in forecasts], [f.price for _, f in forecasts], marker="•",
                        color=FORECAST)  # fmt: skip

    def _draw_volume(self, plt: Plot, slots: list[tuple[int, Candle]], base: float, lo: float):
        most = max((c.volume_units for _, c in slots), default=0)
        if most <= 0:
            return
        room = (lo - base) * 0.9
        for slot, c in slots:
            if c.volume_units:
                top = base + room * c.volume_units / most
                plt.plot([slot, slot], [base, top], marker="█", color=MUTED)

    def _draw_prices(self, plt: Plot, slots: list[tuple[int, Candle]]) -> None:
        xs = [s for s, _ in slots]
        if self.style == "candle":
            data = {
                "Open": [c.open for _, c in slots],
                "Close": [c.close for _, c in slots],
                "High": [c.high for _, c in slots],
                "Low": [c.low for _, c in slots],
            }
            plt.candlestick(xs, data, colors=[UP, DOWN])
            return
        # A line, broken where a bucket had no minutes.
        run_x: list[int] = []
        run_y: list[float] = []
        for slot, c in slots:
            if run_x and slot != run_x[-1] + 1:
                plt.plot(run_x, run_y, marker="braille", color=UP)
                run_x, run_y = [], []
            run_x.append(slot)
            run_y.append(c.close)
        if run_x:
            plt.plot(run_x, run_y, marker="braille", color=UP)

    def _draw_predictions(self, plt: Plot, last_start: int, span: int, first_slot: int) -> None:
        """Each live prediction at its minute: dots against the candles (1m only; a wider candle
        holds many minutes, so one dot per minute would say nothing)."""
        if self.timeframe != "1m" or not self.predictions:
            return
        points = [
            ((minute - last_start) // span, price)
            for minute, price in self.predictions.items()
            if first_slot <= (minute - last_start) // span <= 0
        ]
        if points:
            plt.scatter([x for x, _ in points], [y for _, y in points], marker="•", color=FORECAST)

    def _ticks(
        self, plt: Plot, first: int, ahead: int, last_start: int, span: int, lo: float, hi: float
    ) -> None:
        price_axis(plt, lo, hi, self.size.height)
        fmt = TIME_FORMATS[self.timeframe]
        label = len(self._time(last_start, fmt))
        most = tick_room(self.size.width, label)
        count = ahead - first + 1
        every = max(1, -(-count // most))
        xs = list(range(0, first - 1, -every))[::-1]  # anchored at the last candle
        plt.xticks(xs, [self._time(last_start + x * span, fmt) for x in xs])

    def _time(self, ms: int, fmt: str) -> str:
        zone = UTC if self.settings.utc else None
        return datetime.fromtimestamp(ms / 1000, tz=zone).astimezone(zone).strftime(fmt)
