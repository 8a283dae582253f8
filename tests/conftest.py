"""Shared test helpers: where the real-data fixtures live, and skipping cleanly without them."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"


def fixture_path(*parts: str) -> Path:
    """Path into ../shared/fixtures, or skip the test with the reason when it is not there."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-data fixture {path} is absent (it lives in ../shared/fixtures)")
    return path


# -- no test may reach the internet -------------------------------------------------------------
# Binance is never reachable from tests (nor from CI). A Settings left at its defaults points at
# api.binance.com / stream.binance.com; this guard makes such a slip fail loudly, naming the host,
# instead of hanging on DNS or, on a connected machine, quietly talking to the real exchange.
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", "", None}


def _is_local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    return host in _LOCAL_HOSTS or (isinstance(host, str) and host.startswith("127."))


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(host: object) -> OSError:
        return OSError(f"test tried to reach {host!r}: tests may only use 127.0.0.1")

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _is_local(host):
            raise refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: object) -> None:
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise refuse(address[0])

    def connect(self, address):  # type: ignore[no-untyped-def]
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
