"""How many trades per second the collector absorbs, end to end over loopback (target >= 100,000).

A server in another process blasts N pre-generated Binance-shaped trade frames (one trade per
message, as Binance sends them) spread over many minutes of trade time, as fast as the socket takes
them. The real Collector (TradeStream -> MinuteAggregator -> MinuteStore) receives them and writes
the CSV; we time first trade to last, then check every trade is in exactly one CSV minute.
The stream uses websockets' public API only (recv() per message). For scale, it also prints the rate
of parse_message + MinuteAggregator.add alone on in-memory payloads, and the rate of a bare
websockets client that only calls recv() against the same server (the ceiling on this machine at
that moment: other load on the machine moves every figure, so compare them within one run).

    .venv/bin/python benchmarks/collector_throughput.py [--trades 1000000] [--minutes 500]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import hashlib
import multiprocessing
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from websockets.asyncio.client import connect

from btc_tui.config import Settings
from btc_tui.market.bars import MinuteAggregator
from btc_tui.market.binance import format_trade, parse_message
from btc_tui.market.collector import Collector
from btc_tui.market.simulator import RandomWalk, price_text, qty_text

BASE_MINUTE = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def make_payloads(trades: int, minutes: int) -> tuple[list[str], Decimal]:
    """Binance-shaped payloads with trade times spread evenly over `minutes`; and their volume."""
    walk = RandomWalk(seed=1, start_price=42_000.0, first_trade_id=3_000_000_000)
    spacing = minutes * 60_000 / trades
    payloads = []
    units = 0
    for i in range(trades):
        trade_id, cents, qty_units, maker = walk.step()
        t = BASE_MINUTE + int(i * spacing)
        payloads.append(
            format_trade("btcusdt", trade_id, price_text(cents), qty_text(qty_units), t, t, maker)
        )
        units += qty_units
    return payloads, Decimal(units) / 100_000


def text_frame(payload: bytes) -> bytes:
    """One unmasked server text frame, as Binance sends each trade (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        return bytes([0x81, size]) + payload
    return bytes([0x81, 126]) + size.to_bytes(2, "big") + payload


def accept_key(key: bytes) -> bytes:
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    return base64.b64encode(hashlib.sha1(key + guid).digest())


def serve(port_queue: multiprocessing.Queue, trades: int, minutes: int) -> None:
    """The blasting server (runs in its own process).

    A bare asyncio server that does the handshake by hand and writes pre-encoded frames, so the
    server costs almost nothing and the figure measures the collector, not the load generator. It
    answers the client's keepalive pings (frames are written in whole-frame chunks, so a pong never
    lands inside a trade frame) and ignores everything else the client sends.
    """
    payloads, _ = make_payloads(trades, minutes)
    chunks: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for p in payloads:
        chunk.append(text_frame(p.encode()))
        size += len(chunk[-1])
        if size >= 1 << 20:
            chunks.append(b"".join(chunk))
            chunk, size = [], 0
    if chunk:
        chunks.append(b"".join(chunk))
    del payloads

    async def answer_pings(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readexactly(2)
            size = head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await reader.readexactly(8), "big")
            mask = await reader.readexactly(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(size)))
            if head[0] & 0x0F == 0x9:  # ping -> pong with the same data
                writer.write(bytes([0x8A, len(data)]) + data)
            elif head[0] & 0x0F == 0x8:  # close: we are done
                writer.close()
                return

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
        )
        writer.transport.set_write_buffer_limits(high=8 << 20)  # fewer wake-ups per megabyte
        pings = asyncio.create_task(answer_pings(reader, writer))
        with contextlib.suppress(ConnectionError):
            for data in chunks:
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(asyncio.IncompleteReadError):
                await pings

    async def main() -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await asyncio.Future()

    asyncio.run(main())


async def end_to_end(url: str, trades: int, data: Path) -> tuple[float, float, Collector]:
    """(trades/s by the wall clock, trades per CPU-second of this process, the collector)."""
    # No REST: the blast has no holes, and nothing here may reach the internet.
    settings = Settings(data=data, url=url, stale_after=30.0, repair=False, history=0.0)
    collector = Collector(settings)
    task = asyncio.create_task(collector.run())
    stream = collector.stream
    while stream.trades == 0:
        await asyncio.sleep(0.0005)
    started = time.perf_counter()
    cpu_started = time.process_time()
    first = stream.trades
    while stream.trades < trades and not task.done():
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    absorbed = stream.trades - first
    return absorbed / elapsed, absorbed / cpu, collector


async def bare_client(url: str, trades: int) -> float:
    """The ceiling on this machine right now: websockets' recv() alone, nothing done per frame."""
    async with connect(f"{url}/ws/btcusdt@trade", compression=None) as connection:
        await connection.recv()
        started = time.perf_counter()
        for _ in range(trades - 1):
            await connection.recv()
        return (trades - 1) / (time.perf_counter() - started)


def parse_and_aggregate_rate(payloads: list[str]) -> float:
    aggregator = MinuteAggregator(grace=2.0)
    add = aggregator.add
    parse = parse_message
    started = time.perf_counter()
    for raw in payloads:
        add(parse(raw))
    elapsed = time.perf_counter() - started
    return len(payloads) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=int, default=500, help="minutes of trade time spanned")
    args = parser.parse_args()

    payloads, volume = make_payloads(min(args.trades, 300_000), args.minutes)
    rate = parse_and_aggregate_rate(payloads)
    print(f"parse_message + MinuteAggregator.add alone: {rate:,.0f} trades/s")
    del payloads
    _, volume = make_payloads(args.trades, args.minutes)

    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue = ctx.Queue()
    server = ctx.Process(target=serve, args=(ports, args.trades, args.minutes), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=600)
        ceiling = asyncio.run(bare_client(f"ws://127.0.0.1:{port}", args.trades))
        print(f"bare websockets client, recv() only, same server: {ceiling:,.0f} frames/s")
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "bench.csv"
            absorbed, per_cpu, collector = asyncio.run(
                end_to_end(f"ws://127.0.0.1:{port}", args.trades, data)
            )
            with data.open(newline="") as f:
                rows = list(csv.DictReader(f))
    finally:
        server.terminate()
        server.join()

    total = sum(int(r["trades"]) for r in rows)
    stored_volume = sum(Decimal(r["volume"]) for r in rows)
    status = collector.status
    print(
        f"end to end over loopback (server in another process): {absorbed:,.0f} trades/s "
        f"({args.trades:,} trades, {len(rows)} minutes written)"
    )
    print(
        f"CPU cost in the collector's process: {1e6 / per_cpu:.2f} us a trade "
        f"({per_cpu:,.0f} trades per CPU-second; what the machine's other load cannot move much)"
    )
    print(
        f"accounted for: {total:,} of {args.trades:,} trades in the CSV, volume "
        f"{'matches' if stored_volume == volume else f'{stored_volume} != {volume}'}; "
        f"duplicates {status.duplicates}, missed {status.missed}, late {status.late}, "
        f"bad {status.bad}, reconnects {status.reconnects}"
    )
    ok = total == args.trades and stored_volume == volume and len(rows) == args.minutes
    print("target 100,000 trades/s:", "met" if absorbed >= 100_000 else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
