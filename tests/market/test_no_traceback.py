"""Issue 15.5: no traceback for a bad proxy, a lock the filesystem refuses, output into a closed
pipe; honest words after a failed directory fsync."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from btc_tui.market.simulator import Simulator


def btc_tui(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    clean["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    clean.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "btc_tui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean,
    )


@pytest.mark.parametrize("proxy", ["socks9://127.0.0.1:1", "http://[bad"])
async def test_an_unusable_proxy_in_the_environment_is_a_message(tmp_path, proxy):
    async with Simulator(rate=0, seed=1) as sim:
        proc = btc_tui(
            tmp_path,
            "collect",
            "--url",
            sim.url,
            "--rest-url",
            sim.rest_url,
            "--data",
            str(tmp_path / "m.csv"),
            http_proxy=proxy,
            https_proxy=proxy,
            no_proxy="",
        )
        _, err = await asyncio.to_thread(proc.communicate, timeout=60)
    text = err.decode()
    assert proc.returncode == 2, text
    assert "Traceback" not in text
    assert "proxy set in the environment" in text and "not usable" in text


def test_output_into_a_closed_pipe_stops_quietly(tmp_path):
    """`btc-tui config | head -1`: the reader goes away; no BrokenPipeError traceback."""
    proc = btc_tui(tmp_path, "config")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like head after its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
