"""The live prediction job's owner: the recent minutes, the loaded model, every horizon's
prediction and its live score. Model loading (JSON + NumPy weights, never TensorFlow) and
predicting run in threads, never on the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.reactive import reactive, var
from textual.widget import Widget
from textual.worker import Worker, WorkerState, get_current_worker

from btc_tui.config import Settings
from btc_tui.forecast.live_score import LiveScore
from btc_tui.market.frames import append_bar, trailing_contiguous
from btc_tui.ui import messages as m
from btc_tui.ui.collecting import describe

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.forecast.predictor import Prediction, Predictor
    from btc_tui.market.bars import MinuteBar


class LivePrediction(Widget):
    DEFAULT_CSS = "LivePrediction { display: none; }"

    ready: reactive[bool] = reactive(False, bindings=True)  # the CSV's tail has been read
    loading: reactive[bool] = reactive(False, bindings=True)
    model_state: var[str] = var("no model yet: press t to train")
    prediction: var[Prediction | None] = var(None)
    scored: var[int] = var(0)  # predictions scored so far (a change repaints the score lines)

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.score = LiveScore()
        self.frame: pd.DataFrame | None = None
        self.predictor: Predictor | None = None
        self._load_worker: Worker[None] | None = None
        self._prepare_worker: Worker[None] | None = None

    # --- the CSV's tail --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read the CSV's tail in a thread; DataPrepared bubbles up to the Live pane and the app."""
        self._prepare_worker = self._prepare()

    @work(thread=True, exit_on_error=False, name="read the CSV", group="read")
    def _prepare(self) -> None:
        from btc_tui.market.frames import KEEP
        from btc_tui.market.startup import read_startup_minutes

        data = read_startup_minutes(
            self.settings, lambda text: self.post_message(m.EventLogged(text)), KEEP
        )
        self.post_message(
            m.DataPrepared(
                rows=data.rows,
                last_price=data.last_price,
                frame=data.frame,
            )
        )

    def set_frame(self, frame: pd.DataFrame | None) -> None:
        self.frame = frame
        self.ready = True
        if self.predictor is not None:
            self._predict()

    def add_bar(self, bar: MinuteBar) -> None:
        self.frame = append_bar(self.frame, bar)
        for scored in self.score.resolve_all(bar.minute, bar.avg_price):
            self.scored += 1
            ahead = (
                "" if scored.horizon == self.score.first_horizon else f" ({scored.horizon}m ahead)"
            )
            self.post_message(
                m.EventLogged(
                    f"prediction for {bar.start:%H:%M}{ahead} was {scored.predicted:,.2f},"
                    f" actual {scored.actual:,.2f} (error {scored.error:+,.2f})"
                )
            )
        if self.predictor is not None:
            self._predict()

    # --- the model -------------------------------------------------------------------------------

    def load(self, why: str = "loading the model…") -> bool:
        path = self.settings.model_path
        if not path.exists():
            self.post_message(m.EventLogged(f"no saved model at {path}: press t to train one"))
            self.notify(f"No saved model at {path}. Press t to train one.", severity="warning")
            return False
        self.loading = True
        self.model_state = why
        self._load_worker = self._load()
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, name="load model", group="model")
    def _load(self) -> None:
        # Reads the JSON and the .npz and imports numpy/pandas (no TensorFlow): not on the loop.
        from btc_tui.forecast.predictor import Predictor

        predictor = Predictor.load(self.settings)
        self.post_message(m.ModelLoaded(predictor, str(self.settings.model_path)))

    def on_model_loaded(self, message: m.ModelLoaded) -> None:
        # Let it bubble on: the app shows the saved metrics in the forecast pane.
        self.loading = False
        self.predictor = message.predictor
        self.post_message(m.EventLogged(f"model loaded from {message.path}"))
        self._predict()

    def _predict(self) -> None:
        have = trailing_contiguous(self.frame)
        self.model_state = f"needs {self.settings.window} minutes in a row (have {min(have, 9999)})"
        if self.predictor is not None and self.frame is not None and not self.frame.empty:
            self._predict_next(self.predictor, self.frame)

    @work(thread=True, exclusive=True, exit_on_error=False, name="predict", group="predict")
    def _predict_next(self, predictor: Predictor, frame: pd.DataFrame) -> None:
        prediction = predictor.predict(frame)
        # exclusive=True cancels this worker when a newer one starts: its result is stale.
        if prediction is not None and not get_current_worker().is_cancelled:
            self.post_message(m.PredictionMade(prediction))

    def on_prediction_made(self, message: m.PredictionMade) -> None:
        message.stop()
        current = self.prediction
        if current is not None and message.prediction.last_minute < current.last_minute:
            return  # from older minutes than the one shown (a stale worker): never go back
        self.score.add(message.prediction)
        self.prediction = message.prediction

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        event.stop()
        if event.state != WorkerState.ERROR:
            return
        reason = describe(event.worker.error)
        if event.worker is self._prepare_worker:
            # Go on without the CSV's minutes: the collector reports its own trouble with the file.
            self.post_message(m.EventLogged(f"reading {self.settings.data} failed: {reason}"))
            self.post_message(m.DataPrepared(rows=0, last_price=None, frame=None))
        elif event.worker is self._load_worker:
            self.loading = False
            self.model_state = f"could not load: {reason}"
            self.post_message(m.EventLogged(f"model not loaded: {reason}"))
        else:
            self.post_message(m.EventLogged(f"prediction failed: {reason}"))
