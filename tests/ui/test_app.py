"""The app driven by keys, against a real simulator on loopback (no TensorFlow here)."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Static

from btc_tui.market.simulator import Simulator
from btc_tui.market.store import load_minutes
from btc_tui.ui.actions import ACTIONS
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.prediction import LivePrediction
from btc_tui.ui.screens.help import HelpScreen
from btc_tui.ui.widgets import EventLog, LivePane, TrainingPane
from tests.market.conftest import fill_up
from tests.ui.conftest import MINUTE_MS, settings_for, until


def live_text(app: BtcTuiApp) -> str:
    return app.query_one(LivePane).text()


def log_lines(app: BtcTuiApp) -> list[str]:
    return list(app.query_one(EventLog).texts)


def log_text(app: BtcTuiApp) -> str:
    return "\n".join(app.query_one(EventLog).texts)


async def test_collecting_starts_on_launch_and_c_toggles_it(tmp_path, live_simulator):
    app = BtcTuiApp(settings_for(tmp_path, url=live_simulator.url))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(LivePane).tick is not None)
        tick = app.query_one(LivePane).tick
        assert f"{tick.price:,.2f}" in live_text(app)
        await until(pilot, lambda: "● connected" in live_text(app))

        await pilot.press("c")
        await until(pilot, lambda: app.query_one(Collecting).state == "off")
        assert "not collecting" in live_text(app)
        # The last price stays, said to be old; no open minute is claimed any more.
        assert "last seen before stopping" in live_text(app)
        assert " trades" not in live_text(app)

        await pilot.press("c")
        await until(pilot, lambda: "● connected" in live_text(app))
        assert app.query_one(Collecting).state == "collecting"
        await pilot.press("q")
    assert app.return_code == 0


async def test_quit_writes_the_open_minute(tmp_path):
    """The trades of a minute that is still open at q are written by q, and only by q.

    All trades carry times inside one minute ten minutes ago, so the exchange clock the collector
    infers from them stays inside that minute for a whole minute of wall time: no minute boundary
    between the trades and q can close it first, whatever the wall clock says.
    """
    async with Simulator(rate=0, seed=9) as sim:
        settings = settings_for(tmp_path, url=sim.url)
        app = BtcTuiApp(settings)
        async with app.run_test(size=(80, 24)) as pilot:
            collecting = app.query_one(Collecting)
            await until(pilot, lambda: sim.clients > 0 and collecting.status is not None)
            assert "holes" not in live_text(app)  # no hole, no holes line
            minute = (int(time.time()) // 60 - 10) * MINUTE_MS
            sim.publish([minute + 1_000 * k for k in range(1, 6)])
            await until(pilot, lambda: collecting.collector_ticks >= 5)
            assert not settings.data.exists() or len(settings.data.read_text().splitlines()) <= 1
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, timeout=5)
    frame = load_minutes(settings.data).frame
    assert frame.index.as_unit("ms").asi8.tolist() == [minute]
    assert frame["trades"].iloc[-1] == 5


async def test_help_screen_lists_every_key_and_closes(tmp_path):
    app = BtcTuiApp(settings_for(tmp_path), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = "\n".join(app.screen.rows())
        for action in ACTIONS:
            assert action.label in rows
            assert action.tooltip in rows
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_unusable_csv_shows_the_reason_in_training_and_live(tmp_path):
    settings = settings_for(tmp_path)
    settings.data.write_text("this is not a minute file\n\x00\x01garbage\n")
    app = BtcTuiApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(LivePrediction).ready)
        # The collector refuses the file too, and says so instead of crashing the app.
        await until(pilot, lambda: "collector stopped" in live_text(app))
        await pilot.press("t")
        await until(pilot, lambda: not app.query_one(TrainingPane).running)
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
        await until(pilot, lambda: "ws://127.0.0.1:9" in log_text(app))
        await until(pilot, lambda: "reconnecting in" in live_text(app))
        assert app.query_one(Collecting).state == "collecting"  # it keeps retrying


async def test_actions_that_make_no_sense_are_disabled(tmp_path):
    app = BtcTuiApp(settings_for(tmp_path), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.check_action("cancel_training", ()) is None  # idle: nothing to cancel
        assert app.check_action("train", ()) is None  # the CSV has not been read yet
        app.query_one(LivePrediction).ready = True
        assert app.check_action("train", ()) is True
        await pilot.press("l")  # no saved model: said plainly, nothing loads
        assert "no saved model" in log_text(app)
        assert not app.query_one(LivePrediction).loading


async def test_a_burst_of_trades_is_one_repaint_at_the_next_refresh(tmp_path):
    """However many trades arrive between two refreshes, the pane shows the newest once.

    The refresh timer is set so slow that it never fires during the test; the test calls the
    refresh itself, so nothing here depends on how fast the machine is.
    """
    async with Simulator(rate=0, seed=5) as sim:
        app = BtcTuiApp(settings_for(tmp_path, url=sim.url), refresh_hz=1e-6)
        async with app.run_test(size=(80, 24)) as pilot:
            collecting = app.query_one(Collecting)
            shown: list[object] = []
            collecting.watch(collecting, "tick", lambda tick: shown.append(tick), init=False)
            await until(pilot, lambda: sim.clients > 0)
            now = int(time.time() * 1000)
            sent = sim.publish([now] * 300)
            await until(pilot, lambda: collecting.collector_ticks >= 300)
            assert shown == []  # nothing repainted between refreshes
            assert "waiting for the first trade" in live_text(app)
            collecting.refresh_now()
            await pilot.pause()
            assert len(shown) == 1
            assert f"{float(sent[-1].price):,.2f}" in live_text(app)
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


async def test_demo_fills_its_history_through_the_collector_and_shows_progress(tmp_path):
    """The demo's three days arrive through the real backfill path (the simulator's REST),
    while the Live pane shows how far the fill has come; t works once it is done."""
    settings = settings_for(tmp_path, demo=True, history=3 * 24 * 3600.0)
    app = BtcTuiApp(settings)
    seen: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        collecting = app.query_one(Collecting)
        collecting.watch(collecting, "fill", lambda fill: seen.append(live_text(app)), init=False)
        await until(pilot, lambda: collecting.fill is not None and collecting.fill.finished, 120)
        await pilot.pause()
        assert any("history:" in text for text in seen)  # progress while it fills
        # Once filled it leaves the Live pane (room for the prediction) and is said in the log.
        assert "history:" not in live_text(app)
        done = collecting.fill.done_minutes
        assert any("fill" in line and str(done) in line.replace(",", "") for line in log_lines(app))
        assert "SIMULATED" in str(app.query_one(LivePane).border_title)
        await until(pilot, lambda: app.query_one(LivePane).tick is not None)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, timeout=10)
    assert len(load_minutes(settings.data).frame) >= 3 * 24 * 60 - 5


@pytest.mark.parametrize("rest", ["reachable", "unreachable"])
async def test_holes_in_the_stream_are_shown_repaired_or_lost(tmp_path, rest):
    """Trades the stream never delivered: fetched over the simulator's REST when it answers,
    and shown as lost when REST is unreachable."""
    async with Simulator(rate=0, seed=4) as sim:
        rest_url = sim.rest_url if rest == "reachable" else "http://127.0.0.1:9"
        settings = settings_for(tmp_path, url=sim.url, rest_url=rest_url)
        app = BtcTuiApp(settings)
        async with app.run_test(size=(100, 30)) as pilot:
            collecting = app.query_one(Collecting)
            await until(pilot, lambda: sim.clients > 0 and collecting.status is not None)
            assert "holes" not in live_text(app)  # no hole, no holes line
            minute = (int(time.time()) // 60 - 10) * MINUTE_MS
            times = [minute + 100 * k for k in range(1, 11)]
            sim.publish(times, send=[True, True, False, False, False, True, True, True, True, True])
            await until(pilot, lambda: collecting.collector_ticks >= 7)

            def holes() -> tuple[int, int]:
                status = collecting.status
                return (status.repaired, status.unrepaired) if status else (0, 0)

            if rest == "reachable":
                await until(pilot, lambda: holes()[0] >= 3, timeout=30)
                assert "holes: 3 trades · 3 repaired · 0 lost" in live_text(app)
            else:
                await until(pilot, lambda: holes()[1] >= 3, timeout=60)
                assert "holes: 3 trades · 0 repaired · 3 lost" in live_text(app)
            await pilot.press("q")


async def test_a_full_disk_keeps_minutes_in_memory_says_so_and_writes_them_later(
    tmp_path, tiny_disk
):
    """The app's collector never drops a minute the disk refuses: the Live pane says so while it
    retries, and once space is back every minute is in the CSV, in order (a real full tmpfs)."""
    async with Simulator(rate=0, seed=5) as sim:
        settings = settings_for(tiny_disk, url=sim.url, repair=False)
        app = BtcTuiApp(settings)
        async with app.run_test(size=(100, 30)) as pilot:
            collecting = app.query_one(Collecting)
            await until(pilot, lambda: sim.clients > 0 and collecting.status is not None)
            first = (
                int(time.time()) // 60 - 30
            ) * MINUTE_MS  # a past hour: minutes close by trades
            sim.publish([first + 100 * k for k in range(20)])
            sim.publish([first + MINUTE_MS + 100 * k for k in range(20)])
            await until(pilot, lambda: "wrote " in log_text(app))  # minute 0 is on disk
            filler = fill_up(tiny_disk)
            minute = 1
            while not getattr(collecting.status, "unwritten", 0):
                minute += 1
                assert minute < 100, "the full disk never refused a row"
                sim.publish([first + minute * MINUTE_MS + 100 * k for k in range(20)])
                await pilot.pause(0.05)
            await until(pilot, lambda: "disk refused" in live_text(app))
            assert "in memory, retrying" in live_text(app)
            # the log line comes by its own message: wait for it as for the Live pane's
            await until(
                pilot, lambda: any("the disk refused the write" in line for line in log_lines(app))
            )
            filler.unlink()  # space again: the kept minutes reach the CSV at the next retry
            sim.publish([first + (minute + 1) * MINUTE_MS + 100 * k for k in range(20)])
            await until(pilot, lambda: collecting.status.unwritten == 0, timeout=30)
            await until(pilot, lambda: "disk refused" not in live_text(app))
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, timeout=10)
    frame = load_minutes(settings.data).frame
    expected = [first + m * MINUTE_MS for m in range(minute + 2)]  # the open one written at q
    assert [int(t.value // 1_000_000) for t in frame.index] == expected
    assert (frame["trades"] == 20).all()
