"""Importing the app's entry points must stay cheap and keep the layers apart.

Each check runs in a fresh interpreter, so modules loaded by other tests can't hide a leak.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after_import(*modules: str) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(' '.join(sorted(n for n in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return {name.split(".")[0] for name in out.stdout.split()}


@pytest.mark.parametrize(
    "module",
    [
        "btc_tui",
        "btc_tui.cli",
        "btc_tui.config",
        "btc_tui.market.binance",
        "btc_tui.market.bars",
        "btc_tui.market.store",
        "btc_tui.market.stream",
        "btc_tui.market.collector",
        "btc_tui.market.simulator",
        "btc_tui.market.rest",
        "btc_tui.market.history",
        "btc_tui.market.repair",
        "btc_tui.market.follow",
        "btc_tui.commands.collect",
        "btc_tui.commands.simulate",
        "btc_tui.commands.backfill",
        "btc_tui.commands.import_dumps",
        "btc_tui.commands.check",
        "btc_tui.commands.config",
        "btc_tui.commands.serve",  # textual-serve (and with it textual) only once it serves
        # forecast never imports textual, and loads tensorflow only inside train/predict
        "btc_tui.forecast.dataset",
        "btc_tui.forecast.metrics",
        "btc_tui.forecast.model",
        "btc_tui.forecast.training",
        "btc_tui.forecast.predictor",
        "btc_tui.commands.train",
    ],
)
def test_entry_points_market_and_forecast_load_neither_textual_nor_tensorflow(module):
    loaded = loaded_after_import(module)
    assert not loaded & {"tensorflow", "keras", "textual"}, f"{module} pulled in {loaded}"


@pytest.mark.parametrize("module", ["btc_tui.ui", "btc_tui.ui.app"])
def test_the_ui_starts_without_tensorflow(module):
    loaded = loaded_after_import(module)
    assert not loaded & {"tensorflow", "keras"}, f"{module} pulled in TensorFlow"
