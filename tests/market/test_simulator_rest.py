"""The simulator's REST side speaks Binance: aggTrades/time/klines over everything it ever traded,
aggregates consistent with the stream, the weight header, 429 then 418, and a seeded past."""

from __future__ import annotations

import itertools
from decimal import Decimal

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect

from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.binance import QTY_SCALE, Trade, parse_agg_trade, parse_message
from btc_tui.market.rest import BinanceRest
from btc_tui.market.simulator import SentTrade, Simulator
from tests.conftest import fixture_path
from tests.market.conftest import BASE_MINUTE, eventually, minute_times


class FakeClock:
    """The simulator's clock, moved by hand (weight windows and Retry-After depend on it)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


async def get(sim: Simulator, path: str, **params: object) -> tuple[int, dict[str, str], object]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.rest_url}{path}", params={k: str(v) for k, v in params.items()}) as r,
    ):
        body = await r.read()
        return r.status, dict(r.headers), orjson.loads(body) if body else None


async def test_aggregates_are_the_streamed_trades_grouped_like_binance():
    async with Simulator(rate=0, seed=11, record=True) as sim:
        async with connect(f"{sim.url}/ws/btcusdt@trade") as ws:
            await sim.wait_for_connections(1)
            t0 = BASE_MINUTE + 1000
            sim.publish(minute_times(0, 30))  # one trade each, distinct times
            sim.publish([t0 + 5] * 6, one_order=True)  # one taker order: one aggregate
            # a partial hole: the middle of an aggregate never reaches the socket
            holed = sim.publish([t0 + 9] * 5, one_order=True, send=[True, True, False, False, True])
            unsent = sim.publish([t0 + 12] * 4, one_order=True, send=False)  # a whole aggregate
            sim.publish([t0 + 12] * 3, one_order=True)  # same time, a separate order
            missing = {t.trade_id for t in holed[2:4] + unsent}
            streamed = []
            while len(streamed) < len(sim.sent) - len(missing):
                message = parse_message(await ws.recv())
                assert isinstance(message, Trade)
                streamed.append(message)
        trades = sim.sent
        aggs = sim.agg_trades()

    assert [t.trade_id for t in streamed] == [
        t.trade_id for t in trades if t.trade_id not in missing
    ]
    # The aggregates partition the trade ids, in order, with consecutive agg ids.
    assert [a.agg_id for a in aggs] == list(range(aggs[0].agg_id, aggs[0].agg_id + len(aggs)))
    assert aggs[0].first_id == trades[0].trade_id
    for before, after in itertools.pairwise(aggs):
        assert after.first_id == before.last_id + 1
    assert aggs[-1].last_id == trades[-1].trade_id
    by_id = {t.trade_id: t for t in trades}
    for agg in aggs:
        members = [by_id[i] for i in range(agg.first_id, agg.last_id + 1)]
        assert {(t.price, t.trade_time, t.buyer_is_maker) for t in members} == {
            (f"{Decimal(str(agg.price)):.8f}", agg.trade_time, agg.buyer_is_maker)
        }
        assert sum(t.qty_units for t in members) == agg.qty_units
        assert {t.agg_id for t in members} == {agg.agg_id}
        assert sum(Decimal(t.qty) for t in members) * QTY_SCALE == agg.qty_units
    # The one-order calls became one aggregate each, even across the unsent trades.
    counts = [a.count for a in aggs[-4:]]
    assert counts == [6, 5, 4, 3]
    assert aggs[-2].trade_time == aggs[-1].trade_time  # same time, price, side: still two orders


async def test_the_random_walk_makes_multi_trade_aggregates_by_itself():
    async with Simulator(rate=0, seed=5, record=True) as sim:
        for _ in range(60):  # the trade loop's way: a batch of trades at one time
            sim.publish([BASE_MINUTE + len(sim.sent)] * 10)
        aggs = sim.agg_trades()
    assert sum(a.count for a in aggs) == 600
    assert max(a.count for a in aggs) >= 3
    assert sum(1 for a in aggs if a.count > 1) >= 10


async def test_the_trade_loop_finishes_each_taker_order_in_one_aggregate():
    async with Simulator(rate=400, seed=3, ping_interval=0) as sim:
        await eventually(lambda: sim.published >= 800)
        aggs = sim.agg_trades()
    assert sum(a.count for a in aggs) == sim.published
    bursts = [a for a in aggs if a.count >= 2]
    assert len(bursts) >= 5 and max(a.count for a in bursts) >= 3


async def test_agg_trades_query_semantics():
    clock = FakeClock(BASE_MINUTE / 1000 + 600)
    async with Simulator(rate=0, seed=2, clock=clock) as sim:
        times = [BASE_MINUTE + i * 1000 for i in range(2000)]  # one a second, ~33 minutes
        sim.publish(times)
        aggs = sim.agg_trades()
        assert len(aggs) == 2000

        status, _, body = await get(sim, "/api/v3/aggTrades", symbol="btcUSDT")
        assert status == 200 and len(body) == 500  # the newest 500 by default
        assert [parse_agg_trade(o) for o in body] == aggs[-500:]

        status, _, body = await get(
            sim, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=aggs[10].agg_id, limit=5000
        )
        assert [parse_agg_trade(o) for o in body] == aggs[10:1010]  # limit capped at 1000

        start, end = times[100], times[200]  # both inclusive
        status, _, body = await get(
            sim, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=start, endTime=end, limit=1000
        )
        assert [parse_agg_trade(o) for o in body] == aggs[100:201]
        status, _, body = await get(
            sim, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=start, endTime=end, limit=7
        )
        assert [parse_agg_trade(o) for o in body] == aggs[100:107]  # oldest first

        status, _, body = await get(
            sim, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=0, endTime=3_600_001
        )
        assert status == 400
        assert body == {"code": -1127, "msg": "More than 1 hours between startTime and endTime."}
        status, _, body = await get(sim, "/api/v3/aggTrades", symbol="ETHUSDT")
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
        status, _, body = await get(sim, "/api/v3/aggTrades")
        assert status == 400 and body["code"] == -1102
        status, _, body = await get(sim, "/api/v3/aggTrades", symbol="BTCUSDT", fromId="x1")
        assert status == 400 and body["code"] == -1100 and "fromId" in body["msg"]
        status, _, body = await get(sim, "/api/v3/time")
        assert (status, body) == (200, {"serverTime": int(clock.now * 1000)})
        status, _, _ = await get(sim, "/api/v3/depth", symbol="BTCUSDT")
        assert status == 404
    assert [entry[0] for entry in sim.rest_log[:2]] == ["/api/v3/aggTrades"] * 2
    assert sim.rest_log[0][1] == {"symbol": "btcUSDT"}
    assert sim.rest_log[0][2] == clock.now


async def test_weight_header_then_429_then_418_ban():
    clock = FakeClock(BASE_MINUTE / 1000 + 50.5)  # 9.5 s before the next minute
    async with Simulator(rate=0, seed=1, clock=clock, weight_limit=10) as sim:
        sim.publish(minute_times(0, 3))
        seen = []
        for _ in range(2):
            status, headers, _ = await get(sim, "/api/v3/aggTrades", symbol="BTCUSDT")
            seen.append((status, headers["X-MBX-USED-WEIGHT-1M"]))
        status, headers, _ = await get(sim, "/api/v3/time")
        seen.append((status, headers["X-MBX-USED-WEIGHT-1M"]))
        assert seen == [(200, "4"), (200, "8"), (200, "9")]

        status, headers, body = await get(sim, "/api/v3/aggTrades", symbol="BTCUSDT")
        assert status == 429
        assert headers["Retry-After"] == "10"  # seconds to the simulator's next minute
        assert body["code"] == -1003 and "Too many requests" in body["msg"]

        clock.now += 5  # asking again before Retry-After passed earns a ban
        status, headers, body = await get(sim, "/api/v3/time")
        assert (status, headers["Retry-After"]) == (418, "120")
        assert "banned" in body["msg"]
        clock.now += 60  # the weight window has passed, the ban has not
        status, headers, _ = await get(sim, "/api/v3/time")
        assert (status, headers["Retry-After"]) == (418, "60")
        clock.now += 60
        status, headers, _ = await get(sim, "/api/v3/time")
        assert (status, headers["X-MBX-USED-WEIGHT-1M"]) == (200, "1")
    assert sim.rest_statuses == {200: 4, 429: 1, 418: 2}


async def test_fail_next_answers_then_serves_again():
    clock = FakeClock(BASE_MINUTE / 1000)
    async with Simulator(rate=0, clock=clock) as sim:
        sim.fail_next(503, count=2)
        sim.fail_next(429, retry_after=3)
        assert [(await get(sim, "/api/v3/time"))[0] for _ in range(3)] == [503, 503, 429]
        clock.now += 3
        status, _, _body = await get(sim, "/api/v3/time")
        assert status == 200
        sim.fail_next(400, body='{"code":-1121,"msg":"Invalid symbol."}')
        assert (await get(sim, "/api/v3/time"))[2] == {"code": -1121, "msg": "Invalid symbol."}


def expected_klines(trades: list[SentTrade]) -> dict[int, list[object]]:
    """Binance's kline fields computed from the published trades, independently (Decimal)."""
    bars: dict[int, list] = {}
    for t in sorted(trades, key=lambda t: t.trade_id):
        minute = t.trade_time - t.trade_time % MINUTE_MS
        price, qty = Decimal(t.price), Decimal(t.qty)
        if minute not in bars:
            bars[minute] = [minute, price, price, price, price, Decimal(0)]
            bars[minute] += [minute + 59_999, Decimal(0), 0, Decimal(0), Decimal(0), "0"]
        bar = bars[minute]
        bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
        bar[5] += qty
        bar[7] += price * qty
        bar[8] += 1
        if not t.buyer_is_maker:
            bar[9] += qty
            bar[10] += price * qty
    return bars


