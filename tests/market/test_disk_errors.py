"""A disk that refuses the collector's writes, on a real full file system (a 64 KiB tmpfs) and with
the CSV deleted or replaced under it. Headless (`collect`) ends with StorageError (exit 3); the app's
collector (`keep_on_disk_error=True`) keeps the minutes in memory, says so, retries, and writes them
once the disk takes them: nothing lost."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from btc_tui.errors import StorageError
from btc_tui.market.collector import Collector
from btc_tui.market.simulator import Simulator
from tests.market.conftest import assert_csv_matches, eventually, fill_up, minute_times, read_rows
from tests.market.test_collector import Seen, collecting, make_collector

TRADES = 20  # a minute


async def refuse_a_minute(sim: Simulator, collector: Collector, seen: Seen, disk: Path) -> int:
    """Write minute 0, fill the disk, then close minutes until one is refused (the CSV's last page
    may still hold a few rows). Returns the number of the minute now open."""
    await sim.wait_for_connections(1)
    sim.publish(minute_times(0, TRADES))
    sim.publish(minute_times(1, TRADES))
    await eventually(lambda: len(seen.bars) == 1)
    fill_up(disk)
    minute = 1
    while collector.status.unwritten == 0:
        minute += 1
        assert minute < 100, "the full disk never refused a row"
        sim.publish(minute_times(minute, TRADES))
        closed = minute  # minutes 0 .. minute-1 are closed: written or kept
        await eventually(lambda c=closed: len(seen.bars) + collector.status.unwritten == c)
    return minute


async def test_headless_a_full_disk_ends_the_run_with_one_storage_error(
    simulator: Simulator, tiny_disk: Path
):
    data = tiny_disk / "m.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, repair=False)
    task = asyncio.create_task(collector.run())
    await simulator.wait_for_connections(1)
    simulator.publish(minute_times(0, TRADES))
    simulator.publish(minute_times(1, TRADES))
    await eventually(lambda: len(seen.bars) == 1)
    fill_up(tiny_disk)
    with pytest.raises(StorageError, match=r"m\.csv: the disk refused the write: .*ENOSPC") as err:
        for minute in range(2, 100):
            simulator.publish(minute_times(minute, TRADES))
            await eventually(lambda m=minute: task.done() or len(seen.bars) == m)
            if task.done():
                break
        await asyncio.wait_for(task, 10)
    assert collector.status.unwritten == 0  # headless keeps nothing back: it stops
    # the refused minute and the one open when it stopped: named, not silently gone
    refused = len(seen.bars)
    assert str(err.value).endswith(
        f"not written: 2 minute(s), 2024-01-01T00:{refused:02d}:00Z .. "
        f"2024-01-01T00:{refused + 1:02d}:00Z, {TRADES + 1} trade(s)"
    )
    rows = read_rows(data)
    assert [int(r["trades"]) for r in rows] == [TRADES] * len(seen.bars)  # whole rows only


async def test_app_mode_keeps_refused_minutes_and_writes_them_when_the_disk_recovers(
    simulator: Simulator, tiny_disk: Path
):
    data = tiny_disk / "m.csv"
    seen = Seen()
    collector = make_collector(
        simulator, data, seen, repair=False, keep_on_disk_error=True, disk_retry=0.02
    )
    async with collecting(collector) as task:
        minute = await refuse_a_minute(simulator, collector, seen, tiny_disk)
        written = len(seen.bars)
        on_disk = data.read_bytes()
        status = collector.status
        assert status.unwritten == 1 and "ENOSPC" in (status.disk_error or "")
        for _ in range(2):  # two more minutes close while the disk is full
            minute += 1
            simulator.publish(minute_times(minute, TRADES))
        await eventually(lambda: collector.status.unwritten == 3)
        assert data.read_bytes() == on_disk  # retries failed whole: nothing half-written
        said = [log.text for log in seen.logs if log.kind == "store"]
        assert f"{data}: the disk refused the write: No space left on device (ENOSPC); " in said[0]
        assert said[0].endswith("; 1 minute(s) kept in memory, retrying every 0.02 s")
        assert said[-1].endswith("; 3 minute(s) kept in memory, retrying every 0.02 s")
        assert [status.unwritten for status in seen.statuses if status.unwritten][-1] == 3

        (tiny_disk / "filler").unlink()  # the disk recovers
        await eventually(lambda: collector.status.unwritten == 0)
        assert not task.done()
        assert collector.status.disk_error is None
        texts = [log.text for log in seen.logs]
        assert texts[-1] == "the disk takes writes again: wrote the 3 minute(s) kept in memory", (
            texts[-6:]
        )
        assert len(seen.bars) == written + 3
    # Stopped with minute `minute` open: written too. Every trade is in exactly one minute.
    rows = assert_csv_matches(data, simulator.sent)
    assert len(rows) == minute + 1
    assert [b.rows for b in seen.bars] == list(range(1, minute + 2))


async def test_app_mode_stopped_while_the_disk_still_refuses_names_what_is_lost(
    simulator: Simulator, tiny_disk: Path
):
    data = tiny_disk / "m.csv"
    seen = Seen()
    collector = make_collector(
        simulator, data, seen, repair=False, keep_on_disk_error=True, disk_retry=0.02
    )
    task = asyncio.create_task(collector.run())
    minute = await refuse_a_minute(simulator, collector, seen, tiny_disk)
    task.cancel()
    with pytest.raises(StorageError) as error:
        await task
    message = str(error.value)
    assert "ENOSPC" in message and "stopped with 2 minute(s) the disk refused" in message
    first, last = minute - 1, minute  # the refused minute and the one open at the stop
    assert message.endswith(
        f"not written: 2024-01-01 00:{first:02d} .. 2024-01-01 00:{last:02d} UTC"
    )
    assert len(read_rows(data)) == len(seen.bars) == minute - 1


@pytest.mark.parametrize("how", ["replaced", "deleted"])
async def test_app_mode_continues_in_a_csv_replaced_or_deleted_under_it(
    simulator: Simulator, tmp_path: Path, how: str
):
    data = tmp_path / "m.csv"
    moved = tmp_path / "moved.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, repair=False, keep_on_disk_error=True)
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, TRADES))
        simulator.publish(minute_times(1, TRADES))
        await eventually(lambda: len(seen.bars) == 1)
        data.rename(moved)
        if how == "replaced":  # e.g. a sync tool or a restore put a copy back
            shutil.copy(moved, data)
        simulator.publish(minute_times(2, TRADES))
        await eventually(lambda: len(seen.bars) == 2)
        assert collector.status.unwritten == 0 and collector.status.disk_error is None
    said = [log.text for log in seen.logs if log.kind == "store"]
    if how == "replaced":
        assert (
            f"{data} was replaced while being written: continuing in the new file (1 rows)" in said
        )
        assert_csv_matches(data, simulator.sent)  # minutes 0 (the copy), 1 and 2
    else:
        assert any(f"{data} was deleted while being written: started it again" in s for s in said)
        assert [int(r["trades"]) for r in read_rows(data)] == [TRADES, TRADES]  # minutes 1, 2
    assert len(read_rows(moved)) == 1  # nothing went into the file moved away


async def test_app_mode_stops_when_its_lock_file_is_removed(simulator: Simulator, tmp_path: Path):
    """Keeping minutes in memory is for a disk that refuses; a lost lock means another process
    may write the CSV, so even the app's collector stops (with the minutes it could not keep)."""
    from btc_tui.market.store import LockLost, lock_path

    data = tmp_path / "m.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen, repair=False, keep_on_disk_error=True)
    task = asyncio.create_task(collector.run())
    await simulator.wait_for_connections(1)
    simulator.publish(minute_times(0, TRADES))
    simulator.publish(minute_times(1, TRADES))
    await eventually(lambda: len(seen.bars) == 1)
    lock_path(data).unlink()
    simulator.publish(minute_times(2, TRADES))
    with pytest.raises(LockLost, match=r"not written: 2 minute\(s\)"):
        await asyncio.wait_for(task, 10)
    assert collector.status.unwritten == 0 and len(read_rows(data)) == 1


