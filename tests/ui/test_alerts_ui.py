"""Alerts in the app: live trades fire them (log line naming rule and price, a mark on the
chart), and the alerts screen (a) adds and removes rules, saved to the config file."""

from __future__ import annotations

import tomllib

from textual.widgets import OptionList

from btc_tui.ui.alerting import Alerting
from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.screens.alerts import AlertsScreen
from btc_tui.ui.widgets import EventLog
from btc_tui.ui.widgets.market_chart import MarketChart
from tests.ui.conftest import settings_for, until


def log_lines(app: BtcTuiApp) -> list[str]:
    return list(app.query_one(EventLog).texts)


async def test_a_live_trade_fires_a_rule_logs_it_and_marks_the_chart(tmp_path, live_simulator):
    settings = settings_for(tmp_path, url=live_simulator.url, alerts=("move 0.0001% 1m",))
    app = BtcTuiApp(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: any("alert 'move 0.0001% 1m'" in x for x in log_lines(app)))
        line = next(x for x in log_lines(app) if "alert 'move" in x)
        assert "BTCUSDT" in line and "within 1m" in line
        chart = app.query_one(MarketChart)
        await until(pilot, lambda: bool(chart.marks))
        assert chart.marks[0].rule == "move 0.0001% 1m"
        await pilot.press("q")


async def test_the_alerts_screen_adds_and_removes_rules_and_saves_them(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('# mine\nrefresh = 4\nalerts = ["above 100000"]\n\n[keys]\ntrain = "T"\n')
    settings = settings_for(tmp_path, config=config, alerts=("above 100000",))
    app = BtcTuiApp(settings, autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press(*"abve 5", "enter")
        await pilot.pause()
        assert "is not a rule" in str(app.screen.query_one("#alerts-message").render())
        assert app.query_one(Alerting).rules == ("above 100000",)
        await pilot.press("ctrl+a", "ctrl+k", *"below  60,000", "enter")

        def saved() -> list[str]:
            return tomllib.loads(config.read_text()).get("alerts", [])

        await until(pilot, lambda: saved() == ["above 100000", "below 60,000"])
        app.screen.query_one(OptionList).focus()
        await pilot.press("home", "delete")
        await until(pilot, lambda: saved() == ["below 60,000"])
        assert app.query_one(Alerting).rules == ("below 60,000",)
        await pilot.press("escape")
        assert not isinstance(app.screen, AlertsScreen)
    text = config.read_text()
    assert "# mine" in text and "refresh = 4" in text
    assert tomllib.loads(text)["keys"] == {"train": "T"}
