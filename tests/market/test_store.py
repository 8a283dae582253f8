"""The minute CSV: exact rows, crash-safe appends, resume without duplicates, a lock, a strict loader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from btc_tui.errors import StorageError, UsageError
from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.store import (
    HEADER,
    MinuteStore,
    format_row,
    load_minutes,
    load_tail,
    lock_path,
    read_lock_owner,
)

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def bar(i: int, price: float = 42283.51234567) -> MinuteBar:
    return MinuteBar(
        minute=T0 + i * MINUTE_MS,
        avg_price=price + i,
        open=price,
        high=price + 10.125,
        low=price - 3.0000001,
        close=price + 1,
        volume=12.34567,
        vwap=price + 0.1,
        trades=100 + i,
        first_trade_id=1,
        last_trade_id=100,
    )


def test_rows_are_written_at_full_precision_and_load_back_exactly(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        for i in range(3):
            assert store.append(bar(i))
    lines = path.read_text().splitlines()
    assert lines[0] + "\n" == HEADER
    b = bar(0)
    assert lines[1] == (
        f"2024,1,1,0,0,42283.51234567,42283.51234567,{b.high!r},{b.low!r},"
        f"42284.51234567,12.34567,{b.vwap!r},100,1,100"
    )
    assert repr(b.low) == "42280.51234557"  # not rounded to cents
    frame = load_minutes(path).frame
    start = pd.Timestamp("2024-01-01 00:00", tz="UTC")
    assert list(frame.index) == [start + pd.Timedelta(minutes=i) for i in range(3)]
    assert frame["avg_price"].tolist() == [bar(i).avg_price for i in range(3)]
    assert frame["low"].iloc[0] == bar(0).low


def test_restart_never_writes_a_minute_at_or_before_the_last_one(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
        store.append(bar(1))
    with MinuteStore(path) as store:
        assert (store.last_minute, store.rows) == (bar(1).minute, 2)
        assert not store.append(bar(1))  # the same minute again: a duplicate
        assert not store.append(bar(0))  # an older minute
        assert store.append(bar(2))
    assert len(path.read_text().splitlines()) == 4


def test_torn_last_line_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
        store.append(bar(1))
    with open(path, "a") as f:
        f.write("2024,1,1,0,2,42285.5,422")  # a crash in the middle of a write
    with MinuteStore(path) as store:
        assert store.warnings and "torn last line 4" in store.warnings[0]
        assert "kept in" in store.warnings[0]
        assert (tmp_path / "m.csv.rejected").read_text() == "2024,1,1,0,2,42285.5,422\n"
        assert store.last_minute == bar(1).minute
        assert store.append(bar(2))
    frame = load_minutes(path).frame
    assert len(frame) == 3
    assert load_minutes(path).bad_lines == []


def test_killed_writer_then_restart_keeps_every_complete_row(tmp_path):
    """A real process appends and is killed with SIGKILL; the next store resumes cleanly."""
    path = tmp_path / "m.csv"
    script = textwrap.dedent(
        f"""
        import os, signal
        from btc_tui.market.store import MinuteStore
        from tests.market.test_store import bar
        store = MinuteStore({str(path)!r}); store.open()
        for i in range(5):
            store.append(bar(i))
        os.write(store._fd, b"2024,1,1,0,5,4228")  # half a row, then die
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(_root()), timeout=60)
    assert proc.returncode == -9
    with MinuteStore(path) as store:
        assert store.rows == 5 and store.warnings
        assert store.append(bar(5))
    frame = load_minutes(path).frame
    assert len(frame) == 6 and frame.index.is_unique


def _root():
    from tests.conftest import PROJECT_ROOT

    return PROJECT_ROOT


def test_second_writer_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path):
        with pytest.raises(UsageError, match=r"is being written by .*pid \d+"):
            MinuteStore(path).open()
    with MinuteStore(path) as again:  # released on close
        assert again.rows == 0


