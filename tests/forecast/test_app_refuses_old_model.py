"""The app's own load path (press l, as a user would) refuses a model saved by an older btc-tui
with the same "train again" message as the CLI, and keeps running without a model."""

from __future__ import annotations

import asyncio
import json

from btc_tui.config import Settings
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.prediction import LivePrediction
from btc_tui.ui.widgets.event_log import EventLog


def old_model(models) -> None:
    """What btc-tui's first model format left on disk: no interval head, no NumPy weights."""
    models.mkdir()
    (models / "btc_lstm.keras").write_bytes(b"PK an old keras archive")
    (models / "btc_lstm.json").write_text(
        json.dumps(
            {
                "format": "btc-tui-lstm/1",
                "window": 60,
                "horizon": 1,
                "target_kind": "change",
                "features": ["level", "change"],
                "units": [64, 32],
                "buffer": 0.05,
                "metrics": {"mae": 7.652, "baseline_mae": 10.626},
            }
        )
    )


async def test_pressing_l_on_an_old_model_says_train_again_and_loads_nothing(tmp_path):
    settings = Settings(
        data=tmp_path / "minutes.csv", models=tmp_path / "models", url="ws://127.0.0.1:9"
    ).with_changes(rest_url="http://127.0.0.1:9", history=0.0)
    old_model(settings.models)
    app = BtcTuiApp(settings, autostart=False)
    async with app.run_test(size=(100, 30)) as pilot:
        live = app.query_one(LivePrediction)
        await pilot.press("l")

        def logged() -> str:
            return "\n".join(app.query_one(EventLog).texts)

        async with asyncio.timeout(20):
            while "model not loaded" not in logged():
                await pilot.pause(0.02)
        line = next(t for t in logged().splitlines() if "model not loaded" in t)
        assert "older btc-tui" in line and "train again with `btc-tui train`" in line
        assert live.predictor is None and not live.loading
        assert live.model_state.startswith("could not load:")
        assert app.is_running
