"""Issue 15.2, last part: `check --repair` while a collector writes the CSV. The collector holds
the lock, so check hands the work to it (market/handoff.py) and follows its progress; a collector
stopped mid-way leaves the rest asked for, which check (or the next start) does itself. Against
the simulator, every minute checked against what the server sent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from btc_tui.commands import check as check_command
from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.market import handoff
from btc_tui.market.collector import Collector
from btc_tui.market.history import check, repair
from btc_tui.market.simulator import Simulator
from btc_tui.market.store import read_lock_owner
from tests.market.conftest import (
    BASE_MINUTE,
    MINUTE_MS,
    assert_csv_matches,
    eventually,
    minute_times,
    read_rows,
    row_minute,
)
from tests.market.test_backfill_cli import PROJECT_ROOT, btc_tui
from tests.market.test_collector import Seen, collecting, make_collector

# The collector repairs by itself the holes it sees in the ids of the last --max-fill at its
# start: a short one leaves the older hole made below to check --repair.
MAX_FILL = 120.0


def minute(n: int) -> int:
    return BASE_MINUTE + n * MINUTE_MS


async def stored_with_a_hole(sim: Simulator, data: Path) -> None:
    """Minutes 0..8 collected and stopped; then, by hand, minutes 2 and 3 deleted and the line of
    minute 1 repeated after minute 4 (a duplicate, out of order): problems only REST and a
    rewrite fix."""
    first = make_collector(sim, data, Seen())
    async with collecting(first):
        await sim.wait_for_connections(1)
        for n in range(9):
            sim.publish(minute_times(n, 4 + n))
        await eventually(lambda: first.stream.trades == sum(4 + n for n in range(9)))
    lines = data.read_text().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    assert [row_minute(r) for r in read_rows(data)] == [minute(n) for n in range(9)]
    edited = [rows[0], rows[1], rows[4], rows[1], *rows[5:]]
    data.write_text(header + "".join(edited))


def problems_of(data: Path) -> list[str]:
    return check(data).lines()


@contextlib.asynccontextmanager
async def collecting_again(sim: Simulator, data: Path, seen: Seen) -> AsyncIterator[Collector]:
    """A collector on the edited CSV, live again (the start's fill completes minute 8)."""
    collector = make_collector(sim, data, seen, max_fill=MAX_FILL, request_interval=0.05)
    async with collecting(collector):
        await sim.wait_for_connections(2)
        sim.publish(minute_times(9, 3))
        await eventually(lambda: read_lock_owner(data) is not None)
        yield collector


async def test_check_repair_hands_the_work_to_the_running_collector(tmp_path: Path):
    async with Simulator(rate=0, seed=11, ping_interval=0.2, record=True) as sim:
        data = tmp_path / "m.csv"
        await stored_with_a_hole(sim, data)
        seen = Seen()
        async with collecting_again(sim, data, seen):
            report = check(data)
            assert len(report.holes) == 1 and len(report.duplicates) == 1
            told = []
            settings = Settings(data=data, rest_url="http://127.0.0.1:9")  # never used: handed
            result = await asyncio.wait_for(
                repair(settings, report, on_handoff=told.append), timeout=30
            )
            # the collector did it, under its own lock, while it went on collecting
            assert [o.pid for o in told] == [os.getpid()] and result.by is not None
            assert result.rebuilt >= 4 and result.removed_lines == 1
            assert result.saved_to == data.with_name("m.csv.rejected")
            assert problems_of(data) == []
            sim.publish(minute_times(10, 1))  # closes minute 9: live minutes go on as before
            await eventually(lambda: row_minute(read_rows(data)[-1]) == minute(9))
        rows = assert_csv_matches(data, sim.sent)  # every minute exact, once, in order
    assert [row_minute(r) for r in rows] == [minute(n) for n in range(11)]
    texts = [log.text for log in seen.logs]
    assert any("check --repair asked for" in t and "minute(s)" in t for t in texts)
    assert any(t.startswith("repaired what check --repair asked for") for t in texts)
    assert not handoff.request_path(data).exists() and not handoff.taken_path(data).exists()
    assert not handoff.status_path(data).exists()  # read by its one asker: nothing left beside


async def test_a_collector_stopped_mid_repair_leaves_the_rest_to_check(tmp_path: Path):
    async with Simulator(rate=0, seed=12, ping_interval=0.2, record=True) as sim:
        data = tmp_path / "m.csv"
        await stored_with_a_hole(sim, data)
        seen = Seen()
        settings = Settings(data=data, rest_url=sim.rest_url)
        async with collecting_again(sim, data, seen):
            await eventually(lambda: any(g.text.startswith("filled ") for g in seen.logs))
            sim.rest_latency = 3600.0  # REST hangs: the collector can't finish what it takes
            waiting = asyncio.create_task(repair(settings, check(data)))
            await eventually(lambda: handoff.taken_path(data).exists())
        # stopped with the work taken and not done: it is kept asked for, and said
        assert handoff.taken_path(data).exists()
        status = handoff.read_status(data)
        assert status is not None and status.state == "stopped"
        sim.rest_latency = 0.0
        # the lock is free: the waiting check takes its turn and does the rest itself
        result = await asyncio.wait_for(waiting, timeout=30)
        assert result.by is None and result.rebuilt >= 4
        assert problems_of(data) == []
        assert not handoff.taken_path(data).exists()
        assert_csv_matches(data, sim.sent)


async def test_the_next_start_resumes_what_a_stopped_collector_took(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    async with Simulator(rate=0, seed=15, ping_interval=0.2, record=True) as sim:
        data = tmp_path / "m.csv"
        await stored_with_a_hole(sim, data)
        report = check(data)
        # what a collector stopped mid-way leaves: the request taken, not finished
        handoff.ask(data, report.affected_minutes(), clean=True)
        assert handoff.take(data) is not None and handoff.taken_path(data).exists()
        assert check_command.run(Settings(data=data)) == 1  # check says what is still asked for
        said = capsys.readouterr().out
        assert "4 minute(s) an earlier check --repair asked for are not rebuilt yet" in said
        seen = Seen()
        async with collecting_again(sim, data, seen):
            await eventually(lambda: not handoff.pending(data))
            sim.publish(minute_times(10, 1))
            await eventually(lambda: row_minute(read_rows(data)[-1]) == minute(9))
        assert problems_of(data) == []
        assert_csv_matches(data, sim.sent)
    assert any(g.text.startswith("repaired what check --repair asked for") for g in seen.logs)


async def test_check_repair_as_a_user_runs_it_beside_a_collector(tmp_path: Path):
    async with Simulator(rate=0, seed=13, ping_interval=0.2, record=True) as sim:
        data = tmp_path / "m.csv"
        await stored_with_a_hole(sim, data)
        async with collecting_again(sim, data, Seen()):
            code, out, err = await btc_tui(
                tmp_path, "check", "--repair", "--data", str(data), "--rest-url", sim.rest_url
            )
            assert code == 0, err
            assert f"{data} is being written by" in err and f"pid {os.getpid()}" in err
            assert "it does the repair" in err and "Traceback" not in err
            assert "2 problem(s)" in out
            assert "minute(s) rebuilt from REST by " in out and f"pid {os.getpid()}" in out
            assert "1 line(s) taken out, kept in" in out and "still:" not in out
        assert_csv_matches(data, sim.sent)


async def test_a_lock_holder_that_takes_no_repairs_is_named_and_nothing_is_asked(tmp_path: Path):
    async with Simulator(rate=0, seed=14, ping_interval=0.2, record=True) as sim:
        data = tmp_path / "m.csv"
        await stored_with_a_hole(sim, data)
        collector = make_collector(sim, data, Seen(), repair=False)
        async with collecting(collector):
            await sim.wait_for_connections(2)
            await eventually(lambda: read_lock_owner(data) is not None)
            with pytest.raises(UsageError, match=r"does not take repairs.*--no-repair"):
                await repair(Settings(data=data, rest_url=sim.rest_url), check(data))
    assert not handoff.request_path(data).exists()


# -- the request files ----------------------------------------------------------------------------
def test_requests_merge_shrink_and_a_bad_one_is_set_aside(tmp_path: Path):
    data = tmp_path / "m.csv"
    a = handoff.ask(data, {minute(1), minute(2), minute(5)}, clean=False)
    b = handoff.ask(data, {minute(3), minute(9)}, clean=True)  # not taken yet: merged
    work = handoff.take(data)
    assert work is not None and work.tokens == (a, b) and work.clean
    assert work.spans == [(minute(1), minute(4)), (minute(5), minute(6)), (minute(9), minute(10))]
    assert not handoff.request_path(data).exists() and handoff.taken_path(data).exists()
    left = handoff.shrink(data, work, minute(3))  # minutes before 3 are done
    assert left.minutes == 3 and handoff.take(data) == left  # what a restart resumes
    assert handoff.minutes_left(data) == 3
    c = handoff.ask(data, {minute(20)}, clean=False)  # asked while the rest is taken
    assert handoff.take(data).tokens == (a, b, c)
    handoff.finish(data)
    assert not handoff.pending(data)
    handoff.request_path(data).write_text("{not json")
    with pytest.raises(handoff.BadRequest, match="not a repair request"):
        handoff.take(data)
    assert handoff.request_path(data).with_name("m.csv.repair.json.bad").exists()
    assert not handoff.pending(data)


async def test_ctrl_c_stops_the_waiting_not_the_repair(tmp_path: Path):
    async with Simulator(rate=0, seed=16, ping_interval=0.2, record=True) as sim:
        data = tmp_path / "m.csv"
        await stored_with_a_hole(sim, data)
        seen = Seen()
        async with collecting_again(sim, data, seen):
            await eventually(lambda: any(g.text.startswith("filled ") for g in seen.logs))
            sim.rest_latency = 2.0  # a slow link: the repair is still running at the Ctrl+C
            env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
            env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "btc_tui", "check", "--repair", "--data", str(data)),
                *("--rest-url", "http://127.0.0.1:9"),  # handed over: never used, never Binance
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=PROJECT_ROOT,
                env=env,
            )
            assert proc.stderr is not None
            first = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert b"it does the repair" in first
            await eventually(lambda: handoff.taken_path(data).exists())
            proc.send_signal(signal.SIGINT)
            _, said = await asyncio.wait_for(proc.communicate(), 30)
            err = said.decode()
            assert proc.returncode == 130
            assert "repair: stopped waiting; " in err and "goes on with the repair" in err
            assert "nothing was saved" not in err and "Traceback" not in err
            sim.rest_latency = 0.0
            await eventually(lambda: not handoff.pending(data), timeout=30)  # it went on
            assert problems_of(data) == []
        assert_csv_matches(data, sim.sent)
