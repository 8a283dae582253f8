"""`btc-tui collect` as a user runs it: a real subprocess, real signals, a real CSV, a real server."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from pathlib import Path

import pytest

from btc_tui.market.simulator import Simulator
from btc_tui.market.store import MinuteStore
from tests.market.conftest import assert_csv_matches, minute_times, read_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class CollectProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stdout_lines: list[str] = []

    async def next_line(self, timeout: float = 20.0) -> str:
        """The next stdout line (one per written minute)."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert line, "collect exited before writing the expected minute"
        self.stdout_lines.append(line.decode().rstrip("\n"))
        return self.stdout_lines[-1]

    async def finish(self, timeout: float = 20.0) -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        stdout = "\n".join([*self.stdout_lines, out.decode().rstrip("\n")]).strip("\n")
        assert self.proc.returncode is not None
        return self.proc.returncode, stdout, err.decode()


async def start_collect(
    url: str,
    data: Path,
    *extra: str,
    rest_url: str = "http://127.0.0.1:9",
    output: int | None = None,
) -> CollectProcess:
    """`btc-tui collect` on loopback only: REST goes to the simulator (or to a closed port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(data.parent / "no-config")  # never the user's config file
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "btc_tui",
        "collect",
        "--url",
        url,
        "--rest-url",
        rest_url,
        "--history",
        "0",
        "--data",
        str(data),
        *extra,
        stdout=asyncio.subprocess.PIPE if output is None else output,
        stderr=asyncio.subprocess.PIPE if output is None else output,
        cwd=PROJECT_ROOT,
        env=env,
    )
    return CollectProcess(proc)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
async def test_a_signal_writes_the_open_minute_releases_the_lock_and_exits_0(
    simulator: Simulator, tmp_path: Path, sig: signal.Signals
):
    data = tmp_path / "minutes.csv"
    collect = await start_collect(simulator.url, data, rest_url=simulator.rest_url)
    await simulator.wait_for_connections(1, timeout=20)
    simulator.publish(minute_times(0, 12))
    simulator.publish(minute_times(1, 7))
    first = await collect.next_line()  # minute 0, closed by minute 1's first trade
    collect.proc.send_signal(sig)
    code, stdout, stderr = await collect.finish()

    assert code == 0, stderr
    assert first.startswith("2024-01-01 00:00 UTC  avg ")
    assert "trades 12  reconnects 0" in first
    lines = stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("2024-01-01 00:01 UTC") and "trades 7 " in lines[1]
    assert f"{sig.name}: writing the open minute" in stderr
    assert "Traceback" not in stderr
    assert "\x1b" not in stdout + stderr  # plain lines for journald: no colour, no cursor moves
    assert_csv_matches(data, simulator.sent)
    with MinuteStore(data) as store:  # the lock was released: another collector can take it
        assert store.rows == 2


async def test_minute_line_shows_the_bar(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "minutes.csv"
    collect = await start_collect(
        simulator.url, data, "--minutes", "1", rest_url=simulator.rest_url
    )
    await simulator.wait_for_connections(1, timeout=20)
    sent = simulator.publish(minute_times(0, 4)) + simulator.publish(minute_times(1, 1))
    code, stdout, stderr = await collect.finish()

    assert code == 0, stderr
    prices = [float(t.price) for t in sent[:4]]
    assert stdout == (
        f"2024-01-01 00:00 UTC  avg {sum(prices) / 4:.2f}  O {prices[0]:.2f} H {max(prices):.2f} "
        f"L {min(prices):.2f} C {prices[-1]:.2f}  trades 4  reconnects 0"
    )


async def test_minutes_option_exits_0_after_that_many(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "minutes.csv"
    collect = await start_collect(
        simulator.url, data, "--minutes", "3", rest_url=simulator.rest_url
    )
    await simulator.wait_for_connections(1, timeout=20)
    for minute in range(5):
        simulator.publish(minute_times(minute, 3))
    code, stdout, stderr = await collect.finish()

    assert code == 0, stderr
    assert len(stdout.splitlines()) == 3
    assert [int(r["trades"]) for r in read_rows(data)] == [3, 3, 3]


async def test_kill_9_then_restart_completes_the_file_and_duplicates_nothing(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "minutes.csv"
    collect = await start_collect(simulator.url, data, rest_url=simulator.rest_url)
    await simulator.wait_for_connections(1, timeout=20)
    simulator.publish(minute_times(0, 9))
    simulator.publish(minute_times(1, 4))  # still in the open minute when we kill it
    await collect.next_line()
    collect.proc.kill()  # SIGKILL: no handler runs, the open minute is lost with the process
    code, _, _ = await collect.finish()
    assert code == -signal.SIGKILL
    assert len(read_rows(data)) == 1

    # A crash in the middle of a write leaves a partial line; make one deterministically.
    with data.open("a") as f:
        f.write("2024,1,1,0,1,42000.5,42000")
    simulator.publish(minute_times(1, 3, start_ms=2000))  # nobody collects these

    collect = await start_collect(simulator.url, data, rest_url=simulator.rest_url)
    await simulator.wait_for_connections(2, timeout=20)
    simulator.publish(minute_times(1, 6, start_ms=5000))
    simulator.publish(minute_times(2, 2))
    await collect.next_line()  # minute 1: the 7 trades nobody received, from REST, and 6 live
    collect.proc.send_signal(signal.SIGINT)
    code, _stdout, stderr = await collect.finish()

    assert code == 0, stderr
    assert "torn last line" in stderr
    rows = assert_csv_matches(data, simulator.sent)  # every trade, in exactly one row
    assert [int(r["trades"]) for r in rows] == [9, 13, 2]
    assert "7 trade(s) fetched over REST (history, restart, holes)" in stderr


async def test_rest_unreachable_collects_live_and_says_what_is_missing(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "minutes.csv"
    collect = await start_collect(simulator.url, data)  # REST: a closed port
    await simulator.wait_for_connections(1, timeout=20)
    simulator.publish(minute_times(0, 3))
    lost = simulator.publish(minute_times(0, 2, start_ms=1000), send=False)
    simulator.publish(minute_times(1, 1))
    await collect.next_line()
    collect.proc.send_signal(signal.SIGTERM)
    code, _stdout, stderr = await collect.finish(timeout=60)
    assert code == 0, stderr
    assert "hole not repaired: 2 trade(s), ids 4..5" in stderr
    hint = f"to fill the gap once collecting has stopped: btc-tui check --repair --data {data}"
    assert f"2 trade(s) in unrepaired holes ({hint})" in stderr
    assert [int(r["trades"]) for r in read_rows(data)] == [3, 1]
    assert lost
    # the advice, run once REST answers: the hole is filled and every trade is in its minute
    code, out, err = await run_btc_tui(
        tmp_path, "check", "--repair", "--data", str(data), "--rest-url", simulator.rest_url
    )
    assert code == 0, out + err
    assert_csv_matches(data, simulator.sent)


async def run_btc_tui(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "btc_tui", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_second_collector_on_the_same_file_exits_2(simulator: Simulator, tmp_path: Path):
    data = tmp_path / "minutes.csv"
    first = await start_collect(simulator.url, data)
    await simulator.wait_for_connections(1, timeout=20)
    second = await start_collect(simulator.url, data)
    code, stdout, stderr = await second.finish()
    assert code == 2
    assert stdout == ""
    assert "is being written by btc-tui collect, pid" in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) <= 2

    first.proc.send_signal(signal.SIGTERM)
    code, _, _ = await first.finish()
    assert code == 0


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: _write(tmp / "notes.csv", "date,price\n1,2\n"), "not a btc-tui minute CSV"),
    ],
    ids=["folder", "foreign-csv"],
)
async def test_an_unusable_data_file_exits_2_untouched(tmp_path: Path, make_path, message: str):
    path = make_path(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    collect = await start_collect("ws://127.0.0.1:9", path)
    code, _stdout, stderr = await collect.finish()
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    if before is not None:
        assert path.read_bytes() == before


async def test_a_url_that_is_not_websocket_exits_2(tmp_path: Path):
    collect = await start_collect("http://127.0.0.1:9", tmp_path / "m.csv")
    code, _, stderr = await collect.finish()
    assert code == 2
    assert "--url" in stderr and "ws or wss URL" in stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


async def test_a_csv_deleted_while_collecting_ends_with_one_line_and_exit_3(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "minutes.csv"
    collect = await start_collect(simulator.url, data, rest_url=simulator.rest_url)
    await simulator.wait_for_connections(1, timeout=20)
    simulator.publish(minute_times(0, 3))
    simulator.publish(minute_times(1, 2))
    await collect.next_line()
    data.unlink()  # the disk no longer takes our rows: nothing may pretend they were written
    simulator.publish(minute_times(2, 1))
    code, _stdout, stderr = await collect.finish()
    assert code == 3, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("btc-tui: disk error:")]
    assert len(errors) == 1 and "was deleted while being written" in errors[0]
    assert not data.exists()


async def test_a_reader_that_goes_away_stops_it_like_a_hang_up(
    simulator: Simulator, tmp_path: Path
):
    data = tmp_path / "minutes.csv"
    reader, writer = os.pipe()
    collect = await start_collect(simulator.url, data, rest_url=simulator.rest_url, output=writer)
    os.close(writer)
    await simulator.wait_for_connections(1, timeout=20)
    simulator.publish(minute_times(0, 4))
    simulator.publish(minute_times(1, 3))  # closes minute 0: its line is printed
    # Read until minute 0's line: every earlier line (connected, the first minute completed over
    # REST) has been printed by then, so the next line is minute 1's, printed into a closed pipe.
    seen = b""
    async with asyncio.timeout(20):
        while b"00:00 UTC" not in seen:
            chunk = await asyncio.to_thread(os.read, reader, 4096)
            assert chunk, f"collect ended before writing minute 0: {seen.decode()!r}"
            seen += chunk
    os.close(reader)  # whoever read its output is gone: its next line gets EPIPE
    simulator.publish(minute_times(2, 2))  # closes minute 1: its line can't be printed
    code = await asyncio.wait_for(collect.proc.wait(), 20)
    assert code == 0
    # Minutes 0 and 1 are whole. Where the stop fell (a late log line, or minute 1's line when
    # minute 2's first trade arrived) decides whether the open minute 2 holds 0, 1 or 2 trades;
    # whatever it holds, the ids run on without a hole: nothing received was dropped.
    rows = read_rows(data)
    assert [int(r["trades"]) for r in rows][:2] == [4, 3] and len(rows) <= 3
    ids = [(int(r["first_trade_id"]), int(r["last_trade_id"])) for r in rows]
    assert all(
        int(r["trades"]) == last - first + 1 for r, (first, last) in zip(rows, ids, strict=True)
    )
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ids))
    with MinuteStore(data) as store:
        assert store.rows == len(rows)


async def test_demo_collects_from_the_built_in_simulator_into_its_own_file(tmp_path: Path):
    """`btc-tui --demo collect` used to stream real Binance trades into data/demo.csv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "btc_tui",
        "--demo",
        "collect",
        "--history",
        "10m",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,  # the demo's default file: tmp_path/data/demo.csv
        env=env,
    )
    assert proc.stderr is not None
    said: list[str] = []
    async with asyncio.timeout(30):
        while not any(line.startswith("filled ") for line in said):
            line = (await proc.stderr.readline()).decode()
            assert line, "collect ended: " + "".join(said)
            said.append(line)
    proc.send_signal(signal.SIGINT)
    _, rest = await asyncio.wait_for(proc.communicate(), 20)
    text = "".join(said) + rest.decode()
    assert proc.returncode == 0, text
    assert "from the built-in simulator at ws://127.0.0.1:" in said[0]
    assert "into data/demo.csv; gaps repaired from http://127.0.0.1:" in said[0]
    assert "binance" not in text.lower()
    rows = read_rows(tmp_path / "data" / "demo.csv")
    assert len(rows) >= 10  # the simulated past (the app's backfill path), then live minutes
    assert not (tmp_path / "data" / "bitcoin_price_stream.csv").exists()


