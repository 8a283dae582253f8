"""Follow a minute CSV that another process writes: notice appended rows and parse only those.

Used when the app attaches to a running `btc-tui collect`: a stat() per poll (the caller polls at
most once a second), a read of the new bytes only, no file-change notification machinery. A file
replaced under us (an atomic rewrite when history is merged in) is noticed by its inode, and then
only the rows after the last one seen are read, from the end of the new file backwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from btc_tui.market.bars import MinuteBar
from btc_tui.market.rows import parse_row

if TYPE_CHECKING:
    from btc_tui.config import Settings
    from btc_tui.market.store import LockOwner

CHUNK = 1 << 16


def bar_of(line: str | bytes) -> MinuteBar | None:
    """A 13- or 15-column row as a MinuteBar (rows.parse_row's rules); None for anything else."""
    row = parse_row(line)
    return None if row is None else row.bar()


@dataclass
class FollowUpdate:
    bars: list[MinuteBar] = field(default_factory=list)  # new rows, in file order
    replaced: bool = False  # the file was replaced (history merged): reload what you show
    missing: bool = False  # the file is gone


class CsvFollower:
    """Call `poll()` (blocking file IO: from a thread) to get the rows appended since the last call.

    `after_minute`: minutes up to this one are already known to the caller and never returned.
    """

    def __init__(self, path: Path | str, after_minute: int | None = None) -> None:
        self.path = Path(path)
        self.last_minute = after_minute
        self._inode: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""  # a row still being written (no newline yet)

    def start_at_end(self) -> None:
        """Skip what the file holds now (the caller has read it)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        self._inode = (st.st_dev, st.st_ino)
        self._offset = st.st_size

    def poll(self) -> FollowUpdate:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return FollowUpdate(missing=True)
        inode = (st.st_dev, st.st_ino)
        if self._inode is not None and (inode != self._inode or st.st_size < self._offset):
            self._inode = inode
            self._partial = b""
            bars = self._rows_from_end(st.st_size)
            self._offset = st.st_size
            return FollowUpdate(self._keep_new(bars), replaced=True)
        self._inode = inode
        if st.st_size == self._offset:
            return FollowUpdate()
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read(st.st_size - self._offset)
        self._offset += len(data)
        data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        lines = data[:cut].decode("utf-8", errors="replace").splitlines()
        return FollowUpdate(self._keep_new([b for b in map(bar_of, lines) if b is not None]))

    def _keep_new(self, bars: list[MinuteBar]) -> list[MinuteBar]:
        new = []
        for bar in bars:
            if self.last_minute is None or bar.minute > self.last_minute:
                new.append(bar)
                self.last_minute = bar.minute
        return new

    def _rows_from_end(self, size: int) -> list[MinuteBar]:
        """Complete rows after `last_minute`, reading backwards only as far as needed."""
        data = b""
        end = size
        with open(self.path, "rb") as f:
            while True:
                start = max(0, end - CHUNK)
                f.seek(start)
                data = f.read(end - start) + data
                end = start
                # Before the start of the file, the first line read may be cut: skip it.
                body = data if start == 0 else data[data.find(b"\n") + 1 :]
                rows = [bar_of(line) for line in body.decode("utf-8", "replace").split("\n")]
                first = next((bar for bar in rows if bar is not None), None)
                known = self.last_minute is not None and first is not None
                if start == 0 or (known and first.minute <= self.last_minute):  # type: ignore[union-attr]
                    break
        if not data.endswith(b"\n"):
            self._partial = data[data.rfind(b"\n") + 1 :]
            rows = rows[:-1]
        return [bar for bar in rows if bar is not None]


def count_rows(path: Path | str) -> int:
    """Rows of a minute CSV (lines after the header), read in chunks so memory stays flat."""
    lines = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


def owner_sources(settings: Settings, owner: LockOwner) -> Settings:
    """Settings whose stream and REST are those the CSV's owner collects from (as its lock
    records), so an attached app's ticker shows the same trades: a `serve --demo`'s simulator,
    not the real exchange. An owner that recorded none (an older version) changes nothing."""
    changes = {"url": owner.url, "rest_url": owner.rest_url}
    return settings.with_changes(**{k: v for k, v in changes.items() if v})
