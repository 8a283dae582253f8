"""The Textual app: composition and key bindings. Each job has an owner that holds its worker
and state: collecting (ui/collecting.py) and live prediction (ui/prediction.py) live in the Live
pane, training in the Training pane. Nothing here imports tensorflow.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.scalar import Unit
from textual.driver import Driver
from textual.events import Resize
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Footer, Static

from btc_tui.config import Settings, remember_theme
from btc_tui.market.candles import next_timeframe
from btc_tui.ui import actions, hangup
from btc_tui.ui import messages as m
from btc_tui.ui.alerting import Alerting
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.palette import ActionsProvider
from btc_tui.ui.prediction import LivePrediction
from btc_tui.ui.screens.help import HelpScreen
from btc_tui.ui.widgets import EventLog, LivePane, LossChart, TrainingPane
from btc_tui.ui.widgets.market_chart import MarketChart

MIN_WIDTH, MIN_HEIGHT = 60, 20  # below this, one line says so
COMPACT_WIDTH, COMPACT_HEIGHT = 120, 36  # below this, the chart and one pane behind v
# What v shows beside the market chart in a smaller terminal ("market": the chart alone).
VIEWS = ("market", "training", "loss-chart", "forecast", "log")
COMPACT_VIEW_ROWS = 7  # the pane under the chart: the training pane's five lines and border
CHART_SHARE = 0.55  # of a smaller terminal's height left beside that pane, at least


def min_rows(widget: Widget) -> int:
    """A pane's `min-height` from app.tcss in rows; the budget needs a plain number of rows there
    (a percentage or fraction would be misread, so it is refused loudly)."""
    scalar = widget.styles.min_height
    if scalar is None or scalar.unit != Unit.CELLS:
        raise ValueError(f"app.tcss: #{widget.id} needs a min-height in rows, got {scalar}")
    return int(scalar.value)


class BtcTuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "btc-tui"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings()

    view: reactive[str] = reactive("market")  # the pane shown under the chart in a small terminal
    compact: reactive[bool] = reactive(False, bindings=True)

    def __init__(
        self,
        settings: Settings,
        *,
        autostart: bool = True,
        clock: Callable[[], float] = time.time,
        handle_signals: bool = False,
        refresh_hz: float | None = None,
    ) -> None:
        """`autostart=False` starts no collector and loads no model on launch (snapshot tests
        set state instead); `clock` stamps log lines and ages (frozen in snapshots);
        `handle_signals`: SIGHUP/SIGTERM quit like q (only for a real run, not under pytest);
        `refresh_hz`: how often a new price may repaint (default: settings.refresh)."""
        self.handle_signals = handle_signals  # read by get_driver_class, from App.__init__
        super().__init__()
        self.settings = settings
        self.autostart = autostart
        self.clock = clock
        self.keymap = dict(settings.keys)
        self.refresh_hz = refresh_hz or settings.refresh
        self._quitting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False  # collecting and model loading begin after the first read
        self._forecast_pending: list[Callable[[Any], None]] = []  # until the pane is mounted
        self._remembered_theme = settings.theme  # what the config file says now
        self._theme_write = asyncio.Lock()
        # The terminal's raw writer, set by our own driver (ui/hangup.py) in a real terminal only:
        # alerts' desktop notifications (OSC 777/9) are bytes no widget can draw.
        self.terminal_write: Callable[[str], object] | None = None

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        # Only the real terminal driver: tests and `textual serve` keep theirs.
        if self.handle_signals and driver.__name__ == "LinuxDriver":
            return hangup.HangupSafeDriver
        return driver

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield LivePane(s, self.clock, self.refresh_hz, id="live")
                yield TrainingPane(s, id="training")
            yield MarketChart(s, id="market")
            with Horizontal(id="charts"):
                yield LossChart(id="loss-chart")
                # ForecastPane is mounted once its module is imported, after the first screen.
            yield EventLog(self.clock, id="log")
        yield Static("", id="too-small")
        yield Alerting(s)
        yield Footer()

    def on_mount(self) -> None:
        s = self.settings
        if s.theme in self.available_themes:
            self.theme = s.theme
        if self.keymap:
            self.set_keymap(self.keymap)
        self.query_one("#live").border_title = f"Live · {s.symbol.upper()}" + (
            " · SIMULATED (demo)" if s.demo else ""
        )
        self.query_one("#training").border_title = "Training"
        self.query_one("#loss-chart").border_title = "Epoch loss"
        self.query_one("#log").border_title = "Log"
        training = self.query_one(TrainingPane)
        self.watch(training, "losses", self.query_one(LossChart).show_losses, init=False)
        chart = self.query_one(MarketChart)
        collecting = self.query_one(Collecting)
        chart.live_source = lambda: collecting.open_candle
        prediction = self.query_one(LivePrediction)
        self.watch(prediction, "prediction", chart.show_prediction, init=False)
        alerting = self.query_one(Alerting)
        collecting.on_live_trade = alerting.on_trade
        self.watch(prediction, "prediction", alerting.on_prediction, init=False)
        self.log_event(f"data {s.data} · models {s.models}" + (" · demo mode" if s.demo else ""))
        self._loop = asyncio.get_running_loop()
        if self.handle_signals:
            for sig in hangup.HANGUP_SIGNALS:
                self._loop.add_signal_handler(sig, self.hang_up, sig.name)
        self._fit(self.size.width, self.size.height)
        self.run_worker(self._mount_forecast_pane(), exit_on_error=False)
        if self.autostart:
            self.query_one(LivePrediction).prepare()

    async def _mount_forecast_pane(self) -> None:
        """Its module imports the forecast package (pandas...): import it off the loop, after the
        first screen, then mount it where compose left room for it. A failure is said in the log
        and a notification (the worker itself does not exit the app)."""
        import importlib

        try:
            module = await asyncio.to_thread(importlib.import_module, "btc_tui.ui.widgets.forecast")
            pane = module.ForecastPane(id="forecast")
            pane.border_title = "Forecast · test set"
            await self.query_one("#charts").mount(pane)
        except Exception as exc:  # any failure: shown, never silent
            reason = f"{type(exc).__name__}: {exc}"
            self.log_event(f"the forecast pane could not be shown: {reason}")
            self.notify(reason, title="forecast pane failed", severity="error", timeout=10)
            return
        self._show_view()
        for show in self._forecast_pending:
            show(pane)
        self._forecast_pending.clear()

    def _with_forecast_pane(self, show: Callable[[Any], None]) -> None:
        panes = self.query("#forecast")
        if panes:
            show(panes.first())
        else:
            self._forecast_pending.append(show)

    def terminal_gone(self, why: str) -> None:
        """From Textual's input or output thread: never wait for the loop (it may be waiting on
        the output thread), just ask it to hang up."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.hang_up, why)

    def hang_up(self, why: str) -> None:
        """SIGHUP, SIGTERM, or the terminal gone: the same as q."""
        if not self._quitting:
            self.log_event(f"{why}: quitting")
            self.run_worker(self.action_quit(), exit_on_error=False)

    def watch_theme(self, theme: str) -> None:
        """A theme picked in the app (palette: "Change theme") is written to the config file,
        off the loop (it is a file write), one write at a time."""
        if self.is_mounted and theme != self._remembered_theme:
            self._remembered_theme = theme
            self.run_worker(self._remember_theme(), exit_on_error=False)

    async def _remember_theme(self) -> None:
        async with self._theme_write:  # the newest pick is written last
            theme = self._remembered_theme
            try:
                await asyncio.to_thread(remember_theme, self.settings, theme)
            except Exception as exc:  # a read-only config file must not end the app
                self.log_event(f"theme {theme} not remembered: {exc}")

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.compact = not too_small and (width < COMPACT_WIDTH or height < COMPACT_HEIGHT)
        self.screen.set_class(too_small, "-too-small")
        self.screen.set_class(self.compact, "-compact")
        footer = self.query_one(Footer)
        footer.compact = self.compact
        footer.show_command_palette = not self.compact  # ctrl+p still works; room for keys
        if too_small:
            self.query_one("#too-small", Static).update(
                f"btc-tui needs at least {MIN_WIDTH}×{MIN_HEIGHT} (this is {width}×{height})"
            )
        self._show_view()
        # After the classes above have restyled the panes: their min-heights are read.
        self.call_after_refresh(self._budget_live_pane)

    def _budget_live_pane(self) -> None:
        """The Live pane grows with what it says; it may take only what the panes below it leave
        (their minimum heights are in app.tcss), so none of them is ever pushed off the screen."""
        live = self.query_one(LivePane)
        height = self.size.height
        border = 2
        if self.compact:
            view = COMPACT_VIEW_ROWS if self.view != "market" else 0
            # The chart keeps most of what the pane under it leaves, so it stays readable.
            chart = max(min_rows(self.query_one("#market")), int(CHART_SHARE * (height - view)))
            below = chart + view
        else:
            below = sum(min_rows(self.query_one(p)) for p in ("#market", "#charts", "#log"))
        live.max_lines = max(1, height - 1 - below - border)  # 1: the footer
        live.redraw()

    def watch_view(self) -> None:
        self._show_view()
        self.call_after_refresh(self._budget_live_pane)

    def _show_view(self) -> None:
        for name in VIEWS:
            for pane in self.query(f"#{name}"):  # the forecast pane comes a moment later
                pane.set_class(name == self.view, "-view")
            self.screen.set_class(name == self.view, f"-view-{name}")
        self.screen.set_class(self.compact and self.view != "market", "-with-view")

    def log_event(self, text: str) -> None:
        for log in self.query(EventLog):  # none once the screen is gone at exit
            log.add(text)

    # --- bindings ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # None = shown but disabled in the footer; False = hidden; the palette hides both.
        if not self.is_mounted or not self.query(TrainingPane):
            return True
        training = self.query_one(TrainingPane)
        prediction = self.query_one(LivePrediction)
        if action == "train":
            return None if training.running or not prediction.ready else True
        if action == "cancel_training":
            return True if training.running and not training.cancelling else None
        if action == "load_model":
            return None if training.running or prediction.loading else True
        if action == "take_over":
            return self.query_one(Collecting).owner_gone
        if action == "next_view":
            return self.compact
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap))

    def action_toggle_collect(self) -> None:
        self.query_one(Collecting).toggle()

    def action_take_over(self) -> None:
        self.query_one(Collecting).take_over()

    def action_train(self) -> None:
        if self.check_action("train", ()):
            self.query_one(TrainingPane).train()

    def action_cancel_training(self) -> None:
        self.query_one(TrainingPane).cancel()

    def action_load_model(self) -> None:
        if self.check_action("load_model", ()):
            self.query_one(LivePrediction).load()

    def action_next_timeframe(self) -> None:
        chart = self.query_one(MarketChart)
        chart.timeframe = next_timeframe(chart.timeframe)

    def action_toggle_chart(self) -> None:
        chart = self.query_one(MarketChart)
        chart.style = "line" if chart.style == "candle" else "candle"

    def action_alerts(self) -> None:
        from btc_tui.ui.screens.alerts import AlertsScreen  # its widgets: not at startup

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen(self.query_one(Alerting)))

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]

    async def action_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.log_event("quitting: writing the open minute")
        self.query_one(TrainingPane).cancel()  # stops at the next batch; the old model stays
        await self.query_one(Collecting).stop()
        self.exit(0)

    # --- what the owners tell each other -------------------------------------------------------

    @on(m.EventLogged)
    def _logged(self, message: m.EventLogged) -> None:
        self.log_event(message.text)

    @on(m.DataPrepared)
    def _data_prepared(self, message: m.DataPrepared) -> None:
        self.log_event(f"{self.settings.data}: {message.rows:,} minutes")
        self.query_one(MarketChart).reload()
        if self.autostart and not self._quitting and not self._started:
            self._started = True
            # Everything imported and read so far lives as long as the app: keep it out of the
            # cyclic collector's full passes, which otherwise stall the loop ~30 ms each.
            gc.freeze()
            self.query_one(Collecting).start()
            if self.settings.model_path.exists():
                self.query_one(LivePrediction).load()

    @on(m.CsvReplaced)
    def _csv_replaced(self) -> None:
        self.query_one(LivePrediction).prepare()
        self.query_one(MarketChart).reload()

    @on(m.BarReceived)
    def _bar_received(self, message: m.BarReceived) -> None:
        self.query_one(MarketChart).add_bar(message.event.bar)
        self.query_one(Alerting).on_bar(message.event.bar)

    @on(m.AlertFired)
    def _alert_fired(self, message: m.AlertFired) -> None:
        f = message.firing
        self.query_one(MarketChart).add_mark(f.at, f.price, f.rule)

    @on(m.TrainingFinished)
    def _training_finished(self, message: m.TrainingFinished) -> None:
        result = message.result
        self._with_forecast_pane(
            lambda pane: pane.show(
                result.actual,
                result.predicted,
                result.metrics,
                lo=result.lo,
                hi=result.hi,
                horizons={h: r.metrics for h, r in result.horizons.items()},
            )
        )
        if result.model_path.exists():
            self.query_one(LivePrediction).load("loading the new model…")

    @on(m.ModelLoaded)
    def _model_loaded(self, message: m.ModelLoaded) -> None:
        # The file name only (a path would be cut mid-word); the log has the full path.
        self.query_one(TrainingPane).show_model(f"model: {Path(message.path).name}")
        from btc_tui.forecast.saved import saved_model

        saved = saved_model(message.predictor.metadata)
        self._with_forecast_pane(lambda pane: pane.show_saved(saved))
        if saved.loss and not self.query_one(TrainingPane).losses:
            # A model trained earlier draws its own loss curve (this session's run draws its own).
            self.query_one(LossChart).show_losses(
                list(zip(saved.loss, saved.val_loss, strict=True))
            )


def run(settings: Settings) -> int:
    """Entry point for `btc-tui` without a subcommand."""
    app = BtcTuiApp(settings, handle_signals=True)
    with (
        hangup.terminal_output(native_log_path(settings)),
        hangup.on_terminal_gone(app.terminal_gone),
    ):
        app.run()
    return app.return_code or 0


def native_log_path(settings: Settings) -> Path:
    return settings.data.parent / "btc-tui.native.log"
