"""History over REST against the simulator on loopback: exact minutes equal to its klines, merged
before, after and around existing rows, idempotent; and the CSV check with repair."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from btc_tui.config import Settings
from btc_tui.market import handoff
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.history import backfill, check, fetch_minutes, repair
from btc_tui.market.rest import BinanceRest
from btc_tui.market.simulator import Simulator
from btc_tui.market.store import MinuteStore, load_minutes
from tests.market.conftest import read_rows, row_minute

END = 1_723_161_600_000  # 2024-08-09 00:00 UTC: the simulated past ends here
HISTORY = 180  # minutes


@pytest.fixture
async def sim():
    async with Simulator(
        rate=0, seed=11, ping_interval=0, history_minutes=HISTORY, history_end=END
    ) as server:
        yield server


def settings_for(sim: Simulator, data: Path) -> Settings:
    return Settings().with_changes(data=data, rest_url=sim.rest_url)


def klines_by_minute(sim: Simulator) -> dict[int, list]:
    rows = sim.klines.klines(END - HISTORY * MINUTE_MS, END - 1, 1000)
    return {int(r[0]): r for r in rows}


def assert_rows_equal_klines(path: Path, sim: Simulator, minutes: range) -> None:
    klines = klines_by_minute(sim)
    rows = {row_minute(r): r for r in read_rows(path)}
    assert sorted(rows) == list(minutes)
    for minute, row in rows.items():
        k = klines[minute]
        assert Decimal(row["open"]) == Decimal(k[1]), minute
        assert Decimal(row["high"]) == Decimal(k[2]), minute
        assert Decimal(row["low"]) == Decimal(k[3]), minute
        assert Decimal(row["close"]) == Decimal(k[4]), minute
        assert Decimal(row["volume"]) == Decimal(k[5]), minute  # exact, from integer units
        assert int(row["trades"]) == k[8], minute
        first, last = int(row["first_trade_id"]), int(row["last_trade_id"])
        assert last - first + 1 == k[8]


async def test_backfill_equals_the_exchange_klines_exactly(sim, tmp_path):
    data = tmp_path / "m.csv"
    start = END - HISTORY * MINUTE_MS
    result = await backfill(settings_for(sim, data), start, END)
    assert result.written == HISTORY and result.present == 0 and result.empty == 0
    assert_rows_equal_klines(data, sim, range(start, END, MINUTE_MS))
    report = check(data)
    assert report.problems == 0 and report.rows == HISTORY
    assert result.rate_limited == 0


async def test_fetch_minutes_yields_whole_minutes_in_order(sim):
    start = END - 30 * MINUTE_MS
    async with BinanceRest(sim.rest_url, "btcusdt") as rest:
        # a range cut inside minutes: only the whole minutes in it come back
        batches = [b async for b in fetch_minutes(rest, start + 20_000, END - 5_000)]
    minutes = [bar.minute for batch in batches for bar in batch]
    assert minutes == list(range(start + MINUTE_MS, END - MINUTE_MS, MINUTE_MS))
    ids = [(bar.first_trade_id, bar.last_trade_id) for batch in batches for bar in batch]
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ids))


async def test_merge_before_after_and_around_existing_rows_changes_none_of_them(sim, tmp_path):
    data = tmp_path / "m.csv"
    settings = settings_for(sim, data)
    start = END - HISTORY * MINUTE_MS
    middle = (start + 60 * MINUTE_MS, start + 90 * MINUTE_MS)
    await backfill(settings, *middle)
    await backfill(settings, start + 120 * MINUTE_MS, start + 125 * MINUTE_MS)
    before = {row_minute(r): r for r in read_rows(data)}
    assert len(before) == 35
    result = await backfill(settings, start, END)  # before, between, after and overlapping
    assert result.written == HISTORY - 35 and result.present == 35
    after = {row_minute(r): r for r in read_rows(data)}
    assert all(after[m] == row for m, row in before.items())  # existing rows untouched
    assert_rows_equal_klines(data, sim, range(start, END, MINUTE_MS))
    assert check(data).problems == 0  # ids run on across the seams: nothing missing or doubled


async def test_running_it_twice_changes_nothing(sim, tmp_path):
    data = tmp_path / "m.csv"
    settings = settings_for(sim, data)
    start = END - 60 * MINUTE_MS
    await backfill(settings, start, END)
    content = data.read_bytes()
    requests = len(sim.rest_log)
    again = await backfill(settings, start, END)
    assert again.written == 0 and again.present == 60
    assert data.read_bytes() == content
    # every minute was there: nothing fetched but the exchange's clock
    assert [path for path, _, _ in sim.rest_log[requests:]] == ["/api/v3/time"]


async def test_an_end_after_the_exchange_clock_never_writes_the_minute_still_trading(tmp_path):
    now = END / 1000 + 30  # 30 s into the minute that starts at END
    async with Simulator(
        rate=0, seed=2, ping_interval=0, history_minutes=10, history_end=END, clock=lambda: now
    ) as server:
        server.publish([END + 1_000, END + 2_000])  # the current minute has trades already
        data = tmp_path / "m.csv"
        result = await backfill(settings_for(server, data), END - 10 * MINUTE_MS, END + 3_600_000)
    assert result.end == END and result.written == 10
    assert load_minutes(data).frame.index[-1].value // 1_000_000 == END - MINUTE_MS


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            END + 3_600_000,
            None,
            "nothing to fetch: the start, 2024-08-09 01:00 UTC, is not before now by Binance's "
            "clock, 2024-08-09 00:00:30 UTC",
        ),
        (
            END - 50_000,
            END - 20_000,
            "nothing to fetch: 2024-08-08 23:59:10 UTC to 2024-08-08 23:59:40 UTC holds no whole "
            "minute",
        ),
    ],
)
async def test_a_range_without_a_whole_past_minute_is_one_clear_error(
    tmp_path, start, end, message
):
    from btc_tui.errors import UsageError

    now = END / 1000 + 30
    async with Simulator(rate=0, seed=2, ping_interval=0, clock=lambda: now) as server:
        data = tmp_path / "m.csv"
        with pytest.raises(UsageError) as error:
            await backfill(settings_for(server, data), start, end)
    assert str(error.value) == message
    assert [path for path, _, _ in server.rest_log] == ["/api/v3/time"]


async def test_a_minute_cut_short_is_visible_and_repaired_from_rest(sim, tmp_path):
    data = tmp_path / "m.csv"
    settings = settings_for(sim, data)
    start = END - 20 * MINUTE_MS
    await backfill(settings, start, END)
    good = data.read_text()
    lines = good.splitlines()
    # a hole: drop minute 5; a short minute: minute 9 lost a trade; a duplicate; a corrupt line
    cells = lines[10].split(",")
    cells[12] = str(int(cells[12]) - 1)
    lines[10] = ",".join(cells)
    broken = [*lines[:6], *lines[7:], lines[3], "2024,8,8,garbage"]
    data.write_text("\n".join(broken) + "\n")
    report = check(data)
    assert len(report.holes) == 1 and report.holes[0].describe().count("missing") == 1
    assert [m for m, _, _ in report.short_minutes] == [start + 9 * MINUTE_MS]
    assert len(report.duplicates) == 1 and report.corrupt == [len(broken)]
    result = await repair(settings, report)
    assert result.unrepaired == [] and result.removed_lines == 2
    assert data.read_text() == good  # exactly what the exchange says, in order, once each
    assert "garbage" in (tmp_path / "m.csv.rejected").read_text()


async def test_a_csv_another_process_writes_is_refused_before_any_request(sim, tmp_path):
    data = tmp_path / "m.csv"
    with MinuteStore(data):
        with pytest.raises(Exception, match="is being written by"):
            await backfill(settings_for(sim, data), END - 10 * MINUTE_MS, END)
    assert sim.rest_log == []


async def test_a_13_column_file_is_extended_without_touching_its_rows(sim, tmp_path):
    data = tmp_path / "m.csv"
    old = "2024,8,8,0,0,1.5,1,2,1,1.5,3.25,1.5,7"
    data.write_text(
        "year,month,day,hour,minute,avg_price,open,high,low,close,volume,vwap,trades\n" + old + "\n"
    )
    result = await backfill(settings_for(sim, data), END - 10 * MINUTE_MS, END)
    assert result.written == 10
    assert data.read_text().splitlines()[1] == old + ",,"
    assert len(load_minutes(data).frame) == 11


async def test_a_start_long_before_the_first_trade_costs_no_walk_through_empty_hours(sim, tmp_path):
    data = tmp_path / "m.csv"
    start = END - 30 * 1440 * MINUTE_MS  # 30 days back; the exchange's past holds 3 hours
    result = await backfill(settings_for(sim, data), start, END)
    assert result.written == HISTORY and result.empty == 30 * 1440 - HISTORY
    assert result.requests < 10  # not one request per empty hour (720)


def test_the_fill_advice_names_the_file_the_symbol_and_the_demo():
    from btc_tui.config import default_data
    from btc_tui.market.history import fill_hint

    # the default BTCUSDT file: nothing to name
    assert fill_hint(default_data(), "btcusdt", False).endswith(": btc-tui check --repair")
    # another symbol's default file: --symbol picks it (without it: the BTCUSDT file)
    eth = fill_hint(default_data("ethusdt"), "ethusdt", False)
    assert eth.endswith(": btc-tui check --repair --symbol ethusdt")
    assert fill_hint("x/m.csv", "ETHUSDT", False).endswith(
        ": btc-tui check --repair --data x/m.csv --symbol ethusdt"
    )
    span = fill_hint("x/m.csv", "btcusdt", False, (1_767_225_600_000, 1_767_225_660_000))
    assert span.endswith(
        ": btc-tui backfill --start 2026-01-01T00:00:00Z --end 2026-01-01T00:01:00Z --data x/m.csv"
    )
    # the demo: its trades can't be fetched again (check --repair refuses the demo's file)
    demo = fill_hint(default_data("btcusdt", demo=True), "btcusdt", True)
    assert "check --demo names" in demo and "--repair" not in demo
    assert "--symbol ethusdt" in fill_hint(default_data("ethusdt", demo=True), "ethusdt", True)


async def test_check_repair_beside_a_writer_that_takes_no_repairs_names_it_and_touches_nothing(
    sim, tmp_path
):
    """Issue 15.2: check --repair can't rewrite a CSV another process writes; a writer that is
    not a collector (backfill, import, here a bare store) takes no repairs: it is named, nothing
    is asked of it and nothing touched. (A collector takes the work: test_check_handoff.py.)"""
    data = tmp_path / "m.csv"
    await backfill(settings_for(sim, data), END - 10 * MINUTE_MS, END)
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[:4] + lines[5:]))  # a hole: one minute taken out
    before = data.read_bytes()
    report = check(data)
    assert report.problems
    requests = len(sim.rest_log)
    from btc_tui.errors import UsageError

    with MinuteStore(data):
        with pytest.raises(UsageError, match=r"is being written by .* does not take repairs"):
            await repair(settings_for(sim, data), report)
    assert data.read_bytes() == before and len(sim.rest_log) == requests
    assert not handoff.pending(data)
