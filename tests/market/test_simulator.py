"""The simulator speaks Binance's protocol: paths, payload bytes, control replies, pings, history."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.binance import Trade, parse_message
from btc_tui.market.rest import BinanceRest
from btc_tui.market.simulator import Simulator, simulated_history
from tests.market.conftest import BASE_MINUTE, minute_times

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRADE_PAYLOAD = re.compile(
    r'\{"e":"trade","E":\d{13},"s":"BTCUSDT","t":\d+,"p":"\d+\.\d{8}","q":"\d+\.\d{8}",'
    r'"T":\d{13},"m":(true|false),"M":true\}'
)


async def test_raw_stream_payloads_are_shaped_like_binance(simulator: Simulator):
    async with connect(f"{simulator.url}/ws/btcusdt@trade") as ws:
        await simulator.wait_for_connections(1)
        sent = simulator.publish(minute_times(0, 20))
        frames = [await ws.recv() for _ in sent]
    for frame, trade in zip(frames, sent, strict=True):
        assert isinstance(frame, str)  # a text frame, as Binance sends
        assert TRADE_PAYLOAD.fullmatch(frame), frame
        payload = orjson.loads(frame)
        assert (payload["t"], payload["p"], payload["q"], payload["T"]) == (
            trade.trade_id,
            trade.price,
            trade.qty,
            trade.trade_time,
        )
        assert Decimal(payload["p"]) % Decimal("0.01") == 0  # price tick
        assert Decimal(payload["q"]) % Decimal("0.00001") == 0  # quantity step
        assert Decimal(payload["q"]) > 0
        assert isinstance(parse_message(frame), Trade)
    ids = [t.trade_id for t in sent]
    assert ids == list(range(ids[0], ids[0] + len(ids)))


async def test_combined_stream_wraps_each_payload(simulator: Simulator):
    async with connect(f"{simulator.url}/stream?streams=btcusdt@trade") as ws:
        await simulator.wait_for_connections(1)
        (trade,) = simulator.publish(minute_times(0, 1))
        frame = await ws.recv()
    assert frame == f'{{"stream":"btcusdt@trade","data":{trade.payload}}}'
    assert parse_message(frame).trade_id == trade.trade_id  # type: ignore[union-attr]


async def test_control_messages_get_binance_replies(simulator: Simulator):
    async with connect(f"{simulator.url}/ws") as ws:  # a bare /ws: nothing until SUBSCRIBE
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
        assert await ws.recv() == '{"result":[],"id":1}'
        await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":2}')
        assert await ws.recv() == '{"result":null,"id":2}'
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":3}')
        assert await ws.recv() == '{"result":["btcusdt@trade"],"id":3}'
        await simulator.wait_for(lambda s: s.clients == 1)
        (trade,) = simulator.publish(minute_times(0, 1))
        assert await ws.recv() == trade.payload
        await ws.send('{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":4}')
        assert await ws.recv() == '{"result":null,"id":4}'
        await ws.send("{not json")
        assert '"code":3' in await ws.recv()


async def test_every_client_sees_the_same_trades(simulator: Simulator):
    async with (
        connect(f"{simulator.url}/ws/btcusdt@trade") as a,
        connect(f"{simulator.url}/ws/btcusdt@trade") as b,
    ):
        await simulator.wait_for_connections(2)
        sent = simulator.publish(minute_times(0, 50))
        got_a = [await a.recv() for _ in sent]
        got_b = [await b.recv() for _ in sent]
    assert got_a == got_b == [t.payload for t in sent]


async def test_unknown_paths_and_refusals_get_http_errors(simulator: Simulator):
    with pytest.raises(InvalidStatus) as not_found:
        await connect(f"{simulator.url}/nowhere")
    assert not_found.value.response.status_code == 404
    simulator.refuse_next(1)
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{simulator.url}/ws/btcusdt@trade")
    assert refused.value.response.status_code == 503


async def test_random_walk_runs_at_the_given_rate_with_current_trade_times():
    async with Simulator(rate=200, seed=3) as sim:
        async with connect(f"{sim.url}/ws/btcusdt@trade") as ws:
            started = time.monotonic()
            trades = [parse_message(await ws.recv()) for _ in range(100)]
            elapsed = time.monotonic() - started
    # 100 trades at 200/s take about half a second; never faster than the rate allows.
    assert elapsed > 0.3
    assert all(isinstance(t, Trade) for t in trades)
    ids = [t.trade_id for t in trades]  # type: ignore[union-attr]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    now_ms = time.time() * 1000
    assert all(now_ms - 30_000 < t.trade_time <= now_ms for t in trades)  # type: ignore[union-attr]
    prices = {t.price for t in trades}  # type: ignore[union-attr]
    assert len(prices) > 5  # it moves
    assert all(50_000 < p < 70_000 for p in prices)


async def test_the_same_seed_gives_the_same_walk():
    async def walk(seed: int) -> list[tuple[str, str]]:
        async with Simulator(rate=0, seed=seed, record=True) as sim:
            sim.publish(minute_times(0, 30))
            return [(t.price, t.qty) for t in sim.sent]

    assert await walk(5) == await walk(5)
    assert await walk(5) != await walk(6)


async def test_server_pings_the_client():
    pinged = asyncio.Event()
    async with Simulator(rate=0, ping_interval=0.05) as sim:
        async with connect(f"{sim.url}/ws/btcusdt@trade") as ws:
            original = ws.data_received

            def spy(data: bytes) -> None:
                if data[:1] == b"\x89":  # an unmasked ping frame from the server
                    pinged.set()
                original(data)

            ws.data_received = spy  # type: ignore[method-assign]
            await asyncio.wait_for(pinged.wait(), 5)


def test_simulated_history_gives_plausible_consecutive_minutes():
    end = BASE_MINUTE + 500 * MINUTE_MS
    bars = simulated_history(500, end, seed=1, start_price=42_000.0)
    assert len(bars) == 500
    assert bars[-1].minute == end
    assert [b.minute for b in bars] == [end - (499 - i) * MINUTE_MS for i in range(500)]
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close, bar.avg_price, bar.vwap)
        assert max(bar.open, bar.close, bar.avg_price, bar.vwap) <= bar.high
        assert bar.trades > 0 and bar.volume > 0
        assert bar.last_trade_id - bar.first_trade_id + 1 == bar.trades
    closes = [b.close for b in bars]
    assert min(closes) > 30_000 and max(closes) < 55_000
    moves = [abs(b.close - a.close) / a.close for a, b in itertools.pairwise(bars)]
    assert 0 < sum(moves) / len(moves) < 0.002  # minutes move, but like BTC, not like a coin flip
    assert simulated_history(500, end, seed=1, start_price=42_000.0) == bars
    assert simulated_history(0, end) == []


async def test_simulate_command_prints_the_urls_and_stops_on_ctrl_c():
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "btc_tui",
        "simulate",
        "--port",
        "0",
        "--rate",
        "50",
        "--seed",
        "1",
        "--history-minutes",
        "90",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env=env,
    )
    assert proc.stdout is not None
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        second = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
        third = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
        match = re.search(
            r"btc-tui collect --url (ws://127\.0\.0\.1:\d+) --rest-url (http://127\.0\.0\.1:\d+)",
            third,
        )
        assert match, third
        assert f"REST at {match.group(2)}/api/v3/aggTrades (90 minutes" in second
        async with connect(f"{match.group(1)}/ws/btcusdt@trade") as ws:
            assert isinstance(parse_message(await asyncio.wait_for(ws.recv(), 5)), Trade)
        async with BinanceRest(match.group(2), "btcusdt") as rest:
            now = await rest.server_time()
            aggs = [
                a
                async for page in rest.agg_trades_between(now - 100 * MINUTE_MS, now + 1)
                for a in page
            ]
        minutes = {a.trade_time - a.trade_time % MINUTE_MS for a in aggs}
        assert len(minutes) >= 90  # the past, then the live minutes
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert "btcusdt@trade" in first


async def test_the_collect_line_names_a_pair_other_than_the_default():
    """Copied as printed, the line must collect the pair served (else BTCUSDT: nothing comes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "btc_tui", "simulate", "--port", "0", "--symbol", "ETHUSDT"),
        *("--history-minutes", "0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env=env,
    )
    assert proc.stdout is not None
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(3)]
        assert lines[0].startswith("serving ethusdt@trade at ws://127.0.0.1:")
        assert re.search(r"--rest-url http://127\.0\.0\.1:\d+ --symbol ethusdt$", lines[2].strip())
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
