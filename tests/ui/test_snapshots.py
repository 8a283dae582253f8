"""Snapshots of the main screen with fixed data: no simulator, no training, a frozen clock.

The app is fed the same messages its workers would post. Regenerate with
`.venv/bin/pytest tests/ui/test_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from btc_tui.config import Settings
from btc_tui.forecast.metrics import evaluate
from btc_tui.forecast.predictor import Prediction
from btc_tui.forecast.training import BatchProgress, EpochEnd, TrainResult
from btc_tui.market.bars import MinuteBar
from btc_tui.market.collector import BarWritten, StreamStatus, Tick
from btc_tui.ui import messages as m
from btc_tui.ui.app import BtcTuiApp

NOW = 1_767_271_000.0  # 2026-01-01 12:36:40 UTC
MINUTE = int(NOW // 60) * 60_000  # the open minute
LOSS = [0.0123, 0.0081, 0.0064, 0.0058, 0.0055, 0.0054]
SNAPSHOT_MODELS = Path("snapshot-models")
VAL_LOSS = [0.0131, 0.0090, 0.0071, 0.0069, 0.0066, 0.0067]


def bar(minute: int, avg: float) -> MinuteBar:
    return MinuteBar(minute, avg, avg - 3, avg + 8, avg - 9, avg + 2, 4.2, avg + 0.5, 600, 1, 600)


def status() -> StreamStatus:
    return StreamStatus(
        state="connected",
        reconnects=1,
        retry_in=None,
        last_message_age=0.2,
        messages_per_second=18.5,
        stale=False,
        bad=2,
        late=0,
        duplicates=0,
        missed=3,
        last_error=None,
    )


def result() -> TrainResult:
    t = np.arange(300)
    actual = 60_000 + 40 * np.sin(t / 25) + 0.1 * t
    last = np.concatenate([[actual[0]], actual[:-1]])
    predicted = 0.6 * actual + 0.4 * last + 1.5
    return TrainResult(
        metrics=evaluate(predicted, actual, last),
        predicted=predicted,
        actual=actual,
        baseline=last,
        test_times=MINUTE - 60_000 * (300 - t),
        epochs_run=len(LOSS),
        seconds=42.0,
        model_path=SNAPSHOT_MODELS / "btc_lstm.keras",  # never written, so nothing loads
        metadata_path=SNAPSHOT_MODELS / "btc_lstm.json",
        train_windows=1_150,
        test_windows=300,
        dropped_windows=0,
        history_loss=LOSS,
        history_val_loss=VAL_LOSS,
    )


def live_messages() -> list:
    return [
        m.DataPrepared(rows=4_320, last_price=60_010.0, simulated_minutes=0, frame=None),
        m.StatusChanged(status(), at=NOW),
        m.PredictionMade(Prediction(MINUTE - 60_000, 60_012.5, MINUTE - 120_000, 60_009.0)),
        m.BarReceived(BarWritten(bar(MINUTE - 60_000, 60_010.25), rows=4_321, reconnects=1)),
        m.PredictionMade(Prediction(MINUTE, 60_014.75, MINUTE - 60_000, 60_010.25)),
        m.TickReceived(Tick("btcusdt", 60_016.42, int(NOW * 1000), MINUTE, 60_015.1, 412)),
        m.EventLogged("connected to wss://stream.binance.com:9443/ws/btcusdt@trade"),
    ]


def make_app() -> BtcTuiApp:
    # Fixed relative paths, shown on screen; autostart=False means nothing reads or writes them.
    settings = Settings(data=Path("data/minutes.csv"), models=SNAPSHOT_MODELS)
    return BtcTuiApp(settings, autostart=False, clock=lambda: NOW)


async def feed(app: BtcTuiApp, pilot, messages: list) -> None:
    app.collecting = True
    for message in messages:
        app.post_message(message)
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def trained() -> list:
    epochs = [
        m.EpochEnded(EpochEnd(i + 1, 10, loss, val, 7.0 * (i + 1)))
        for i, (loss, val) in enumerate(zip(LOSS, VAL_LOSS, strict=True))
    ]
    return [
        *live_messages(),
        m.TrainingStage("training"),
        *epochs,
        m.TrainingFinished(result()),
    ]


def test_main_screen_80x24_after_training(snap_compare):
    app = make_app()
    assert snap_compare(
        app, terminal_size=(80, 24), run_before=lambda pilot: feed(app, pilot, trained())
    )


def test_main_screen_120x40_after_training(snap_compare):
    app = make_app()
    assert snap_compare(
        app, terminal_size=(120, 40), run_before=lambda pilot: feed(app, pilot, trained())
    )


def test_main_screen_80x24_while_training(snap_compare):
    app = make_app()
    messages = [
        *live_messages(),
        m.TrainingStage("training"),
        m.EpochEnded(EpochEnd(1, 10, LOSS[0], VAL_LOSS[0], 7.0)),
        m.EpochEnded(EpochEnd(2, 10, LOSS[1], VAL_LOSS[1], 14.0)),
        m.BatchProgressed(BatchProgress(3, 10, 18, 36, 17.5)),
    ]

    async def run_before(pilot) -> None:
        app.training = True  # as action_train sets it; the worker itself is not started here
        await feed(app, pilot, messages)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen_80x24(snap_compare):
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"])
