"""BinanceRest against real servers on loopback: the simulator, and small aiohttp servers where a
test needs an exact HTTP behaviour (a hang, a count of concurrent requests)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.rest import (
    BinanceError,
    BinanceRest,
    IpBanned,
    RestError,
    RestUnavailable,
)
from btc_tui.market.simulator import Simulator
from tests.market.conftest import BASE_MINUTE, eventually

HOUR_MS = 3_600_000


class AutoTime:
    """A clock whose sleep() returns at once, moving the time on (shared by client and server)."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class HeldTime:
    """A clock whose sleepers wait until the test moves the time past their deadline."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, future))
        await future

    def advance_to(self, moment: float) -> None:
        self.now = moment
        for until, future in list(self.sleepers):
            if until <= self.now:
                self.sleepers.remove((until, future))
                future.set_result(None)


def client(sim_or_url: Simulator | str, clock=None, **kw: object) -> BinanceRest:
    url = sim_or_url.rest_url if isinstance(sim_or_url, Simulator) else sim_or_url
    if clock is not None:
        kw.update(clock=clock, sleep=clock.sleep)
    return BinanceRest(url, "btcusdt", **kw)  # type: ignore[arg-type]


async def collect(rest: BinanceRest, start: int, end: int) -> list:
    return [a async for page in rest.agg_trades_between(start, end) for a in page]


# -- pacing ------------------------------------------------------------------------------------
async def test_weight_is_tracked_from_the_header():
    clock = AutoTime(BASE_MINUTE / 1000 + 1)
    async with Simulator(rate=0, clock=clock) as sim, client(sim, clock) as rest:
        await rest.server_time()
        await rest.agg_trades(limit=10)
        await rest.klines(limit=1)
        assert rest.used_weight == 1 + 4 + 2 == sim.weight_by_minute[BASE_MINUTE]
        assert rest.requests == 3 and rest.waits == 0


async def test_own_pacing_keeps_under_the_budget_and_never_earns_a_429():
    clock = AutoTime(BASE_MINUTE / 1000 + 42.3)
    async with (
        Simulator(rate=0, seed=1, clock=clock, weight_limit=50) as sim,
        client(sim, clock, weight_limit=50, budget_share=0.8, max_in_flight=3) as rest,
    ):
        sim.publish([BASE_MINUTE + i for i in range(100)])
        pages = await asyncio.gather(*(rest.agg_trades(limit=5) for _ in range(30)))
    assert all(len(page) == 5 for page in pages)
    assert sim.rest_statuses == {200: 30}  # no 429, no 418
    assert rest.rate_limited == 0
    assert max(sim.weight_by_minute.values()) <= 40  # 80% of 50
    assert sum(sim.weight_by_minute.values()) == 120
    assert len(sim.weight_by_minute) >= 3  # 10 requests a minute: it waited for new minutes
    assert rest.waits >= 2
    # Every request of a minute was sent after that minute began, by the server's clock.
    assert {path for path, _, _ in sim.rest_log} == {"/api/v3/aggTrades"}
    counts: dict[int, int] = {}
    for _, _, at in sim.rest_log:
        minute = int(at * 1000) // MINUTE_MS
        counts[minute] = counts.get(minute, 0) + 1
    assert max(counts.values()) <= 10


async def test_429_retry_after_is_obeyed_by_every_task_with_nothing_sent_meanwhile():
    start = BASE_MINUTE / 1000
    clock = HeldTime(start)
    async with Simulator(rate=0, seed=1, clock=clock) as sim, client(sim, clock) as rest:
        sim.publish([BASE_MINUTE + i for i in range(10)])
        sim.fail_next(429, retry_after=7)
        first = asyncio.create_task(rest.agg_trades(limit=3))
        await eventually(lambda: len(clock.sleepers) == 1)  # it got the 429 and waits
        assert rest.rate_limited == 1 and len(sim.rest_log) == 1
        others = [asyncio.create_task(rest.agg_trades(limit=2)) for _ in range(2)]
        await eventually(lambda: len(clock.sleepers) == 3)  # the others wait too, unsent
        assert len(sim.rest_log) == 1
        clock.advance_to(start + 6.9)
        await eventually(
            lambda: len(clock.sleepers) == 3 and all(s[0] > clock.now for s in clock.sleepers)
        )
        assert len(sim.rest_log) == 1
        clock.advance_to(start + 7)
        assert len(await first) == 3
        assert [len(page) for page in await asyncio.gather(*others)] == [2, 2]
    assert sim.rest_statuses == {429: 1, 200: 3}  # a request in between would have earned a 418
    assert [at for _, _, at in sim.rest_log][1:] == [BASE_MINUTE / 1000 + 7] * 3


async def test_a_429_seen_by_one_client_pauses_every_client_of_that_server():
    start = BASE_MINUTE / 1000
    clock = HeldTime(start)
    async with (
        Simulator(rate=0, clock=clock) as sim,
        client(sim, clock) as backfill,
        client(sim, clock) as repair,
    ):
        sim.fail_next(429, retry_after=2)
        first = asyncio.create_task(backfill.server_time())
        await eventually(lambda: len(clock.sleepers) == 1)
        second = asyncio.create_task(repair.server_time())
        await eventually(lambda: len(clock.sleepers) == 2)
        assert len(sim.rest_log) == 1
        clock.advance_to(start + 2)
        assert await first == await second == (BASE_MINUTE + 2000)
    assert sim.rest_statuses == {429: 1, 200: 2}


async def test_429_from_the_weight_limit_then_resumes_next_minute():
    clock = AutoTime(BASE_MINUTE / 1000 + 30)
    async with Simulator(rate=0, seed=1, clock=clock, weight_limit=10) as sim:
        sim.publish([BASE_MINUTE])
        # This client believes in a larger budget than the server: the server's 429 stops it.
        async with client(sim, clock, weight_limit=100) as rest:
            pages = [await rest.agg_trades(limit=1) for _ in range(4)]
        assert all(len(p) == 1 for p in pages)
    assert sim.rest_statuses == {200: 4, 429: 1}
    assert rest.rate_limited == 1
    last_429 = sim.rest_log[2][2]
    assert sim.rest_log[3][2] >= BASE_MINUTE / 1000 + 60 > last_429


async def test_418_stops_at_once_with_a_clear_message_and_sends_nothing_more():
    clock = AutoTime(BASE_MINUTE / 1000)
    async with Simulator(rate=0, clock=clock) as sim, client(sim, clock) as rest:
        sim.fail_next(418, retry_after=300)
        with pytest.raises(IpBanned) as banned:
            await rest.agg_trades(limit=1)
        message = str(banned.value)
        assert "418" in message and "banned" in message and "5 min" in message
        assert f"{sim.rest_url}/api/v3/aggTrades?symbol=BTCUSDT" in message
        assert banned.value.retry_after == 300
        with pytest.raises(IpBanned):
            await rest.server_time()
        assert len(sim.rest_log) == 1  # never retried, nothing sent after the ban
        assert clock.slept == []
        async with client(sim, clock) as another:  # the ban is on the IP, not on one client
            with pytest.raises(IpBanned, match="for 5 min"):
                await another.server_time()
        assert len(sim.rest_log) == 1
        clock.now += 300  # once the ban has passed, new calls may go again
        assert await rest.server_time() == int(clock.now * 1000)
        assert len(sim.rest_log) == 2


# -- failures and retries ----------------------------------------------------------------------
async def test_5xx_is_retried_with_growing_backoff_then_succeeds():
    clock = AutoTime(BASE_MINUTE / 1000)
    async with Simulator(rate=0, clock=clock) as sim, client(sim, clock, backoff=0.5) as rest:
        sim.fail_next(503, count=2)
        sim.fail_next(502)
        assert await rest.server_time() == BASE_MINUTE + 3500
    assert clock.slept == [0.5, 1.0, 2.0]
    assert rest.requests == 4 and len(sim.rest_log) == 4


async def test_retries_exhausted_raise_rest_unavailable():
    clock = AutoTime(BASE_MINUTE / 1000)
    async with Simulator(rate=0, clock=clock) as sim, client(sim, clock, retries=2) as rest:
        sim.fail_next(500, count=5)
        with pytest.raises(RestUnavailable) as failed:
            await rest.agg_trades(limit=1)
    assert "HTTP 500" in str(failed.value) and "gave up after 3 attempts" in str(failed.value)
    assert len(sim.rest_log) == 3


async def test_an_unreachable_server_is_rest_unavailable():
    clock = AutoTime(0)
    async with Simulator(rate=0) as sim:
        url = sim.rest_url
    async with client(url, clock, retries=1) as rest:  # the port is closed now
        with pytest.raises(RestUnavailable, match=r"/api/v3/time: .*gave up after 2 attempts"):
            await rest.server_time()


@pytest.fixture
async def http_server() -> AsyncIterator[Callable[[Callable[..., Awaitable]], Awaitable[str]]]:
    """Start an aiohttp server on loopback with the given handler for every path; yields its URL."""
    runners = []

    async def start(handler: Callable[..., Awaitable]) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_a_timeout_is_retried(http_server):
    calls = 0
    hang = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await hang.wait()  # never answers: the client's timeout must fire
        return web.json_response({"serverTime": 1234})

    url = await http_server(handler)
    async with client(url, AutoTime(0), timeout=0.2) as rest:
        try:
            assert await rest.server_time() == 1234
        finally:
            hang.set()  # let the server's first handler finish, so the server can stop
    assert calls == 2 and rest.requests == 2


async def test_binance_errors_surface_their_message():
    async with Simulator(rate=0) as sim:
        async with BinanceRest(sim.rest_url, "ethusdt") as rest:
            with pytest.raises(BinanceError) as invalid:
                await rest.agg_trades(limit=1)
        assert (invalid.value.code, invalid.value.msg, invalid.value.status) == (
            -1121,
            "Invalid symbol.",
            400,
        )
        assert str(invalid.value).endswith("Binance error -1121 (HTTP 400): Invalid symbol.")
        assert "symbol=ETHUSDT" in str(invalid.value)
        async with client(sim) as rest:
            with pytest.raises(BinanceError, match="More than 1 hours") as too_long:
                await rest.agg_trades(start_time=0, end_time=HOUR_MS + 1)
        assert too_long.value.code == -1127
        assert len(sim.rest_log) == 2  # refusals are not retried


async def test_a_garbled_answer_is_a_rest_error(http_server):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response([{"a": 1, "p": "x"}])

    url = await http_server(handler)
    async with client(url, AutoTime(0)) as rest:
        with pytest.raises(RestError, match=r"aggTrades.*lacks"):
            await rest.agg_trades()


async def test_at_most_max_in_flight_requests_at_once(http_server):
    current = peak = 0
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await release.wait()
        current -= 1
        return web.json_response({"serverTime": 1})

    url = await http_server(handler)
    async with client(url, AutoTime(0), max_in_flight=3) as rest:
        calls = asyncio.gather(*(rest.server_time() for _ in range(10)))
        await eventually(lambda: current == 3)
        release.set()
        assert await calls == [1] * 10
    assert peak == 3


# -- paging --------------------------------------------------------------------------------------
async def test_agg_trades_between_returns_exactly_the_range_over_hours_of_history():
    end_of_past = BASE_MINUTE + 24 * 60 * MINUTE_MS
    clock = AutoTime(end_of_past / 1000 + 30)
    async with Simulator(
        rate=0, seed=8, clock=clock, history_minutes=900, history_end=end_of_past
    ) as sim:
        sim.publish([end_of_past + 1000] * 4, one_order=True)
        sim.publish([end_of_past + 2000 + i for i in range(20)])
        every = sim.agg_trades()
        async with client(sim, clock) as rest:
            # from before the past began (empty hours first) to inside the live trades
            start = end_of_past - 1000 * MINUTE_MS - 123
            end = end_of_past + 2010
            got = await collect(rest, start, end)
            want = [a for a in every if start <= a.trade_time < end]
            assert got == want
            assert len(want) > 2000  # several pages
            assert len({a.agg_id for a in got}) == len(got)
            # a range ending mid-past, starting mid-minute
            start2, end2 = end_of_past - 500 * MINUTE_MS + 7, end_of_past - 77 * MINUTE_MS - 1
            assert await collect(rest, start2, end2) == [
                a for a in every if start2 <= a.trade_time < end2
            ]
            assert await collect(rest, end + 10 * MINUTE_MS, end + 11 * MINUTE_MS) == []
    for path, query, _ in sim.rest_log:
        assert path == "/api/v3/aggTrades"
        if "startTime" in query:
            assert int(query["endTime"]) - int(query["startTime"]) < HOUR_MS
            assert "fromId" not in query
        else:
            assert int(query["limit"]) == 1000
    assert sim.rest_statuses.keys() == {200}


def agg_json(agg_id: int, when: int) -> dict[str, object]:
    return {"a": agg_id, "p": "1.00", "q": "1.0", "f": agg_id, "l": agg_id, "T": when, "m": True}


async def test_agg_trades_between_reports_missing_aggregates_instead_of_a_gap(http_server):
    async def handler(request: web.Request) -> web.Response:
        query = request.query
        if "startTime" in query:
            return web.json_response([agg_json(i, 1000 + i) for i in range(1, 1001)])
        first = int(query["fromId"])
        if first >= 3001:
            return web.json_response([])
        skip = 4 if first == 2001 else 0  # this page starts 4 aggregates late
        return web.json_response([agg_json(i, 1000 + i) for i in range(first + skip, first + 1000)])

    url = await http_server(handler)
    got = []
    async with client(url, AutoTime(0)) as rest:
        with pytest.raises(RestError, match=r"fromId=2001: .*aggregates 2001\.\.2004 are missing"):
            async for page in rest.agg_trades_between(0, 10_000):
                got.extend(page)
    assert [a.agg_id for a in got] == list(range(1, 2001))  # everything before the gap, once


# -- across processes (issue 15.7) ---------------------------------------------------------------
async def test_a_418_is_honoured_by_the_next_process_which_says_until_when(tmp_path):
    import subprocess
    import sys

    async with Simulator(rate=0, seed=1) as sim:
        async with BinanceRest(sim.rest_url, "btcusdt") as rest:  # the wall clock: recorded
            sim.fail_next(418, retry_after=300)
            with pytest.raises(IpBanned):
                await rest.server_time()
        assert len(sim.rest_log) == 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
        env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
        command = [sys.executable, "-m", "btc_tui", "backfill", "--since", "1h"]
        command += ["--rest-url", sim.rest_url, "--data", str(tmp_path / "m.csv")]
        proc = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, env=env, timeout=60
        )
        assert proc.returncode == 2, proc.stderr
        assert "banned" in proc.stderr and "recorded by an earlier run" in proc.stderr
        assert "until" in proc.stderr and "Traceback" not in proc.stderr
        assert len(sim.rest_log) == 1  # the new process sent nothing


async def test_a_429_retry_after_is_waited_out_by_the_next_client_and_said(tmp_path):
    async with Simulator(rate=0, seed=1) as sim:
        async with BinanceRest(sim.rest_url, "btcusdt") as rest:
            sim.fail_next(429, retry_after=1)
            first = asyncio.create_task(rest.server_time())
            await eventually(lambda: rest.rate_limited == 1)
            first.cancel()  # the process ends before its pause is over
        told: list[str] = []

        def in_a_new_process() -> None:  # a new event loop: nothing shared but the state dir
            async def go() -> None:
                async with BinanceRest(sim.rest_url, "btcusdt") as again:
                    again.on_wait = told.append
                    await again.server_time()

            asyncio.run(go())

        sent_before = len(sim.rest_log)
        await asyncio.to_thread(in_a_new_process)
        assert told and "sending nothing until" in told[0] and "UTC" in told[0]
        assert len(sim.rest_log) == sent_before + 1
        assert sim.rest_statuses.get(418) is None