async def test_app_mode_starts_on_a_full_disk_and_writes_once_there_is_room(
    simulator: Simulator, tiny_disk: Path
):
    """Neither the lock's owner record nor the symbol record may keep the app from collecting
    when the disk is already full at its start: the lock holds, the minutes wait in memory."""
    from btc_tui.market.store import MinuteStore, meta_path

    data = tiny_disk / "m.csv"
    with MinuteStore(data):
        pass  # a CSV with its header; the lock file is left empty by a clean close
    meta_path(data).unlink()  # and, say, from before symbols were recorded
    filler = fill_up(tiny_disk)
    seen = Seen()
    collector = make_collector(
        simulator, data, seen, repair=False, keep_on_disk_error=True, disk_retry=0.02
    )
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        store_lines = [log.text for log in seen.logs if log.kind == "store"]
        assert any("could not record this process as the lock's owner" in t for t in store_lines)
        assert any("the file's symbol is not recorded yet" in t for t in store_lines)
        with pytest.raises(Exception, match="is being written by"):
            MinuteStore(data).open()  # the lock holds all the same
        simulator.publish(minute_times(0, TRADES))
        minute = 0
        while collector.status.unwritten == 0:  # the CSV's last page may hold a few rows more
            minute += 1
            assert minute < 100, "the full disk never refused a row"
            simulator.publish(minute_times(minute, TRADES))
            await eventually(lambda m=minute: len(seen.bars) + collector.status.unwritten == m)
        filler.unlink()
        await eventually(lambda: collector.status.unwritten == 0)
    assert_csv_matches(data, simulator.sent)


async def test_app_mode_keeps_minutes_while_the_csv_is_replaced_by_something_else(
    simulator: Simulator, tmp_path: Path
):
    """A file we must not append to put in the CSV's place: the minutes wait in memory with the
    reason, and go into the right file once it is back."""
    data = tmp_path / "m.csv"
    moved = tmp_path / "moved.csv"
    seen = Seen()
    collector = make_collector(
        simulator, data, seen, repair=False, keep_on_disk_error=True, disk_retry=0.02
    )
    async with collecting(collector):
        await simulator.wait_for_connections(1)
        simulator.publish(minute_times(0, TRADES))
        simulator.publish(minute_times(1, TRADES))
        await eventually(lambda: len(seen.bars) == 1)
        data.rename(moved)
        data.write_text("name,phone\nalice,555\n")  # someone saved something else there
        simulator.publish(minute_times(2, TRADES))
        await eventually(lambda: collector.status.unwritten == 1)
        assert "is not a btc-tui minute CSV" in (collector.status.disk_error or "")
        assert data.read_text() == "name,phone\nalice,555\n"  # never appended to
        shutil.copy(moved, data)  # put right
        await eventually(lambda: collector.status.unwritten == 0)
        assert len(seen.bars) == 2
    assert_csv_matches(data, simulator.sent)