def decimal_row(row: list) -> list:
    return [Decimal(v) if isinstance(v, str) and v != "0" else v for v in row]


async def test_klines_equal_bars_computed_from_the_trades():
    async with Simulator(rate=0, seed=9, record=True) as sim:
        for minute in (0, 1, 2, 4):  # minute 3 has no trades
            sim.publish(minute_times(minute, 40, start_ms=minute * 7))
            sim.publish([BASE_MINUTE + minute * MINUTE_MS + 30_000] * 5, one_order=True)
        status, _, rows = await get(
            sim,
            "/api/v3/klines",
            symbol="BTCUSDT",
            interval="1m",
            startTime=BASE_MINUTE,
            endTime=BASE_MINUTE + 10 * MINUTE_MS,
        )
        want = expected_klines(sim.sent)
        assert status == 200
        assert [r[0] for r in rows] == [BASE_MINUTE + m * MINUTE_MS for m in range(5)]
        for row in rows:
            assert len(row) == 12 and all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9))
            if row[0] in want:
                assert decimal_row(row) == want[row[0]]
            else:  # a minute without trades: the previous close, nothing traded (as Binance)
                previous = want[row[0] - MINUTE_MS]
                assert decimal_row(row)[1:5] == [previous[4]] * 4
                assert row[8] == 0 and Decimal(row[5]) == 0
        status, _, last_two = await get(sim, "/api/v3/klines", symbol="BTCUSDT", interval="1m")
        assert last_two[-1] == rows[-1]
        status, _, body = await get(sim, "/api/v3/klines", symbol="BTCUSDT", interval="5m")
        assert (status, body["code"]) == (400, -1120)


