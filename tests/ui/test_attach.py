"""Attach mode: another process owns the CSV (a `btc-tui collect` running around the clock). The
app follows its rows, runs its own read-only ticker, never writes the file, and offers to take
over when the owner stops. A stale lock (its process is gone) is taken over with a log line."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from btc_tui.market.store import lock_path, read_lock_owner
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.widgets import EventLog, LivePane
from tests.ui.conftest import MINUTE_MS, settings_for, until, write_history

# Another process that holds the CSV's lock and appends the minutes named on its stdin.
WRITER = """
import sys
from btc_tui.market.bars import MinuteBar
from btc_tui.market.store import MinuteStore

with MinuteStore(sys.argv[1]) as store:
    print("locked", flush=True)
    for line in sys.stdin:
        minute = int(line)
        store.append(MinuteBar(minute, 61000.5, 61000, 61002, 60999, 61001, 0.5, 61000.5, 7, 0, 0))
        print("wrote", flush=True)
"""


def live_text(app: BtcTuiApp) -> str:
    return app.query_one(LivePane).text()


def log_text(app: BtcTuiApp) -> str:
    return "\n".join(app.query_one(EventLog).texts)


async def test_attached_app_follows_another_process_and_takes_over(tmp_path, live_simulator):
    settings = settings_for(tmp_path, url=live_simulator.url)
    write_history(settings.data, minutes=120)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(settings.data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        app = BtcTuiApp(settings)
        async with app.run_test(size=(100, 30)) as pilot:
            collecting = app.query_one(Collecting)
            await until(pilot, lambda: collecting.state == "attached")
            assert f"pid {writer.pid}" in live_text(app)
            assert "collecting: " in live_text(app)
            # Its own read-only ticker shows prices.
            await until(pilot, lambda: collecting.tick is not None)
            before = settings.data.read_bytes()

            # A row written by the other process appears in the app.
            minute = (int(time.time()) // 60 + 5) * MINUTE_MS
            writer.stdin.write(f"{minute}\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "wrote"
            pane = app.query_one(LivePane)
            await until(pilot, lambda: pane.previous_minute == (minute, 61000.5))
            assert "121 rows" in live_text(app)
            assert settings.data.read_bytes().startswith(before)  # only the writer's row added

            # c stops and starts the ticker only; the CSV stays the other process's.
            await pilot.press("c")
            await until(pilot, lambda: not collecting.ticker_on)
            assert collecting.state == "attached"
            assert "ticker off" in live_text(app)
            assert not app.check_action("take_over", ())

            # The owner stops: the app offers to take over, and o does.
            writer.stdin.close()
            assert writer.wait(timeout=10) == 0
            await until(pilot, lambda: collecting.owner_gone)
            assert "press o to take over" in live_text(app)
            assert app.check_action("take_over", ())
            await pilot.press("o")
            await until(pilot, lambda: collecting.state == "collecting")
            owner = read_lock_owner(settings.data)
            assert owner is not None and owner.alive  # this process holds the lock now
            await until(pilot, lambda: "● connected" in live_text(app))
            await pilot.press("q")
        assert read_lock_owner(settings.data) is None  # released at quit
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()


async def test_a_stale_lock_is_taken_over_with_a_log_line(tmp_path, live_simulator):
    settings = settings_for(tmp_path, url=live_simulator.url)
    write_history(settings.data, minutes=30)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    record = {
        "pid": int(dead.stdout),
        "host": __import__("socket").gethostname(),
        "started": "2026-01-01T09:12:00+00:00",
        "command": "btc-tui collect",
    }
    lock_path(settings.data).write_text(json.dumps(record))
    app = BtcTuiApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        collecting = app.query_one(Collecting)
        await until(pilot, lambda: "stale lock" in log_text(app))
        assert collecting.state == "collecting"
        assert f"pid {record['pid']}" in log_text(app)
        await pilot.press("q")
