"""Repair of a long hole (issue 15.2): a 3-hour outage of BTCUSDT-like density, 50 ms REST latency.

The real Collector streams from the in-process simulator; the simulator makes `--hours` of trades
(`--rate` a second, one aggregate each, as busy BTCUSDT hours have) that the socket never
delivers, then the stream resumes and the collector repairs the hole over the simulator's REST API
(aggTrades, weight 4, 1,000 aggregates a page), minutes written as they complete. Two runs, each in
a fresh process so that its RSS figures are its own:

(a) Binance's real limit, 6,000 weight per minute of the server's clock (the client allows itself
    80% of it). Printed: minutes repaired per second, requests and weight, the weight the server
    counted in each of its minutes the repair touched, whether the budget bound (the client ever
    waited for it), what bounded it instead (REST round trips at `max_in_flight` 3, and the CPU:
    simulator and collector share this process), and RSS before the repair and at its peak.
    A 3-hour hole needs about 900 weight, under one minute's budget: the budget never binds, so a
    "share of the budget" over the repair would be an extrapolation, and is not printed.
(b) The same hole with the limit scaled down on both sides (simulator and client, `--limit`; by
    default so that the repair needs about 3.5 minutes of budget and spans 4 server minutes), so
    the budget binds. Printed: the share of the limit the server counted in each server minute the
    repair touched, and their mean over the FULL minutes inside the repair (the first and the last
    are partial), against the issue's target of 75% (the client's ceiling is its budget_share,
    80%), and RSS. Takes about 3 minutes of wall time: budget minutes are real minutes.

RSS is sampled every 50 ms; the simulator's own book of trades is in the "before" figure. Run
with `--hours 9` too: the growth during the repair must not grow with the hole.

    .venv/bin/python benchmarks/repair_hole.py [--hours 3] [--rate 20] [--latency 0.05]
        [--limit N] [--part a|b] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from btc_tui.config import Settings
from btc_tui.market.collector import Collector, CollectorLog
from btc_tui.market.rest import BinanceRest
from btc_tui.market.simulator import Simulator
from btc_tui.market.stream import Backoff

BASE_MINUTE = 1_704_067_200_000  # 2024-01-01 00:00 UTC (the trades' times; REST's clock is now)
WEIGHT_LIMIT = 6000  # per minute, Binance's
AGG_WEIGHT = 4
PAGE = 1000
TARGET = 0.75  # the target share of the limit while the budget binds
MINUTES_OF_BUDGET = 3.5  # part (b)'s default limit: the repair needs this many minutes' budget


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


@dataclass
class Run:
    count: int  # aggregates in the hole
    seconds: float  # from the stream's resumption to the "repaired" log line
    cpu: float  # process CPU seconds over the same span (simulator + collector)
    requests: int  # sent by the client during the repair
    waits: int  # times the client paused for the weight budget
    rate_limited: int  # 429s
    began: float  # wall clock (the simulator's clock), s
    ended: float
    by_minute: dict[int, int] = field(default_factory=dict)  # server minute (ms) -> weight
    repair: dict[int, int] = field(default_factory=dict)  # the part of it the repair sent
    baseline: float = 0.0  # RSS, MB
    peak: float = 0.0


async def repair(hours: float, rate: float, latency: float, limit: int) -> Run:
    done = asyncio.Event()
    failed: list[str] = []

    def on_log(log: CollectorLog) -> None:
        if "-v" in sys.argv:
            print(f"{time.time() % 3600:8.2f} {log.text}", file=sys.stderr)
        if log.text.startswith("repaired a hole"):
            done.set()
        elif log.text.startswith("hole not repaired"):
            failed.append(log.text)
            done.set()

    sim = Simulator(rate=0, seed=1, ping_interval=5.0, rest_latency=latency, weight_limit=limit)
    async with (
        sim,
        BinanceRest(sim.rest_url, "btcusdt", weight_limit=limit) as rest,
    ):
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                data=Path(folder) / "m.csv",
                url=sim.url,
                rest_url=sim.rest_url,
                history=0.0,
                stale_after=3600.0,  # no live trades while repairing: no reconnects either
            )
            collector = Collector(
                settings,
                on_log=on_log,
                grace=3600.0,
                backoff=Backoff(base=0.01, cap=0.02, random=random.Random(0).random),
                healthy_after=0.0,
                rest=rest,
            )
            task = asyncio.create_task(collector.run())
            await sim.wait_for_connections(1)
            sim.publish([BASE_MINUTE + 10 * i for i in range(5)])
            count = int(hours * 3600 * rate)
            step = 1000.0 / rate
            start = BASE_MINUTE + 60_000
            sim.publish([start + int(i * step) for i in range(count)], send=False)
            resume = start + int(count * step) + 60_000
            # The start's own requests (the symbol check, the first minute's fill) are over
            # before the hole opens: the figures below are the repair's alone.
            while len(sim.rest_log) < 2 or time.time() - sim.rest_log[-1][2] < 0.3:
                await asyncio.sleep(0.05)
            before = dict(sim.weight_by_minute)
            requests, waits, limited = rest.requests, rest.waits, rest.rate_limited
            baseline = rss_mb()
            peak = baseline
            began, cpu = time.time(), time.process_time()
            sim.publish([resume, resume + 10])  # the stream resumes: the hole shows
            while not done.is_set():
                peak = max(peak, rss_mb())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.05)
            ended, cpu = time.time(), time.process_time() - cpu
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if failed:
        raise SystemExit(failed[0])
    repaired = {
        m: w - before.get(m, 0) for m, w in sim.weight_by_minute.items() if w > before.get(m, 0)
    }
    return Run(
        count=count,
        seconds=ended - began,
        cpu=cpu,
        requests=rest.requests - requests,
        waits=rest.waits - waits,
        rate_limited=rest.rate_limited - limited,
        began=began,
        ended=ended,
        by_minute={m: sim.weight_by_minute[m] for m in repaired},
        repair=repaired,
        baseline=baseline,
        peak=peak,
    )


def minute_text(minute_ms: int) -> str:
    return f"{datetime.fromtimestamp(minute_ms / 1000, UTC):%H:%M}"


def minute_lines(run: Run, limit: int) -> tuple[list[str], list[float]]:
    """One line per server minute the repair touched; the shares of the limit in the full ones."""
    lines, full = [], []
    first = math.floor(run.began / 60) * 60_000
    last = math.floor(run.ended / 60) * 60_000
    for minute in range(first, last + 60_000, 60_000):
        weight = run.by_minute.get(minute, 0)
        own = run.repair.get(minute, 0)
        whole = minute >= run.began * 1000 and minute + 60_000 <= run.ended * 1000
        if whole:
            full.append(weight / limit)
        span = "full minute"
        if not whole:
            lo = max(run.began, minute / 1000) - minute / 1000
            hi = min(run.ended, minute / 1000 + 60) - minute / 1000
            span = f"partial: repairing from :{lo:04.1f} to :{hi:04.1f}"
        start = "" if own == weight else f" ({weight - own} of them before the repair)"
        lines.append(
            f"  {minute_text(minute)} UTC: {weight:>6,} weight ({weight / limit:6.1%} of "
            f"{limit:,}){start}, {span}"
        )
    return lines, full


def summary(run: Run, hours: float, latency: float, limit: int) -> None:
    minutes = hours * 60
    weight = sum(run.repair.values())
    print(
        f"hole: {run.count:,} aggregates over {minutes:g} minutes; REST latency {latency * 1e3:g} ms"
    )
    print(
        f"repaired in {run.seconds:.2f} s: {minutes / run.seconds:,.1f} minutes/s; "
        f"{run.requests:,} requests sent, {weight:,} weight counted by the server (look-ahead "
        f"requests cancelled at the end are not); {run.rate_limited} HTTP 429"
    )
    print("weight the server counted in each of its minutes (:ss its clock) the repair touched:")
    lines, _ = minute_lines(run, limit)
    print("\n".join(lines))


def report_a(run: Run, hours: float, latency: float) -> None:
    budget = int(WEIGHT_LIMIT * 0.8)
    print(f"(a) Binance's limit, {WEIGHT_LIMIT:,} weight/min (the client's budget: {budget:,})")
    summary(run, hours, latency, WEIGHT_LIMIT)
    most = max(run.by_minute.values(), default=0)
    round_trips = run.requests * latency / 3
    if run.waits == 0 and most <= budget:
        per_minute = run.requests / run.seconds * 60
        pages = budget // AGG_WEIGHT
        print(
            f"the budget did not bind: the most weight in any server minute was {most:,} of the "
            f"{budget:,} the client allows itself, and it never waited for it; so no share of "
            "the budget is claimed here (see (b)). The pace was the client's own: "
            f"{run.requests / run.seconds:.0f} requests/s, set by the REST round trips (alone "
            f">= {round_trips:.1f} s: {run.requests} x {latency * 1e3:g} ms / 3 in flight) and "
            f"the CPU ({run.cpu:.1f} s, {run.cpu / run.seconds:.0%} of the wall time, collector "
            "and simulator in one process): together "
            f"{round_trips + run.cpu:.1f} s against {run.seconds:.1f} s of wall time"
        )
        if per_minute > pages:
            print(
                f"at this pace ({per_minute:,.0f} requests a minute against a budget of "
                f"{pages:,}) the budget starts to bind for holes of more than about {pages:,} "
                f"pages ({pages * PAGE / (run.count / hours / 3600) / 3600:.1f} h at this density)"
            )
    else:
        print(f"the budget bound: the client waited {run.waits} time(s) for it")
    print(
        f"RSS: {run.baseline:.0f} MB before the repair, peak {run.peak:.0f} MB during it "
        f"(+{run.peak - run.baseline:.0f} MB; the simulator's book of the hole is in the first)"
    )


def report_b(run: Run, hours: float, latency: float, limit: int) -> None:
    budget = int(limit * 0.8)
    print(
        f"(b) the limit scaled down to {limit:,} weight/min on the simulator and the client "
        f"(the client's budget: {budget:,}), so the budget binds"
    )
    summary(run, hours, latency, limit)
    _, full = minute_lines(run, limit)
    if full:
        mean = sum(full) / len(full)
        verdict = "met" if mean >= TARGET else "NOT met"
        print(
            f"share of the limit in the {len(full)} full server minute(s) inside the repair: "
            f"{', '.join(f'{s:.1%}' for s in full)}; mean {mean:.1%} (target >= {TARGET:.0%}: "
            f"{verdict}; the client's ceiling is its budget_share, 80%); the client waited "
            f"{run.waits} time(s) for the budget"
        )
    else:
        print("no full server minute inside the repair: lower --limit to measure the share")
    print(
        f"RSS: {run.baseline:.0f} MB before the repair, peak {run.peak:.0f} MB during it "
        f"(+{run.peak - run.baseline:.0f} MB; the simulator's book of the hole is in the first)"
    )


def auto_limit(hours: float, rate: float) -> int:
    """A limit at which the hole needs about MINUTES_OF_BUDGET minutes of the client's budget."""
    weight = AGG_WEIGHT * (math.ceil(hours * 3600 * rate / PAGE) + 5)
    return 20 * math.ceil(weight / (0.8 * MINUTES_OF_BUDGET) / 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=20.0, help="aggregates per second")
    parser.add_argument("--latency", type=float, default=0.05, help="REST latency, s")
    parser.add_argument(
        "--limit",
        type=int,
        default=0,
        help="part (b)'s weight limit per minute, on the simulator and the client (default: "
        f"the hole needs {MINUTES_OF_BUDGET:g} minutes of budget)",
    )
    parser.add_argument("--part", choices=("a", "b"), help="run one part, in this process")
    parser.add_argument("-v", action="store_true", help="print the collector's log")
    args = parser.parse_args()
    limit = args.limit or auto_limit(args.hours, args.rate)
    if args.part == "a":
        run = asyncio.run(repair(args.hours, args.rate, args.latency, WEIGHT_LIMIT))
        report_a(run, args.hours, args.latency)
    elif args.part == "b":
        run = asyncio.run(repair(args.hours, args.rate, args.latency, limit))
        report_b(run, args.hours, args.latency, limit)
    else:  # each part in a fresh process: RSS figures not left over from the other
        for part in ("a", "b"):
            argv = [sys.executable, __file__, *sys.argv[1:], "--part", part]
            if subprocess.run(argv).returncode:
                raise SystemExit(1)
            if part == "a":
                print()


if __name__ == "__main__":
    main()
