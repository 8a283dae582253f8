"""The Textual app: wiring only. Workers run the domain code; callbacks become messages;
message handlers hand data to widgets, which render it.

Nothing here imports tensorflow at import time: training and prediction import the forecast
package inside their thread workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Footer
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState, get_current_worker

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.ui import messages as m
from btc_tui.ui.commands import ActionsProvider
from btc_tui.ui.frames import append_bar, trailing_contiguous
from btc_tui.ui.live_score import LiveScore
from btc_tui.ui.screens.help import HelpScreen
from btc_tui.ui.startup import read_startup_minutes, saved_metrics
from btc_tui.ui.widgets import EventLog, ForecastPane, LivePane, LossChart, TrainingPane

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.forecast.predictor import Predictor
    from btc_tui.forecast.training import TrainResult
    from btc_tui.market.collector import BarWritten, CollectorLog, StreamStatus, Tick

TICK_INTERVAL = 0.1  # per-trade updates reach the screen at ~10 Hz
BATCH_INTERVAL = 0.2  # per-batch progress at ~5 Hz
QUIT_TIMEOUT = 1.5  # seconds to wait for the collector to write the open minute


def describe(error: BaseException | None) -> str:
    """A UsageError's message is written for users; anything else gets its type name too."""
    if error is None:
        return "unknown error"
    if isinstance(error, UsageError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class BtcTuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "btc-tui"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "toggle_collect", "Collect", id="collect",
                tooltip="Start or stop collecting trades into the minute CSV"),
        Binding("t", "train", "Train", id="train",
                tooltip="Train the LSTM on the current CSV in the background"),
        Binding("x", "cancel_training", "Cancel", id="cancel-training",
                tooltip="Cancel training; the previous model is kept"),
        Binding("l", "load_model", "Load", id="load-model",
                tooltip="Load the saved model and predict each next minute"),
        Binding("question_mark,f1", "help", "Help", id="help", key_display="?",
                tooltip="Show every key"),
        Binding("q", "quit", "Quit", id="quit",
                tooltip="Write the open minute, stop training, exit"),
    ]  # fmt: skip

    collecting: reactive[bool] = reactive(False, bindings=True)
    training: reactive[bool] = reactive(False, bindings=True)
    loading_model: reactive[bool] = reactive(False, bindings=True)
    data_ready: reactive[bool] = reactive(False, bindings=True)

    def __init__(
        self,
        settings: Settings,
        *,
        autostart: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`autostart=False` starts no collector and loads no model on launch (snapshot tests
        feed messages instead); `clock` stamps log lines and ages (frozen in snapshots)."""
        super().__init__()
        self.settings = settings
        self.autostart = autostart
        self.clock = clock
        self.score = LiveScore()
        self.frame: pd.DataFrame | None = None
        self.predictor: Predictor | None = None
        self.simulator_url: str | None = None
        self.collector_worker: Worker[None] | None = None
        self.simulator_worker: Worker[None] | None = None
        self._pending_tick: Tick | None = None
        self._pending_status: StreamStatus | None = None
        self._cancelling_training = False
        self._quitting = False

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield LivePane(s.symbol, s.url, s.demo, self.score, self.clock, id="live")
                yield TrainingPane(id="training")
            with Horizontal(id="charts"):
                yield LossChart(id="loss-chart")
                yield ForecastPane(id="forecast")
            yield EventLog(self.clock, id="log")
        yield Footer()

    def on_mount(self) -> None:
        s = self.settings
        self.query_one("#live").border_title = f"Live · {s.symbol.upper()}" + (
            " · SIMULATED (demo)" if s.demo else ""
        )
        self.query_one("#training").border_title = "Training"
        self.query_one("#loss-chart").border_title = "Epoch loss"
        self.query_one("#forecast").border_title = "Forecast · test set"
        self.query_one("#log").border_title = "Log"
        self.set_interval(TICK_INTERVAL, self._flush_pending)
        self.log_event(f"data {s.data} · models {s.models}" + (" · demo mode" if s.demo else ""))
        if self.autostart:
            self.prepare_data()

    def log_event(self, text: str) -> None:
        self.query_one(EventLog).add(text)

    def watch_collecting(self, collecting: bool) -> None:
        self.query_one(LivePane).show_collecting(collecting)

    # --- bindings ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # None = shown but disabled in the footer; the palette hides these too.
        if action == "train":
            # Not before the startup read: in demo mode the CSV is still being filled.
            return None if self.training or not self.data_ready else True
        if action == "cancel_training":
            return True if self.training and not self._cancelling_training else None
        if action == "load_model":
            return None if self.training or self.loading_model else True
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen([b for b in self.BINDINGS if isinstance(b, Binding)]))

    def action_toggle_collect(self) -> None:
        if self.collecting:
            self.log_event("collecting stopped: writing the open minute")
            if self.collector_worker is not None:
                self.collector_worker.cancel()
        else:
            self.start_collecting()

    def action_train(self) -> None:
        if not self.check_action("train", ()):
            return
        self.training = True
        self._cancelling_training = False
        s = self.settings
        self.query_one(TrainingPane).start(str(s.data))
        self.query_one(LossChart).reset()
        self.log_event(
            f"training started on {s.data} (window {s.window}, horizon {s.horizon},"
            f" {s.epochs} epochs)"
        )
        self.train_model()

    def action_cancel_training(self) -> None:
        if not self.training:
            return
        self._cancelling_training = True
        self.refresh_bindings()
        self.log_event("cancelling training: stops after the current batch")
        self.query_one(TrainingPane).show_stage("cancelling")
        self.workers.cancel_group(self, "training")

    def action_load_model(self) -> None:
        path = self.settings.model_path
        if not path.exists():
            self.log_event(f"no saved model at {path}: press t to train one")
            self.notify(f"No saved model at {path}. Press t to train one.", severity="warning")
            return
        self.loading_model = True
        self.query_one(LivePane).show_model_state("loading (TensorFlow)…")
        self.load_model()

    async def action_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.log_event("quitting: writing the open minute")
        # Training sees its cancelled_event at the next batch; the process waits for that thread.
        self.workers.cancel_group(self, "training")
        worker = self.collector_worker
        if worker is not None and worker.is_running:
            worker.cancel()  # Collector.run writes the open minute when cancelled
            try:
                await asyncio.wait_for(wait_quietly(worker), QUIT_TIMEOUT)
            except TimeoutError:
                self.log.error("collector did not stop within", QUIT_TIMEOUT, "s")
        self.exit(0)

    # --- startup: read the CSV (demo: fill it with simulated history) -------------------------

    @work(exclusive=True, group="startup", exit_on_error=False)
    async def prepare_data(self) -> None:
        def log(text: str) -> None:
            self.post_message(m.EventLogged(text))

        # In a thread: loading a big CSV (or writing demo history) must not freeze the screen.
        data = await asyncio.to_thread(read_startup_minutes, self.settings, self.clock, log)
        self.post_message(
            m.DataPrepared(
                rows=data.rows,
                last_price=data.last_price,
                simulated_minutes=data.simulated_minutes,
                frame=data.frame,
            )
        )

    @on(m.DataPrepared)
    def _data_prepared(self, message: m.DataPrepared) -> None:
        self.frame = message.frame
        self.data_ready = True
        self.query_one(LivePane).show_data(
            message.rows, message.last_price, message.simulated_minutes
        )
        self.log_event(f"{self.settings.data}: {message.rows:,} minutes")
        if not self.autostart or self._quitting:
            return
        self.start_collecting()
        if self.settings.model_path.exists():
            self.action_load_model()

    # --- collecting ----------------------------------------------------------------------------

    def start_collecting(self) -> None:
        if self.settings.demo and self.simulator_url is None:
            if self.simulator_worker is None or not self.simulator_worker.is_running:
                self.simulator_worker = self.run_worker(
                    self._run_simulator(), name="simulator", group="simulator", exit_on_error=False
                )
            return  # SimulatorStarted starts the collector
        previous = self.collector_worker
        self.collecting = True
        self.collector_worker = self.run_worker(
            self._collect(previous), name="collector", group="collector", exit_on_error=False
        )

    async def _run_simulator(self) -> None:
        from btc_tui.market.simulator import Simulator

        start_price = 60_000.0
        if self.frame is not None and not self.frame.empty:
            start_price = float(self.frame["close"].iloc[-1])
        simulator = Simulator(port=0, symbol=self.settings.symbol, start_price=start_price)
        await simulator.start()
        try:
            self.post_message(m.SimulatorStarted(simulator.url))
            await asyncio.Event().wait()  # serve until the app cancels this worker
        finally:
            await simulator.stop()

    @on(m.SimulatorStarted)
    def _simulator_started(self, message: m.SimulatorStarted) -> None:
        self.simulator_url = message.url
        self.log_event(f"simulator on {message.url} (demo: random prices)")
        self.start_collecting()

    async def _collect(self, previous: Worker[None] | None) -> None:
        from btc_tui.market.collector import Collector

        if previous is not None:
            # The previous collector must write its open minute and release the CSV lock first.
            await wait_quietly(previous)
        settings = self.settings
        if self.simulator_url is not None:
            settings = settings.with_changes(url=self.simulator_url)
        self.post_message(m.EventLogged(f"collecting from {settings.url} into {settings.data}"))
        collector = Collector(
            settings,
            on_tick=self._on_tick,
            on_bar=self._on_bar,
            on_status=self._on_status,
            on_log=self._on_collector_log,
        )
        try:
            await collector.run()
        finally:
            self.post_message(m.StatusChanged(collector.status, self.clock()))

    # Collector callbacks run on the app's loop; they only post messages.
    def _on_tick(self, tick: Tick) -> None:
        self._pending_tick = tick  # the newest wins; _flush_pending posts it at ~10 Hz

    def _on_status(self, status: StreamStatus) -> None:
        self._pending_status = status

    def _on_bar(self, event: BarWritten) -> None:
        self.post_message(m.BarReceived(event))

    def _on_collector_log(self, log: CollectorLog) -> None:
        self.post_message(m.EventLogged(log.text))

    def _flush_pending(self) -> None:
        tick, self._pending_tick = self._pending_tick, None
        if tick is not None:
            self.post_message(m.TickReceived(tick))
        status, self._pending_status = self._pending_status, None
        if status is not None:
            self.post_message(m.StatusChanged(status, self.clock()))

    @on(m.TickReceived)
    def _tick(self, message: m.TickReceived) -> None:
        self.query_one(LivePane).show_tick(message.tick)

    @on(m.StatusChanged)
    def _status(self, message: m.StatusChanged) -> None:
        self.query_one(LivePane).show_status(message.status, message.at)

    @on(m.EventLogged)
    def _logged(self, message: m.EventLogged) -> None:
        self.log_event(message.text)

    @on(m.BarReceived)
    def _bar(self, message: m.BarReceived) -> None:
        bar = message.event.bar
        self.frame = append_bar(self.frame, bar)
        scored = self.score.resolve(bar.minute, bar.avg_price)
        live = self.query_one(LivePane)
        live.show_bar(message.event)
        if scored is not None:
            self.log_event(
                f"prediction for {bar.start:%H:%M} was {scored.predicted:,.2f},"
                f" actual {scored.actual:,.2f} (error {scored.error:+,.2f})"
            )
        if self.predictor is not None:
            self._show_waiting()  # seen only until the prediction arrives, or if none can be made
            self.predict_next(self.predictor, self.frame)

    # --- training ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="training", name="training")
    def train_model(self) -> TrainResult:
        worker = get_current_worker()
        try:
            from btc_tui.forecast import training

            last_batch = 0.0

            def on_batch(progress: training.BatchProgress) -> None:
                nonlocal last_batch
                now = time.monotonic()
                if now - last_batch >= BATCH_INTERVAL:
                    last_batch = now
                    self.post_message(m.BatchProgressed(progress))

            result = training.train(
                self.settings,
                on_epoch=lambda epoch: self.post_message(m.EpochEnded(epoch)),
                on_batch=on_batch,
                on_stage=lambda stage: self.post_message(m.TrainingStage(stage)),
                stop=worker.cancelled_event,
            )
            self.post_message(m.TrainingFinished(result))
            return result
        finally:
            self.post_message(m.TrainingThreadExited())

    @on(m.TrainingStage)
    def _training_stage(self, message: m.TrainingStage) -> None:
        if not self._cancelling_training:
            self.query_one(TrainingPane).show_stage(message.stage)
        self.log_event(f"training: {message.stage}")

    @on(m.BatchProgressed)
    def _batch(self, message: m.BatchProgressed) -> None:
        self.query_one(TrainingPane).show_batch(message.progress)

    @on(m.EpochEnded)
    def _epoch(self, message: m.EpochEnded) -> None:
        epoch = message.epoch
        if not self._cancelling_training:
            self.query_one(TrainingPane).show_epoch(epoch)
        self.query_one(LossChart).add_epoch(epoch.loss, epoch.val_loss)

    @on(m.TrainingFinished)
    def _training_finished(self, message: m.TrainingFinished) -> None:
        result = message.result
        self._cancelling_training = False
        self.query_one(TrainingPane).show_done(result)
        self.query_one(LossChart).set_history(result.history_loss, result.history_val_loss)
        self.query_one(ForecastPane).show(result.actual, result.predicted, result.metrics)
        mt = result.metrics
        self.log_event(
            f"training finished: {result.epochs_run} epochs, MAE {mt.mae:,.2f}"
            f" vs persistence {mt.baseline_mae:,.2f} (skill {mt.skill:+.3f})"
        )
        for warning in result.warnings:
            self.log_event(f"training warning: {warning}")
        self.log_event(f"model saved to {result.model_path}")
        if not result.model_path.exists():
            return
        self.loading_model = True
        self.query_one(LivePane).show_model_state("loading the new model…")
        self.load_model()

    @on(m.TrainingThreadExited)
    def _training_exited(self, _message: m.TrainingThreadExited) -> None:
        if self._cancelling_training:
            kept = self.settings.model_path.exists()
            self.query_one(TrainingPane).show_cancelled(kept)
            self.log_event(
                "training cancelled: "
                + ("the previous model is kept" if kept else "no model was saved")
            )
        self._cancelling_training = False
        self.training = False

    # --- live prediction -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="model", name="load model")
    def load_model(self) -> None:
        from btc_tui.forecast.predictor import Predictor  # imports tensorflow: not on the loop

        predictor = Predictor.load(self.settings)
        self.post_message(m.ModelLoaded(predictor, str(self.settings.model_path)))

    @on(m.ModelLoaded)
    def _model_loaded(self, message: m.ModelLoaded) -> None:
        self.loading_model = False
        self.predictor = message.predictor
        self.log_event(f"model loaded from {message.path}")
        self.query_one(TrainingPane).show_model(f"model: {message.path}")
        saved = saved_metrics(message.predictor)
        if saved is not None:
            created = str(getattr(message.predictor.metadata, "created", ""))
            self.query_one(ForecastPane).show_saved(saved, created)
        self._show_waiting()
        self.predict_next(message.predictor, self.frame)

    @work(thread=True, exclusive=True, exit_on_error=False, group="predict", name="predict")
    def predict_next(self, predictor: Predictor, frame: pd.DataFrame | None) -> None:
        if frame is None or frame.empty:
            return
        prediction = predictor.predict(frame)
        if prediction is not None:
            self.post_message(m.PredictionMade(prediction))

    @on(m.PredictionMade)
    def _prediction(self, message: m.PredictionMade) -> None:
        self.score.add(message.prediction)
        self.query_one(LivePane).show_prediction(message.prediction)

    def _show_waiting(self) -> None:
        have = trailing_contiguous(self.frame)
        self.query_one(LivePane).show_model_state(
            f"needs {self.settings.window} minutes in a row (have {min(have, 9999)})"
        )

    # --- failures: one handler turns any failed worker into a visible message ----------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        ended = state in (WorkerState.SUCCESS, WorkerState.CANCELLED, WorkerState.ERROR)
        if ended and worker is self.collector_worker:
            self.collecting = False
            if state == WorkerState.ERROR:
                self.query_one(LivePane).show_collecting(False, describe(worker.error))
        if state != WorkerState.ERROR:
            return
        reason = describe(worker.error)
        if worker.group == "startup":
            # Go on without the CSV's minutes: the collector reports its own trouble with the file.
            self.log_event(f"reading {self.settings.data} failed: {reason}")
            self.post_message(
                m.DataPrepared(rows=0, last_price=None, simulated_minutes=0, frame=None)
            )
        elif worker.group == "training":
            self.query_one(TrainingPane).show_failed(reason)
            self.log_event(f"training failed: {reason}")
        elif worker.group == "model":
            self.loading_model = False
            self.query_one(LivePane).show_model_state(f"could not load: {reason}")
            self.log_event(f"model not loaded: {reason}")
        else:
            self.log_event(f"{worker.name} failed: {reason}")
        self.notify(reason, title=f"{worker.name} failed", severity="error", timeout=8)


async def wait_quietly(worker: Worker[Any]) -> None:
    """Wait for a worker to end however it ends; its failure is reported by StateChanged."""
    with contextlib.suppress(WorkerCancelled, WorkerFailed):
        await worker.wait()


@contextlib.contextmanager
def native_stderr_to(path: Path) -> Iterator[None]:
    """Send what C++ code writes to file descriptor 2 into `path` while the app runs.

    Textual draws on stderr, and TensorFlow's native logging writes straight to fd 2 (its
    TF_CPP_MIN_LOG_LEVEL no longer silences absl's notices), which would scribble over the screen.
    So Textual gets a duplicate of the terminal and fd 2 points at a file.
    """
    if not os.isatty(2):
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    original = sys.__stderr__
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="backslashreplace")
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    sys.__stderr__ = sys.stderr = terminal
    try:
        yield
    finally:
        terminal.flush()
        os.dup2(terminal_fd, 2)
        sys.__stderr__ = sys.stderr = original
        terminal.close()


def run(settings: Settings) -> int:
    """Entry point for `btc-tui` without a subcommand."""
    app = BtcTuiApp(settings)
    with native_stderr_to(native_log_path(settings)):
        app.run()
    return app.return_code or 0


def native_log_path(settings: Settings) -> Path:
    return settings.data.parent / "btc-tui.native.log"
