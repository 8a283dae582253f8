"""The Live pane shows a repair's progress while it runs (issue 15.2), against the simulator."""

from __future__ import annotations

import time

from btc_tui.market.simulator import Simulator
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.widgets import LivePane
from tests.ui.conftest import MINUTE_MS, settings_for, until


def holes_line(app: BtcTuiApp) -> str:
    lines = app.query_one(LivePane).text().splitlines()
    return next((line for line in lines if "holes:" in line or "rebuilding" in line), "")


async def test_the_live_pane_shows_a_repair_while_it_runs_and_not_after(tmp_path):
    async with Simulator(rate=0, seed=4) as sim:
        settings = settings_for(tmp_path, url=sim.url, rest_url=sim.rest_url)
        app = BtcTuiApp(settings)
        async with app.run_test(size=(80, 24)) as pilot:
            collecting = app.query_one(Collecting)
            await until(pilot, lambda: sim.clients > 0 and collecting.status is not None)
            sim.rest_latency = 3.0  # a slow REST link: the repair takes a while
            minute = (int(time.time()) // 60 - 10) * MINUTE_MS
            sends = [True, True] + [False] * 3 + [True] * 5  # trades 3..5 never reach the socket
            sim.publish([minute + 100 * k for k in range(1, 11)], send=sends)
            await until(pilot, lambda: "repairing 0/3 trades" in holes_line(app), timeout=30)
            assert len(holes_line(app)) <= 80
            await until(pilot, lambda: collecting.status.repaired >= 3, timeout=60)
            await pilot.pause()
            assert "holes: 3 trades · 3 repaired · 0 lost" in holes_line(app)
            assert "repairing" not in app.query_one(LivePane).text()
            await pilot.press("q")


async def test_the_live_pane_shows_a_rebuild_check_repair_asked_for(tmp_path):
    from btc_tui.market import handoff

    async with Simulator(rate=0, seed=5) as sim:
        settings = settings_for(tmp_path, url=sim.url, rest_url=sim.rest_url)
        app = BtcTuiApp(settings)
        async with app.run_test(size=(80, 24)) as pilot:
            collecting = app.query_one(Collecting)
            await until(pilot, lambda: sim.clients > 0 and collecting.status is not None)
            sim.rest_latency = 3.0  # a slow REST link: the rebuild takes a while
            hour_ago = (int(time.time()) // 60 - 60) * MINUTE_MS
            # what `check --repair` asks of the collector holding the CSV (market/handoff.py)
            handoff.ask(settings.data, {hour_ago, hour_ago + MINUTE_MS}, clean=False)
            await until(pilot, lambda: "rebuilding 0/2 stored min" in holes_line(app), timeout=30)
            assert len(holes_line(app)) <= 80
            await until(pilot, lambda: not handoff.pending(settings.data), timeout=60)
            await until(pilot, lambda: "rebuilding" not in app.query_one(LivePane).text())
            status = handoff.read_status(settings.data)
            assert status is not None and status.state == "done" and status.missing
            await pilot.press("q")