def test_refuses_to_append_to_a_file_that_is_not_ours(tmp_path):
    seed = tmp_path / "seed.csv"
    seed.write_text("year,month,day,hour,minute,avg_price\n2024,1,1,0,0,42000.5\n")
    with pytest.raises(UsageError, match="six-column file from the seed"):
        MinuteStore(seed).open()
    other = tmp_path / "other.csv"
    other.write_text("hello,world\n")
    with pytest.raises(UsageError, match="not a btc-tui minute CSV"):
        MinuteStore(other).open()
    assert other.read_text() == "hello,world\n"  # untouched
    assert not (tmp_path / "other.csv.meta.json").exists()  # and no symbol record claims it


def test_loader_accepts_the_seed_six_column_file(tmp_path):
    seed = tmp_path / "seed.csv"
    seed.write_text(
        "year,month,day,hour,minute,avg_price\n2024,1,1,0,0,42000.5\n2024,1,1,0,1,42001.25\n"
    )
    frame = load_minutes(seed).frame
    assert frame["avg_price"].tolist() == [42000.5, 42001.25]
    assert frame["close"].isna().all()
    assert str(frame.index.tz) == "UTC"


def test_corrupt_lines_are_skipped_and_named_by_line_number(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        for i in range(4):
            store.append(bar(i))
    lines = path.read_text().splitlines()
    lines.insert(2, "garbage line")  # becomes line 3
    lines[4] = lines[4].replace("42285.51234567", "abc", 1)  # line 5: a non-number
    lines.append("2024,13,40,0,0,1,1,1,1,1,1,1,1")  # line 7: no such date
    path.write_text("\n".join(lines) + "\n")
    loaded = load_minutes(path)
    assert loaded.bad_lines == [3, 5, 7]
    assert "skipped 3 corrupt line(s): 3, 5, 7" in loaded.warnings[0]
    assert len(loaded.frame) == 3


def test_duplicate_and_unsorted_minutes_are_reported(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "year,month,day,hour,minute,avg_price\n"
        "2024,1,1,0,1,2.0\n2024,1,1,0,0,1.0\n2024,1,1,0,1,3.0\n"
    )
    loaded = load_minutes(path)
    assert loaded.frame["avg_price"].tolist() == [1.0, 2.0]
    assert any("sorted" in w for w in loaded.warnings)
    assert any("repeat an earlier minute" in w and "4" in w for w in loaded.warnings)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"name,price\nfoo,1\n", "is not a minute CSV"),
        (b"year,month,day,hour,minute,avg_price\n", "holds no minutes yet"),
        (b"year,month,day,hour,minute,avg_price\nx,y\n", "no usable minute rows"),
    ],
)
def test_unusable_files_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "m.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as info:
        load_minutes(path)
    assert str(path) in str(info.value)


def test_every_float_reads_back_bit_for_bit(tmp_path):
    """Full precision is the contract: what was written is exactly what training reads."""
    import random

    rng = random.Random(7)
    path = tmp_path / "m.csv"
    written = []
    for i in range(2000):
        written.append(bar(i, price=rng.uniform(1_000, 100_000)))
    with MinuteStore(path) as store:
        assert store.append_many(written) == 2000
    frame = load_minutes(path).frame
    for column in ("avg_price", "open", "high", "low", "close", "volume", "vwap"):
        assert frame[column].tolist() == [getattr(b, column) for b in written], column


# -- 15 columns, older files, the symbol record ---------------------------------------------------
V2_HEADER = "year,month,day,hour,minute,avg_price,open,high,low,close,volume,vwap,trades\n"


