"""Training pane: state, epoch n/N with a progress bar and ETA, the last loss and val_loss."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

if TYPE_CHECKING:
    from btc_tui.forecast.training import BatchProgress, EpochEnd, TrainResult


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def loss_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


class TrainingPane(Vertical):
    """State classes (-idle, -busy, -done, -failed, -cancelled) colour the state line in app.tcss."""

    STATES = ("-idle", "-busy", "-done", "-failed", "-cancelled")

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
        self._state("-busy", f"starting: {data}")
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
        self.query_one("#training-model", Static).update(f"saved: {result.model_path}")

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
