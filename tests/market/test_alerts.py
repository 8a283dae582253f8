"""Alert rules: parsing, one firing per crossing, the hysteresis before re-arming, move and
band, the terminal's bytes and the --on-alert hook's environment and timeout."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from btc_tui.config import resolve, settings_from
from btc_tui.errors import UsageError
from btc_tui.market.alerts import (
    AlertBook,
    AlertHook,
    Firing,
    hook_environment,
    notification_bytes,
    parse_rule,
    parse_rules,
)

T0 = 1_767_225_600_000


def feed(book: AlertBook, prices, start=T0, step=1_000):
    fired = []
    for i, price in enumerate(prices):
        fired += [(i, f.rule) for f in book.on_trade(price, start + i * step)]
    return fired


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [("above 70000", "above", 70_000), ("Below 60,000.5", "below", 60_000.5),
     ("move 1% 15m", "move", 1.0), ("move 0.5 % 30s", "move", 0.5), ("band", "band", None)],
)  # fmt: skip
def test_rules_parse(text, kind, value):
    rule = parse_rule(text)
    assert rule.kind == kind
    if kind in ("above", "below"):
        assert rule.level == value
    if kind == "move":
        assert rule.percent == value


@pytest.mark.parametrize("text", ["abve 5", "above", "above -3", "move 1%", "move 200% 1m",
                                  "move 1% 15", "band 3", "above nan"])  # fmt: skip
def test_bad_rules_are_refused_with_how_to_write_one(text):
    with pytest.raises(ValueError, match="alert"):
        parse_rule(text)


def test_a_bad_rule_from_the_command_line_is_a_usage_error_naming_it():
    with pytest.raises(UsageError) as refused:
        resolve({"alerts": ["above 1", "abve 5"]}, environ={}, read_file=False)  # as cli passes it
    # the rule at fault, once, not the list's repr
    assert str(refused.value).startswith("--alert: alert 'abve 5' is not a rule")
    assert settings_from({"alerts": ["above  70000"]}, environ={}).alerts == ("above 70000",)


def test_above_fires_once_per_crossing_and_rearms_only_past_the_hysteresis():
    book = AlertBook(parse_rules(["above 100"]), "btcusdt")
    # up through 100: fires once; wobbling around 100 but never below 99.9: nothing more
    assert feed(book, [99, 99.5, 100, 101, 99.95, 100.2, 99.91, 100.5]) == [(2, "above 100")]
    # back under 99.9 (100 less 0.1%) re-arms; the next crossing fires again
    assert feed(book, [99.9, 99.95, 100.01]) == [(2, "above 100")]


def test_below_mirrors_above():
    book = AlertBook(parse_rules(["below 100"]), "btcusdt")
    assert feed(book, [101, 100, 99, 100.05, 99.5]) == [(1, "below 100")]
    assert feed(book, [100.1, 99.99]) == [(1, "below 100")]


def test_a_price_already_past_the_level_at_the_start_is_not_a_crossing():
    book = AlertBook(parse_rules(["above 100"]), "btcusdt")
    assert feed(book, [105, 106, 101]) == []
    assert feed(book, [99.8, 100]) == [(1, "above 100")]


def test_move_fires_on_the_change_within_its_window_only():
    book = AlertBook(parse_rules(["move 1% 1m"]), "btcusdt")
    # +1% spread over two minutes: never 1% within one minute
    slow = [100 + 0.01 * i for i in range(120)]
    assert feed(book, slow, step=1_000) == []
    book = AlertBook(parse_rules(["move 1% 1m"]), "btcusdt")
    fired = feed(book, [100, 100.5, 101, 101.2, 101.5], step=10_000)
    assert fired == [(2, "move 1% 1m")]  # once, then measured afresh from 101
    assert feed(book, [100.0], start=T0 + 50_000) == [(0, "move 1% 1m")]  # down 1% from 101.5


def test_band_fires_when_a_minute_leaves_the_interval_and_rearms_inside_it():
    book = AlertBook(parse_rules(["band"]), "btcusdt")
    assert book.on_minute(T0, 100.0, 99.0, 101.0) == []
    [firing] = book.on_minute(T0 + 60_000, 102.0, 99.0, 101.0)
    assert firing.rule == "band" and firing.price == 102.0 and "above the band" in firing.detail
    assert book.on_minute(T0 + 120_000, 97.0, 99.0, 101.0) == []  # still outside: no new firing
    assert book.on_minute(T0 + 180_000, 100.0, 99.0, 101.0) == []
    assert len(book.on_minute(T0 + 240_000, 98.0, 99.0, 101.0)) == 1


def firing() -> Firing:
    return Firing("above 70000", 70_001.5, T0, "btcusdt", "at or above 70,000.00")


def test_the_log_line_names_the_rule_and_the_price():
    assert firing().line() == "alert 'above 70000': BTCUSDT 70,001.50 (at or above 70,000.00)"


def test_notification_bytes_bell_and_osc_in_a_pty():
    """What reaches a terminal: BEL for bell; BEL + OSC 777 + OSC 9 for osc; nothing for off."""
    for how, expected in [
        ("bell", b"\x07"),
        ("off", b""),
        (
            "osc",
            b"\x07\x1b]777;notify;btc-tui: BTCUSDT alert;above 70000: 70,001.50 (at or above "
            b"70,000.00)\x1b\\\x1b]9;btc-tui: BTCUSDT alert: above 70000: 70,001.50 (at or above "
            b"70,000.00)\x1b\\",
        ),
    ]:
        assert notification_bytes(firing(), how) == expected
        master, slave = pty.openpty()
        try:
            os.write(slave, notification_bytes(firing(), how) + b"END")
            seen = b""
            while not seen.endswith(b"END"):
                seen += os.read(master, 4096)
        finally:
            os.close(master)
            os.close(slave)
        assert seen == expected + b"END"


def test_a_rule_cannot_smuggle_an_escape_into_the_notification():
    evil = Firing("above 1\x1b]52;c;x\x07", 2.0, T0, "btcusdt", "x")
    data = notification_bytes(evil, "osc")
    assert data.count(b"\x1b") == 4 and data.count(b"\x07") == 1


def test_the_hook_gets_the_firing_in_its_environment(tmp_path):
    out = tmp_path / "env.txt"
    logs: list[str] = []
    names = ["BTC_ALERT_RULE", "BTC_ALERT_PRICE", "BTC_ALERT_SYMBOL", "BTC_ALERT_TIME"]
    command = "; ".join(f'echo "${n}" >> {out}' for n in names)

    async def run():
        hook = AlertHook(command, logs.append)
        hook.fire(firing())
        await hook.wait()

    asyncio.run(run())
    assert out.read_text().splitlines() == [
        "above 70000",
        "70001.5",
        "BTCUSDT",
        "2026-01-01T00:00:00Z",
    ]
    assert logs == []
    assert not any(k.startswith("BTC_TUI_") for k in hook_environment(firing()))


def test_a_failing_or_slow_hook_is_logged_stopped_and_never_blocks(tmp_path):
    logs: list[str] = []
    marker = tmp_path / "still-running"

    async def run():
        failing = AlertHook("echo nope >&2; exit 3", logs.append)
        slow = AlertHook(f"sleep 30; touch {marker}", logs.append, timeout=0.5)
        failing.fire(firing())
        slow.fire(firing())
        # the loop stays free while both run
        ticks = 0
        for _ in range(5):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 5
        await failing.wait()
        await slow.wait()

    asyncio.run(run())
    assert any("failed with exit 3: nope" in line for line in logs), logs
    assert any("ran past 0.5 s: stopped" in line for line in logs), logs
    assert not marker.exists()


def test_collect_runs_the_hook_once_per_firing_from_live_trades_only(tmp_path):
    """Headless, against the demo's simulator with its history filled over REST at the start:
    a rule any trade would fire fires for live trades only (every firing's time is after the
    start; a fed history would fire at its first minutes, days back)."""
    out = tmp_path / "fired.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_TUI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    args = [sys.executable, "-m", "btc_tui", "collect", "--demo", "--data", str(tmp_path / "d.csv"),
            "--minutes", "1", "--alert", "move 0.0001% 1m",
            "--on-alert", f'echo "$BTC_ALERT_RULE $BTC_ALERT_SYMBOL $BTC_ALERT_TIME" >> {out}']  # fmt: skip
    started = datetime.now(UTC) - timedelta(seconds=2)
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=150, check=False)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert "filled" in proc.stderr  # the history fill did run
    lines = out.read_text().splitlines()
    assert lines
    for line in lines:
        rule, symbol, when = line.rsplit(" ", 2)
        assert (rule, symbol) == ("move 0.0001% 1m", "BTCUSDT")
        assert datetime.fromisoformat(when) >= started
    assert "alert 'move 0.0001% 1m': BTCUSDT" in proc.stderr
