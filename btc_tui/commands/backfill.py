"""`btc-tui backfill (--since 3d | --start ISO [--end ISO])`: exact history over REST into the CSV.

The end defaults to now by Binance's clock (`/api/v3/time`), never the local one. A progress bar on
a terminal (rich, which Textual already brings), plain lines otherwise; one summary line at the end.
Exit 2 with one line when the job can't be done (invalid symbol, unreachable REST, a CSV another
process writes); the minutes merged before such an error stay, each exact and complete.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from btc_tui.commands import Command, Context
from btc_tui.config import Settings, parse_duration, parse_time
from btc_tui.errors import EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from btc_tui.market.history import BackfillProgress


def _to_ms(value: int | float | str | None, flag: str) -> int | None:
    """The CLI hands over ms; a direct caller may pass an ISO time, read the same way."""
    if value is None or isinstance(value, int | float):
        return None if value is None else int(value)
    return parse_time(value, flag)


class _Progress:
    """Rich's bar when stderr is a terminal; otherwise a plain line every 5% (or so)."""

    def __init__(self, label: str = "backfill") -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self._bar = None
        self._task = None
        self._shown = -1

    def __call__(self, progress: BackfillProgress) -> None:
        if self.tty:
            if self._bar is None:
                from rich.console import Console
                from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

                self._bar = Progress(
                    TextColumn(self.label),
                    BarColumn(),
                    TextColumn("{task.completed:,}/{task.total:,} min"),
                    TimeRemainingColumn(),
                    console=Console(stderr=True),  # stdout keeps only the summary line
                    transient=True,
                )
                self._bar.start()
                self._task = self._bar.add_task(self.label, total=progress.total_minutes)
            self._bar.update(self._task, completed=progress.done_minutes)
            return
        # a plain line at every 5% step (and at the end), for logs and pipes
        step = max(1, progress.total_minutes // 20)
        mark = progress.done_minutes // step
        if mark == self._shown and progress.done_minutes != progress.total_minutes:
            return
        if progress.done_minutes == progress.total_minutes and self._shown == -2:
            return
        self._shown = -2 if progress.done_minutes == progress.total_minutes else mark
        requests = f", {progress.requests:,} requests" if progress.requests else ""
        print(
            f"{self.label}: {progress.done_minutes:,}/{progress.total_minutes:,} minutes, "
            f"{progress.written:,} written{requests}",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def run(
    settings: Settings,
    since: float | None = None,
    start: int | str | None = None,
    end: int | str | None = None,
) -> int:
    from btc_tui.market.history import backfill
    from btc_tui.market.rest import RestError

    if settings.demo:
        raise UsageError(
            f"backfill fetches real history from Binance, never into the demo's {settings.data}; "
            "the demo fills its own past from the simulator (btc-tui --demo, or --demo collect)"
        )
    start_ms, end_ms = _to_ms(start, "--start"), _to_ms(end, "--end")
    if start_ms is None and since is None:
        raise UsageError("backfill: pass --since (e.g. 3d) or --start")
    progress = _Progress()
    try:
        result = asyncio.run(
            backfill(
                settings,
                start_ms,
                end_ms,
                on_progress=progress,
                since=since,
                on_wait=lambda text: print(f"btc-tui: {text}", file=sys.stderr, flush=True),
            )
        )
    except RestError as exc:
        progress.close()
        print(f"btc-tui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        progress.close()
    for warning in result.warnings:
        print(f"btc-tui: warning: {warning}", file=sys.stderr)
    print(result.summary(settings.data), flush=True)
    return 0


@dataclass(frozen=True)
class BackfillArgs:
    since: float | None  # seconds back from now (--since)
    start: int | None  # ms (--start)
    end: int | None  # ms (--end; None: now)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--since", metavar="DURATION", help="the last DURATION, e.g. 3d or 12h")
    when.add_argument("--start", metavar="ISO", help="from this UTC time, e.g. 2024-08-08T23:55Z")
    parser.add_argument(
        "--end", metavar="ISO", help="up to this UTC time, exclusive (default: now)"
    )


def _arguments(namespace: argparse.Namespace, context: Context) -> BackfillArgs:
    since = None
    if namespace.since is not None:
        try:
            since = parse_duration(namespace.since)
        except UsageError as exc:
            raise UsageError(f"--since: {exc}") from None
        if since <= 0:
            raise UsageError(f"--since {namespace.since}: must be longer than 0")
    start = parse_time(namespace.start, "--start") if namespace.start is not None else None
    if namespace.end is not None and start is None:
        raise UsageError("--end needs --start (with --since, the end is now)")
    end = parse_time(namespace.end, "--end") if namespace.end is not None else None
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--end {namespace.end} is not after --start {namespace.start}")
    return BackfillArgs(since, start, end)


def _run(settings: Settings, args: BackfillArgs) -> int:
    return run(settings, since=args.since, start=args.start, end=args.end)


COMMAND = Command(
    name="backfill",
    help="fetch exact history over REST and merge it into the CSV",
    run=_run,
    add_arguments=_add_arguments,
    arguments=_arguments,
)
