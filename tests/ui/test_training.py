"""Real (tiny) training runs driven from the keyboard: progress, charts, metrics, cancel, live
prediction. TensorFlow is slow to import, so the flows share one test."""

from __future__ import annotations

import json

from textual.widgets import ProgressBar, Static

from btc_tui.ui import messages as m
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.prediction import LivePrediction
from btc_tui.ui.widgets import LivePane, LossChart, TrainingPane
from tests.ui.conftest import settings_for, until, write_history


def static_text(widget: Static) -> str:
    return str(widget.render())


async def test_train_cancel_reload_and_predict_live(tmp_path, live_simulator):
    settings = settings_for(
        tmp_path,
        url=live_simulator.url,
        window=10,
        horizons=(1, 5),
        epochs=2,
        batch_size=16,
        seed=1,
    )
    write_history(settings.data, minutes=240)
    seen: list[type] = []
    app = BtcTuiApp(settings)
    async with app.run_test(
        size=(80, 24), message_hook=lambda msg: seen.append(type(msg))
    ) as pilot:
        await until(pilot, lambda: app.query_one(LivePrediction).ready)
        pane = app.query_one(TrainingPane)

        # t: progress, a loss point per epoch, then the forecast pane's metrics.
        await pilot.press("t")
        assert pane.running
        assert app.check_action("train", ()) is None  # no second run while one is going
        await until(pilot, lambda: not pane.running, timeout=90)
        assert m.TrainingStage in seen and m.EpochEnded in seen
        assert pane.has_class("-done"), static_text(pane.query_one("#training-state", Static))
        assert pane.query_one(ProgressBar).percentage == 1
        chart = app.query_one(LossChart)
        assert 1 <= len(chart.loss) <= 2 and all(v > 0 for v in chart.loss)
        metrics_pane = app.query_one("#forecast-metrics", Static)
        await until(pilot, lambda: "MAE" in static_text(metrics_pane))  # bubbled up from the pane
        metrics = static_text(metrics_pane)
        # 80x24 leaves the pane a few rows: the model beside the best baseline and the verdict
        # stay (persistence, skill and the band's figures come back on a taller terminal).
        assert "MAE" in metrics and "model" in metrics and "last pr." in metrics
        assert metrics.splitlines()[-1][:1] in ("✓", "✗", "=")  # a verdict, in words too
        assert settings.model_path.exists()

        # The new model loads and predicts the minute after the CSV's last one at once.
        await until(pilot, lambda: app.query_one(LivePrediction).prediction is not None, timeout=30)
        prediction = app.query_one(LivePrediction).prediction
        assert f"{prediction.price:,.0f}" in app.query_one(LivePane).text()
        saved = settings.model_path.read_bytes()

        # x: a long run cancelled after its first epoch leaves the saved model alone.
        pane.settings = pane.settings.with_changes(epochs=500)
        epochs_before = seen.count(m.EpochEnded)
        await pilot.press("t")
        await until(pilot, lambda: seen.count(m.EpochEnded) > epochs_before, timeout=60)
        await pilot.press("x")
        await until(pilot, lambda: not pane.running, timeout=30)
        assert pane.has_class("-cancelled")
        assert settings.model_path.read_bytes() == saved
        assert app.check_action("cancel_training", ()) is None

        # l: load the saved model again.
        loaded = seen.count(m.ModelLoaded)
        await pilot.press("l")
        await until(pilot, lambda: seen.count(m.ModelLoaded) > loaded, timeout=30)
        assert not app.query_one(LivePrediction).loading
        await pilot.press("q")

    # A later launch loads the saved model on its own and shows its saved test metrics.
    again = BtcTuiApp(settings)
    async with again.run_test(size=(80, 24)) as pilot:
        await until(
            pilot, lambda: again.query_one(LivePrediction).predictor is not None, timeout=30
        )
        await pilot.pause()
        metrics = static_text(again.query_one("#forecast-metrics", Static))
        assert metrics.startswith("saved 20") and "MAE" in metrics and "model" in metrics
        # A model trained earlier draws its loss curve and its test chart, from its JSON.
        saved = json.loads(settings.metadata_path.read_text())
        assert again.query_one(LossChart).loss == saved["history"]["loss"]
        chart = again.query_one("#forecast-chart")
        assert list(chart.actual) == saved["test_chart"]["1"]["actual"] and chart.error is None
        # Every horizon is predicted live.
        prediction = again.query_one(LivePrediction).prediction
        assert prediction is not None and prediction.horizons == (1, 5)
        await pilot.press("q")
