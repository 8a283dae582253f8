"""Training pane: the owner of training (its thread worker, its state) and what it shows: state,
epoch n/N with a progress bar and ETA, the last loss and val_loss."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive, var
from textual.widgets import ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from btc_tui.config import Settings
from btc_tui.ui import messages as m

if TYPE_CHECKING:
    from btc_tui.forecast.training import BatchProgress, EpochEnd, TrainResult


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def loss_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def finished_line(result: TrainResult) -> str:
    """The log's line for a finished run: the model's MAE beside the best baseline's, and the
    verdict in forecast/report.py's words (the forecast pane shows the same `short_verdict`)."""
    from btc_tui.forecast.metrics import LAST_PRICE
    from btc_tui.forecast.report import short_verdict

    mt = result.metrics
    best = "last price" if mt.best_baseline == LAST_PRICE else "persistence"
    against = "" if math.isnan(mt.best_baseline_mae) else f" ({best} {mt.best_baseline_mae:,.2f})"
    return (
        f"training finished: {result.epochs_run} epochs, MAE {mt.mae:,.2f}{against}:"
        f" {short_verdict(mt)}"
    )


class TrainingPane(Vertical):
    """State classes (-idle, -busy, -done, -failed, -cancelled) colour the state line in app.tcss.

    `losses` (loss, val_loss per epoch) is what the loss chart draws; TrainingFinished bubbles up
    so the app can hand the result to the forecast pane and load the new model.
    """

    STATES = ("-idle", "-busy", "-done", "-failed", "-cancelled")

    running: reactive[bool] = reactive(False, bindings=True)
    cancelling: reactive[bool] = reactive(False, bindings=True)
    losses: var[tuple[tuple[float, float | None], ...]] = var(())

    def __init__(self, settings: Settings, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.settings = settings
        self._worker: Worker[TrainResult] | None = None

    # --- the job ---------------------------------------------------------------------------------

    def train(self) -> None:
        if self.running:
            return
        self.running = True
        self.cancelling = False
        s = self.settings
        self.start(str(s.data))
        self.losses = ()
        self.post_message(
            m.EventLogged(
                f"training started on {s.data} (window {s.window}, horizons"
                f" {','.join(map(str, s.horizons))}, {s.epochs} epochs)"
            )
        )
        self._worker = self._train()

    def cancel(self) -> None:
        if not self.running or self.cancelling or self._worker is None:
            return
        self.cancelling = True
        self.post_message(m.EventLogged("cancelling training: stops after the current batch"))
        self.show_stage("cancelling")
        self._worker.cancel()  # train() sees cancelled_event at the next batch

    @work(thread=True, exclusive=True, exit_on_error=False, name="training")
    def _train(self) -> TrainResult:
        worker = get_current_worker()
        try:
            from btc_tui.forecast import training

            # train() sends at most ~5 batch events a second (its BATCH_PROGRESS_INTERVAL).
            result = training.train(
                self.settings,
                on_epoch=lambda epoch: self.post_message(m.EpochEnded(epoch)),
                on_batch=lambda progress: self.post_message(m.BatchProgressed(progress)),
                on_stage=lambda stage: self.post_message(m.TrainingStage(stage)),
                stop=worker.cancelled_event,
            )
            self.post_message(m.TrainingFinished(result))
            return result
        finally:
            self.post_message(m.TrainingThreadExited())

    def on_training_stage(self, message: m.TrainingStage) -> None:
        message.stop()
        if not self.cancelling:
            self.show_stage(message.stage)
        self.post_message(m.EventLogged(f"training: {message.stage}"))

    def on_batch_progressed(self, message: m.BatchProgressed) -> None:
        message.stop()
        self.show_batch(message.progress)

    def on_epoch_ended(self, message: m.EpochEnded) -> None:
        message.stop()
        epoch = message.epoch
        if not self.cancelling:
            self.show_epoch(epoch)
        self.losses = (*self.losses, (epoch.loss, epoch.val_loss))

    def on_training_finished(self, message: m.TrainingFinished) -> None:
        # Bubbles on to the app (forecast pane, model loading).
        result = message.result
        self.show_done(result)
        val = result.history_val_loss or [None] * len(result.history_loss)
        self.losses = tuple(zip(result.history_loss, val, strict=False))
        self.post_message(m.EventLogged(finished_line(result)))
        for warning in result.warnings:
            self.post_message(m.EventLogged(f"training warning: {warning}"))
        self.post_message(m.EventLogged(f"model saved to {result.model_path}"))

    def on_training_thread_exited(self, message: m.TrainingThreadExited) -> None:
        message.stop()
        if self.cancelling:
            kept = self.settings.model_path.exists()
            self.show_cancelled(kept)
            self.post_message(
                m.EventLogged(
                    "training cancelled: "
                    + ("the previous model is kept" if kept else "no model was saved")
                )
            )
        self.cancelling = False
        self.running = False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        event.stop()
        if event.worker is self._worker and event.state == WorkerState.ERROR:
            from btc_tui.ui.collecting import describe

            reason = describe(event.worker.error)
            self.show_failed(reason)
            self.post_message(m.EventLogged(f"training failed: {reason}"))
            self.notify(reason, title="training failed", severity="error", timeout=8)

    # --- what it shows -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("idle: t trains on the CSV", id="training-state")
        # Our own ETA from the trainer's elapsed time: deterministic, unlike ProgressBar's clock.
        yield ProgressBar(total=100, show_eta=False, id="training-progress")
        yield Static("", id="training-epoch")
        yield Static("", id="training-loss")
        yield Static("", id="training-model")

    def on_mount(self) -> None:
        self.set_class(True, "-idle")

    def _state(self, css_class: str, text: str) -> None:
        for name in self.STATES:
            self.set_class(name == css_class, name)
        self.query_one("#training-state", Static).update(text)

    def _progress(self, fraction: float) -> None:
        self.query_one("#training-progress", ProgressBar).update(progress=100 * fraction)

    def start(self, data: str) -> None:
        self._state("-busy", f"starting: {Path(data).name}")  # the full path is in the log
        self._progress(0)
        self.query_one("#training-epoch", Static).update("")
        self.query_one("#training-loss", Static).update("")

    def show_stage(self, stage: str) -> None:
        self._state("-busy", f"{stage}…")

    def show_batch(self, progress: BatchProgress) -> None:
        done = (progress.epoch - 1 + progress.batch / max(1, progress.batches)) / max(
            1, progress.total_epochs
        )
        self._progress(done)
        eta = progress.elapsed * (1 - done) / done if done > 0 else None
        self.query_one("#training-epoch", Static).update(
            f"epoch {progress.epoch}/{progress.total_epochs}"
            + (f" · ETA {duration(eta)}" if eta is not None else "")
        )

    def show_epoch(self, epoch: EpochEnd) -> None:
        done = epoch.epoch / max(1, epoch.total)
        self._progress(done)
        eta = epoch.elapsed * (1 - done) / done if done > 0 else 0.0
        self._state("-busy", "training…")
        self.query_one("#training-epoch", Static).update(
            f"epoch {epoch.epoch}/{epoch.total} · {duration(epoch.elapsed)} · ETA {duration(eta)}"
        )
        self.query_one("#training-loss", Static).update(
            f"loss {loss_text(epoch.loss)}  val_loss {loss_text(epoch.val_loss)}"
        )

    def show_done(self, result: TrainResult) -> None:
        self._progress(1)
        self._state(
            "-done",
            f"done: {result.epochs_run} epochs in {duration(result.seconds)}",
        )
        if result.history_loss:
            val = result.history_val_loss[-1] if result.history_val_loss else None
            self.query_one("#training-loss", Static).update(
                f"loss {loss_text(result.history_loss[-1])}  val_loss {loss_text(val)}"
            )
        self.query_one("#training-epoch", Static).update(
            f"windows: {result.train_windows:,} train, {result.test_windows:,} test"
        )
        # The file name only: a path would be cut mid-word in a narrow pane (the log has it).
        self.query_one("#training-model", Static).update(f"saved: {result.model_path.name}")

    def show_cancelled(self, model_kept: bool) -> None:
        self._state(
            "-cancelled",
            "cancelled: previous model kept" if model_kept else "cancelled: nothing saved",
        )
        self.query_one("#training-epoch", Static).update("")

    def show_failed(self, reason: str) -> None:
        self._state("-failed", f"failed: {reason}")

    def show_model(self, text: str) -> None:
        self.query_one("#training-model", Static).update(text)
