"""The minute CSV: the one interface between collecting and forecasting.

Writing (`MinuteStore`) appends fsynced whole rows under an exclusive lock on a sidecar
`<csv>.lock`, repairs a torn last line left by a crash, never writes a minute at or before the last
one stored (so a restart can't duplicate a row), and merges history anywhere in time by an atomic
rewrite. Reading (`load_minutes`, `load_tail`) accepts our 15-column files, the older 13-column ones
and the seed's six-column ones, skips corrupt lines and names them by line number.

Rules a reader of this file should know:
- A row is counted as written only once it is on disk whole (written completely and fsynced). Any
  OS error truncates the file back to its size before the write and raises StorageError.
- The lock is on `<csv>.lock`, not on the CSV, so it outlives a deleted or replaced CSV; it holds
  the owner as JSON {pid, host, started, command}, cleared on a clean close. A lock file that still
  names an owner when we get the lock was left by a process that died: we take it over and warn.
- Before every write the CSV's device and inode are compared with the descriptor's: a CSV deleted or
  replaced while we write is a StorageError (never rows silently going into an unlinked file, nor
  a fresh file quietly missing everything before it). The caller decides what to do (the headless
  collector exits 3; the app keeps minutes in memory).
- Opening a 13-column file upgrades it to 15 columns atomically under the lock (old rows get empty
  id cells: their ids were never recorded), so a file never mixes row widths.
- `<csv>.meta.json` records the symbol; appending another symbol's minutes is refused. A file without
  the record adopts the symbol it is opened with.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import socket
import stat
import sys
import warnings as warnings_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from btc_tui.errors import StorageError, UsageError
from btc_tui.market.bars import MINUTE_MS, MinuteBar, minute_of
from btc_tui.market.rows import (
    CSV_COLUMNS,
    FRAME_COLUMNS,
    HEADER,
    HEADERS,
    ID_COLUMNS,
    SEED_COLUMNS,
    TIME_COLUMNS,
    V2_COLUMNS,
    V2_HEADER,
    format_row,
    parse_row,
    row_minute,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import pandas as pd

    from btc_tui.market.rows import Row

__all__ = [  # the row's facts live in rows.py; readers of the CSV may take them from here
    "CSV_COLUMNS",
    "FRAME_COLUMNS",
    "HEADER",
    "MINUTE_MS",
    "SEED_COLUMNS",
    "TIME_COLUMNS",
    "V2_COLUMNS",
    "LoadedMinutes",
    "LockLost",
    "MinuteStore",
    "format_row",
    "load_minutes",
    "load_tail",
    "lock_path",
    "meta_path",
    "minute_of",
    "parse_row",
    "read_lock_owner",
]

# Pseudo filesystems whose "regular" files are not storage (e.g. /proc/version reports S_IFREG).
_VIRTUAL_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "securityfs",
    "configfs", "tracefs", "pstore", "bpf", "mqueue", "hugetlbfs", "fusectl", "binfmt_misc",
    "efivarfs", "autofs",
}  # fmt: skip


# errno values that say the path is wrong (a file where a folder should be, a loop, too long):
# unusable input (exit 2), not a disk refusing writes (exit 3)
_BAD_PATH = {errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG}


def _os_problem(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or str(exc)
    return f"{reason} ({name})" if name else reason


# -- the lock -------------------------------------------------------------------------------------
class LockOwner(NamedTuple):
    pid: int
    host: str
    started: str  # ISO 8601, UTC
    command: str
    alive: bool  # the pid runs on this host (a lock named by a dead process is stale)
    # where the owner's trades come from, so an app attached to it shows the same ticker
    url: str | None = None
    rest_url: str | None = None
    # a collector that rebuilds minutes `check --repair` asks for (market/handoff.py)
    takes_repairs: bool = False

    def describe(self) -> str:
        when = self.started
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(self.started).strftime("%H:%M UTC on %Y-%m-%d")
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"{self.command}, pid {self.pid}{where}, since {when}"


def real_path(path: Path | str) -> Path:
    """The file a path names, symlinks resolved (as given when none is involved): the lock, the
    symbol record and every rewrite go by it, so a link and its target are one CSV, and an atomic
    rewrite replaces the file, never the link."""
    path = Path(path)
    real = os.path.realpath(path)
    return path if real == os.path.abspath(path) else Path(real)


def lock_path(path: Path | str) -> Path:
    path = real_path(path)
    return path.with_name(path.name + ".lock")


def meta_path(path: Path | str) -> Path:
    path = real_path(path)
    return path.with_name(path.name + ".meta.json")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _parse_owner(text: str) -> LockOwner | None:
    try:
        data = json.loads(text)
        pid, host = int(data["pid"]), str(data["host"])
        started, command = str(data["started"]), str(data["command"])
        url, rest_url = data.get("url"), data.get("rest_url")
        takes_repairs = data.get("takes_repairs") is True
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    alive = host == socket.gethostname() and _pid_alive(pid)
    sources = (u if isinstance(u, str) else None for u in (url, rest_url))
    return LockOwner(pid, host, started, command, alive, *sources, takes_repairs)


def read_lock_owner(path: Path | str) -> LockOwner | None:
    """Who holds (or last held without releasing) the lock of the CSV at `path`, if anyone."""
    try:
        text = lock_path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    return _parse_owner(text) if text.strip() else None


_COMMANDS = {"collect", "backfill", "import", "check", "train", "simulate", "serve"}


def _command_name() -> str:
    """What the lock owner is, for the message another process shows ("btc-tui collect")."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("btc-tui", "__main__.py", "-c"):
        command = next((a for a in sys.argv[1:] if a in _COMMANDS), None)
        return f"btc-tui {command}" if command else "btc-tui"
    return program


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mount_fstype(path: Path) -> str | None:
    """The filesystem type of the mount holding `path` (longest mount point prefix)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve())
    best, kind = "", None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount = fields[4].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, right.split()[0]
    return kind


def _check_regular(path: Path) -> None:
    """UsageError unless `path` is absent or a regular file on real storage."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno in _BAD_PATH:  # the path itself is unusable, not the disk
            raise UsageError(f"{path}: not a usable file path: {_os_problem(exc)}") from None
        raise StorageError(f"{path}: cannot use it as the minute CSV: {_os_problem(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a folder, not a CSV file")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file (a device, FIFO or socket); pass a CSV")
    kind = _mount_fstype(path)
    if kind in _VIRTUAL_FS:
        raise UsageError(f"{path} is a {kind} pseudo-file, not a regular file; pass a CSV")


