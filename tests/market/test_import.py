"""Binance dump files into the CSV: ms and µs timestamps, aggTrades and trades dumps, zip and csv,
corrupt rows named and the minutes around them left out, other symbols and non-dumps refused, and the
real 2023-04-05 trades giving Binance's own klines."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from btc_tui.cli import main
from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.binance import AggTrade
from btc_tui.market.history import backfill, dump_minutes, import_dumps
from btc_tui.market.simulator import Simulator
from btc_tui.market.store import MinuteStore, load_minutes
from tests.conftest import fixture_path

DAY_END = 1_723_161_600_000  # 2024-08-09 00:00 UTC
DAY_START = DAY_END - 1440 * MINUTE_MS
HISTORY = 120


def qty_text(units: int) -> str:
    return f"{units // 10**8}.{units % 10**8:08d}"


def agg_lines(aggs: list[AggTrade], micro: bool = False) -> list[str]:
    scale = 1000 if micro else 1
    return [
        f"{a.agg_id},{a.price:.8f},{qty_text(a.qty_units)},{a.first_id},{a.last_id},"
        f"{a.trade_time * scale},{a.buyer_is_maker},True"
        for a in aggs
    ]


def trade_lines(aggs: list[AggTrade]) -> list[str]:
    """Each aggregate split back into its trades (quantities shared out exactly)."""
    lines = []
    for a in aggs:
        n = a.last_id - a.first_id + 1
        share, rest = divmod(a.qty_units, n)
        for i in range(n):
            units = share + (rest if i == 0 else 0)
            quote = Decimal(f"{a.price:.8f}") * Decimal(units) / 10**8
            lines.append(
                f"{a.first_id + i},{a.price:.8f},{qty_text(units)},{quote},{a.trade_time},"
                f"{a.buyer_is_maker},True"
            )
    return lines


def write_dump(path: Path, lines: list[str]) -> Path:
    body = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(path.name.replace(".zip", ".csv"), body)
    else:
        path.write_bytes(body)
    return path


@pytest.fixture
async def sim():
    # the simulated past covers the whole last 2 hours of 2024-08-08
    async with Simulator(
        rate=0, seed=5, ping_interval=0, history_minutes=HISTORY, history_end=DAY_END
    ) as server:
        yield server


def settings_for(data: Path, sim: Simulator | None = None) -> Settings:
    changes: dict[str, object] = {"data": data}
    if sim is not None:
        changes["rest_url"] = sim.rest_url
    return Settings().with_changes(**changes)


@pytest.mark.parametrize(("micro", "suffix"), [(False, ".zip"), (True, ".zip"), (False, ".csv")])
async def test_a_dump_gives_the_same_rows_as_rest_byte_for_byte(sim, tmp_path, micro, suffix):
    dump = write_dump(
        tmp_path / f"BTCUSDT-aggTrades-2024-08-08{suffix}", agg_lines(sim.agg_trades(), micro)
    )
    imported, fetched = tmp_path / "imported.csv", tmp_path / "fetched.csv"
    result = import_dumps(settings_for(imported), [dump])
    # The file starts inside the day (22:00 here), so its first minute may lack trades from
    # before the file: left out and said. The day's last minute is the period's edge: kept.
    assert result.dropped == 1 and any("left out 1 minute" in w for w in result.warnings)
    assert result.written == HISTORY - 1
    await backfill(settings_for(fetched, sim), DAY_END - (HISTORY - 1) * MINUTE_MS, DAY_END)
    assert imported.read_bytes() == fetched.read_bytes()
    assert dump_minutes(dump, "btcusdt").micro is micro
    again = import_dumps(settings_for(imported), [dump])  # twice changes nothing
    assert again.written == 0 and imported.read_bytes() == fetched.read_bytes()


async def test_a_trades_dump_gives_the_same_minutes(sim, tmp_path):
    aggs = sim.agg_trades()
    dump = write_dump(tmp_path / "BTCUSDT-trades-2024-08-08.zip", trade_lines(aggs))
    from_trades = dump_minutes(dump, "btcusdt").bars
    agg_dump = write_dump(tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", agg_lines(aggs))
    from_aggs = dump_minutes(agg_dump, "btcusdt").bars
    assert len(from_trades) == len(from_aggs) == HISTORY - 1
    for a, b in zip(from_trades, from_aggs, strict=True):
        assert (a.minute, a.open, a.high, a.low, a.close, a.volume, a.trades) == (
            b.minute, b.open, b.high, b.low, b.close, b.volume, b.trades
        )  # fmt: skip
        assert (a.first_trade_id, a.last_trade_id) == (b.first_trade_id, b.last_trade_id)


async def test_corrupt_rows_are_named_and_the_minutes_around_them_left_out(sim, tmp_path):
    aggs = sim.agg_trades()
    lines = agg_lines(aggs)
    victim = 200  # line 201 in the file
    bad_minute = aggs[victim].trade_time - aggs[victim].trade_time % MINUTE_MS
    lines[victim] = lines[victim].replace(".", "x", 1)  # a price that is not a number
    lines.insert(300, "1,2,3")  # a short row: becomes line 301
    dump = write_dump(tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", lines)
    result = dump_minutes(dump, "btcusdt")
    assert result.bad_lines == [victim + 1, 301]
    assert any(str(dump) in w and "201, 301" in w for w in result.warnings)
    minutes = {bar.minute for bar in result.bars}
    assert bad_minute not in minutes  # its minute would lack the corrupt row's trades
    assert bad_minute in result.dropped
    assert len(minutes) >= HISTORY - 4  # only the minutes next to the breaks are left out


def test_another_symbols_dump_is_refused_with_nothing_written(tmp_path, capsys):
    data = tmp_path / "m.csv"
    dump = write_dump(tmp_path / "ETHUSDT-aggTrades-2024-08-08.zip", ["1,2.0,1.0,1,1,1,True,True"])
    code = main(["import", "--data", str(data), str(dump)])
    err = capsys.readouterr().err
    assert (
        code == 2 and "holds ETHUSDT trades, not BTCUSDT (--symbol)" in err and err.count("\n") == 1
    )
    assert not data.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("prices.csv", b"1,2,3\n", "not a Binance dump file name"),
        ("BTCUSDT-aggTrades-2024-08-08.csv", b"name,price\nfoo,bar\n", "not a Binance aggTrades"),
        ("BTCUSDT-aggTrades-2024-08-08.zip", b"PK\x03\x04 not really", "not a readable zip"),
        ("BTCUSDT-trades-2024-08.csv", b"\x89PNG\r\n\x00\x00", "not a Binance"),
        (
            "BTCUSDT-aggTrades-2024-08-08.csv",
            b"1,60000.123456789,1.0,1,1,1723075200000,True,True\n",
            "prices with more than 8 decimals",  # refused, never rounded
        ),
    ],
)
def test_not_a_dump_is_refused_with_one_line(tmp_path, name, content, message):
    data = tmp_path / "m.csv"
    dump = tmp_path / name
    dump.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        import_dumps(settings_for(data), [dump])


def test_real_trades_built_into_aggregates_give_binance_klines(tmp_path):
    trades_path = fixture_path("binance-spot-2023-04-05", "trades.jsonl")
    klines_path = fixture_path("binance-spot-2023-04-05", "klines_1m.csv")
    trades = [orjson.loads(line) for line in trades_path.read_text().splitlines()]
    # consecutive trades with equal time, price and side are one aggregate, as Binance forms them
    groups: list[list[dict]] = []
    for t in trades:
        last = groups[-1][-1] if groups else None
        if last and (last["T"], last["p"], last["m"]) == (t["T"], t["p"], t["m"]):
            groups[-1].append(t)
        else:
            groups.append([t])
    lines = []
    for agg_id, group in enumerate(groups, start=1_000):
        units = sum(int(Decimal(t["q"]) * 10**8) for t in group)
        lines.append(
            f"{agg_id},{group[0]['p']},{qty_text(units)},{group[0]['t']},{group[-1]['t']},"
            f"{group[0]['T']},{group[0]['m']},True"
        )
    assert len(lines) < len(trades)  # some aggregates hold several trades
    dump = write_dump(tmp_path / "BTCUSDT-aggTrades-2023-04-05.zip", lines)
    data = tmp_path / "m.csv"
    result = import_dumps(settings_for(data), [dump])
    assert result.written == 6  # the partial 23:59 and 00:06 minutes are left out
    frame = load_minutes(data).frame
    klines = {}
    for row in klines_path.read_text().splitlines()[1:]:
        cells = row.split(",")
        klines[int(cells[0])] = [Decimal(c) for c in cells[1:]]
    for time, row in frame.iterrows():
        o, h, low, c, v = klines[int(time.timestamp() * 1000)]
        got = [row["open"], row["high"], row["low"], row["close"], row["volume"]]
        assert [Decimal(repr(float(x))) for x in got] == [o, h, low, c, v], time
    assert frame["trades"].sum() == sum(
        1 for t in trades if 1680652800000 <= t["T"] < 1680652800000 + 6 * MINUTE_MS
    )


@pytest.mark.parametrize("block", [4096, 10_007])
async def test_block_edges_split_no_minute_and_lines_are_still_named(
    sim, tmp_path, monkeypatch, block
):
    """Big dumps are read in blocks (memory stays small); tiny blocks here put many edges inside
    minutes and one corrupt row somewhere past the first block."""
    from btc_tui.market import history

    lines = agg_lines(sim.agg_trades())
    lines[400] = "garbage"
    dump = write_dump(tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", lines)
    whole = dump_minutes(dump, "btcusdt")
    monkeypatch.setattr(history, "PARSE_BLOCK", block)
    blocked = dump_minutes(dump, "btcusdt")
    assert blocked.bars == whole.bars and blocked.bad_lines == whole.bad_lines == [401]
    assert blocked.dropped == whole.dropped and blocked.rows == whole.rows == len(lines) - 1


async def test_one_bad_file_among_several_writes_nothing(sim, tmp_path):
    data = tmp_path / "m.csv"
    good = write_dump(tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", agg_lines(sim.agg_trades()))
    bad = tmp_path / "BTCUSDT-aggTrades-2024-08-09.csv"
    bad.write_text("open,close\n1,2\n")
    with pytest.raises(UsageError, match="not a Binance aggTrades dump"):
        import_dumps(settings_for(data), [good, bad])
    assert not data.exists()  # not even an empty CSV
    existing = tmp_path / "existing.csv"
    import_dumps(settings_for(existing), [good])
    before = existing.read_bytes()
    with pytest.raises(UsageError):
        import_dumps(settings_for(existing), [good, bad])
    assert existing.read_bytes() == before


async def test_a_csv_being_written_is_refused(sim, tmp_path):
    data = tmp_path / "m.csv"
    dump = write_dump(tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", agg_lines(sim.agg_trades()))
    with MinuteStore(data):
        before = data.read_bytes()
        with pytest.raises(UsageError, match=r"is being written by .*pid \d+"):
            import_dumps(settings_for(data), [dump])
    assert data.read_bytes() == before


async def test_a_renamed_dump_zip_is_read_by_its_members_name(sim, tmp_path):
    """Issue 15.8: a browser's "(1)" copy keeps Binance's name inside the zip."""
    original = write_dump(
        tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", agg_lines(sim.agg_trades())
    )
    renamed = original.rename(tmp_path / "BTCUSDT-aggTrades-2024-08-08 (1).zip")
    result = import_dumps(settings_for(tmp_path / "m.csv"), [renamed])
    assert result.written == HISTORY - 1
    with pytest.raises(UsageError, match="holds BTCUSDT trades, not ETHUSDT"):
        import_dumps(settings_for(tmp_path / "e.csv").with_changes(symbol="ethusdt"), [renamed])
    junk = tmp_path / "notes.zip"
    with zipfile.ZipFile(junk, "w") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(UsageError, match="not a Binance dump file name"):
        import_dumps(settings_for(tmp_path / "m.csv"), [junk])
