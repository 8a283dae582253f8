"""The suite's guard (tests/conftest.py) refuses any connection that leaves 127.0.0.1, so a test
that forgets to point a Settings at a loopback server fails naming the host instead of reaching
Binance."""

from __future__ import annotations

import socket

import aiohttp
import pytest


def test_dns_and_connect_outside_loopback_are_refused() -> None:
    with pytest.raises(OSError, match=r"api\.binance\.com"):
        socket.getaddrinfo("api.binance.com", 443)
    with socket.socket() as sock, pytest.raises(OSError, match=r"8\.8\.8\.8"):
        sock.connect(("8.8.8.8", 53))


async def test_the_rest_client_library_is_refused_too() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError, match=r"api\.binance\.com"):
            await session.get("https://api.binance.com/api/v3/time")


def test_loopback_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
