"""An app attached to another process's collector takes its ticker from where that process
collects (the lock's owner record says so), not from its own --url: a terminal `btc-tui --demo`
attached to `btc-tui serve --demo` used to connect to the real exchange (offline: gaierror)."""

from __future__ import annotations

import subprocess
import sys

from btc_tui.market.store import read_lock_owner
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.widgets import EventLog
from tests.ui.conftest import settings_for, until, write_history

# Another process that holds the CSV's lock, recording where it collects from (as a Collector
# does), until its stdin closes.
OWNER = """
import sys
from btc_tui.market.store import MinuteStore

with MinuteStore(sys.argv[1], sources={"url": sys.argv[2], "rest_url": sys.argv[3]}):
    print("locked", flush=True)
    sys.stdin.read()
"""


async def test_attached_ticker_streams_from_the_owners_source(tmp_path, live_simulator):
    # The app's own URL goes nowhere (port 9 refuses): only the owner's source has trades.
    settings = settings_for(tmp_path, url="ws://127.0.0.1:9")
    write_history(settings.data, minutes=5)
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(settings.data), live_simulator.url,
         live_simulator.rest_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert owner.stdout.readline().strip() == "locked"
        record = read_lock_owner(settings.data)
        assert record is not None
        assert (record.url, record.rest_url) == (live_simulator.url, live_simulator.rest_url)
        app = BtcTuiApp(settings)
        async with app.run_test(size=(100, 30)) as pilot:
            collecting = app.query_one(Collecting)
            await until(pilot, lambda: collecting.state == "attached")
            await until(pilot, lambda: collecting.tick is not None)
            log = "\n".join(app.query_one(EventLog).texts)
            assert f"ticker from {live_simulator.url}" in log
            await pilot.press("q")
    finally:
        owner.stdin.close()
        owner.wait(timeout=10)
