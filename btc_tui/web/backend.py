"""The one collector behind `serve` (and, with --demo, the simulator it collects from).

Sessions must not fight over the CSV. Rather than "the first session collects, the others
attach" (the CSV would stop growing whenever that session's tab closes, and the next session
would have to take over), `serve` itself runs the same `Collector` as `btc-tui collect` for as
long as it serves, and every session attaches to it: it follows the CSV and never writes it.
The CSV's lock names `serve` as its owner, so a session's Live pane says who collects.

Stopping (Ctrl+C, SIGTERM, SIGHUP) cancels the collector, which writes the open minute and
releases the lock, as `collect` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.market.collector import BarWritten, Collector, CollectorLog
from btc_tui.market.lines import format_bar_line

LOCK_WAIT = 15.0  # seconds for the collector to take the CSV's lock at start


class Backend:
    def __init__(self, settings: Settings, log: Callable[[str], None]) -> None:
        self.settings = settings.with_changes(minutes=None)  # serve collects until stopped
        self._log = log
        self.simulator = None
        self.collector: Collector | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def session_settings(self) -> Settings:
        """What a session needs to follow this backend: the simulator's URL in demo mode."""
        return self.settings

    async def start(self, on_failure: Callable[[BaseException], None]) -> None:
        """Start collecting; returns once the CSV's lock is ours (UsageError if it can't be).

        When a `btc-tui collect` (or another serve) already writes the CSV, there is nothing to
        start: the sessions attach to that one, as an app opened in a terminal would.
        """
        from btc_tui.market.store import read_lock_owner

        owner = read_lock_owner(self.settings.data)
        if owner is not None and owner.alive and owner.pid != os.getpid():
            if self.settings.demo:  # its simulator's address is not ours to know
                raise UsageError(
                    f"{self.settings.data} is being written by {owner.describe()}: stop it, "
                    "or give serve --demo another --data"
                )
            self._log(
                f"{self.settings.data} is being written by {owner.describe()}: "
                "every session attaches to it"
            )
            return
        if self.settings.demo:
            await self._start_demo()
        collector = Collector(self.settings, on_bar=self._on_bar, on_log=self._on_log)
        self.collector = collector
        self.task = asyncio.create_task(collector.run(), name="serve-collector")
        await self._wait_for_lock()

        def done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                on_failure(task.exception())  # type: ignore[arg-type]

        self.task.add_done_callback(done)

    async def _start_demo(self) -> None:
        from btc_tui.market.demo import demo_settings, start_simulator

        # The demo's one start-up (the app's and `collect --demo`'s too): gaps and history come
        # from the simulator, never from the real Binance, so `t` works at once in every session.
        self.simulator = await start_simulator(self.settings, self._log)
        self.settings = demo_settings(self.settings, self.simulator)

    async def _wait_for_lock(self) -> None:
        from btc_tui.market.store import read_lock_owner

        assert self.task is not None
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            if self.task.done():
                self.task.result()  # raises the collector's UsageError / StorageError
                return
            owner = read_lock_owner(self.settings.data)
            if owner is not None and owner.pid == os.getpid():
                return
            if time.monotonic() > deadline:
                self._log(f"the collector has not locked {self.settings.data} yet; serving anyway")
                return
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Write the open minute, release the lock, stop the simulator."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task  # a failure was already reported by on_failure
        if self.collector is not None:
            self._log(
                f"collector stopped; {self.collector.bars_written} minute(s) written to "
                f"{self.settings.data}"
            )
        if self.simulator is not None:
            await self.simulator.stop()

    def _on_bar(self, event: BarWritten) -> None:
        self._log(format_bar_line(event))

    def _on_log(self, log: CollectorLog) -> None:
        if log.kind != "minute":
            self._log(log.text)
