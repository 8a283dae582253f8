"""The minute CSV: exact rows, crash-safe appends, resume without duplicates, a lock, a strict loader."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from btc_tui.errors import UsageError
from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.store import HEADER, MinuteStore, load_minutes

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
        f"42284.51234567,12.34567,{b.vwap!r},100"
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
        with pytest.raises(UsageError, match="already being written by another btc-tui collector"):
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
    with MinuteStore(path) as store:
        for i in range(2000):
            b = bar(i, price=rng.uniform(1_000, 100_000))
            store.append(b)
            written.append(b)
    frame = load_minutes(path).frame
    for column in ("avg_price", "open", "high", "low", "close", "volume", "vwap"):
        assert frame[column].tolist() == [getattr(b, column) for b in written], column
