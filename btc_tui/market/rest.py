"""Binance's public REST API (aggTrades, time, klines) on aiohttp, kept inside Binance's limits.

Binance counts request weight per IP per calendar minute of its own clock and reports the total in
every answer's `X-MBX-USED-WEIGHT-1M` header. Going over earns HTTP 429 with `Retry-After`; sending
anything before that passes earns HTTP 418, an IP ban of minutes to days. So this client:

- paces itself from the header: before sending, the weight already used in the server's current
  minute (last header seen for that minute, plus what is in flight) plus the request's weight must
  fit `budget_share` of `weight_limit`; otherwise every request waits for the server's next minute;
- after a 429 sends nothing at all, from any task, until `Retry-After` has passed;
- treats 418 as a hard stop: `IpBanned` at once, never a retry, and `IpBanned` without sending
  for every call until the ban has passed;
- retries timeouts, network errors and 5xx with exponential backoff, then `RestUnavailable`;
- keeps at most `max_in_flight` requests open at once.

Which server minute is it? Each answer's `Date` header is the server's clock truncated to the second,
so the minute an answer's weight belongs to is exact, and `Date - received` is a lower bound on the
offset between the server's clock and ours (`server_time()` tightens it to the round trip). We wait
until our clock plus that lower bound is past the minute's end: never early, at most about a second
late. Without any `Date` header we assume the server's clock within a second of ours.

Binance counts per IP, so this knowledge (429 pause, ban, weight, clock offset) is shared by every
client of the same base URL in one event loop: the collector's gap repair and a backfill running
side by side stop together.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson

from btc_tui.market.binance import AggTrade, parse_agg_trade

WEIGHTS = {"/api/v3/aggTrades": 4, "/api/v3/time": 1, "/api/v3/klines": 2}
HOUR_MS = 3_600_000
WINDOW_MS = HOUR_MS - 1  # startTime..endTime (both inclusive) must be less than an hour apart
MAX_LIMIT = 1000
_MINUTE = 60.0
_MARGIN = 0.05  # seconds past the server's minute boundary before we count on a fresh window
_UNKNOWN_OFFSET = 1.0  # assumed |server clock - our clock| before any answer told us better
_MIN_BAN = 120.0  # seconds: Binance's shortest IP ban


class RestError(Exception):
    """A REST request failed; str() is one human line naming the URL and the problem."""


class BinanceError(RestError):
    """Binance answered with its error shape {"code": .., "msg": ..}."""

    def __init__(self, url: str, status: int, code: int | None, msg: str) -> None:
        super().__init__(f"{url}: Binance error {code} (HTTP {status}): {msg}")
        self.url = url
        self.status = status
        self.code = code
        self.msg = msg


class IpBanned(RestError):
    """HTTP 418: Binance banned this IP for sending requests after a 429. Never retried."""

    def __init__(self, url: str, retry_after: float | None, until: datetime | None = None) -> None:
        how_long = f"for {_duration(retry_after)}" if retry_after is not None else "for a while"
        when = f" (until {until:%Y-%m-%d %H:%M:%S} UTC)" if until is not None else ""
        super().__init__(
            f"{url}: HTTP 418: Binance has banned this IP address {how_long}{when} for sending "
            "requests while rate limited; nothing more is sent to it until the ban ends"
        )
        self.url = url
        self.retry_after = retry_after
        self.until = until


class RestUnavailable(RestError):
    """Network errors, timeouts or 5xx answers outlasted every retry."""


def _duration(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        value = float(headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if value >= 0 and math.isfinite(value) else None


@dataclass(slots=True)
class _Limits:
    """What the server told us about this IP's limits. Binance counts per IP, so every client of
    one base URL in one event loop (the collector's gap repair, a backfill) shares this: a 429 or a
    418 seen by one stops all of them."""

    blocked_until: float = -math.inf  # client clock, s: a 429's Retry-After
    ban: IpBanned | None = None
    banned_until: float = -math.inf
    window_minute: int | None = None  # the server minute of the newest weight figure
    window_used: int = 0
    offset_lo: float = -_UNKNOWN_OFFSET  # bounds on (server clock - client clock), s
    offset_hi: float = _UNKNOWN_OFFSET
    offset_known: bool = False


LIMITS_FILE = "rest-limits.json"  # in the state directory: each REST host's wait deadlines


def state_dir() -> Path:
    """platformdirs' user state directory for btc-tui (~/.local/state/btc-tui; $XDG_STATE_HOME
    moves it, as tests do)."""
    import platformdirs

    return platformdirs.user_state_path("btc-tui")


def _host(base_url: str) -> str:
    return urlsplit(base_url).netloc or base_url


def load_deadlines(base_url: str) -> dict[str, float]:
    """{"retry_until": epoch s, "banned_until": epoch s} an earlier process recorded for this
    REST host (a 429's Retry-After, a 418's ban); {} if none or unreadable."""
    try:
        data = json.loads((state_dir() / LIMITS_FILE).read_text())
        entry = data.get(_host(base_url), {})
        return {k: float(v) for k, v in entry.items() if k in ("retry_until", "banned_until")}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def save_deadline(base_url: str, key: str, until: float) -> None:
    """Record a deadline for every later process (best effort: a read-only home must not stop a
    run; this process honours it all the same)."""
    path = state_dir() / LIMITS_FILE
    try:
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        entry = data.setdefault(_host(base_url), {})
        now = time.time()
        for name in list(entry):  # drop what has passed
            if not isinstance(entry[name], int | float) or entry[name] < now:
                del entry[name]
        entry[key] = max(until, float(entry.get(key, 0)))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


# Per event loop (asyncio objects and test loops never mix), per base URL.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Limits]] = (
    weakref.WeakKeyDictionary()
)


# Per request. A slow link answers a page in 10 s or more (a laptop on a train, a loaded proxy): a
# timeout at 10 s made every such answer a failure and a long repair impossible. Past this, the
# request is retried (with backoff), so a dead connection still costs at most a few of these.
ANSWER_TIMEOUT = 30.0


class BinanceRest:
    """A client for Binance's public market-data endpoints. Use as an async context manager.

    `clock` (seconds, wall clock by default) and `sleep` are injectable so tests can drive time.
    """

    def __init__(
        self,
        base_url: str,
        symbol: str,
        *,
        weight_limit: int = 6000,
        budget_share: float = 0.8,
        max_in_flight: int = 3,
        timeout: float = ANSWER_TIMEOUT,
        retries: int = 4,
        backoff: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.symbol = symbol.upper()
        self.weight_limit = weight_limit
        self.budget_share = budget_share
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._settled = asyncio.Event()  # set whenever a request comes back
        self._in_flight_weight = 0
        self._shared: _Limits | None = None
        self.used_weight = 0  # the server's figure for its current minute, as last reported
        self.requests = 0  # HTTP requests sent, retries included
        self.waits = 0  # times we paused to stay inside the weight budget
        self.rate_limited = 0  # 429 answers received
        # Record 429/418 deadlines in the state directory and honour earlier ones (off when the
        # clock is not the wall clock: a test's own time means nothing to another process).
        self.persist = clock is time.time
        # Told (one line, with the time) when a request must wait for a recorded Retry-After.
        self.on_wait: Callable[[str], object] | None = None
        self._said_wait = -math.inf

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> BinanceRest:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=self.max_in_flight),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def _lim(self) -> _Limits:
        """The limits state shared with every client of this base URL in this event loop; the
        first one also takes over what an earlier process recorded (a 429's Retry-After, a ban)."""
        if self._shared is None:
            per_loop = _SHARED.setdefault(asyncio.get_running_loop(), {})
            if self.base_url not in per_loop:
                per_loop[self.base_url] = self._recorded_limits()
            self._shared = per_loop[self.base_url]
        return self._shared

    def _recorded_limits(self) -> _Limits:
        lim = _Limits()
        if not self.persist:
            return lim
        deadlines = load_deadlines(self.base_url)
        now = self._clock()
        banned = deadlines.get("banned_until", 0.0)
        if banned > now:
            until = datetime.fromtimestamp(banned, UTC)
            lim.ban = IpBanned(f"{self.base_url} (recorded by an earlier run)", banned - now, until)
            lim.banned_until = banned
        retry = deadlines.get("retry_until", 0.0)
        if retry > now:
            lim.blocked_until = retry
        return lim

    @property
    def budget(self) -> int:
        return int(self.weight_limit * self.budget_share)

    # -- endpoints ---------------------------------------------------------------------------
    async def server_time(self) -> int:
        """Binance's clock, ms. Also pins down the offset between its clock and ours."""
        data, sent, received, shown = await self._get("/api/v3/time", {})
        server = data.get("serverTime") if isinstance(data, dict) else None
        if not isinstance(server, int) or isinstance(server, bool):
            raise RestError(f"{shown}: unexpected answer {_snippet(orjson.dumps(data))}")
        self._narrow_offset(server / 1000 - received, server / 1000 + 0.001 - sent)
        return server

    async def agg_trades(
        self,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = MAX_LIMIT,
    ) -> list[AggTrade]:
        """One page of GET /api/v3/aggTrades, oldest first."""
        params: dict[str, object] = {"symbol": self.symbol}
        if from_id is not None:
            params["fromId"] = from_id
        if start_time is not None:
            params["startTime"] = start_time
        if end_time is not None:
            params["endTime"] = end_time
        params["limit"] = limit
        data, _, _, shown = await self._get("/api/v3/aggTrades", params)
        if not isinstance(data, list):
            raise RestError(f"{shown}: expected a list, got {_snippet(orjson.dumps(data))}")
        try:
            return [parse_agg_trade(item) for item in data]
        except ValueError as exc:
            raise RestError(f"{shown}: {exc}") from None

    async def klines(
        self,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
        interval: str = "1m",
    ) -> list[list]:
        """GET /api/v3/klines as Binance sends it: rows of 12 fields (numbers as strings)."""
        params: dict[str, object] = {"symbol": self.symbol, "interval": interval}
        if start_time is not None:
            params["startTime"] = start_time
        if end_time is not None:
            params["endTime"] = end_time
        params["limit"] = limit
        data, _, _, shown = await self._get("/api/v3/klines", params)
        if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise RestError(f"{shown}: expected a list of klines")
        return data

    async def agg_trades_between(
        self, start_time: int, end_time: int
    ) -> AsyncIterator[list[AggTrade]]:
        """Every aggregate with start_time <= T < end_time, oldest first, one page at a time.

        The first page is found by time (windows under an hour, walked forward while empty); the
        rest by `fromId`. Aggregate ids are consecutive, so the next pages' ids are known ahead and
        up to `max_in_flight` of them are fetched at once; pages are still yielded in order. A page
        that does not continue the ids exactly raises RestError rather than yield a gap.
        """
        first: list[AggTrade] = []
        window = start_time
        while window < end_time and not first:
            first = await self.agg_trades(
                start_time=window, end_time=min(end_time - 1, window + WINDOW_MS)
            )
            window += HOUR_MS
        if not first:
            return
        self._check_consecutive(first, first[0].agg_id, f"startTime={window - HOUR_MS}")
        page, done = self._before(first, end_time)
        if page:
            yield page
        if done or (len(first) < MAX_LIMIT and window >= end_time):
            return
        next_id = first[-1].agg_id + 1
        ahead: deque[tuple[int, asyncio.Task[list[AggTrade]]]] = deque()
        try:
            while True:
                while len(ahead) < self.max_in_flight:
                    from_id = next_id + len(ahead) * MAX_LIMIT
                    ahead.append((from_id, asyncio.ensure_future(self.agg_trades(from_id=from_id))))
                from_id, task = ahead.popleft()
                aggs = await task
                self._check_consecutive(aggs, from_id, f"fromId={from_id}")
                page, done = self._before(aggs, end_time)
                if page:
                    yield page
                if done or len(aggs) < MAX_LIMIT:
                    return  # past the range, or nothing newer exists yet
                next_id = aggs[-1].agg_id + 1
        finally:
            for _, task in ahead:
                task.cancel()
            # Collect the abandoned look-ahead pages (their outcome is moot), without hiding a
            # cancellation of our own.
            await asyncio.gather(*(task for _, task in ahead), return_exceptions=True)

    def _check_consecutive(self, aggs: list[AggTrade], first_id: int, asked: str) -> None:
        """Aggregate ids are consecutive: a page that skips any would make a silent gap."""
        expected = first_id
        for agg in aggs:
            if agg.agg_id != expected:
                raise RestError(
                    f"{self.base_url}/api/v3/aggTrades?{asked}: aggregate {agg.agg_id} where "
                    f"{expected} was due; aggregates {expected}..{agg.agg_id - 1} are missing"
                    if agg.agg_id > expected
                    else f"{self.base_url}/api/v3/aggTrades?{asked}: aggregate {agg.agg_id} "
                    f"repeated or out of order (expected {expected})"
                )
            expected += 1

    @staticmethod
    def _before(aggs: list[AggTrade], end_time: int) -> tuple[list[AggTrade], bool]:
        """The aggregates before end_time, and whether the range ended inside this page."""
        for i, agg in enumerate(aggs):
            if agg.trade_time >= end_time:
                return aggs[:i], True
        return aggs, False

    # -- the request loop --------------------------------------------------------------------
    async def _get(
        self, path: str, params: Mapping[str, object]
    ) -> tuple[object, float, float, str]:
        """(decoded JSON, sent at, received at, URL shown in messages) for one successful GET."""
        weight = WEIGHTS[path]
        url = self.base_url + path
        shown = f"{url}?{urlencode(params)}" if params else url
        failures = 0
        limited = 0
        async with self._slots:
            while True:
                await self._wait_for_turn(weight)
                self._in_flight_weight += weight
                self.requests += 1
                sent = self._clock()
                status: int | None = None
                try:
                    async with self._open().get(url, params=params) as response:
                        body = await response.read()
                        status, headers = response.status, response.headers
                except TimeoutError:
                    problem = f"no answer within {self.timeout:g} s"
                except aiohttp.ClientError as exc:
                    problem = str(exc) or type(exc).__name__
                finally:
                    self._in_flight_weight -= weight
                    self._settled.set()
                received = self._clock()
                if status is not None:
                    self._note_answer(headers, sent, received)
                    if status == 200:
                        try:
                            return orjson.loads(body), sent, received, shown
                        except orjson.JSONDecodeError:
                            raise RestError(
                                f"{shown}: answer is not JSON: {_snippet(body)}"
                            ) from None
                    if status == 418:
                        raise self._ban(shown, headers, received)
                    if status == 429:
                        self.rate_limited += 1
                        limited += 1
                        self._rate_limited(headers, received)
                        if limited > self.retries:
                            raise RestUnavailable(
                                f"{shown}: still rate limited (HTTP 429) after {limited} waits"
                            )
                        continue  # not a failure of the server: wait it out, don't back off
                    if status < 500:
                        raise self._refusal(shown, status, body)
                    problem = f"HTTP {status} {_snippet(body)}".rstrip()
                failures += 1
                if failures > self.retries:
                    raise RestUnavailable(f"{shown}: {problem} (gave up after {failures} attempts)")
                await self._sleep(self.backoff * 2 ** (failures - 1))

    async def _wait_for_turn(self, weight: int) -> None:
        """Return when sending a request of this weight breaks no rule; raise if banned."""
        while True:
            now = self._clock()
            ban = self._lim.ban
            if ban is not None and now < self._lim.banned_until:
                raise IpBanned(ban.url, self._lim.banned_until - now, ban.until)
            if now < self._lim.blocked_until:
                if self.on_wait is not None and self._said_wait != self._lim.blocked_until:
                    self._said_wait = self._lim.blocked_until
                    until = datetime.fromtimestamp(self._lim.blocked_until, UTC)
                    self.on_wait(
                        f"{self.base_url} asked for a pause (HTTP 429 Retry-After): sending "
                        f"nothing until {until:%H:%M:%S} UTC"
                    )
                await self._sleep(self._lim.blocked_until - now)
                continue
            used = self._known_used(now) + self._in_flight_weight
            if used == 0 or used + weight <= self.budget:
                return  # a lone request always goes, even if it alone exceeds a tiny budget
            if self._known_used(now) + weight > self.budget:
                self.waits += 1
                assert self._lim.window_minute is not None
                resumes = (self._lim.window_minute + 1) * _MINUTE - self._lim.offset_lo + _MARGIN
                await self._sleep(max(0.0, resumes - now))
            else:  # only our own requests in flight stand in the way: their answers will tell
                self._settled.clear()
                await self._settled.wait()

    def _known_used(self, now: float) -> int:
        """Weight the server has counted in its current minute, as far as we know."""
        if self._lim.window_minute is None:
            return 0
        earliest = math.floor((now + self._lim.offset_lo) / _MINUTE)
        return 0 if earliest > self._lim.window_minute else self._lim.window_used

    def _note_answer(self, headers: Mapping[str, str], sent: float, received: float) -> None:
        date: float | None = None
        with_date = headers.get("Date")
        if with_date:
            try:
                date = parsedate_to_datetime(with_date).timestamp()
            except (TypeError, ValueError):
                date = None
        if date is not None:  # the server stamped it at some instant in [date, date + 1)
            self._narrow_offset(date - received, date + 1 - sent)
        try:
            used = int(headers.get("X-MBX-USED-WEIGHT-1M", ""))
        except ValueError:
            return
        if date is not None:
            minute = math.floor(date / _MINUTE)
        else:  # the latest minute it could be: assume the window rolls over later, not sooner
            minute = math.floor((received + self._lim.offset_hi) / _MINUTE)
        if self._lim.window_minute is None or minute > self._lim.window_minute:
            self._lim.window_minute, self._lim.window_used = minute, used
        elif minute == self._lim.window_minute:
            self._lim.window_used = max(self._lim.window_used, used)
        self.used_weight = self._lim.window_used

    def _narrow_offset(self, lo: float, hi: float) -> None:
        if not self._lim.offset_known:
            self._lim.offset_lo, self._lim.offset_hi, self._lim.offset_known = lo, hi, True
            return
        new_lo, new_hi = max(self._lim.offset_lo, lo), min(self._lim.offset_hi, hi)
        if new_lo <= new_hi:
            self._lim.offset_lo, self._lim.offset_hi = new_lo, new_hi
        else:  # one of the clocks was stepped: trust the newest measurement
            self._lim.offset_lo, self._lim.offset_hi = lo, hi

    def _rate_limited(self, headers: Mapping[str, str], received: float) -> None:
        retry_after = _retry_after(headers)
        if retry_after is None:  # no hint: the window ends with the server's minute
            server_now = received + self._lim.offset_hi
            retry_after = (math.floor(server_now / _MINUTE) + 1) * _MINUTE - server_now + _MARGIN
        # Retry-After is the server's word on when we may send again, whatever the weight said.
        self._lim.blocked_until = max(self._lim.blocked_until, received + retry_after)
        if self.persist:
            save_deadline(self.base_url, "retry_until", self._lim.blocked_until)

    def _ban(self, shown: str, headers: Mapping[str, str], received: float) -> IpBanned:
        """Record a 418: nothing is sent to this server until the ban has passed."""
        retry_after = _retry_after(headers)
        until = None
        if retry_after is not None:
            server_now = received + (self._lim.offset_lo + self._lim.offset_hi) / 2
            until = datetime.fromtimestamp(server_now + retry_after, UTC)
        ban = IpBanned(shown, retry_after, until)
        self._lim.ban = ban
        # Binance's shortest ban is 2 minutes: assume that much when it doesn't say.
        self._lim.banned_until = received + (_MIN_BAN if retry_after is None else retry_after)
        if self.persist:
            save_deadline(self.base_url, "banned_until", self._lim.banned_until)
        return ban

    @staticmethod
    def _refusal(shown: str, status: int, body: bytes) -> RestError:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "msg" in data:
            code = data.get("code")
            return BinanceError(shown, status, code if isinstance(code, int) else None, data["msg"])
        return RestError(f"{shown}: HTTP {status} {_snippet(body)}".rstrip())
