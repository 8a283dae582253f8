"""`btc-tui` with no subcommand: the terminal UI (Textual is imported only when it runs)."""

from __future__ import annotations

from btc_tui.commands import Command
from btc_tui.config import Settings
from btc_tui.config.settings import APP, COLLECTOR, TRAINING


def run(settings: Settings, args: None = None) -> int:
    from btc_tui.ui.app import run as run_app

    return run_app(settings)


COMMAND = Command(
    name="tui",
    help="the terminal UI (what btc-tui runs without a command)",
    description="Live Binance minute bars, an LSTM forecaster, and a terminal UI joining them. "
    "Without a command: the terminal UI.",
    run=run,
    groups=(APP, COLLECTOR, TRAINING),
    subcommand=False,
)