async def test_demo_collect_goes_on_from_the_csvs_last_price(tmp_path: Path):
    """`collect --demo` started its simulator at 60,000 whatever the demo CSV held (the app and
    `serve --demo` went on from its last price): one demo start-up for all three now."""
    import dataclasses
    import time

    from btc_tui.market.bars import MINUTE_MS
    from tests.market.test_store import bar

    minute = (int(time.time() * 1000) // MINUTE_MS - 3) * MINUTE_MS
    last = dataclasses.replace(bar(0, price=1234.5), minute=minute)
    with MinuteStore(tmp_path / "data" / "demo.csv") as store:
        store.append_many([last])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "btc_tui", "--demo", "collect", "--max-fill", "10m"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    assert proc.stderr is not None
    said: list[str] = []
    async with asyncio.timeout(30):
        while not any(line.startswith(("filled ", "connected")) for line in said):
            line = (await proc.stderr.readline()).decode()
            assert line, "collect ended: " + "".join(said)
            said.append(line)
    await asyncio.sleep(1)  # some live trades into the open minute
    proc.send_signal(signal.SIGINT)
    _, rest = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, "".join(said) + rest.decode()
    rows = read_rows(tmp_path / "data" / "demo.csv")
    assert len(rows) >= 2, rows  # the stored minute, then what the simulator made
    for row in rows[1:]:
        assert 1000 < float(row["close"]) < 1500, row  # near 1235.5, nowhere near 60,000
