"""UI test helpers: a live simulator on loopback, tiny real CSVs, and bounded polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from btc_tui.config import Settings
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.simulator import Simulator, simulated_history
from btc_tui.market.store import MinuteStore
from tests.market.conftest import tiny_disk  # noqa: F401 (a real 64 KiB tmpfs, shared fixture)


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both change colours (and so snapshots); a developer's shell may set either.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    for name in ("DATA", "MODELS", "URL", "DEMO", "WINDOW", "EPOCHS"):
        monkeypatch.delenv(f"BTC_TUI_{name}", raising=False)


@pytest.fixture
async def live_simulator() -> AsyncIterator[Simulator]:
    """A random-walk simulator at 50 trades/s with wall-clock trade times, like the demo's."""
    async with Simulator(rate=50, seed=3) as sim:
        yield sim


def write_history(path: Path, minutes: int, seed: int = 1) -> None:
    """`minutes` simulated minutes ending with the previous wall-clock minute, through the store."""
    now_minute = int(time.time() // 60) * MINUTE_MS
    with MinuteStore(path) as store:
        for bar in simulated_history(minutes, end_minute=now_minute - MINUTE_MS, seed=seed):
            store.append(bar)


def settings_for(
    tmp_path: Path,
    url: str = "ws://127.0.0.1:9",
    rest_url: str = "http://127.0.0.1:9",
    **changes: object,
) -> Settings:
    """Everything in tmp_path; both URLs are loopback so no test can reach the internet. No
    history fill unless a test asks for one (history=...)."""
    base = Settings(data=tmp_path / "minutes.csv", models=tmp_path / "models", url=url)
    return base.with_changes(rest_url=rest_url, history=0.0).with_changes(**changes)


async def until(pilot, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until `predicate()` holds; a deadline, not a timing assertion."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)
