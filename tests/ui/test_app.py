"""The app driven by keys, against a real simulator on loopback (no TensorFlow here)."""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from btc_tui.market.store import load_minutes
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.screens.help import HelpScreen
from btc_tui.ui.widgets import EventLog, LivePane, TrainingPane
from tests.ui.conftest import settings_for, until


def live_text(app: BtcTuiApp) -> str:
    return app.query_one(LivePane).render().plain


def log_text(app: BtcTuiApp) -> str:
    return "\n".join(app.query_one(EventLog).lines)


async def test_collecting_starts_on_launch_and_c_toggles_it(tmp_path, live_simulator):
    app = BtcTuiApp(settings_for(tmp_path, url=live_simulator.url))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(LivePane).tick is not None)
        tick = app.query_one(LivePane).tick
        assert f"{tick.price:,.2f}" in live_text(app)
        await until(pilot, lambda: "● connected" in live_text(app))

        await pilot.press("c")
        await until(pilot, lambda: not app.collecting)
        assert "not collecting" in live_text(app)

        await pilot.press("c")
        await until(pilot, lambda: "● connected" in live_text(app))
        assert app.collecting
        await pilot.press("q")
    assert app.return_code == 0


async def test_quit_writes_the_open_minute(tmp_path, live_simulator):
    settings = settings_for(tmp_path, url=live_simulator.url)
    app = BtcTuiApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(LivePane).tick is not None)
        seen = app.query_one(LivePane).tick
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, timeout=5)
    minutes = load_minutes(settings.data).frame.index.as_unit("ms").asi8
    assert seen.minute in minutes.tolist()


async def test_help_screen_lists_every_key_and_closes(tmp_path):
    app = BtcTuiApp(settings_for(tmp_path), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = "\n".join(str(s.render()) for s in app.screen.query(".help-row").results(Static))
        for binding in app.BINDINGS:
            assert binding.description in rows
            assert binding.tooltip in rows
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_unusable_csv_shows_the_reason_in_training_and_live(tmp_path):
    settings = settings_for(tmp_path)
    settings.data.write_text("this is not a minute file\n\x00\x01garbage\n")
    app = BtcTuiApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.data_ready)
        # The collector refuses the file too, and says so instead of crashing the app.
        await until(pilot, lambda: "collector stopped" in live_text(app))
        await pilot.press("t")
        await until(pilot, lambda: not app.training)
        pane = app.query_one(TrainingPane)
        state = str(pane.query_one("#training-state", Static).render())
        assert pane.has_class("-failed")
        assert state.startswith("failed:") and "minutes.csv" in state
        assert "training failed" in log_text(app)
        assert app.is_running  # nothing crashed


async def test_unreachable_stream_says_so_and_suggests_demo(tmp_path):
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    app = BtcTuiApp(settings_for(tmp_path, url="ws://127.0.0.1:9"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "try: btc-tui --demo" in live_text(app))
        assert "✗ no connection:" in live_text(app)
        assert "ws://127.0.0.1:9" in log_text(app)
        await until(pilot, lambda: "reconnecting in" in live_text(app))
        assert app.collecting  # it keeps retrying


async def test_actions_that_make_no_sense_are_disabled(tmp_path):
    app = BtcTuiApp(settings_for(tmp_path), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.check_action("cancel_training", ()) is None  # idle: nothing to cancel
        assert app.check_action("train", ()) is None  # the CSV has not been read yet
        app.data_ready = True
        assert app.check_action("train", ()) is True
        await pilot.press("l")  # no saved model: said plainly, nothing loads
        assert "no saved model" in log_text(app)
        assert not app.loading_model


async def test_trade_updates_reach_the_screen_at_most_about_ten_times_a_second(tmp_path):
    from btc_tui.market.simulator import Simulator
    from btc_tui.ui import messages as m

    ticks: list[float] = []
    async with Simulator(rate=300, seed=5) as sim:
        app = BtcTuiApp(settings_for(tmp_path, url=sim.url))
        hook = lambda msg: ticks.append(asyncio.get_running_loop().time())  # noqa: E731
        async with app.run_test(
            size=(80, 24), message_hook=lambda msg: isinstance(msg, m.TickReceived) and hook(msg)
        ) as pilot:
            await until(pilot, lambda: sim.published > 300)
            published_before, ticks_before = sim.published, len(ticks)
            started = asyncio.get_running_loop().time()
            await until(pilot, lambda: sim.published > published_before + 300)
            elapsed = asyncio.get_running_loop().time() - started
            posted = len(ticks) - ticks_before
            # One message per 0.1 s timer tick at most, however many trades arrived.
            assert posted <= elapsed / 0.1 + 2
            assert posted >= 1
            await pilot.press("q")


async def test_command_palette_offers_the_same_actions_by_name(tmp_path):
    from textual.command import CommandPalette
    from textual.widgets import OptionList

    app = BtcTuiApp(settings_for(tmp_path), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"show help")
        palette = app.screen
        await until(pilot, lambda: palette.query_one(OptionList).option_count > 0)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_demo_replaces_a_too_short_demo_file_with_simulated_history(tmp_path, monkeypatch):
    from btc_tui.config import settings_from
    from tests.ui.conftest import write_history

    monkeypatch.chdir(tmp_path)
    settings = settings_from({"demo": True})
    write_history(settings.data, minutes=50)
    app = BtcTuiApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.data_ready, timeout=60)
        assert app.query_one(LivePane).rows == 3 * 24 * 60
        assert "SIMULATED" in str(app.query_one(LivePane).border_title)
        assert "only 50 minutes; moved it to" in log_text(app)
        assert len(list((tmp_path / "data").glob("demo.*.bak.csv"))) == 1
        await until(pilot, lambda: app.query_one(LivePane).tick is not None)  # its own simulator
        await pilot.press("q")
