"""`btc-tui backfill` and `btc-tui check` as a user runs them: real subprocesses against the
simulator's REST on loopback, a real CSV; exit codes and the one-line messages."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from btc_tui.config import Settings
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.history import backfill
from btc_tui.market.rest import BinanceRest, RestUnavailable
from btc_tui.market.simulator import Simulator
from btc_tui.market.store import MinuteStore
from tests.market.conftest import read_rows, row_minute

PROJECT_ROOT = Path(__file__).resolve().parents[2]
END = 1_723_161_600_000  # 2024-08-09 00:00 UTC
HISTORY = 120
NOW = END / 1000 + 30  # the simulated exchange's clock: 30 s into 2024-08-09 00:00


@pytest.fixture
async def sim():
    async with Simulator(
        rate=0,
        seed=3,
        ping_interval=0,
        history_minutes=HISTORY,
        history_end=END,
        clock=lambda: NOW,
    ) as server:
        yield server


async def btc_tui(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no user config file
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "btc_tui",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_backfill_by_start_and_end_then_again_changes_nothing(sim, tmp_path):
    data = tmp_path / "m.csv"
    args = ("backfill", "--data", str(data), "--rest-url", sim.rest_url)
    window = ("--start", "2024-08-08T23:00:00Z", "--end", "2024-08-09T00:00:00Z")
    code, out, err = await btc_tui(tmp_path, *args, *window)
    assert code == 0, err
    assert "60 minutes written, 0 already there" in out and out.count("\n") == 1
    assert "backfill: 60/60 minutes" in err  # plain progress lines: stderr is not a terminal
    rows = read_rows(data)
    assert [row_minute(r) for r in rows] == list(range(END - 60 * MINUTE_MS, END, MINUTE_MS))
    content = data.read_bytes()
    code, out, err = await btc_tui(tmp_path, *args, *window)
    assert code == 0 and "0 minutes written, 60 already there" in out
    assert data.read_bytes() == content


async def test_since_ends_now_by_the_exchange_clock(sim, tmp_path):
    data = tmp_path / "m.csv"
    code, _out, err = await btc_tui(
        tmp_path, "backfill", "--data", str(data), "--rest-url", sim.rest_url, "--since", "1h"
    )
    assert code == 0, err
    # now = 00:00:30 by Binance: the whole minutes of the last hour end at 00:00 (the current
    # minute is not complete yet)
    minutes = [row_minute(r) for r in read_rows(data)]
    assert minutes == list(range(END - 59 * MINUTE_MS, END, MINUTE_MS))
    assert any(path == "/api/v3/time" for path, _, _ in sim.rest_log)


async def test_an_invalid_symbol_shows_binances_message_and_leaves_no_file(sim, tmp_path):
    data = tmp_path / "m.csv"
    code, _out, err = await btc_tui(
        tmp_path,
        "backfill",
        "--data",
        str(data),
        "--rest-url",
        sim.rest_url,
        "--symbol",
        "nosuchpair",
        "--since",
        "1h",
    )
    assert code == 2 and "Invalid symbol" in err and "Traceback" not in err
    assert not data.exists()


async def test_a_csv_being_written_is_refused_naming_its_writer(sim, tmp_path):
    data = tmp_path / "m.csv"
    with MinuteStore(data) as store:
        store.append_many([])
        before = data.read_bytes()
        code, _out, err = await btc_tui(
            tmp_path,
            "backfill",
            "--data",
            str(data),
            "--rest-url",
            sim.rest_url,
            "--start",
            "2024-08-08T23:00:00Z",
        )
    assert code == 2 and f"pid {os.getpid()}" in err and "is being written by" in err
    assert err.count("\n") == 1 and data.read_bytes() == before
    assert sim.rest_log == []  # refused before any request


async def test_unreachable_rest_is_one_error_and_the_csv_is_unchanged(tmp_path):
    data = tmp_path / "m.csv"
    with MinuteStore(data) as store:
        store.append_many([])
    before = data.read_bytes()
    settings = Settings().with_changes(data=data, rest_url="http://127.0.0.1:9")
    async with BinanceRest("http://127.0.0.1:9", "btcusdt", retries=1, backoff=0.01) as rest:
        with pytest.raises(RestUnavailable, match=r"127\.0\.0\.1:9"):
            await backfill(settings, END - 10 * MINUTE_MS, END, rest=rest)
    assert data.read_bytes() == before


async def test_check_exits_1_on_a_hole_and_repair_fills_it(sim, tmp_path):
    data = tmp_path / "m.csv"
    args = ("--data", str(data), "--rest-url", sim.rest_url)
    code, _, err = await btc_tui(tmp_path, "backfill", *args, "--start", "2024-08-08T23:30:00Z")
    assert code == 0, err
    good = data.read_text()
    code, out, _ = await btc_tui(tmp_path, "check", *args)
    assert code == 0 and "0 problem(s)" in out
    lines = good.splitlines()
    data.write_text("\n".join(lines[:10] + lines[12:]) + "\n")  # two minutes lost
    code, out, _ = await btc_tui(tmp_path, "check", *args)
    assert code == 1 and "hole: 2024-08-08 23:38 UTC to 2024-08-08 23:41 UTC" in out
    code, out, err = await btc_tui(tmp_path, "check", *args, "--repair")
    assert code == 0, out + err
    assert "4 minute(s) rebuilt" in out
    assert data.read_text() == good


async def test_on_a_terminal_progress_is_a_bar(sim, tmp_path):
    """stderr on a pseudo-terminal: rich draws a bar (and no plain progress lines)."""
    import pty

    data = tmp_path / "m.csv"
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), TERM="xterm-256color", COLUMNS="100")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "btc_tui",
        "backfill",
        "--data",
        str(data),
        "--rest-url",
        sim.rest_url,
        "--start",
        "2024-08-08T22:00:00Z",
        stdout=asyncio.subprocess.PIPE,
        stderr=follower,
        cwd=PROJECT_ROOT,
        env=env,
    )
    os.close(follower)
    shown = bytearray()

    def drain() -> None:
        try:
            shown.extend(os.read(leader, 65536))
        except OSError:  # EIO: the terminal's other end is closed
            asyncio.get_running_loop().remove_reader(leader)

    asyncio.get_running_loop().add_reader(leader, drain)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        asyncio.get_running_loop().remove_reader(leader)
        os.close(leader)
    assert proc.returncode == 0 and "120 minutes written" in out.decode()
    text = bytes(shown).decode("utf-8", "replace")
    assert "━" in text and "backfill" in text  # rich's bar
    assert "minutes, 0 written" not in text  # not the plain lines


async def test_the_head_minute_is_written_only_once_rest_shows_a_trade_after_it(tmp_path):
    """Issue 15.6: the server's clock is 3 s past minute M, and its trade database lags: M is
    left out (said) until REST has a trade after it, then written whole."""
    base = 1_704_067_200_000  # 2024-01-01 00:00 UTC
    head = base + 5 * MINUTE_MS  # minute M
    now = [head / 1000 + 63.0]
    async with Simulator(rate=0, seed=2, clock=lambda: now[0]) as sim:
        sim.publish([base + i * 20_000 for i in range(15)])  # minutes 0..4
        sim.publish([head + 1000, head + 30_000])  # M, as far as REST has it so far
        settings = Settings(data=tmp_path / "m.csv", rest_url=sim.rest_url)
        result = await backfill(settings, base, None)
        assert result.written == 5
        assert any("left out 2024-01-01 00:05 UTC: REST shows no trade after it" in w
                   for w in result.warnings)  # fmt: skip
        sim.publish([head + 59_000, head + MINUTE_MS + 500])  # M's last trade, then one after
        again = await backfill(settings, base, None)
        assert again.written == 1 and not any("left out" in w for w in again.warnings)
    rows = read_rows(tmp_path / "m.csv")
    assert [int(r["trades"]) for r in rows] == [3, 3, 3, 3, 3, 3]
