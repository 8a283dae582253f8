"""Price alerts: rules, when they fire, and how a terminal is told (plain Python, no textual).

Rules, as written by the user (`--alert`, `alerts = [...]`):
  above P       the price reaches P or more (from below)
  below P       the price reaches P or less (from above)
  move X% N     the price moved by X% or more within the last N (30s, 15m, 1h...)
  band          a closed minute's average fell outside the model's interval for it

Only live trades are fed in (the collector's and the ticker's on_tick): history, a start's fill
and a repair never reach an AlertBook, so they never fire. Each rule fires once per crossing:
`above P` re-arms only after the price has been back under P by the hysteresis (0.1% of P by
default), `below P` likewise above; `move` starts measuring afresh after it fired; `band`
re-arms at the first minute back inside the interval.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

HYSTERESIS = 0.001  # 0.1%: how far back past its level a price must go before a rule re-arms
KINDS = ("above", "below", "move", "band")
_NUMBER = r"(\d[\d_,]*(?:\.\d+)?|\.\d+)"
_ABOVE_BELOW = re.compile(rf"^(above|below)\s+{_NUMBER}$")
_MOVE = re.compile(rf"^move\s+{_NUMBER}\s*%\s+(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
EXAMPLES = "'above 70000', 'below 60000', 'move 1% 15m', 'band'"


@dataclass(frozen=True)
class Rule:
    text: str  # as written (normalised spaces): what the log, the hook and the config file say
    kind: str  # above | below | move | band
    level: float = math.nan  # above/below: the price
    percent: float = math.nan  # move: X
    window_ms: int = 0  # move: N


def parse_rule(text: str) -> Rule:
    """A rule from its text; ValueError naming what is wrong and how rules are written."""
    written = " ".join(str(text).split())
    lowered = written.lower()
    if lowered == "band":
        return Rule(written, "band")
    match = _ABOVE_BELOW.match(lowered)
    if match:
        level = _number(match.group(2))
        if level <= 0:
            raise ValueError(f"alert {written!r}: the price must be above 0")
        return Rule(written, match.group(1), level=level)
    match = _MOVE.match(lowered)
    if match:
        percent = _number(match.group(1))
        window = round(float(match.group(2)) * _UNIT_MS[match.group(3)])
        if not 0 < percent < 100:
            raise ValueError(f"alert {written!r}: the move must be between 0% and 100%")
        if not 1_000 <= window <= 7 * 86_400_000:
            raise ValueError(f"alert {written!r}: the window must be from 1s to 7d")
        return Rule(written, "move", percent=percent, window_ms=window)
    raise ValueError(f"alert {written!r} is not a rule; write one of {EXAMPLES}")


def _number(text: str) -> float:
    value = float(text.replace(",", "").replace("_", ""))
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a number")
    return value


def parse_rules(texts: Iterable[str]) -> tuple[Rule, ...]:
    return tuple(parse_rule(t) for t in texts)


@dataclass(frozen=True)
class Firing:
    rule: str  # the rule as written
    price: float  # the trade (or, for band, the minute's average) that fired it
    at: int  # ms, UTC: the trade's time (band: the minute's start)
    symbol: str
    detail: str  # what happened, in words

    @property
    def iso_time(self) -> str:
        return datetime.fromtimestamp(self.at / 1000, tz=UTC).isoformat().replace("+00:00", "Z")

    def line(self) -> str:
        """The log line: names the rule and the price."""
        return f"alert {self.rule!r}: {self.symbol.upper()} {self.price:,.2f} ({self.detail})"


class _Level:
    def __init__(self, rule: Rule, hysteresis: float) -> None:
        self.rule = rule
        self.up = rule.kind == "above"
        self.rearm = rule.level * (1 - hysteresis if self.up else 1 + hysteresis)
        self.armed: bool | None = None  # unknown until the first price

    def see(self, price: float) -> bool:
        level = self.rule.level
        beyond = price >= level if self.up else price <= level
        if self.armed is None:  # a price already past the level at the start is no crossing
            self.armed = not beyond
            return False
        if self.armed and beyond:
            self.armed = False
            return True
        if not self.armed and (price <= self.rearm if self.up else price >= self.rearm):
            self.armed = True
        return False


class _Move:
    """|change| >= X% within the window: the price against the window's lowest and highest
    (monotonic queues: O(1) per trade however many trades the window holds)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.lows: deque[tuple[int, float]] = deque()
        self.highs: deque[tuple[int, float]] = deque()

    def see(self, price: float, at: int) -> str | None:
        start = at - self.rule.window_ms
        for q in (self.lows, self.highs):
            while q and q[0][0] < start:
                q.popleft()
        while self.lows and self.lows[-1][1] >= price:
            self.lows.pop()
        while self.highs and self.highs[-1][1] <= price:
            self.highs.pop()
        low = self.lows[0][1] if self.lows else price
        high = self.highs[0][1] if self.highs else price
        self.lows.append((at, price))
        self.highs.append((at, price))
        x = self.rule.percent / 100
        if price >= low * (1 + x):
            change = 100 * (price / low - 1)
        elif price <= high * (1 - x):
            change = 100 * (price / high - 1)
        else:
            return None
        self.lows.clear()  # measure afresh from here: one firing per move
        self.highs.clear()
        self.lows.append((at, price))
        self.highs.append((at, price))
        return f"{change:+.2f}% within {self.rule.text.split()[-1]}"


