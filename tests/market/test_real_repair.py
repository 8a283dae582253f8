"""Real data: Binance's own trades of 2023-04-05 00:00..00:06, streamed byte for byte over a socket
that is cut twice (each hole begins and ends inside an aggregate, one spans a minute boundary),
with the aggregates built from the same trades served over REST by a small aiohttp server here.
The repaired minutes must equal Binance's official klines exactly."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from btc_tui.market.simulator import Simulator
from tests.conftest import fixture_path
from tests.market.conftest import eventually, read_rows, row_minute
from tests.market.test_collector import Seen, collecting, make_collector

FIRST_COMPLETE = 1680652800000  # 2023-04-05 00:00 UTC
COMPLETE = [FIRST_COMPLETE + i * 60_000 for i in range(6)]  # 00:00 .. 00:05 lie inside the capture


def load_trades() -> tuple[list[str], list[dict]]:
    folder = fixture_path("binance-spot-2023-04-05")
    payloads = (folder / "trades.jsonl").read_text().splitlines()
    return payloads, [orjson.loads(p) for p in payloads]


def build_aggregates(trades: list[dict]) -> list[dict]:
    """aggTrades elements as Binance builds them: consecutive trades with one time, price, side."""
    aggs: list[dict] = []
    for t in trades:
        last = aggs[-1] if aggs else None
        if last is not None and (last["T"], last["p"], last["m"]) == (t["T"], t["p"], t["m"]):
            last["l"] = t["t"]
            last["units"] += _units(t["q"])
            continue
        aggs.append(
            {
                "a": len(aggs) + 1,
                "p": t["p"],
                "units": _units(t["q"]),
                "f": t["t"],
                "l": t["t"],
                "T": t["T"],
                "m": t["m"],
                "M": True,
            }
        )
    return aggs


def _units(qty: str) -> int:
    return int(Decimal(qty) * 10**8)


def _element(agg: dict) -> dict:
    units = agg["units"]
    return {
        **{k: v for k, v in agg.items() if k != "units"},
        "q": f"{units // 10**8}.{units % 10**8:08d}",
    }


class AggTradesServer:
    """GET /api/v3/aggTrades (startTime/endTime or fromId, limit) and /api/v3/time, on loopback."""

    def __init__(self, aggs: list[dict]) -> None:
        self.aggs = aggs
        self.requests: list[dict[str, str]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> AggTradesServer:
        app = web.Application()
        app.router.add_get("/api/v3/aggTrades", self._agg_trades)
        app.router.add_get("/api/v3/time", self._time)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self.aggs[-1]["T"]})

    async def _agg_trades(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append(query)
        limit = int(query.get("limit", 500))
        if "fromId" in query:
            start = int(query["fromId"])
            chosen = [a for a in self.aggs if a["a"] >= start]
        else:
            lo, hi = int(query["startTime"]), int(query["endTime"])
            chosen = [a for a in self.aggs if lo <= a["T"] <= hi]
        body = orjson.dumps([_element(a) for a in chosen[:limit]])
        return web.Response(
            body=body, content_type="application/json", headers={"X-MBX-USED-WEIGHT-1M": "4"}
        )


@pytest.fixture
async def rest() -> AsyncIterator[AggTradesServer]:
    _, trades = load_trades()
    async with AggTradesServer(build_aggregates(trades)) as server:
        yield server


def cut_inside(aggs: list[dict], after_ms: int) -> tuple[int, int]:
    """A trade id inside (not at either end of) the first aggregate of 3+ trades after a time."""
    agg = next(a for a in aggs if a["T"] >= after_ms and a["l"] - a["f"] >= 2)
    return agg["f"] + 1, agg["a"]


async def test_repaired_minutes_equal_binance_klines(
    simulator: Simulator, rest: AggTradesServer, tmp_path: Path
):
    folder = fixture_path("binance-spot-2023-04-05")
    with (folder / "klines_1m.csv").open() as f:
        klines = {int(r["open_time"]): r for r in csv.DictReader(f)}
    payloads, trades = load_trades()
    aggs = rest.aggs
    # Hole 1 from inside an aggregate in 00:01 to inside one in 00:02; hole 2 inside 00:04.
    start1, _ = cut_inside(aggs, FIRST_COMPLETE + 70_000)
    end1, _ = cut_inside(aggs, FIRST_COMPLETE + 140_000)
    start2, agg2 = cut_inside(aggs, FIRST_COMPLETE + 250_000)
    end2 = next(a for a in aggs if a["a"] > agg2 and a["l"] - a["f"] >= 2)["f"] + 1
    lost = {*range(start1, end1), *range(start2, end2)}
    assert len(lost) > 100

    data = tmp_path / "minutes.csv"
    seen = Seen()
    collector = make_collector(simulator, data, seen)
    collector.settings = collector.settings.with_changes(rest_url=rest.url)
    async with collecting(collector):
        connections = 1
        await simulator.wait_for_connections(connections)
        cut = False
        for payload, trade in zip(payloads, trades, strict=True):
            if trade["t"] in lost:
                if not cut:  # the socket dies: everything until it is back is lost
                    before = trade["t"] - 1
                    await eventually(lambda b=before: collector.stream.last_trade_id == b)
                    simulator.drop_connections()
                    connections += 1
                    cut = True
                continue
            if cut:
                await simulator.wait_for_connections(connections)
                cut = False
            simulator.send_raw(payload)
        last_id = trades[-1]["t"]
        await eventually(lambda: collector.stream.last_trade_id == last_id)
        await eventually(lambda: collector.status.repaired == len(lost), timeout=20)

    status = collector.status
    assert (status.missed, status.repaired, status.unrepaired) == (len(lost), len(lost), 0)
    rows = {row_minute(r): r for r in read_rows(data)}
    assert sum(int(r["trades"]) for r in rows.values()) == len(trades)
    for minute in COMPLETE:
        ours, theirs = rows[minute], klines[minute]
        for column in ("open", "high", "low", "close", "volume"):
            assert Decimal(ours[column]) == Decimal(theirs[column]), (minute, column)
    # the cuts really fell inside aggregates, so partial aggregates were exercised
    assert any(a["f"] < start1 <= a["l"] for a in aggs)
    assert any(a["f"] <= end1 - 1 < a["l"] for a in aggs)
    assert rest.requests, "the repair used REST"