async def test_history_is_sparse_deterministic_by_seed_and_leads_into_the_live_ids():
    end = BASE_MINUTE + 500 * MINUTE_MS

    async def past(seed: int) -> tuple[list, int]:
        async with Simulator(rate=0, seed=seed, history_minutes=300, history_end=end) as sim:
            (first_live,) = sim.publish([end + 5])
            return sim.agg_trades(), first_live.trade_id

    aggs, first_live = await past(4)
    history = aggs[:-1]
    assert (aggs, first_live) == await past(4)
    assert (await past(5))[0] != aggs
    minutes = [a.trade_time - a.trade_time % MINUTE_MS for a in history]
    assert sorted(set(minutes)) == [end - (300 - i) * MINUTE_MS for i in range(300)]
    per_minute = [minutes.count(m) for m in set(minutes)]
    assert min(per_minute) >= 2 and max(per_minute) <= 6
    assert 0.1 < sum(1 for a in history if a.count > 1) / len(history) < 0.5
    assert history[0].first_id == 1
    assert first_live == history[-1].last_id + 1  # no gap between the past and the stream
    assert [a.trade_time for a in history] == sorted(a.trade_time for a in history)
    assert abs(history[-1].price - 60_000) < 600  # the past leads into the live price


async def test_old_live_aggregates_are_capped_but_never_the_history():
    end = BASE_MINUTE
    async with Simulator(
        rate=0, seed=1, history_minutes=10, history_end=end, max_live_aggregates=100
    ) as sim:
        history = sim.agg_trades()
        for i in range(300):
            sim.publish([end + 1000 * i])
        kept = sim.agg_trades()
        assert kept[: len(history)] == history
        live = kept[len(history) :]
        assert 100 <= len(live) <= 110
        assert live[-1].agg_id == history[-1].agg_id + 300
        _status, _, body = await get(
            sim, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=history[-1].agg_id + 1, limit=3
        )
        assert [o["a"] for o in body] == [a.agg_id for a in live[:3]]  # the next ones kept


