"""Importing the app's entry points must stay cheap and keep the layers apart.

Each check runs in a fresh interpreter, so modules loaded by other tests can't hide a leak.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
        "btc_tui.commands.show_config",
        "btc_tui.commands.tui",  # the app itself is imported only when it runs
        "btc_tui.market.demo",
        "btc_tui.market.startup",
        "btc_tui.market.lines",
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


def test_building_the_parser_loads_no_commands_work():
    """Every command module is imported to build the parser: each must keep its real work
    (market, forecast, textual, textual-serve) behind `run`, or `btc-tui --help` gets slow."""
    code = (
        "import sys\nfrom btc_tui.cli import build_parser\nbuild_parser()\n"
        "print(' '.join(sorted(n for n in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    heavy = {"pandas", "numpy", "websockets", "aiohttp", "textual", "textual_serve", "tensorflow"}
    assert not loaded & heavy
    assert not {n for n in out.stdout.split() if n.startswith("btc_tui.ui")}


LAYERS = {
    # package -> packages of btc_tui it must not import (imports point down only)
    "market": ("ui", "web", "commands", "cli"),
    "forecast": ("ui", "web", "commands", "cli"),
    "web": ("ui", "commands"),
}


def _btc_tui_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[1] for n in names if n.startswith("btc_tui.") and n.count(".") >= 1}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_point_down_only(package):
    root = Path(__file__).resolve().parents[1] / "btc_tui" / package
    wrong = {
        f"{path.relative_to(root.parent)} imports btc_tui.{name}"
        for path in root.rglob("*.py")
        for name in _btc_tui_imports(path) & set(LAYERS[package])
        # a browser session's process is the app: its entry point runs `btc_tui.cli`
        if not (package == "web" and path.name == "session.py" and name == "cli")
    }
    assert not wrong
