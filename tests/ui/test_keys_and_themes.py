"""Keys remapped in the config file's [keys] table work, and the footer and help show them;
the theme from settings is applied and a theme picked in the app is remembered."""

from __future__ import annotations

from textual.widgets import Footer

from btc_tui.ui.app import BtcTuiApp
from btc_tui.ui.collecting import Collecting
from btc_tui.ui.screens.help import HelpScreen
from tests.ui.conftest import settings_for, until


def footer_text(app: BtcTuiApp) -> str:
    return " ".join(key.render().plain for key in app.query_one(Footer).query("FooterKey"))


async def test_a_remapped_key_works_and_the_footer_and_help_show_it(tmp_path, live_simulator):
    settings = settings_for(tmp_path, url=live_simulator.url, keys={"collect": "k"})
    app = BtcTuiApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        collecting = app.query_one(Collecting)
        await until(pilot, lambda: collecting.state == "collecting")
        await until(pilot, lambda: "Collect" in footer_text(app))
        assert "k Collect" in footer_text(app)
        assert "c Collect" not in footer_text(app)

        await pilot.press("c")  # the old key does nothing now
        await pilot.pause()
        assert collecting.state == "collecting"
        await pilot.press("k")
        await until(pilot, lambda: collecting.state == "off")

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.rows()
        collect_row = next(r for r in rows if "Collect:" in r)
        assert collect_row.split()[0] == "k"
        await pilot.press("escape")
        await pilot.press("q")


async def test_theme_from_settings_is_applied_and_a_new_pick_is_remembered(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("# mine\nrefresh = 4\n")
    settings = settings_for(tmp_path, theme="nord", config=config)
    app = BtcTuiApp(settings, autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "nord"
        app.theme = "gruvbox"  # what the palette's theme picker does
        await until(pilot, lambda: 'theme = "gruvbox"' in config.read_text())
        app.theme = "nord"  # back to the one it started with: remembered too
        await until(pilot, lambda: 'theme = "nord"' in config.read_text())
    text = config.read_text()
    assert 'theme = "nord"' in text and "gruvbox" not in text
    assert "# mine" in text and "refresh = 4" in text  # the rest of the file is kept
