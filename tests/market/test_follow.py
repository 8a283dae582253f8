"""CsvFollower (market/follow.py): the attach mode's view of a CSV another process writes.

(Moved here from tests/ui: the follower is market code.)"""

from __future__ import annotations

import os

from btc_tui.market.bars import MINUTE_MS, MinuteBar
from btc_tui.market.follow import CsvFollower, bar_of, count_rows
from btc_tui.market.store import HEADER, MinuteStore, format_row

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def bar(i: int, price: float = 100.0) -> MinuteBar:
    return MinuteBar(T0 + i * MINUTE_MS, price, price, price + 1, price - 1, price, 0.5, price, 3,
                     10 * i + 1, 10 * i + 3)  # fmt: skip


def test_rows_appended_by_a_writer_are_returned_once_and_in_order(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(0))
        follower = CsvFollower(path, after_minute=T0)
        follower.start_at_end()
        assert follower.poll().bars == []
        store.append(bar(1, 101.5))
        store.append(bar(2, 102.25))
        got = follower.poll().bars
        assert got == [bar(1, 101.5), bar(2, 102.25)]  # every column read back exactly
        assert follower.poll().bars == []


def test_a_row_still_being_written_waits_for_its_newline(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + format_row(bar(0)))
    follower = CsvFollower(path, after_minute=T0)
    follower.start_at_end()
    row = format_row(bar(1))
    with open(path, "a") as f:
        f.write(row[:20])
    assert follower.poll().bars == []
    with open(path, "a") as f:
        f.write(row[20:])
    assert follower.poll().bars == [bar(1)]


def test_a_replaced_file_is_read_from_the_end_back_to_the_last_known_minute(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "".join(format_row(bar(i)) for i in range(5000, 5010)))
    follower = CsvFollower(path, after_minute=T0 + 5009 * MINUTE_MS)
    follower.start_at_end()
    # History merged in before (an atomic rewrite: a new inode), and two new minutes after.
    new = path.with_name("new.csv")
    rows = [format_row(bar(i)) for i in [*range(0, 5010), 5010, 5011]]
    new.write_text(HEADER + "".join(rows))
    os.replace(new, path)
    update = follower.poll()
    assert update.replaced
    assert update.bars == [bar(5010), bar(5011)]
    assert count_rows(path) == 5012


def test_a_missing_file_and_bad_lines_are_not_rows(tmp_path):
    assert CsvFollower(tmp_path / "none.csv").poll().missing
    assert bar_of(HEADER) is None
    assert bar_of("2026,1,1,0,0,abc,1,1,1,1,1,1,1,1,1") is None
    assert bar_of("2147483648,1,1,0,0,1,1,1,1,1,1,1,1,1,1") is None  # a year past 2**31
    assert bar_of(format_row(bar(3))) == bar(3)


def test_rows_appended_then_a_merge_rewrite_are_each_delivered_once(tmp_path):
    path = tmp_path / "m.csv"
    with MinuteStore(path) as store:
        store.append(bar(10))
        follower = CsvFollower(path, after_minute=T0 + 10 * MINUTE_MS)
        follower.start_at_end()
        store.append(bar(11))
        store.append(bar(12))
        assert follower.poll().bars == [bar(11), bar(12)]
        # history merged in before the first row: an atomic rewrite (a new inode) that holds
        # minutes 11 and 12 again; the follower has delivered them already
        assert store.merge([bar(1), bar(2)]) == 2
        update = follower.poll()
        assert update.replaced
        assert update.bars == []
        store.append(bar(13))
        assert follower.poll().bars == [bar(13)]


def test_a_file_cut_short_in_place_is_read_again_from_the_last_known_minute(tmp_path):
    path = tmp_path / "m.csv"
    rows = [format_row(bar(i)) for i in range(5)]
    path.write_text(HEADER + "".join(rows))
    follower = CsvFollower(path, after_minute=T0 + 4 * MINUTE_MS)
    follower.start_at_end()
    inode = os.stat(path).st_ino
    # truncated in place (same inode) to two rows, then one new minute appended: the file is
    # still shorter than what the follower had read
    with open(path, "r+") as f:
        f.truncate(len(HEADER) + len(rows[0]) + len(rows[1]))
    with open(path, "a") as f:
        f.write(format_row(bar(5)))
    assert os.stat(path).st_ino == inode
    update = follower.poll()
    assert update.replaced
    assert update.bars == [bar(5)]
    with open(path, "a") as f:
        f.write(format_row(bar(6)))
    assert follower.poll().bars == [bar(6)]
