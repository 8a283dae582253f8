"""Snapshots of the screen with fixed data: no simulator, no training, a frozen clock, at every
size from 60x20 to 200x60 (and one too small to use).

The owners are given the state their workers would produce. Regenerate with
`.venv/bin/pytest tests/ui/test_snapshots.py --snapshot-update` after looking at the report.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from btc_tui.config import Settings
from btc_tui.forecast.metrics import evaluate
from btc_tui.forecast.predictor import Prediction
from btc_tui.forecast.training import BatchProgress, EpochEnd, TrainResult
from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.collector import BarWritten, StreamStatus, Tick
from btc_tui.ui import messages as m
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting, Fill
from btc_tui.ui.prediction import LivePrediction
from btc_tui.ui.widgets import LivePane, TrainingPane

NOW = 1_767_271_000.0  # 2026-01-01 12:36:40 UTC
MINUTE = int(NOW // 60) * MINUTE_MS  # the open minute
LOSS = [0.0123, 0.0081, 0.0064, 0.0058, 0.0055, 0.0054]
SNAPSHOT_MODELS = Path("snapshot-models")
VAL_LOSS = [0.0131, 0.0090, 0.0071, 0.0069, 0.0066, 0.0067]
SIZES = [(60, 20), (80, 24), (120, 40), (200, 60)]


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
        repaired=3,
        unrepaired=0,
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
        test_times=MINUTE - MINUTE_MS * (300 - t),
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


def make_app() -> BtcTuiApp:
    # Fixed relative paths, shown on screen; autostart=False means nothing reads or writes them.
    settings = Settings(data=Path("data/minutes.csv"), models=SNAPSHOT_MODELS)
    return BtcTuiApp(settings, autostart=False, clock=lambda: NOW)


async def settle(app: BtcTuiApp, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def show_live(app: BtcTuiApp, pilot) -> None:
    """What the collector and the predictor would have produced by NOW."""
    live = app.query_one(LivePane)
    prediction = app.query_one(LivePrediction)
    collecting = app.query_one(Collecting)
    prediction.post_message(m.DataPrepared(rows=4_320, last_price=60_010.0, frame=None))
    await settle(app, pilot)
    collecting.state = "collecting"
    collecting.ever_connected = True
    collecting.status_at = NOW
    collecting.status = status()
    collecting.fill = Fill(2_150, 4_320, finished=False, error=None)
    prediction.post_message(
        m.PredictionMade(Prediction(MINUTE - MINUTE_MS, 60_012.5, MINUTE - 2 * MINUTE_MS, 60_009.0))
    )
    await settle(app, pilot)
    live.post_message(
        m.BarReceived(BarWritten(bar(MINUTE - MINUTE_MS, 60_010.25), rows=4_321, reconnects=1))
    )
    await settle(app, pilot)
    prediction.post_message(
        m.PredictionMade(
            Prediction(MINUTE, 60_014.75, MINUTE - MINUTE_MS, 60_010.25, 60_002.0, 60_027.5, 0.8)
        )
    )
    collecting.tick = Tick("btcusdt", 60_016.42, int(NOW * 1000), MINUTE, 60_015.1, 412)
    app.post_message(m.EventLogged("connected to wss://stream.binance.com:9443/ws/btcusdt@trade"))
    await settle(app, pilot)


async def show_trained(app: BtcTuiApp, pilot) -> None:
    await show_live(app, pilot)
    training = app.query_one(TrainingPane)
    training.post_message(m.TrainingStage("training"))
    for i, (loss, val) in enumerate(zip(LOSS, VAL_LOSS, strict=True)):
        training.post_message(m.EpochEnded(EpochEnd(i + 1, 10, loss, val, 7.0 * (i + 1))))
    await settle(app, pilot)
    training.post_message(m.TrainingFinished(result()))
    await settle(app, pilot)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_main_screen_after_training(snap_compare, size):
    app = make_app()
    assert snap_compare(app, terminal_size=size, run_before=lambda pilot: show_trained(app, pilot))


def test_small_screen_cycles_its_lower_pane_with_v(snap_compare):
    app = make_app()

    async def run_before(pilot) -> None:
        await show_trained(app, pilot)
        await pilot.press("v")  # log -> loss chart
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(60, 20), run_before=run_before)


def test_too_small_a_terminal_says_the_minimum_size(snap_compare):
    app = make_app()
    assert snap_compare(app, terminal_size=(50, 15))


def test_main_screen_80x24_while_training(snap_compare):
    app = make_app()

    async def run_before(pilot) -> None:
        await show_live(app, pilot)
        training = app.query_one(TrainingPane)
        training.running = True  # as train() sets it; the worker itself is not started here
        training.post_message(m.TrainingStage("training"))
        training.post_message(m.EpochEnded(EpochEnd(1, 10, LOSS[0], VAL_LOSS[0], 7.0)))
        training.post_message(m.EpochEnded(EpochEnd(2, 10, LOSS[1], VAL_LOSS[1], 14.0)))
        training.post_message(m.BatchProgressed(BatchProgress(3, 10, 18, 36, 17.5)))
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_attached_to_another_collector_80x24(snap_compare):
    from btc_tui.market.store import LockOwner

    app = make_app()

    async def run_before(pilot) -> None:
        await show_live(app, pilot)
        collecting = app.query_one(Collecting)
        collecting.owner = LockOwner(
            4242, "here", "2026-01-01T09:12:00+00:00", "btc-tui collect", True
        )
        collecting.fill = None
        collecting.ticker_on = True
        collecting.state = "attached"
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen_80x24(snap_compare):
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"])


def test_no_color_keeps_every_meaning_in_signs_and_words_80x24(snap_compare, monkeypatch):
    """NO_COLOR: one colour, so up/down are ▲/▼ with a sign, and states are words (● connected,
    ✓/✗ verdicts, 'lost' holes), never a colour alone."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()

    async def run_before(pilot) -> None:
        await show_trained(app, pilot)
        collecting = app.query_one(Collecting)
        collecting.tick = Tick("btcusdt", 60_001.08, int(NOW * 1000), MINUTE, 60_009.3, 413)
        collecting.status = replace(status(), unrepaired=2)
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
