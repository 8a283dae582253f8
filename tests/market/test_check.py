"""`check` on hand-made CSVs: each kind of problem found and named, a clean file passes."""

from __future__ import annotations

import pytest

from btc_tui.errors import UsageError
from btc_tui.market.history import check
from btc_tui.market.store import HEADER

V2_HEADER = "year,month,day,hour,minute,avg_price,open,high,low,close,volume,vwap,trades\n"


def row(minute: int, first: int, last: int, trades: int | None = None) -> str:
    n = last - first + 1 if trades is None else trades
    return f"2024,1,1,0,{minute},10.5,10,11,10,10.5,1.5,10.5,{n},{first},{last}"


def write(tmp_path, *rows: str, header: str = HEADER):
    path = tmp_path / "m.csv"
    path.write_text(header + "".join(r + "\n" for r in rows))
    return path


def test_a_consistent_file_has_no_problems(tmp_path):
    report = check(write(tmp_path, row(0, 1, 10), row(1, 11, 30), row(3, 31, 31)))
    assert report.problems == 0 and report.rows == 3 and report.lines() == []


def test_holes_overlaps_and_short_minutes_are_named(tmp_path):
    report = check(
        write(tmp_path, row(0, 1, 10), row(1, 15, 20), row(2, 19, 25), row(3, 26, 40, trades=14))
    )
    assert [h.describe() for h in report.holes] == [
        "2024-01-01 00:00 UTC to 2024-01-01 00:01 UTC: 4 trade(s) missing (ids 11..14)",
        "2024-01-01 00:02 UTC: trade ids overlap the previous row (it ends at 20, this one "
        "starts at 19)",
    ]
    assert report.short_minutes == [(1_704_067_380_000, 14, 15)]
    assert report.problems == 3
    # a repair rebuilds both sides of each hole and the short minute
    assert len(report.affected_minutes()) == 4


def test_disorder_duplicates_and_corrupt_lines_are_named_by_line(tmp_path):
    report = check(
        write(
            tmp_path,
            row(1, 11, 20),
            row(0, 1, 10),  # line 3: out of order
            row(1, 11, 20),  # line 4: repeats minute 1
            "2024,1,1,0,2,abc,1,1,1,1,1,1,1,21,21",  # line 5: not a number
            "half a row",  # line 6
        )
    )
    assert [line for line, _ in report.out_of_order] == [3]
    assert [line for line, _ in report.duplicates] == [4]
    assert report.corrupt == [5, 6]
    assert "corrupt: 2 line(s): 5, 6" in report.lines()


def test_rows_without_ids_are_not_holes(tmp_path):
    old = "2024,1,1,0,0,10.5,10,11,10,10.5,1.5,10.5,7"
    report = check(write(tmp_path, old + ",,", row(1, 100, 110)))
    assert report.problems == 0 and report.without_ids == 1
    report = check(write(tmp_path, old, header=V2_HEADER))
    assert report.problems == 0 and report.without_ids == 1


def test_not_a_minute_csv_is_a_usage_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("name,price\n")
    with pytest.raises(UsageError, match="not a minute CSV"):
        check(path)


@pytest.mark.parametrize(
    "line",
    [
        "2147483648,1,1,0,1,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1,4,4",  # a year past 2**31
        "99999999999999999999,1,1,0,1,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1,4,4",
        "2024,1,1,0,1,1e999,1.0,1.0,1.0,1.0,1.0,1.0,1,4,4",  # a price out of float's range
        "2024,1,1,0,1,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1,4,",  # one id cell empty
    ],
    ids=["year-2**31", "year-huge", "inf", "one-id"],
)
def test_an_out_of_range_value_is_a_corrupt_line_never_a_traceback(tmp_path, line):
    from btc_tui.market.store import MinuteStore, load_minutes

    path = tmp_path / "m.csv"
    good = "2024,1,1,0,0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,3,1,3\n"
    path.write_text(HEADER + good + line + "\n")
    report = check(path)
    assert report.corrupt == [3]
    assert load_minutes(path).bad_lines == [3]
    with MinuteStore(path) as store:  # what collect does at start
        assert store.last_minute is not None and store.last_trade_id == 3


def test_a_blank_line_is_named_and_repair_takes_it_out(tmp_path):
    import asyncio

    from btc_tui.config import Settings
    from btc_tui.market.history import repair

    path = tmp_path / "m.csv"
    rows = [
        "2024,1,1,0,0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,3,1,3\n",
        "2024,1,1,0,1,1.0,1.0,1.0,1.0,1.0,1.0,1.0,2,4,5\n",
    ]
    path.write_text(HEADER + rows[0] + "\n" + rows[1] + "  \n")
    report = check(path)
    assert report.blank == [3, 5] and report.corrupt == [] and report.rows == 2
    assert "blank: 2 line(s), ignored (--repair takes them out): 3, 5" in report.lines()
    result = asyncio.run(repair(Settings(data=path, rest_url="http://127.0.0.1:9"), report))
    assert result.rebuilt == 0
    assert path.read_text() == HEADER + "".join(rows)
    assert check(path).problems == 0