async def test_replayed_real_trades_give_binances_own_klines():
    lines = fixture_path("binance-spot-2023-04-05", "trades.jsonl").read_text().splitlines()
    trades = [parse_message(line) for line in lines]
    assert all(isinstance(t, Trade) for t in trades)
    official = {}
    for row in (
        fixture_path("binance-spot-2023-04-05", "klines_1m.csv").read_text().splitlines()[1:]
    ):
        open_time, *values = row.split(",")
        official[int(open_time)] = [Decimal(v) for v in values]
    async with Simulator(rate=0, record=True) as sim:
        sent = sim.publish_trades(trades)  # type: ignore[arg-type]
        first_minute = 1_680_652_800_000  # 2023-04-05 00:00, the first complete minute
        _, _, rows = await get(
            sim,
            "/api/v3/klines",
            symbol="BTCUSDT",
            interval="1m",
            startTime=first_minute,
            endTime=first_minute + 5 * MINUTE_MS,
        )
        async with BinanceRest(sim.rest_url, "BTCUSDT") as rest:
            fetched = [
                a
                async for page in rest.agg_trades_between(
                    first_minute - MINUTE_MS, 1_680_653_300_000
                )
                for a in page
            ]
        aggs = sim.agg_trades()
    assert [t.trade_id for t in sent] == [t.trade_id for t in trades]  # type: ignore[union-attr]
    assert len(rows) == 6
    for row in rows:  # open, high, low, close, volume exactly as Binance published them
        assert [Decimal(v) for v in row[1:6]] == official[row[0]]
    assert fetched == aggs
    assert sum(a.count for a in aggs) == len(trades)
    assert sum(1 for a in aggs if a.count > 1) > 100  # real taker orders filling several makers
    by_id = {t.trade_id: t for t in trades}  # type: ignore[union-attr]
    for agg in aggs:
        members = [by_id[i] for i in range(agg.first_id, agg.last_id + 1)]
        assert {(t.price, t.trade_time, t.buyer_is_maker) for t in members} == {  # type: ignore[union-attr]
            (agg.price, agg.trade_time, agg.buyer_is_maker)
        }
        assert sum(t.qty_units for t in members) == agg.qty_units  # type: ignore[union-attr]


async def test_replay_refuses_what_it_cannot_store_exactly():
    def trade(trade_id: int, price: float = 28000.5, qty_units: int = 56000) -> Trade:
        return Trade(
            trade_id, price, qty_units / QTY_SCALE, qty_units, BASE_MINUTE, BASE_MINUTE, True
        )

    async with Simulator(rate=0) as sim:
        sim.publish_trades([trade(100), trade(101)])
        with pytest.raises(ValueError, match="trade id 103 does not follow 103"):
            sim.publish_trades([trade(102), trade(103), trade(103)])
        with pytest.raises(ValueError, match=r"finer than 0\.01"):
            sim.publish_trades([trade(102, price=28000.123)])
        with pytest.raises(ValueError, match=r"finer than 0\.00001"):
            sim.publish_trades([trade(102, qty_units=1)])
        (next_one,) = sim.publish([BASE_MINUTE + 5])
    assert next_one.trade_id == 102