class LockLost(StorageError):
    """The lock file was deleted or replaced under a writer: another process could lock the CSV
    now, so this one must stop writing (never two writers, each sure it is the only one)."""


@dataclass
class _Identity:
    dev: int
    ino: int


_BLOCK = 64 * 1024  # bytes read at a time from the end of the file
_COUNT_BLOCK = 1024 * 1024  # bytes per block when counting rows


class MinuteStore:
    """Appends closed minutes to the CSV. Use as a context manager, or open() / close()."""

    def __init__(
        self,
        path: Path | str,
        symbol: str = "btcusdt",
        sources: Mapping[str, str] | None = None,  # {"url": ..., "rest_url": ...} for the lock
        takes_repairs: bool = False,  # said in the lock's record (LockOwner.takes_repairs)
    ) -> None:
        self.path = real_path(path)
        self.symbol = symbol.lower()
        self.sources = dict(sources or {})
        self.takes_repairs = takes_repairs
        self.last_minute: int | None = None
        self.last_trade_id: int | None = None
        self.last_first_trade_id: int | None = None  # the last row's first_trade_id
        self.rows = 0
        self.warnings: list[str] = []
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._lock_identity: _Identity | None = None
        self._identity: _Identity | None = None
        self._size = 0
        self._last_line_start = 0  # byte offset of the last row (for replace_last)

    def __enter__(self) -> MinuteStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening ---------------------------------------------------------------------------------
    def open(self) -> None:
        _check_regular(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno in _BAD_PATH or isinstance(exc, FileExistsError):
                raise UsageError(
                    f"{self.path}: not a usable file path: {self.path.parent} cannot be a folder "
                    f"({_os_problem(exc)})"
                ) from None
            raise StorageError(
                f"{self.path.parent}: cannot create it: {_os_problem(exc)}"
            ) from None
        self._lock()
        try:
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                if not stale.name.removeprefix(f".{self.path.name}.")[:-4].isdigit():
                    continue  # another file's (`<csv>.repair.json`, written without the lock)
                # Under the lock no rewrite is in progress: this is a killed rewrite's leftover.
                with contextlib.suppress(OSError):
                    stale.unlink()
            record_symbol = self._check_symbol()
            self._open_csv()
            if record_symbol:  # only once the file is known to be a minute CSV we may write
                self._record_symbol()
        except BaseException:
            self.close()
            raise

    def reopen(self) -> None:
        """Open the CSV at the path again, keeping the lock: after the file was deleted (a new one
        is started) or replaced (the new one is continued). Used by the app's collector, which
        keeps minutes in memory while the disk refuses them and writes them once it can."""
        if self._lock_fd is None:
            raise RuntimeError("MinuteStore.reopen() before open()")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        _check_regular(self.path)
        self.rows, self.last_minute, self.last_trade_id = 0, None, None
        self.last_first_trade_id = None
        self._identity = None
        try:
            record_symbol = self._check_symbol()
            self._open_csv()
            if record_symbol:
                self._record_symbol()
        except BaseException:
            if self._fd is not None:  # e.g. the header could not be written: try again later
                os.close(self._fd)
                self._fd = None
            raise

    def file_changed(self) -> str | None:
        """Why the store must be reopened before it can write: "deleted" or "replaced" (the path
        no longer names the file we write), "closed" (a reopen failed), or None."""
        if self._fd is None or self._identity is None:
            return "closed"
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return None
        if (st.st_dev, st.st_ino) != (self._identity.dev, self._identity.ino):
            return "replaced"
        return None

    def _lock(self) -> None:
        lpath = lock_path(self.path)
        try:
            fd = os.open(lpath, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(
                f"{lpath}: cannot create the lock file: {_os_problem(exc)}"
            ) from None
        try:
            # flock lives as long as this descriptor: a crashed writer never leaves it held.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = read_lock_owner(self.path)
            who = owner.describe() if owner else "another btc-tui process"
            raise UsageError(
                f"{self.path} is being written by {who}; stop that one or pass another --data"
            ) from None
        except OSError as exc:  # e.g. ENOLCK: a filesystem (some network mounts) without locks
            os.close(fd)
            raise UsageError(
                f"{lpath}: the filesystem refuses file locks ({_os_problem(exc)}), so a second "
                "writer could not be kept out; put --data on a local disk"
            ) from None
        previous = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        if previous.strip():
            owner = _parse_owner(previous)
            who = owner.describe() if owner else "a process that left no readable record"
            self.warnings.append(
                f"{self.path}: took over a stale lock left by {who}, which is no longer running"
            )
        record = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": _command_name(),
                **self.sources,
                **({"takes_repairs": True} if self.takes_repairs else {}),
            }
        ).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record + b"\n", 0)
        except OSError as exc:
            # The flock is what keeps a second writer out; the record only names us. A full disk
            # must not stop the app from starting (it keeps minutes in memory until space is back).
            self.warnings.append(
                f"{lpath}: could not record this process as the lock's owner "
                f"({_os_problem(exc)}); the lock holds all the same"
            )
        self._lock_fd = fd
        st = os.fstat(fd)
        self._lock_identity = _Identity(st.st_dev, st.st_ino)

    def _check_symbol(self) -> bool:
        """UsageError if the file holds another symbol's minutes; True if it has no record yet."""
        mpath = meta_path(self.path)
        try:
            recorded = json.loads(mpath.read_text()).get("symbol")
        except FileNotFoundError:
            recorded = None
        except (OSError, ValueError, AttributeError) as exc:
            raise UsageError(
                f"{mpath}: unreadable symbol record ({exc}); fix or remove it"
            ) from None
        if recorded is not None:
            if str(recorded).lower() != self.symbol:
                if not self._holds_rows():
                    # No minute of that pair was ever written (e.g. a run with a mistyped
                    # --symbol that Binance refused): the file is nobody's yet.
                    self.warnings.append(
                        f"{self.path} held no minutes of {str(recorded).upper()}; it is now "
                        f"recorded as {self.symbol.upper()}"
                    )
                    return True
                raise UsageError(
                    f"{self.path} holds {str(recorded).upper()} minutes; refusing to add "
                    f"{self.symbol.upper()} minutes to it (pass another --data)"
                )
            return False
        return True

    def _holds_rows(self) -> bool:
        """Whether the CSV has any line after its header (reads only up to the first one)."""
        try:
            with open(self.path, "rb") as f:
                f.readline()
                return any(line.strip() for line in f)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # can't tell: keep refusing

    def _record_symbol(self) -> None:
        try:
            atomic_write(meta_path(self.path), json.dumps({"symbol": self.symbol.upper()}) + "\n")
        except StorageError as exc:
            # Without the record a later run of another symbol is not refused; say so, but a
            # full disk must not stop collecting (the app keeps minutes until space is back).
            self.warnings.append(f"{exc}; the file's symbol is not recorded yet")

    def _open_csv(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except IsADirectoryError:
            raise UsageError(f"{self.path} is a folder, not a CSV file") from None
        except OSError as exc:
            raise StorageError(
                f"{self.path}: cannot open it for writing: {_os_problem(exc)}"
            ) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise UsageError(f"{self.path} is not a regular file; pass a CSV")
        self._fd = fd
        self._identity = _Identity(st.st_dev, st.st_ino)
        self._size = st.st_size
        self._prepare()

    def _prepare(self) -> None:
        # Never the whole file in memory at once: a year of minutes is ~50-70 MB, and the app
        # opens the store at launch (issue: <= 150 MB RSS). The header, the last bytes and the
        # last rows are read; rows are counted block by block.
        assert self._fd is not None
        fd = self._fd
        size = os.fstat(fd).st_size
        self._size = size
        if size == 0:
            self._write_bytes(HEADER.encode())
            return
        head = os.pread(fd, min(size, _BLOCK), 0)
        newline = head.find(b"\n")
        first_line = head[: newline if newline >= 0 else len(head)]
        first_line = first_line.decode("utf-8", "replace").strip()
        if first_line == V2_HEADER.strip():
            self._upgrade(size)  # once per old file, streamed: a full rewrite anyway
            return self._prepare()
        if first_line != HEADER.strip():
            if first_line == ",".join(SEED_COLUMNS):
                raise UsageError(
                    f"{self.path} is a six-column file from the seed collector; it can be trained "
                    "on as it is, but new minutes must go to a new file (pass another --data)"
                )
            raise UsageError(
                f"{self.path} is not a btc-tui minute CSV (first line {first_line[:60]!r}); "
                "refusing to append to it"
            )
        if newline < 0:
            # A header without its newline (an editor saved it so): complete it, or the first
            # row appended would glue onto it.
            self._write_bytes(b"\n")
            self.warnings.append(f"{self.path}: the header had no newline at its end; added it")
            size, newline = size + 1, size
        header_end = newline + 1
        size = self._tidy_end(size, header_end)
        self._scan(size, header_end)

    def _tidy_end(self, size: int, header_end: int) -> int:
        """Lines at the end we did not write whole: a complete row without its newline (an
        editor) gets it; a torn row (a write cut by a crash) is taken out and kept in
        `<csv>.rejected`; blank lines (`echo >>`) are taken out. Each is named. The new size."""
        assert self._fd is not None
        fd = self._fd
        if size > header_end and os.pread(fd, 1, size - 1) != b"\n":
            keep = self._last_newline(size) + 1
            last = os.pread(fd, size - keep, keep)
            line_no = self._count_newlines(0, keep) + 1
            row = parse_row(last)
            if (
                row is not None
                and row.width == len(CSV_COLUMNS)
                and row.first_trade_id is not None
                and row.last_trade_id is not None
                and row.trades == row.last_trade_id - row.first_trade_id + 1
            ):
                self._write_bytes(b"\n")
                self.warnings.append(
                    f"{self.path}: line {line_no}, a complete row, had no newline at its end; "
                    "added it"
                )
                return self._tidy_end(size + 1, header_end)
            saved = self._save_rejected([last])
            self._truncate(keep)
            self.warnings.append(
                f"{self.path}: took out a torn last line {line_no} "
                f"({last[:40].decode('utf-8', 'replace')!r}) left by an interrupted write; "
                f"kept in {saved}"
            )
            size = keep
        tail_start = max(header_end, size - _BLOCK)
        tail = os.pread(fd, size - tail_start, tail_start)
        content = len(tail.rstrip(b" \t\r\n"))
        if not content and tail_start > header_end:
            return size  # a whole block of blanks: left to check --repair
        # keep the last row's own line ending (the file ends with a newline by now)
        end = tail_start + (tail.find(b"\n", content) + 1 if content else 0)
        if end < size:
            blank = os.pread(fd, size - end, end).count(b"\n")
            first = self._count_newlines(0, end) + 1
            self._truncate(end)
            where = f"line {first}" if blank == 1 else f"lines {first}..{first + blank - 1}"
            self.warnings.append(f"{self.path}: took out {blank} blank {where} at the end")
            size = end
        return size

    def _save_rejected(self, lines: list[bytes]) -> Path:
        """Append lines taken out of the CSV to `<csv>.rejected` (fsynced): nothing is lost."""
        saved = self.path.with_name(self.path.name + ".rejected")
        try:
            with open(saved, "ab") as f:
                f.write(b"\n".join(line.rstrip(b"\n") for line in lines) + b"\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise StorageError(
                f"{saved}: cannot save the lines taken out: {_os_problem(exc)}"
            ) from None
        return saved

    def _count_newlines(self, start: int, end: int) -> int:
        assert self._fd is not None
        count = 0
        while start < end:
            block = os.pread(self._fd, min(_COUNT_BLOCK, end - start), start)
            if not block:
                break
            count += block.count(b"\n")
            start += len(block)
        return count

    def _last_newline(self, end: int) -> int:
        """Offset of the last newline before `end`, or -1."""
        assert self._fd is not None
        while end > 0:
            start = max(0, end - _BLOCK)
            found = os.pread(self._fd, end - start, start).rfind(b"\n")
            if found >= 0:
                return start + found
            end = start
        return -1

    def _scan(self, size: int, header_end: int) -> None:
        # Byte counts and a walk back from the end: a year of rows is scanned in tens of
        # milliseconds, in blocks, instead of being decoded and split line by line.
        assert self._fd is not None
        self.last_minute = self.last_trade_id = self.last_first_trade_id = None
        self._last_line_start = -1
        if header_end == 0 or size <= header_end:
            self.rows = 0
            return
        # (a blank line, which we never write, would count as a row: `rows` is for display)
        self.rows = self._count_newlines(header_end, size)
        # The last valid row: walk back through the tail, reading more only when the rows there
        # are all corrupt.
        span = _BLOCK
        while True:
            base = max(header_end, size - span)
            tail = os.pread(self._fd, size - base, base)
            end = len(tail)
            first = 0 if base == header_end else tail.find(b"\n") + 1  # a whole line only
            while end > first:
                start = max(first, tail.rfind(b"\n", first, end - 1) + 1)
                line = tail[start:end].decode("utf-8", "replace").rstrip("\n")
                row = parse_row(line)
                if row is not None:
                    self.last_minute = row.minute
                    self.last_first_trade_id = row.first_trade_id
                    self.last_trade_id = row.last_trade_id
                    # replace_last() needs the last line to be the last row
                    if end == len(tail):
                        self._last_line_start = base + start
                    return
                end = start
            if base == header_end:
                return
            span *= 4

    def _upgrade(self, size: int) -> None:
        """13 -> 15 columns: old rows get empty id cells (their ids were never recorded). Read and
        written a block at a time, so a year of minutes never sits in memory."""
        assert self._fd is not None
        fd = self._fd

        def blocks() -> Iterator[bytes]:
            yield HEADER.encode()
            offset = os.pread(fd, _BLOCK, 0).find(b"\n") + 1
            pending = b""
            while offset < size:
                block = os.pread(fd, min(_BLOCK, size - offset), offset)
                if not block:
                    break
                offset += len(block)
                data = pending + block
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                out = []
                for line in data[:cut].split(b"\n")[:-1]:
                    row = parse_row(line)
                    wide = row is not None and row.width == len(V2_COLUMNS)
                    out.append(line + (b",,\n" if wide else b"\n"))
                yield b"".join(out)
            yield pending  # a torn last line stays torn; the normal repair takes it out

        self._rewrite(blocks())
        self.warnings.append(
            f"{self.path}: upgraded to {len(CSV_COLUMNS)} columns (first_trade_id,last_trade_id; "
            "empty for the rows written before them)"
        )

    # -- writing ---------------------------------------------------------------------------------
    def _check_identity(self) -> None:
        assert self._identity is not None
        self._check_lock()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StorageError(
                f"{self.path} was deleted while being written; nothing more is written to it "
                "(restart to start a new file)"
            ) from None
        except OSError as exc:
            raise StorageError(f"{self.path}: {_os_problem(exc)}") from None
        if (st.st_dev, st.st_ino) != (self._identity.dev, self._identity.ino):
            raise StorageError(
                f"{self.path} was replaced by another file while being written; nothing more is "
                "written to it (restart to continue in the new file)"
            )

    def _check_lock(self) -> None:
        """The sidecar must still be the file we hold the lock on (someone may have "cleaned up"
        a lock file they thought stale: then a second writer could lock a new one)."""
        if self._lock_identity is None:
            return
        lpath = lock_path(self.path)
        try:
            st = os.stat(lpath)
            same = (st.st_dev, st.st_ino) == (self._lock_identity.dev, self._lock_identity.ino)
        except FileNotFoundError:
            same = False
        except OSError:
            return  # can't tell: the write itself will say what is wrong
        if not same:
            raise LockLost(
                f"{lpath} was deleted or replaced while {self.path} was being written: another "
                "process could write the CSV now, so this one stops (restart to lock it again)"
            )

    def _truncate(self, size: int) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot repair it: {_os_problem(exc)}") from None
        self._size = size

    def _write_bytes(self, data: bytes) -> None:
        """Append `data` whole and fsynced, or truncate back and raise StorageError."""
        if self._fd is None:
            raise RuntimeError("MinuteStore used before open()")
        self._check_identity()
        fd, before = self._fd, self._size
        view = memoryview(data)
        try:
            while view:
                n = os.write(fd, view)
                if n <= 0:
                    raise OSError(errno.EIO, "the write made no progress")
                view = view[n:]
            os.fsync(fd)
        except OSError as exc:
            # Nothing of this write may stay: a partial row would glue onto the next one mid-file.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
                os.fsync(fd)
            raise StorageError(
                f"{self.path}: the disk refused the write: {_os_problem(exc)}; "
                "nothing of it was kept"
            ) from None
        self._size = before + len(data)

    def append(self, bar: MinuteBar) -> bool:
        """Write one closed minute; False (and nothing written) if it is not after the last one."""
        return self.append_many([bar]) == 1

    def append_many(self, bars: Iterable[MinuteBar]) -> int:
        """Write the bars after the last stored minute in one write and one fsync; the count."""
        if self._fd is None:
            raise RuntimeError("MinuteStore.append() before open()")
        last = self.last_minute
        rows: list[str] = []
        kept: list[MinuteBar] = []
        for bar in bars:
            if last is not None and bar.minute <= last:
                continue
            rows.append(format_row(bar))
            kept.append(bar)
            last = bar.minute
        if not rows:
            return 0
        self._write_bytes("".join(rows).encode())
        tail = rows[-1].encode()
        self._last_line_start = self._size - len(tail)
        self.last_minute = kept[-1].minute
        self.last_trade_id = kept[-1].last_trade_id
        self.last_first_trade_id = kept[-1].first_trade_id
        self.rows += len(rows)
        return len(rows)

    def replace_last(self, bar: MinuteBar) -> None:
        """Replace the last row (a minute cut short at shutdown) by `bar`, atomically."""
        if self._fd is None:
            raise RuntimeError("MinuteStore.replace_last() before open()")
        if self.last_minute is None or bar.minute != self.last_minute:
            raise ValueError("replace_last() takes a bar for the last stored minute")
        if self._last_line_start < 0:
            # Lines we did not write follow the last row (garbage, an editor's): they stay where
            # they are, and the row is replaced in place by a merge.
            self.merge([bar], replace=True)
            return
        self._check_identity()
        try:
            head = os.pread(self._fd, self._last_line_start, 0)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot read it: {_os_problem(exc)}") from None
        self._rewrite(head + format_row(bar).encode())
        self.last_trade_id = bar.last_trade_id
        self.last_first_trade_id = bar.first_trade_id

    def merge(self, bars: Iterable[MinuteBar], replace: bool = False) -> int:
        """Add the minutes the file lacks, anywhere in time; existing rows are never changed,
        unless `replace` (a row completed with trades that came after it was written).

        Pure append when every new minute is after the last row; otherwise one atomic rewrite.
        Returns how many rows were added or replaced.
        """
        if self._fd is None:
            raise RuntimeError("MinuteStore.merge() before open()")
        new: dict[int, MinuteBar] = {}
        for bar in bars:
            new.setdefault(bar.minute, bar)
        if not new:
            return 0
        empty = self.last_minute is None and self.rows == 0
        if empty or (self.last_minute is not None and min(new) > self.last_minute):
            return self.append_many(new[m] for m in sorted(new))
        self._check_identity()
        data = os.pread(self._fd, self._size, 0)
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        existing: set[int] = set()
        for line in lines[1:]:
            minute = row_minute(line)
            if minute is not None:
                existing.add(minute)
        todo = sorted(m for m in new if m not in existing)
        replaced = {m for m in new if m in existing} if replace else set()
        changed = len(todo) + len(replaced)
        if not changed:
            return 0
        out: list[bytes] = [lines[0]]
        i = 0
        for line in lines[1:]:
            minute = row_minute(line)
            if minute is not None:
                while i < len(todo) and todo[i] < minute:
                    out.append(format_row(new[todo[i]]).encode().rstrip(b"\n"))
                    i += 1
                if minute in replaced:
                    out.append(format_row(new[minute]).encode().rstrip(b"\n"))
                    replaced.discard(minute)  # a later duplicate line stays as it is
                    continue
            out.append(line)  # existing lines verbatim, corrupt ones too, in place
        out.extend(format_row(new[m]).encode().rstrip(b"\n") for m in todo[i:])
        self._rewrite(b"\n".join(out) + b"\n")
        return changed

    def rows_from_end(self) -> Iterator[Row]:
        """The valid rows, newest (last in the file) first, read in blocks from the end: a caller
        that stops early reads only the end of the file."""
        if self._fd is None:
            raise RuntimeError("MinuteStore.rows_from_end() before open()")
        fd, end, tail = self._fd, self._size, b""
        while end > 0:
            start = max(0, end - _BLOCK)
            data = os.pread(fd, end - start, start) + tail
            end = start
            cut = data.find(b"\n") + 1 if start > 0 else 0
            tail = data[:cut]
            for line in reversed(data[cut:].split(b"\n")):
                row = parse_row(line)
                if row is not None:
                    yield row

    def read_bars(self, minutes: Iterable[int]) -> dict[int, MinuteBar]:
        """The rows (with trade ids) of these minutes, read back from the end of the file only as
        far as the oldest of them: recent minutes cost a block or two."""
        wanted = set(minutes)
        found: dict[int, MinuteBar] = {}
        if not wanted:
            return found
        oldest = min(wanted)
        for row in self.rows_from_end():
            if row.minute in wanted and row.first_trade_id is not None:
                found.setdefault(row.minute, row.bar())  # type: ignore[arg-type]
            if row.minute <= oldest or len(found) == len(wanted):
                break
        return found

    def rebuild(self, bars: Iterable[MinuteBar]) -> tuple[int, Path | None]:
        """`btc-tui check --repair`: rewrite the CSV atomically in time order, one row per minute,
        `bars` replacing (or inserting) their minutes. Corrupt and duplicate lines are taken out and
        appended to `<csv>.rejected` first, so nothing is thrown away. Returns (lines taken out,
        where they went)."""
        if self._fd is None:
            raise RuntimeError("MinuteStore.rebuild() before open()")
        self._check_identity()
        data = os.pread(self._fd, self._size, 0)
        lines = data.split(b"\n")
        rows: dict[int, bytes] = {}
        rejected: list[bytes] = []
        for line in lines[1:]:
            if not line.strip():
                continue
            row = parse_row(line)
            if row is None or row.width != len(CSV_COLUMNS) or row.minute in rows:
                rejected.append(line)
            else:
                rows[row.minute] = line
        for bar in bars:
            rows[bar.minute] = format_row(bar).encode().rstrip(b"\n")
        saved = self._save_rejected(rejected) if rejected else None
        body = b"".join(rows[m] + b"\n" for m in sorted(rows))
        self._rewrite(HEADER.encode() + body)
        return len(rejected), saved

    def _rewrite(self, content: bytes | Iterable[bytes]) -> None:
        """Replace the CSV by `content` (bytes, or blocks of it: memory stays one block): temp
        file beside it, fsync, rename, fsync the folder.

        A kill at any point leaves the old file or the new one, never a mix.
        """
        folder = self.path.parent
        tmp = folder / f".{self.path.name}.{os.getpid()}.tmp"
        blocks = [content] if isinstance(content, bytes) else content
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for block in blocks:
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(
                f"{self.path}: could not rewrite it: {_os_problem(exc)}; the file is unchanged"
            ) from None
        synced: OSError | None = None
        try:
            _fsync_dir(folder)
        except OSError as exc:
            synced = exc
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        st = os.fstat(self._fd)
        self._identity = _Identity(st.st_dev, st.st_ino)
        self._size = st.st_size
        first = os.pread(self._fd, _BLOCK, 0).find(b"\n") + 1
        self._scan(self._size, first)
        if synced is not None:
            raise StorageError(
                f"{self.path}: rewritten, but its folder could not be synced "
                f"({_os_problem(synced)}): the new file is in place and may not survive a power cut"
            )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            # Clear the owner record first: a record left behind means the owner died.
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None


def atomic_write(path: Path, text: str) -> None:
    """Write a small file whole or not at all (temp file beside it, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"{path}: cannot write it: {_os_problem(exc)}") from None


# -- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedMinutes:
    # index: UTC minute starts ("time"); columns: FRAME_COLUMNS as floats (ids NaN when absent)
    frame: pd.DataFrame
    # 1-based line numbers that were skipped (load_tail: negative, counted from the end, -1 = last)
    bad_lines: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    path: Path = Path()


def _to_float(cell: object) -> float:
    try:
        return float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _describe_lines(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def _columns_of(path: Path, first_line: str) -> tuple[list[str], bool]:
    """(columns, has_header) from the file's first line; UsageError if it is not a minute CSV."""
    header = first_line.strip().lower()
    for columns, text in zip((CSV_COLUMNS, V2_COLUMNS, SEED_COLUMNS), HEADERS, strict=True):
        if header == text:
            return columns, True
    if row_minute(first_line) is not None:  # a header-less file: go by the field count
        n = first_line.count(",") + 1
        return {15: CSV_COLUMNS, 13: V2_COLUMNS}.get(n, SEED_COLUMNS), False
    raise UsageError(
        f"{path} is not a minute CSV: line 1 is {first_line[:60]!r}, expected the header "
        f"{','.join(CSV_COLUMNS)!r} (or the older 13- or 6-column one)"
    )


def _frame_from_lines(
    path: Path, columns: list[str], numbered: list[tuple[int, str]], tail: bool = False
) -> LoadedMinutes:
    import numpy as np
    import pandas as pd

    commas = len(columns) - 1
    good: list[str] = []
    line_numbers: list[int] = []
    bad: list[int] = []
    for number, line in numbered:
        if not line.strip():
            continue
        if line.count(",") == commas:
            good.append(line)
            line_numbers.append(number)
        else:
            bad.append(number)

    text_table = "\n".join(good)
    # round_trip: read back exactly the float that was written (the default parser can be off
    # in the last digit). A clean file takes this fast path; a column holding garbage comes back
    # as text and is converted cell by cell, so a bad cell marks only its own line.
    numbers = pd.read_csv(
        io.StringIO(text_table), header=None, names=columns, float_precision="round_trip"
    )
    table = numbers
    if any(not pd.api.types.is_numeric_dtype(numbers[c]) for c in columns):
        table = pd.read_csv(io.StringIO(text_table), header=None, names=columns, dtype=str)
        numbers = table.apply(lambda column: column.map(_to_float))
    with warnings_module.catch_warnings():  # a year past int64 ns: NaT (a corrupt line), no warning
        warnings_module.simplefilter("ignore", RuntimeWarning)
        times = pd.to_datetime(numbers[TIME_COLUMNS], errors="coerce", utc=True)
    prices = numbers["avg_price"].to_numpy(dtype=float)
    ok = times.notna().to_numpy() & np.isfinite(prices) & (prices > 0)
    if len(columns) > len(SEED_COLUMNS):
        # Missing optional fields (e.g. ids of rows written before ids) are tolerated; present
        # ones must be numbers.
        optional = [c for c in columns[6:]]
        ok &= ~(numbers[optional].isna() & table[optional].notna()).any(axis=1).to_numpy()
    if len(columns) == len(CSV_COLUMNS):
        # rows.parse_row's rule: both ids recorded, or neither
        ids = numbers[ID_COLUMNS].isna()
        ok &= (ids[ID_COLUMNS[0]] == ids[ID_COLUMNS[1]]).to_numpy()
    row_numbers = np.asarray(line_numbers, dtype=np.int64)
    bad.extend(int(n) for n in row_numbers[~ok])
    bad.sort()

    frame = numbers.loc[ok, [c for c in FRAME_COLUMNS if c in columns]].astype(float)
    frame = frame.reindex(columns=FRAME_COLUMNS)
    frame.index = pd.DatetimeIndex(times[ok], name="time")
    row_numbers = row_numbers[ok]

    where = " (line numbers counted from the end, -1 = last)" if tail and bad else ""
    warnings: list[str] = []
    if bad:
        warnings.append(
            f"{path}: skipped {len(bad)} corrupt line(s){where}: {_describe_lines(bad)}"
        )
    if not frame.index.is_monotonic_increasing:
        order = np.argsort(frame.index.asi8, kind="stable")
        frame, row_numbers = frame.iloc[order], row_numbers[order]
        warnings.append(f"{path}: rows were out of time order; sorted them")
    duplicated = frame.index.duplicated(keep="first")
    if duplicated.any():
        dup_lines = sorted(int(n) for n in row_numbers[duplicated])
        frame = frame[~duplicated]
        warnings.append(
            f"{path}: {len(dup_lines)} line(s) repeat an earlier minute and were skipped: "
            f"{_describe_lines(dup_lines)}"
        )
    if frame.empty:
        detail = f" ({len(bad)} corrupt line(s), first at line {bad[0]})" if bad else ""
        raise UsageError(f"{path} has no usable minute rows{detail}")
    return LoadedMinutes(frame=frame, bad_lines=bad, warnings=warnings, path=path)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path}: no such file (collect some minutes first: btc-tui collect)")
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a minute CSV")