def test_trade_ids_are_stored_and_loaded(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
        assert store.last_trade_id == 100
    with MinuteStore(path) as store:
        assert store.last_trade_id == 100
    frame = load_minutes(path).frame
    assert frame["first_trade_id"].tolist() == [1.0]
    assert frame["last_trade_id"].tolist() == [100.0]


def test_a_13_column_file_is_upgraded_whole_and_old_rows_keep_their_values(tmp_path):
    path = tmp_path / "m.csv"
    old_rows = ["2024,1,1,0,0,1.5,1,2,1,1.5,3.25,1.5,7", "2024,1,1,0,1,2.5,2,3,2,2.5,1.0,2.5,9"]
    path.write_text(V2_HEADER + "\n".join(old_rows) + "\n")
    before = load_minutes(path).frame
    assert before["first_trade_id"].isna().all()  # the loader reads 13-column files as they are
    with MinuteStore(path) as store:
        assert any("upgraded to 15 columns" in w for w in store.warnings)
        assert store.last_minute == T0 + MINUTE_MS and store.last_trade_id is None
        assert store.append(bar(2))
    lines = path.read_text().splitlines()
    assert lines[0] + "\n" == HEADER
    assert lines[1:3] == [row + ",," for row in old_rows]  # one width for every row
    assert all(line.count(",") == 14 for line in lines)
    after = load_minutes(path)
    assert after.bad_lines == []
    pd.testing.assert_frame_equal(after.frame.iloc[:2], before)
    assert after.frame["last_trade_id"].iloc[2] == 100


def test_another_symbols_minutes_are_refused_and_a_file_without_a_record_adopts(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path, symbol="btcusdt") as store:
        store.append(bar(0))
    assert json.loads((tmp_path / "m.csv.meta.json").read_text()) == {"symbol": "BTCUSDT"}
    before = path.read_bytes()
    with pytest.raises(UsageError, match="holds BTCUSDT minutes; refusing to add ETHUSDT"):
        MinuteStore(path, symbol="ethusdt").open()
    assert path.read_bytes() == before
    (tmp_path / "m.csv.meta.json").unlink()  # a file from before the record
    with MinuteStore(path, symbol="ethusdt"):
        pass
    assert json.loads((tmp_path / "m.csv.meta.json").read_text()) == {"symbol": "ETHUSDT"}


def test_a_file_that_never_got_a_minute_takes_the_next_symbol(tmp_path):
    """A run with a mistyped --symbol (refused by Binance before any minute) must not leave the
    file claimed by that pair: with no row in it, the next symbol is recorded instead."""
    path = tmp_path / "m.csv"
    with MinuteStore(path, symbol="btcusdx"):
        pass  # the header only, recorded as BTCUSDX
    with MinuteStore(path, symbol="btcusdt") as store:
        assert store.warnings == [
            f"{path} held no minutes of BTCUSDX; it is now recorded as BTCUSDT"
        ]
        store.append(bar(0))
    assert json.loads((tmp_path / "m.csv.meta.json").read_text()) == {"symbol": "BTCUSDT"}
    with pytest.raises(UsageError, match="holds BTCUSDT minutes; refusing to add BTCUSDX"):
        MinuteStore(path, symbol="btcusdx").open()


# -- the write path -------------------------------------------------------------------------------
def _run(script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=str(_root()),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _assert_whole_rows(path, rows):
    text = path.read_text()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == rows + 1 and all(line.count(",") == 14 for line in lines)
    assert load_minutes(path).bad_lines == []


def test_a_full_disk_keeps_whole_rows_only_and_says_so(tiny_disk):
    path = tiny_disk / "m.csv"
    written = 0
    with MinuteStore(path) as store:
        with pytest.raises(StorageError, match=r"m.csv: the disk refused the write: .*ENOSPC"):
            for i in range(10_000):
                store.append(bar(i))
                written += 1
        assert store.rows == written  # nothing counted that is not on disk
        _assert_whole_rows(path, written)
        (tiny_disk / "m.csv.meta.json").unlink()  # free a little room: the disk "recovers"
        assert store.append(bar(written))  # the next row lands on its own line
    _assert_whole_rows(path, written + 1)


def test_a_short_write_is_truncated_back(tmp_path):
    """RLIMIT_FSIZE makes the kernel write part of a row and then fail (EFBIG): a real short write."""
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        for i in range(3):
            store.append(bar(i))
    size = path.stat().st_size
    proc = _run(
        f"""
        import resource, signal
        from btc_tui.errors import StorageError
        from btc_tui.market.store import MinuteStore
        from tests.market.test_store import bar
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        store = MinuteStore({str(path)!r}); store.open()
        resource.setrlimit(resource.RLIMIT_FSIZE, ({size} + 40, {size} + 40))
        try:
            store.append(bar(3))
        except StorageError as exc:
            print("ERR", exc, store.rows)
        store.close()
        """
    )
    assert "ERR" in proc.stdout and "EFBIG" in proc.stdout and proc.stdout.strip().endswith(" 3")
    assert path.stat().st_size == size
    with MinuteStore(path) as store:
        assert store.warnings == [] and store.append(bar(3))
    _assert_whole_rows(path, 4)


def test_permission_denied_is_one_clear_line(tmp_path):
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        folder.chmod(0o755)
        path = folder / "m.csv"
        with MinuteStore(path) as store:
            store.append(bar(0))
        path.chmod(0o444)
        proc = _run(
            f"""
            import os
            from btc_tui.errors import StorageError
            from btc_tui.market.store import MinuteStore
            os.setgid(65534); os.setuid(65534)  # nobody: root would bypass the permission bits
            try:
                MinuteStore({str(path)!r}).open()
            except StorageError as exc:
                print("ERR", exc)
            """
        )
        assert proc.stdout.startswith("ERR") and "EACCES" in proc.stdout, proc.stderr
        assert "\n" not in proc.stdout.strip()
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("kind", ["proc", "fifo", "folder", "under-a-file", "deep-under-a-file"])
def test_a_non_regular_data_path_is_refused(tmp_path, kind):
    if kind.endswith("under-a-file"):  # unusable input (exit 2), not a disk error (exit 3)
        (tmp_path / "f").write_text("")
        path = tmp_path / "f" / ("sub/m.csv" if kind.startswith("deep") else "m.csv")
        with pytest.raises(UsageError, match=r"not a usable file path: .*ENOTDIR"):
            MinuteStore(path).open()
        return
    if kind == "proc":
        path = Path("/proc/version")
    elif kind == "fifo":
        path = tmp_path / "fifo.csv"
        os.mkfifo(path)
    else:
        path = tmp_path
    with pytest.raises(UsageError, match=r"not a regular file|is a folder|pseudo-file"):
        MinuteStore(path).open()
    # refused before anything is created beside it (no lock file left behind); /proc can't
    # hold one anyway
    if kind != "proc":
        assert not lock_path(path).exists()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_csv_deleted_or_replaced_while_writing_is_loud(tmp_path, how):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
        path.rename(tmp_path / "moved.csv")
        if how == "replaced":
            path.write_text(HEADER)
        with pytest.raises(StorageError, match=f"was {how}"):
            store.append(bar(1))
        # and the lock still stands: a second writer can't take the new path meanwhile
        with pytest.raises(UsageError, match="is being written by"):
            MinuteStore(path).open()
    assert (tmp_path / "moved.csv").read_text().count("\n") == 2  # nothing went to the old inode


# -- the lock -------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_lock_file_removed_under_a_writer_stops_it_before_a_second_one_can_write(tmp_path, how):
    """Someone "cleans up" the lock file: a second writer can lock a new one, so the first must
    stop writing, never both appending to one CSV."""
    from btc_tui.market.store import LockLost, lock_path

    path = tmp_path / "m.csv"
    with MinuteStore(path) as first:
        first.append(bar(0))
        lock_path(path).unlink()
        if how == "replaced":
            lock_path(path).write_text("")
        with MinuteStore(path) as second:  # nothing stops the second one now
            with pytest.raises(LockLost, match=r"m\.csv\.lock was deleted or replaced while"):
                first.append(bar(1))
            assert second.append(bar(1))
    assert load_minutes(path).frame.shape[0] == 2  # one row a minute, written once


def test_a_live_owner_is_named_and_a_killed_one_is_taken_over(tmp_path):
    path = tmp_path / "m.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from btc_tui.market.store import MinuteStore\n"
            f"s = MinuteStore({str(path)!r}); s.open(); print('ready', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        cwd=str(_root()),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        owner = read_lock_owner(path)
        assert owner is not None and owner.pid == proc.pid and owner.alive
        with pytest.raises(UsageError, match=rf"is being written by .*pid {proc.pid}, since"):
            MinuteStore(path).open()
    finally:
        proc.kill()
        proc.wait()
    owner = read_lock_owner(path)
    assert owner is not None and not owner.alive  # the record outlives its dead writer
    with MinuteStore(path) as store:
        assert any("stale lock left by" in w and f"pid {proc.pid}" in w for w in store.warnings)
        assert read_lock_owner(path).pid == os.getpid()
    assert read_lock_owner(path) is None  # a clean close clears the record


# -- merge and replace_last -----------------------------------------------------------------------
def _rows(path):
    return path.read_text().splitlines()[1:]


def test_merge_before_after_and_overlapping_keeps_existing_rows_byte_for_byte(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        for i in (10, 11, 12, 15):
            store.append(bar(i))
    original = _rows(path)
    newer = [bar(i, price=1.0) for i in range(8, 18)]  # before, inside a hole, overlapping, after
    with MinuteStore(path) as store:
        assert store.merge(newer) == 6  # 8, 9, 13, 14, 16, 17
        assert store.last_minute == bar(17).minute and store.rows == 10
    rows = _rows(path)
    assert [r for r in rows if r in original] == original  # unchanged, in order
    minutes = load_minutes(path).frame.index
    assert list(minutes) == sorted(minutes) and minutes.is_unique and len(minutes) == 10
    with MinuteStore(path) as store:
        assert store.merge(newer) == 0  # twice changes nothing
    assert _rows(path) == rows


def test_merge_after_the_last_row_is_a_plain_append(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
        inode = path.stat().st_ino
        assert store.merge([bar(2), bar(1)]) == 2
    assert path.stat().st_ino == inode  # appended in place, not rewritten
    assert load_minutes(path).frame.index.is_monotonic_increasing


def test_replace_last_swaps_only_the_last_row(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
        store.append(bar(1))
        store.replace_last(bar(1, price=7.0))
        assert store.rows == 2
        assert store.append(bar(2))  # still writable after the swap
    frame = load_minutes(path).frame
    assert frame["open"].tolist() == [bar(0).open, 7.0, bar(2).open]
    with MinuteStore(path) as store, pytest.raises(ValueError):
        store.replace_last(bar(1))


# Where the merging process is killed. The OS layer (os.write / os.replace, not our code) is
# wrapped in the child to say "here" and wait there, so every kill lands at a known step of the
# rewrite instead of wherever a random sleep happens to fall.
KILL_POINTS = {
    # half of the new content written (to the temp file, if the rewrite is atomic)
    "mid-write": (
        "old",
        """
        real_write = os.write
        def write(fd, data):
            if len(data) > 100_000:  # the rewrite's big write, not a print
                real_write(fd, bytes(data[: len(data) // 2]))
                stop_here()
            return real_write(fd, data)
        os.write = write
        """,
    ),
    # everything written and fsynced, not renamed yet
    "before-rename": (
        "old",
        """
        def replace(src, dst):
            stop_here()
        os.replace = replace
        """,
    ),
    # renamed over the CSV, the folder not fsynced yet
    "after-rename": (
        "new",
        """
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            stop_here()
        os.replace = replace
        """,
    ),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_during_a_merge_rewrite_leaves_the_old_or_the_new_file(tmp_path, point):
    """A real process merges history before 2,000 rows and is killed -9 at a step of the rewrite."""
    expected, hook = KILL_POINTS[point]
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append_many(bar(i) for i in range(1000, 3000))
    old = path.read_bytes()
    script = (
        textwrap.dedent(
            f"""
        import os, sys, time
        from btc_tui.market.store import MinuteStore
        from tests.market.test_store import bar
        def stop_here():
            sys.stdout.write("here\\n"); sys.stdout.flush()
            time.sleep(60)
        store = MinuteStore({str(path)!r}); store.open()
        bars = [bar(i) for i in range(1000)]
        """
        )
        + textwrap.dedent(hook)
        + "store.merge(bars)\nprint('done', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=str(_root()), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "here"  # stopped at that step, not finished
    finally:
        proc.kill()
        proc.wait()
    now = path.read_bytes()
    if expected == "old":
        assert now == old
    else:
        assert now.count(b"\n") == 3_001 and now.startswith(HEADER.encode())
        assert now.endswith(old[len(HEADER) :])  # history first, then the old rows verbatim
        assert load_minutes(path).bad_lines == []
    with MinuteStore(path) as store:  # a killed rewrite's temp file is cleaned away
        assert store.rows == (2000 if expected == "old" else 3000)
    assert not list(tmp_path.glob(".m.csv.*.tmp"))


def test_load_tail_reads_the_end_only_with_the_same_rules(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append_many(bar(i) for i in range(5000))
    with open(path, "a") as f:
        f.write("garbage\n")
    with MinuteStore(path) as store:
        store.append(bar(5000))
    tail = load_tail(path, 10)
    full = load_minutes(path)
    pd.testing.assert_frame_equal(tail.frame, full.frame.iloc[-9:])
    assert tail.bad_lines == [-2] and full.bad_lines == [5002]
    assert "counted from the end" in tail.warnings[0]
    small = load_tail(path, 100_000)  # more rows than the file has: the whole file, exact lines
    assert small.bad_lines == [5002]
    pd.testing.assert_frame_equal(small.frame, full.frame)


def _big_csv(path: Path, minutes: int) -> list[str]:
    from btc_tui.market.store import format_row

    rows = [format_row(bar(i)) for i in range(minutes)]
    path.write_text(HEADER + "".join(rows))
    return rows


def test_opening_a_big_csv_never_holds_the_whole_file_in_memory(tmp_path):
    """The app opens the store at launch: a year of minutes (~50-70 MB) must not be read whole
    (the launch target is <= 150 MB RSS). Python's allocations while opening stay far below the
    file's size, and the open still finds the last row and counts every row."""
    import tracemalloc

    path = tmp_path / "big.csv"
    rows = _big_csv(path, 120_000)
    size = path.stat().st_size
    assert size > 15_000_000
    tracemalloc.start()
    try:
        with MinuteStore(path) as store:
            _, peak = tracemalloc.get_traced_memory()
            assert (store.rows, store.last_minute) == (len(rows), bar(len(rows) - 1).minute)
    finally:
        tracemalloc.stop()
    assert peak < size / 4, f"opening a {size:,} B file peaked at {peak:,} B of Python memory"


def test_the_last_row_is_found_behind_a_long_run_of_corrupt_lines(tmp_path):
    """Reading the tail in blocks must keep walking back past more than one block of garbage."""
    path = tmp_path / "m.csv"
    rows = _big_csv(path, 50)
    with path.open("a") as f:
        f.write("garbage,line\n" * 20_000)  # ~260 KB: several of the tail blocks
    with MinuteStore(path) as store:
        assert store.last_minute == bar(len(rows) - 1).minute
        assert store.rows == len(rows) + 20_000  # lines, for display
        assert store.append(bar(len(rows)))  # after the last valid minute
        assert not store.append(bar(len(rows) - 1))  # never a minute again


@pytest.mark.parametrize("content", [HEADER, HEADER.rstrip("\n")])
def test_a_header_only_file_opens_empty(tmp_path, content):
    path = tmp_path / "m.csv"
    path.write_text(content)
    with MinuteStore(path) as store:
        assert (store.rows, store.last_minute) == (0, None)


def test_merge_with_replace_rewrites_existing_rows_in_place_and_read_bars_finds_them(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append_many([bar(i) for i in range(3000)])  # several 64 KiB blocks
        assert store.read_bars([2998, T0 + 5 * MINUTE_MS, T0 + 2999 * MINUTE_MS]) == {
            T0 + 5 * MINUTE_MS: bar(5),
            T0 + 2999 * MINUTE_MS: bar(2999),
        }
        fuller = replace(bar(5), trades=bar(5).trades + 1, last_trade_id=bar(5).last_trade_id + 1)
        assert store.merge([fuller]) == 0  # without replace, a row is never changed
        assert store.merge([fuller], replace=True) == 1
        assert store.read_bars([T0 + 5 * MINUTE_MS]) == {T0 + 5 * MINUTE_MS: fuller}
        assert store.last_minute == T0 + 2999 * MINUTE_MS and store.rows == 3000
    frame = load_minutes(path).frame
    assert len(frame) == 3000 and frame["trades"].iloc[5] == fuller.trades


# -- lines we did not write (issue 15.3) -----------------------------------------------------------
def test_a_blank_line_appended_by_hand_is_taken_out_and_named(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
    with open(path, "a") as f:
        f.write("\n \n")  # `echo >> m.csv`, twice
    with MinuteStore(path) as store:
        assert any("took out 2 blank lines 3..4 at the end" in w for w in store.warnings)
        store.replace_last(bar(0))  # what a restart's fill does: no "the last line is not a row"
        assert store.append(bar(1))
    assert path.read_text() == HEADER + format_row(bar(0)) + format_row(bar(1))


def test_a_complete_row_without_its_newline_is_kept_and_completed(tmp_path):
    path = tmp_path / "m.csv"
    whole = replace(bar(1), trades=100)  # ids 1..100: a row that holds what its ids say
    path.write_text(HEADER + format_row(bar(0)) + format_row(whole).rstrip("\n"))
    with MinuteStore(path) as store:
        assert any("line 3, a complete row, had no newline" in w for w in store.warnings)
        assert store.last_minute == bar(1).minute
        assert store.append(bar(2))
    assert path.read_text() == HEADER + format_row(bar(0)) + format_row(whole) + format_row(bar(2))
    assert not (tmp_path / "m.csv.rejected").exists()


def test_a_header_without_its_newline_is_completed(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER.rstrip("\n"))  # an editor that strips a file's final newline
    with MinuteStore(path) as store:
        assert any("the header had no newline" in w for w in store.warnings)
        assert store.append(bar(1))
    assert path.read_text() == HEADER + format_row(bar(1))
    assert load_minutes(path).frame.index.size == 1


def test_garbage_after_the_last_row_stays_and_the_row_is_still_replaced(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + format_row(bar(0)) + "not a row\n")
    with MinuteStore(path) as store:
        fuller = replace(bar(0), trades=bar(0).trades + 1, last_trade_id=bar(0).last_trade_id + 1)
        store.replace_last(fuller)  # never "disk error": the file is read, not refused
    assert path.read_text() == HEADER + format_row(fuller) + "not a row\n"


def test_a_symlinked_csv_is_one_file_with_its_target(tmp_path):
    """Issue 15.4: the lock, the symbol record and rewrites go by the real file."""
    real = tmp_path / "real" / "m.csv"
    real.parent.mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with MinuteStore(link) as store:
        store.append(bar(5))
        with pytest.raises(UsageError, match="is being written by"):
            MinuteStore(real).open()  # a second writer on the real path is kept out
        assert store.merge([bar(1)]) == 1  # an atomic rewrite (history before the last row)
    assert link.is_symlink() and link.resolve() == real
    assert (tmp_path / "real" / "m.csv.meta.json").exists()
    assert not (tmp_path / "link.csv.lock").exists()
    assert len(load_minutes(link).frame) == 2


def test_the_13_column_upgrade_streams_in_flat_memory(tmp_path):
    """Issue 15.8: 370 MB peak for a year of minutes when it read the file whole."""
    import tracemalloc

    path = tmp_path / "old.csv"
    values = "42283.5,42280.0,42290.1,42279.95,42285.0,12.5,42284.1,100"
    with open(path, "w") as f:
        f.write(V2_HEADER)
        for month, day in ((month, day) for month in (1, 2, 3) for day in range(1, 29)):
            minutes = (f"{h},{m}" for h in range(24) for m in range(60))
            f.write("".join(f"2024,{month},{day},{hm},{values}\n" for hm in minutes))
    size = path.stat().st_size
    assert size > 8_000_000
    tracemalloc.start()
    try:
        with MinuteStore(path) as store:
            assert any("upgraded to 15 columns" in w for w in store.warnings)
            assert store.rows == 3 * 28 * 1440
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # blocks of 64 KiB (and the row count's 1 MiB): a few MB whatever the size (was 2x the file)
    assert peak < 4_000_000, f"peak {peak:,} bytes for a {size:,}-byte file"
    assert path.read_text().splitlines()[1].endswith(",100,,")
    assert len(load_minutes(path).frame) == 3 * 28 * 1440