class AlertBook:
    """The rules of one symbol and their state; feed it live trades and closed minutes."""

    def __init__(self, rules: Iterable[Rule], symbol: str, hysteresis: float = HYSTERESIS) -> None:
        self.rules = tuple(rules)
        self.symbol = symbol
        self._levels = [_Level(r, hysteresis) for r in self.rules if r.kind in ("above", "below")]
        self._moves = [_Move(r) for r in self.rules if r.kind == "move"]
        self._bands = [r for r in self.rules if r.kind == "band"]
        self._band_armed = True
        self.fired: list[Firing] = []  # newest last (kept short)

    @property
    def wants_trades(self) -> bool:
        return bool(self._levels or self._moves)

    def on_trade(self, price: float, at: int) -> list[Firing]:
        """One live trade. Returns what fired (usually nothing)."""
        out = []
        for level in self._levels:
            if level.see(price):
                word = "at or above" if level.up else "at or below"
                out.append(self._fire(level.rule, price, at, f"{word} {level.rule.level:,.2f}"))
        for move in self._moves:
            detail = move.see(price, at)
            if detail is not None:
                out.append(self._fire(move.rule, price, at, detail))
        return out

    def on_minute(self, minute: int, average: float, lo: float, hi: float) -> list[Firing]:
        """A closed live minute's average against the model's interval for that minute."""
        if not self._bands or not (math.isfinite(lo) and math.isfinite(hi)):
            return []
        outside = average < lo or average > hi
        if not outside:
            self._band_armed = True
            return []
        if not self._band_armed:
            return []
        self._band_armed = False
        side = "above" if average > hi else "below"
        detail = f"minute average {side} the band {lo:,.2f}–{hi:,.2f}"
        return [self._fire(rule, average, minute, detail) for rule in self._bands]

    def _fire(self, rule: Rule, price: float, at: int, detail: str) -> Firing:
        firing = Firing(rule.text, price, at, self.symbol, detail)
        self.fired = [*self.fired[-99:], firing]
        return firing


# --- telling the terminal -------------------------------------------------------------------------

BELL = b"\x07"


def _clean(text: str) -> str:
    # No control characters inside an escape sequence (an ESC or BEL would end it early).
    return "".join(ch for ch in text if ch.isprintable()).replace(";", ",")


def notification_bytes(firing: Firing, how: str) -> bytes:
    """What to write to the terminal for a firing: `bell` the BEL; `osc` the BEL and a desktop
    notification as OSC 777 (urxvt, foot, Ghostty, WezTerm...) and OSC 9 (iTerm2, Windows
    Terminal, kitty...); a terminal ignores the one it doesn't know. `off`: nothing."""
    if how == "off":
        return b""
    if how == "bell":
        return BELL
    title = _clean(f"btc-tui: {firing.symbol.upper()} alert")
    body = _clean(f"{firing.rule}: {firing.price:,.2f} ({firing.detail})")
    osc777 = f"\x1b]777;notify;{title};{body}\x1b\\"
    osc9 = f"\x1b]9;{title}: {body}\x1b\\"
    return BELL + osc777.encode() + osc9.encode()


def hook_environment(firing: Firing) -> dict[str, str]:
    """What `--on-alert CMD` finds in its environment (not BTC_TUI_*: those are settings)."""
    return {
        "BTC_ALERT_RULE": firing.rule,
        "BTC_ALERT_PRICE": repr(firing.price),
        "BTC_ALERT_SYMBOL": firing.symbol.upper(),
        "BTC_ALERT_TIME": firing.iso_time,
    }


HOOK_TIMEOUT = 30.0  # seconds an --on-alert command may run before it is stopped


class AlertHook:
    """Runs `--on-alert CMD` through the shell once per firing, in the background: collecting
    never waits for it. A command that fails or runs past the timeout is logged (and stopped,
    with everything it started: it runs in its own process group)."""

    def __init__(self, command: str, log, timeout: float = HOOK_TIMEOUT) -> None:
        self.command = command
        self.log = log  # callable(str)
        self.timeout = timeout
        self.tasks: set = set()

    def fire(self, firing: Firing) -> None:
        import asyncio

        task = asyncio.get_running_loop().create_task(self._run(firing))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, firing: Firing) -> None:
        import asyncio
        import os
        import signal

        env = {**os.environ, **hook_environment(firing)}
        try:
            proc = await asyncio.create_subprocess_shell(
                self.command,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self.log(f"--on-alert could not start {self.command!r}: {exc}")
            return
        try:
            _, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            self.log(f"--on-alert {self.command!r} ran past {self.timeout:g} s: stopped")
            return
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        if proc.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
            why = f": {tail[0]}" if tail else ""
            self.log(f"--on-alert {self.command!r} failed with exit {proc.returncode}{why}")

    async def wait(self) -> None:
        """Let running commands finish (at exit), each within its timeout."""
        import asyncio

        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