def load_minutes(path: Path | str) -> LoadedMinutes:
    """Read a minute CSV (ours, the 13-column one or the seed's) into a DataFrame by UTC minute.

    Corrupt lines are skipped and reported by line number; a file with no usable row raises
    UsageError with a message that names the file and the problem.
    """
    path = Path(path)
    _check_readable(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise UsageError(f"{path} is empty: it holds no minutes yet")
    if b"\x00" in raw[:4096]:
        raise UsageError(f"{path} is not a minute CSV (it looks like a binary file)")
    text = raw.decode("utf-8", errors="replace")
    lines = text.splitlines()
    columns, has_header = _columns_of(path, lines[0])
    first = 1 if has_header else 0
    if not any(line.strip() for line in lines[first:]):
        raise UsageError(f"{path} holds no minutes yet (only a header)")
    numbered = list(enumerate(lines[first:], start=first + 1))
    return _frame_from_lines(path, columns, numbered)


TAIL_BLOCK = 1 << 16


def load_tail(path: Path | str, rows: int) -> LoadedMinutes:
    """The last `rows` lines of a minute CSV, reading only the end of the file (blocks from the end).

    Same parsing rules as load_minutes. Line numbers are exact when the whole file was read;
    otherwise bad_lines are negative, counted from the end (-1 = the last line).
    """
    path = Path(path)
    _check_readable(path)
    with open(path, "rb") as f:
        first_line = f.readline(4096)
        size = os.fstat(f.fileno()).st_size
        if not first_line.strip():
            raise UsageError(f"{path} is empty: it holds no minutes yet")
        if b"\x00" in first_line:
            raise UsageError(f"{path} is not a minute CSV (it looks like a binary file)")
        columns, has_header = _columns_of(path, first_line.decode("utf-8", "replace"))
        end = size
        blocks: list[bytes] = []
        newlines = 0
        step = TAIL_BLOCK
        while True:
            start = max(0, end - step)
            f.seek(start)
            block = f.read(end - start)
            blocks.append(block)
            newlines += block.count(b"\n")
            end = start
            step *= 2  # doubling: a long tail costs a few reads, not one per 64 KiB
            # rows + 1 newlines guarantee `rows` whole lines after the first (maybe partial) one
            if start == 0 or newlines > rows + 1:
                break
        chunk = b"".join(reversed(blocks))
    whole = end == 0
    text = chunk.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if whole:
        first = 1 if has_header else 0
        numbered = list(enumerate(lines[first:], start=first + 1))
    else:
        lines = lines[1:]  # the first line may be cut
        numbered = [(i - len(lines), line) for i, line in enumerate(lines)]
    numbered = numbered[-rows:] if rows > 0 else []
    if not any(line.strip() for _, line in numbered):
        raise UsageError(f"{path} holds no minutes yet (only a header)")
    return _frame_from_lines(path, columns, numbered, tail=not whole)
