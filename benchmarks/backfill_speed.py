"""Backfill of 3 days against a loopback Binance with 50 ms latency per request: minutes/s, requests,
and the weight used per minute against Binance's 6,000 budget (target >= 75% used, no 429 caused by
our own pacing).

The server (another process, aiohttp) serves `/api/v3/time` and `/api/v3/aggTrades` over a dense,
deterministic past (`--density` aggregates per minute, 2 trades each), with Binance's rules: weight 4
per aggTrades request counted per wall-clock minute, `X-MBX-USED-WEIGHT-1M` on every answer, 429 with
`Retry-After` past 6,000, startTime/endTime under an hour apart. The real `btc-tui backfill` code path
(`history.backfill` -> `BinanceRest` -> `MinuteStore.merge`) writes a real CSV, then every minute is
checked against what the server holds (trade count and id range).

    .venv/bin/python benchmarks/backfill_speed.py [--days 3] [--density 600] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from btc_tui.config import Settings
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.history import backfill, check

END = 1_723_161_600_000  # 2024-08-09 00:00 UTC
WEIGHT_LIMIT = 6000
TRADES_PER_AGG = 2


class DensePast:
    """Aggregate k (0-based): minute k // density, evenly spaced in it; trades 2k+1, 2k+2."""

    def __init__(self, minutes: int, density: int) -> None:
        self.start = END - minutes * MINUTE_MS
        self.density = density
        self.count = minutes * density

    def time_of(self, k: int) -> int:
        minute, i = divmod(k, self.density)
        return self.start + minute * MINUTE_MS + i * MINUTE_MS // self.density

    def first_at(self, t: int) -> int:
        """The first aggregate with time >= t."""
        if t <= self.start:
            return 0
        minute, offset = divmod(t - self.start, MINUTE_MS)
        i = -(-offset * self.density // MINUTE_MS)
        return min(self.count, minute * self.density + i)

    def item(self, k: int) -> dict[str, object]:
        cents = 6_000_000 + (k * 7919) % 5000 - 2500
        units = 1000 + (k * 104729) % 900_000
        return {
            "a": k + 1,
            "p": f"{cents // 100}.{cents % 100:02d}000000",
            "q": f"{units // 10**8}.{units % 10**8:08d}",
            "f": TRADES_PER_AGG * k + 1,
            "l": TRADES_PER_AGG * k + TRADES_PER_AGG,
            "T": self.time_of(k),
            "m": k % 3 == 0,
            "M": True,
        }


def serve(port_queue: multiprocessing.Queue, minutes: int, density: int, latency: float) -> None:
    import orjson
    from aiohttp import web

    past = DensePast(minutes, density)
    used: dict[int, int] = {}
    stats = {"429": 0, "requests": 0}

    def charge(weight: int) -> tuple[int, int]:
        minute = int(time.time() * 1000) // MINUTE_MS
        used[minute] = used.get(minute, 0) + weight
        return minute, used[minute]

    def answer(body: object, total: int, status: int = 200, **headers: str) -> web.Response:
        return web.Response(
            body=orjson.dumps(body),
            status=status,
            content_type="application/json",
            headers={"X-MBX-USED-WEIGHT-1M": str(total), **headers},
        )

    async def server_time(request: web.Request) -> web.Response:
        await asyncio.sleep(latency)
        _, total = charge(1)
        return answer({"serverTime": END + 30_000}, total)

    async def agg_trades(request: web.Request) -> web.Response:
        stats["requests"] += 1
        minute, total = charge(4)
        await asyncio.sleep(latency)
        if total > WEIGHT_LIMIT:
            stats["429"] += 1
            wait = max(1, int((minute + 1) * 60 - time.time()) + 1)
            return answer({"code": -1003, "msg": "Too many requests"}, total, 429, **{
                "Retry-After": str(wait)
            })  # fmt: skip
        q = request.query
        limit = min(1000, int(q.get("limit", 500)))
        if "fromId" in q:
            lo = max(0, int(q["fromId"]) - 1)
            hi = min(past.count, lo + limit)
        else:
            s, e = int(q["startTime"]), int(q["endTime"])
            if e - s >= 3_600_000:
                return answer({"code": -1127, "msg": "More than 1 hours between startTime "
                               "and endTime."}, total, 400)  # fmt: skip
            lo = past.first_at(s)
            hi = min(past.first_at(e + 1), lo + limit)
        return answer([past.item(k) for k in range(max(lo, 0), hi)], total)

    async def report(request: web.Request) -> web.Response:
        return answer({"used": {str(k): v for k, v in used.items()}, **stats}, 0)

    app = web.Application()
    app.router.add_get("/api/v3/time", server_time)
    app.router.add_get("/api/v3/aggTrades", agg_trades)
    app.router.add_get("/report", report)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


async def run(args: argparse.Namespace, port: int, data: Path) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{port}"
    settings = Settings().with_changes(data=data, rest_url=url)
    minutes = int(args.days * 1440)
    began = time.monotonic()
    last_print = [began]

    def progress(p) -> None:
        now = time.monotonic()
        if now - last_print[0] >= 15:
            last_print[0] = now
            print(f"  {p.done_minutes:,}/{p.total_minutes:,} minutes, {p.requests:,} requests")

    result = await backfill(settings, END - minutes * MINUTE_MS, END, on_progress=progress)
    seconds = time.monotonic() - began
    async with aiohttp.ClientSession() as session, session.get(f"{url}/report") as response:
        report = await response.json()
    used = {int(k): v for k, v in report["used"].items()}
    minutes_seen = sorted(used)
    whole = minutes_seen[1:-1]  # the first and last wall-clock minutes are only partly in the run
    print(
        f"days {args.days}, {args.density} aggregates/minute, latency {args.latency * 1000:.0f} ms"
    )
    print(
        f"backfill: {result.written:,} minutes in {seconds:.1f} s = {result.written / seconds:,.1f} "
        f"minutes/s; {result.requests:,} requests; {report['429']} x 429"
    )
    print(
        f"weight per wall-clock minute (Binance's budget {WEIGHT_LIMIT:,}): "
        + ", ".join(
            f"{used[m]:,} ({used[m] / WEIGHT_LIMIT:.0%}{'' if m in whole else ', partial minute'})"
            for m in minutes_seen
        )
    )
    if whole:
        mean = sum(used[m] for m in whole) / len(whole)
        print(f"whole minutes: mean {mean:,.0f} = {mean / WEIGHT_LIMIT:.0%} of the budget")
    report_check = check(data)
    assert result.written == minutes, result
    assert report_check.problems == 0, report_check.lines()[:5]
    assert report_check.rows == minutes
    print(f"check: {minutes:,} rows, trade ids continuous, every minute {args.density * 2} trades")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--density", type=int, default=600, help="aggregates per minute")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    minutes = int(args.days * 1440)
    server = multiprocessing.Process(
        target=serve, args=(queue, minutes, args.density, args.latency), daemon=True
    )
    server.start()
    try:
        port = queue.get(timeout=30)
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(run(args, port, Path(folder) / "m.csv"))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
