"""Shared pieces for the stream/collector tests: a real simulator on loopback, trade times in a
fixed past minute range (so minutes close by the next minute's trades, never by the wall clock),
fast deterministic backoff, and readers for the CSV the collector wrote."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import random
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from btc_tui.market.simulator import SentTrade, Simulator
from btc_tui.market.stream import Backoff

BASE_MINUTE = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000


def minute_times(minute: int, count: int, start_ms: int = 0) -> list[int]:
    """`count` trade times 10 ms apart inside minute number `minute` after BASE_MINUTE.

    They sit in the first seconds of the minute, so the aggregator's clock estimate (trade time
    plus elapsed wall time) needs most of a minute of real time to close it on its own.
    """
    start = BASE_MINUTE + minute * MINUTE_MS + start_ms
    return [start + 10 * i for i in range(count)]


def fast_backoff(seed: int = 0) -> Backoff:
    return Backoff(base=0.02, cap=0.1, random=random.Random(seed).random)


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test (and the processes it starts) keeps REST deadlines (429, 418) in its own state
    directory, never the user's: a ban recorded by one test must not reach the next."""
    home = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A hand-driven simulator: no random-walk clock, pings every 0.2 s, every trade recorded."""
    async with Simulator(rate=0, seed=7, ping_interval=0.2, record=True) as sim:
        yield sim


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (we run as root in CI and here); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_up(folder: Path) -> Path:
    """Fill the file system holding `folder` with one file until it refuses more: ENOSPC."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 1024)
        except OSError:
            pass
    return filler


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `predicate()` holds (a deadline, not a timing assertion)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def row_minute(row: dict[str, str]) -> int:
    from datetime import UTC, datetime

    moment = datetime(
        int(row["year"]),
        int(row["month"]),
        int(row["day"]),
        int(row["hour"]),
        int(row["minute"]),
        tzinfo=UTC,
    )
    return int(moment.timestamp() * 1000)


def expected_minutes(trades: list[SentTrade]) -> dict[int, dict[str, object]]:
    """What each minute's row must say, computed from what the server sent (exact decimals)."""
    out: dict[int, dict[str, object]] = {}
    for t in sorted(trades, key=lambda t: t.trade_id):
        minute = t.trade_time - t.trade_time % MINUTE_MS
        price = Decimal(t.price)
        m = out.setdefault(
            minute, {"trades": 0, "volume": Decimal(0), "open": price, "high": price, "low": price}
        )
        m["trades"] += 1  # type: ignore[operator]
        m["volume"] += Decimal(t.qty)  # type: ignore[operator]
        m["high"] = max(m["high"], price)  # type: ignore[type-var]
        m["low"] = min(m["low"], price)  # type: ignore[type-var]
        m["close"] = price
    return out


def assert_csv_matches(path: Path, trades: list[SentTrade]) -> list[dict[str, str]]:
    """Every trade the server sent is in exactly one CSV minute: counts, volumes and OHLC agree."""
    rows = read_rows(path)
    minutes = [row_minute(r) for r in rows]
    assert len(minutes) == len(set(minutes)), "a minute was written twice"
    assert minutes == sorted(minutes)
    expected = expected_minutes(trades)
    assert sorted(expected) == minutes
    assert sum(int(r["trades"]) for r in rows) == len(trades)
    for row in rows:
        want = expected[row_minute(row)]
        assert int(row["trades"]) == want["trades"]
        assert Decimal(row["volume"]) == want["volume"]
        for column in ("open", "high", "low", "close"):
            assert Decimal(row[column]) == want[column], column
    return rows


class RawFrameServer:
    """A bare TCP server that does the WebSocket handshake by hand, then writes exactly the bytes
    a test gives it, in the chunks it chooses: it reaches frame layouts and TCP boundaries that a
    well-behaved websockets server never produces."""

    def __init__(self) -> None:
        self.port = 0
        self.received = bytearray()  # everything the client sent after the handshake
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._scripts: list[Callable[[asyncio.StreamWriter, bytes], object]] = []

    def then(self, script: Callable[[asyncio.StreamWriter, bytes], object]) -> None:
        """Queue the behaviour of the next connection: `await script(writer, handshake_reply)`."""
        self._scripts.append(script)

    async def __aenter__(self) -> RawFrameServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import socket

        from websockets.utils import accept_key

        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = accept_key(key.decode()).encode()
        reply = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

        async def collect() -> None:
            while chunk := await reader.read(65536):
                self.received.extend(chunk)

        reading = asyncio.create_task(collect())
        try:
            script = self._scripts.pop(0) if self._scripts else None
            if script is not None:
                with contextlib.suppress(ConnectionError):  # the client may leave mid-script
                    await script(writer, reply)  # type: ignore[misc]
            await reading
        finally:
            reading.cancel()
            writer.close()


@pytest.fixture
async def raw_server() -> AsyncIterator[RawFrameServer]:
    async with RawFrameServer() as server:
        yield server


async def write_in_chunks(writer: asyncio.StreamWriter, data: bytes, sizes: list[int]) -> None:
    """Write `data` in pieces of the given sizes (cycled), letting the client read in between."""
    i = 0
    k = 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        writer.write(data[i : i + size])
        await writer.drain()
        await asyncio.sleep(0)
        i += size
        k += 1
