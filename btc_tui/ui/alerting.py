"""The alerts job's owner: the rules (from --alert / the config file, edited on the alerts
screen), their state, and what a firing does: a log line naming the rule and the price, the
terminal bell and a desktop notification (--notify), a toast (which serve's browser tabs show
too) and, through AlertFired, a mark on the chart.

Fed by live trades only: Collecting calls on_trade for each trade of the stream (never for the
history fill or a repair), and on_bar for each closed live minute (band rules).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, cast

from textual.reactive import var
from textual.widget import Widget

from btc_tui.config import Settings, remember_alerts
from btc_tui.market.alerts import AlertBook, Firing, notification_bytes, parse_rules
from btc_tui.ui import messages as m

if TYPE_CHECKING:
    from btc_tui.forecast.predictor import Prediction
    from btc_tui.market.bars import MinuteBar
    from btc_tui.market.collector import Tick
    from btc_tui.ui.app import BtcTuiApp

BANDS_KEPT = 120  # predicted minutes remembered for band rules
NOTIFY_GAP = 10.0  # seconds: one toast, bell and desktop notification per rule at most


class Alerting(Widget):
    DEFAULT_CSS = "Alerting { display: none; }"

    rules: var[tuple[str, ...]] = var(())

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.book = AlertBook(parse_rules(settings.alerts), settings.symbol)
        self.set_reactive(Alerting.rules, tuple(settings.alerts))
        self.bands: dict[int, tuple[float, float]] = {}  # minute -> the model's interval
        self._save = asyncio.Lock()
        self._notified: dict[str, float] = {}  # rule -> when it last showed a toast (monotonic)

    # --- fed by the owners -------------------------------------------------------------------------

    def on_trade(self, tick: Tick) -> None:
        """Every live trade (the hot path: usually no rule fires)."""
        for firing in self.book.on_trade(tick.price, tick.trade_time):
            self.fired(firing)

    def on_prediction(self, prediction: Prediction | None) -> None:
        if prediction is None or not (
            math.isfinite(prediction.lo) and math.isfinite(prediction.hi)
        ):
            return
        self.bands[prediction.target_minute] = (prediction.lo, prediction.hi)
        while len(self.bands) > BANDS_KEPT:
            del self.bands[min(self.bands)]

    def on_bar(self, bar: MinuteBar) -> None:
        band = self.bands.pop(bar.minute, None)
        if band is not None:
            for firing in self.book.on_minute(bar.minute, bar.avg_price, *band):
                self.fired(firing)

    # --- a firing ----------------------------------------------------------------------------------

    def fired(self, firing: Firing) -> None:
        self.post_message(m.EventLogged(firing.line()))
        self.post_message(m.AlertFired(firing))
        # A rule that fires again and again (a tiny move) must not bury the screen in toasts or
        # ring the bell without pause: at most one toast and notification per rule per NOTIFY_GAP.
        now = time.monotonic()
        if now - self._notified.get(firing.rule, -NOTIFY_GAP) < NOTIFY_GAP:
            return
        self._notified[firing.rule] = now
        self.app.notify(firing.line(), title="Price alert", severity="warning", timeout=10)
        data = notification_bytes(firing, self.settings.notify)
        # Only a real terminal has a writer (ui/hangup.py's driver); tests and browsers don't.
        write = cast("BtcTuiApp", self.app).terminal_write
        if data and write is not None:
            write(data.decode())

    # --- the alerts screen -------------------------------------------------------------------------

    def set_rules(self, rules: tuple[str, ...]) -> None:
        """New rules (already checked): a fresh book (all armed again), saved to the config file
        off the loop."""
        self.book = AlertBook(parse_rules(rules), self.settings.symbol)
        self.rules = rules
        self.run_worker(self._remember(), exit_on_error=False)

    async def _remember(self) -> None:
        async with self._save:  # the newest rules are written last
            rules = self.rules
            try:
                await asyncio.to_thread(remember_alerts, self.settings, rules)
            except Exception as exc:  # a read-only config file must not end the app
                self.post_message(m.EventLogged(f"alerts not saved: {exc}"))
            else:
                where = self.settings.config or "nowhere (no config file)"
                self.post_message(m.EventLogged(f"alerts saved to {where}: {len(rules)} rule(s)"))
