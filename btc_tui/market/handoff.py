"""`check --repair` beside a running collector: whoever holds the CSV's lock does the work.

A collector holds the lock for as long as it runs, so `check --repair` cannot rewrite the file under
it. Instead check *asks*: it writes the minutes to rebuild (and whether to take bad lines out) to
`<csv>.repair.json`. The collector looks for that file every second, takes it (renamed to
`<csv>.repair.taken.json`), rebuilds those minutes over REST in chunks merged under its lock, as
it repairs holes it finds itself, and reports how far it got in `<csv>.repair-status.json`, which
check shows as its progress bar until the work is done.

The taken request stays on disk until the work is done, and shrinks as chunks land: a collector
stopped mid-way (or one whose REST failed) leaves the rest, which its next start resumes, as does a
`check --repair` run once nobody collects (it takes the pending requests in with its own work).
So a request is never lost; at worst a minute is rebuilt twice, which changes nothing.

Files go by the CSV's real path (symlinks resolved), beside the lock. Every write is atomic.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from btc_tui.errors import StorageError
from btc_tui.market.bars import MINUTE_MS
from btc_tui.market.store import atomic_write, real_path

REQUEST_SUFFIX = ".repair.json"  # asked, not yet taken
TAKEN_SUFFIX = ".repair.taken.json"  # taken by the lock's holder, what is left of it
STATUS_SUFFIX = ".repair-status.json"  # the holder's progress, for the asker
CHECK_INTERVAL = 1.0  # seconds between a collector's looks for a request

Spans = list[tuple[int, int]]  # [start, end) minute ranges, ms, sorted and disjoint


def _beside(path: Path | str, suffix: str) -> Path:
    path = real_path(path)
    return path.with_name(path.name + suffix)


def request_path(path: Path | str) -> Path:
    return _beside(path, REQUEST_SUFFIX)


def taken_path(path: Path | str) -> Path:
    return _beside(path, TAKEN_SUFFIX)


def status_path(path: Path | str) -> Path:
    return _beside(path, STATUS_SUFFIX)


def spans_of(minutes: list[int] | set[int]) -> Spans:
    """Sorted minute starts -> [start, end) spans of consecutive minutes."""
    spans: Spans = []
    for minute in sorted(minutes):
        if spans and spans[-1][1] == minute:
            spans[-1] = (spans[-1][0], minute + MINUTE_MS)
        else:
            spans.append((minute, minute + MINUTE_MS))
    return spans


def union(a: Spans, b: Spans) -> Spans:
    out: Spans = []
    for start, end in sorted([*a, *b]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def minutes_in(spans: Spans) -> int:
    return sum((end - start) // MINUTE_MS for start, end in spans)


def from_minute(spans: Spans, minute: int) -> Spans:
    """What of `spans` is at or after `minute`: what a repair done up to `minute` leaves."""
    return [(max(start, minute), end) for start, end in spans if end > minute]


@dataclass(frozen=True)
class Request:
    spans: Spans
    clean: bool  # take corrupt, duplicate and blank lines out and sort the rows first
    tokens: tuple[str, ...]  # one per asking check, so each knows when its work is done

    @property
    def minutes(self) -> int:
        return minutes_in(self.spans)

    def merged(self, other: Request) -> Request:
        return Request(
            union(self.spans, other.spans),
            self.clean or other.clean,
            tuple(dict.fromkeys([*self.tokens, *other.tokens])),
        )

    def text(self) -> str:
        return json.dumps({"spans": self.spans, "clean": self.clean, "tokens": list(self.tokens)})


class BadRequest(ValueError):
    """A request file that is not ours to read (hand-edited, cut short)."""


def _read(path: Path) -> Request | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        spans = [(int(a), int(b)) for a, b in data["spans"]]
        tokens = tuple(str(t) for t in data["tokens"])
        clean = bool(data["clean"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"{path}: not a repair request ({exc})") from None
    if any(a % MINUTE_MS or b % MINUTE_MS or b <= a for a, b in spans):
        raise BadRequest(f"{path}: not a repair request (a span is not whole minutes)")
    return Request(union([], spans), clean, tokens)


# -- the asker (no lock) ------------------------------------------------------------------------
def ask(path: Path | str, minutes: set[int] | list[int], clean: bool) -> str:
    """Ask the lock's holder to rebuild these minutes; returns this request's token. A request
    not yet taken is merged with ours (if the holder takes it meanwhile, ours holds both: a
    minute rebuilt twice, nothing lost)."""
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    mine = Request(spans_of(minutes), clean, (token,))
    where = request_path(path)
    with contextlib.suppress(BadRequest):
        pending = _read(where)
        if pending is not None:
            mine = pending.merged(mine)
    atomic_write(where, mine.text())
    return token


# -- the lock's holder --------------------------------------------------------------------------
def pending(path: Path | str) -> bool:
    """A cheap look (two stats): is anything asked or left to do?"""
    return request_path(path).exists() or taken_path(path).exists()


def minutes_left(path: Path | str) -> int:
    """Minutes asked for and not rebuilt yet (asked, or taken and left), for `check` to say."""
    total = 0
    for where in (request_path(path), taken_path(path)):
        with contextlib.suppress(BadRequest):
            request = _read(where)
            total += request.minutes if request is not None else 0
    return total


def take(path: Path | str) -> Request | None:
    """For the lock's holder only: what is asked and left, as one request, now in the taken
    file (the asked one is removed). A request file we cannot read is set aside, named."""
    taken, asked = taken_path(path), request_path(path)
    left = _read_or_set_aside(taken)
    new = _read_or_set_aside(asked)
    if new is None:
        return left
    work = new if left is None else left.merged(new)
    atomic_write(taken, work.text())
    with contextlib.suppress(FileNotFoundError):
        asked.unlink()
    return work


def _read_or_set_aside(path: Path) -> Request | None:
    try:
        return _read(path)
    except BadRequest:
        aside = path.with_name(path.name + ".bad")
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        raise


def shrink(path: Path | str, work: Request, done_until: int) -> Request:
    """Record that every asked minute before `done_until` is rebuilt (a later start resumes
    the rest)."""
    left = Request(from_minute(work.spans, done_until), work.clean, work.tokens)
    atomic_write(taken_path(path), left.text())
    return left


def finish(path: Path | str) -> None:
    with contextlib.suppress(FileNotFoundError):
        taken_path(path).unlink()


# -- progress, for the asker --------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    pid: int
    tokens: tuple[str, ...]
    state: str  # "working", "done", "failed" (error says why), "stopped" (the holder is stopping)
    done: int = 0  # minutes covered
    total: int = 0
    rebuilt: int = 0  # rows written so far: kept whatever happens next
    missing: list[int] = field(default_factory=list)  # minutes REST had no trade for
    removed: int = 0  # lines taken out (kept in saved_to)
    saved_to: str | None = None
    error: str | None = None
    updated: float = field(default_factory=time.time)

    @property
    def ended(self) -> bool:
        return self.state != "working"


def write_status(path: Path | str, status: Status) -> None:
    atomic_write(status_path(path), json.dumps(asdict(status)))


def read_out(path: Path | str, status: Status, token: str) -> None:
    """The asker has read the end of its work: the status file goes, unless another asker's
    work was in the same request (it reads it too; the file is small)."""
    if status.tokens == (token,):
        with contextlib.suppress(FileNotFoundError):
            status_path(path).unlink()


def read_status(path: Path | str) -> Status | None:
    try:
        data = json.loads(status_path(path).read_text())
        data["tokens"] = tuple(data["tokens"])
        return Status(**data)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not written yet, or being replaced: ask again


class Progress:
    """The lock holder's side of one taken request while it runs: the taken file shrinks as
    chunks land (a later start resumes the rest), and the status file tells the asker how far it
    is (written at most every STATUS_EVERY seconds while working, and at every change of state)."""

    STATUS_EVERY = 0.5

    def __init__(self, path: Path | str, work: Request) -> None:
        self.path, self.work = path, work
        self.total = work.minutes
        self.done = self.rebuilt = self.removed = 0
        self.missing: list[int] = []
        self.saved_to: str | None = None
        self._said = -math.inf
        self.say()

    def advance(self, done: int, rebuilt: int, kept_before: int | None) -> None:
        self.done, self.rebuilt = done, rebuilt
        if kept_before is not None and kept_before > self.work.spans[0][0]:
            self.work = shrink(self.path, self.work, kept_before)
        if time.monotonic() - self._said >= self.STATUS_EVERY:
            self.say()

    def say(self, state: str = "working", error: str | None = None) -> None:
        self._said = time.monotonic()
        status = Status(
            os.getpid(),
            self.work.tokens,
            state,
            self.done,
            self.total,
            self.rebuilt,
            self.missing,
            self.removed,
            self.saved_to,
            error,
        )
        with contextlib.suppress(StorageError):  # the asker reads it again; the work goes on
            write_status(self.path, status)
