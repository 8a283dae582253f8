"""`btc-tui collect`: the Collector, headless. One stdout line per written minute, logs on stderr.

Ctrl+C, SIGTERM and SIGHUP (an SSH session that hung up, `systemctl stop`) cancel the collector
task, which writes the open minute and releases the CSV's lock before the process exits 0;
`--minutes N` exits 0 once N minutes are written. A terminal that disappears (EIO/EPIPE when
printing) stops it the same way. A disk that refuses writes ends it with one line and exit 3
(StorageError, mapped by the CLI).

Output is plain text, one line per event and never colour: under systemd each line becomes one
journald entry. On a terminal the start's fill also shows a progress line that rewrites itself.

With --demo it collects from the built-in simulator (started in this process, its simulated past
served over REST) into the demo's own file: simulated minutes never go into a real CSV, and real
trades never into the demo's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from btc_tui.commands import Command
from btc_tui.config import Settings
from btc_tui.config.settings import APP, COLLECT, COLLECTOR
from btc_tui.market.lines import format_bar_line

if TYPE_CHECKING:
    from btc_tui.market.collector import BarWritten, CollectorLog, FillProgress, Tick

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def format_fill_line(progress: FillProgress) -> str:
    if progress.error is not None:
        return f"fill stopped after {progress.done_minutes} minute(s): {progress.error}"
    if progress.finished:
        return f"fill done: {progress.done_minutes} minute(s)"
    percent = 100 * progress.done_minutes / progress.total_minutes if progress.total_minutes else 0
    return f"filling: {progress.done_minutes}/{progress.total_minutes} minutes ({percent:.0f}%)"


class Output:
    """Prints lines; if the terminal is gone (EIO, EPIPE), stops printing and calls `lost`."""

    def __init__(self, lost: Callable[[], object]) -> None:
        self._lost = lost
        self.gone = False
        self._progress_shown = False

    def line(self, text: str, stream: TextIO) -> None:
        if self.gone:
            return
        try:
            if self._progress_shown and stream is sys.stderr:
                stream.write("\n")
                self._progress_shown = False
            print(text, file=stream, flush=True)
        except OSError:
            self._gone()

    def progress(self, text: str) -> None:
        """A line that rewrites itself, on a terminal only (not in a journal or a pipe)."""
        if self.gone or not sys.stderr.isatty():
            return
        try:
            sys.stderr.write(f"\r{text}\x1b[K")
            sys.stderr.flush()
            self._progress_shown = True
        except OSError:
            self._gone()

    def _gone(self) -> None:
        """The reader of our output went away: stop as for SIGHUP. What Python still holds for
        stdout/stderr goes to /dev/null, so its flush at exit can't fail (exit status 120)."""
        self.gone = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            for stream in (sys.stdout, sys.stderr):
                os.dup2(devnull, stream.fileno())
        self._lost()


class Alerts:
    """--alert rules fed by live trades only (the collector's on_tick: never its history fill
    or a repair); each firing is logged and runs --on-alert in the background. `band` needs the
    app's live forecast, so collect says it ignores it."""

    def __init__(self, settings: Settings, log: Callable[[str], None]) -> None:
        from btc_tui.market.alerts import AlertBook, AlertHook, parse_rules

        rules = parse_rules(settings.alerts)
        if any(r.kind == "band" for r in rules):
            log("alert 'band' needs the app's live forecast: collect ignores it")
        self.book = AlertBook([r for r in rules if r.kind != "band"], settings.symbol)
        self.log = log
        self.hook = AlertHook(settings.on_alert, log) if settings.on_alert else None
        if settings.on_alert and not settings.alerts:
            log("--on-alert without any --alert: nothing will run it")
        self.on_tick = self._on_tick if self.book.wants_trades else None

    def _on_tick(self, tick: Tick) -> None:
        for firing in self.book.on_trade(tick.price, tick.trade_time):
            self.log(firing.line())
            if self.hook is not None:
                self.hook.fire(firing)

    async def finish(self) -> None:
        if self.hook is not None:
            await self.hook.wait()


async def _collect(settings: Settings) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if settings.demo:
            from btc_tui.market.demo import demo_settings, start_simulator

            simulator = await start_simulator(settings, _say, announce=False)
            stack.push_async_callback(simulator.stop)
            settings = demo_settings(settings, simulator)
            source = f"the built-in simulator at {simulator.url} (demo: random prices)"
        else:
            source = settings.url
        rest = (
            f"; gaps repaired from {settings.rest_url}" if settings.repair else "; gap repair off"
        )
        _say(f"collecting {settings.symbol}@trade from {source} into {settings.data}{rest}")
        await _collect_from(settings)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _collect_from(settings: Settings) -> None:
    from btc_tui.market.collector import Collector
    from btc_tui.market.history import fill_hint

    loop = asyncio.get_running_loop()
    stopping: list[str] = []
    task: asyncio.Task[None] | None = None

    def stop(name: str) -> None:
        if not stopping:
            out.line(f"{name}: writing the open minute and stopping", sys.stderr)
        stopping.append(name)
        if task is not None:
            task.cancel()

    out = Output(lambda: loop.call_soon(stop, "terminal gone"))

    def on_bar(event: BarWritten) -> None:
        out.line(format_bar_line(event), sys.stdout)

    def on_log(log: CollectorLog) -> None:
        if log.kind != "minute":  # minutes already have their own line on stdout
            out.line(log.text, sys.stderr)

    def on_fill(progress: FillProgress) -> None:
        # The end of a fill (done, failed, stopped) is said by the collector's own log line.
        if not progress.finished:
            out.progress(format_fill_line(progress))

    alerts = Alerts(settings, lambda text: out.line(text, sys.stderr))
    collector = Collector(
        settings, on_bar=on_bar, on_log=on_log, on_fill=on_fill, on_tick=alerts.on_tick
    )
    task = asyncio.create_task(collector.run())
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        await task
    except asyncio.CancelledError:
        if not stopping:
            raise  # cancelled by something other than our signals: not a clean stop
    finally:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await alerts.finish()
    status = collector.status
    hint = fill_hint(settings.data, settings.symbol, settings.demo)
    holes = (
        f", {status.unrepaired} trade(s) in unrepaired holes ({hint})" if status.unrepaired else ""
    )
    out.line(
        f"stopped; {collector.bars_written} minute(s) written to {settings.data}; "
        f"{status.repaired + status.filled} trade(s) fetched over REST (history, restart, holes)"
        f"{holes}",
        sys.stderr,
    )


def run(settings: Settings, args: None = None) -> int:
    asyncio.run(_collect(settings))
    return 0


COMMAND = Command(
    name="collect",
    help="collect trades into the minute CSV, headless",
    run=run,
    groups=(APP, COLLECTOR, COLLECT),
)
