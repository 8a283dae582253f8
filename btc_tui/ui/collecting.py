"""The collecting job's owner: the collector worker (or, when another process owns the CSV, a
follower of that CSV and a read-only ticker), the demo's simulator, and the state the Live pane
shows, as reactives.

Collector callbacks run on the app's loop, so they set state directly; the newest tick and status
reach the reactives at the refresh rate, so a burst of trades is one repaint, not hundreds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.reactive import reactive, var
from textual.widget import Widget
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from btc_tui.config import Settings
from btc_tui.errors import StorageError, UsageError
from btc_tui.market.candles import OpenCandle
from btc_tui.ui import messages as m

if TYPE_CHECKING:
    from btc_tui.market.collector import BarWritten, CollectorLog, FillProgress, StreamStatus, Tick
    from btc_tui.market.stream import StreamEvent

FOLLOW_INTERVAL = 1.0  # seconds between looks at a CSV another process writes
QUIT_TIMEOUT = 1.5  # seconds to wait for the collector to write the open minute


@dataclass(frozen=True)
class Fill:
    """History fill progress, as the Live pane shows it (from the collector's FillProgress)."""

    done_minutes: int
    total_minutes: int
    finished: bool
    error: str | None


def describe(error: BaseException | None) -> str:
    """UsageError's and StorageError's messages are written for users; anything else (a bug)
    gets its type name too."""
    if error is None:
        return "unknown error"
    if isinstance(error, UsageError | StorageError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def live_owner(path: Any) -> Any:
    """The live process (not this one) that holds the CSV's lock, or None."""
    from btc_tui.market.store import read_lock_owner

    owner = read_lock_owner(path)
    if owner is None or not owner.alive or owner.pid == os.getpid():
        return None
    return owner


async def wait_quietly(worker: Worker[Any]) -> None:
    """Wait for a worker to end however it ends; its failure is reported by StateChanged."""
    with contextlib.suppress(WorkerCancelled, WorkerFailed):
        await worker.wait()


class Collecting(Widget):
    """Owns collecting. States: off, starting (the demo's simulator), collecting, attached
    (another process writes the CSV)."""

    DEFAULT_CSS = "Collecting { display: none; }"

    state: reactive[str] = reactive("off", bindings=True)
    error: reactive[str | None] = reactive(None)
    tick: var[Tick | None] = var(None)
    status: var[StreamStatus | None] = var(None)
    status_at: var[float] = var(0.0)
    ever_connected: var[bool] = var(False)
    fill: var[Fill | None] = var(None)
    owner: var[Any] = var(None)  # LockOwner of the process we are attached to
    owner_gone: reactive[bool] = reactive(False, bindings=True)
    ticker_on: reactive[bool] = reactive(False, bindings=True)

    def __init__(self, settings: Settings, clock: Callable[[], float], refresh_hz: float) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.refresh_hz = refresh_hz
        self.last_minute: int | None = None  # newest minute known from the CSV
        self._simulator: Any = None
        self._worker: Worker[None] | None = None  # collector, or follower
        self._ticker_worker: Worker[None] | None = None
        self._sim_worker: Worker[None] | None = None
        self._start_worker: Worker[None] | None = None
        self._pending_tick: Tick | None = None
        self._pending_status: StreamStatus | None = None
        self._status_source: Callable[[], StreamStatus] | None = None
        self.collector_ticks = 0  # trades seen (tests: the burst has arrived)
        # The minute still trading, per trade (the chart draws it; a plain attribute: no repaint)
        self.open_candle: OpenCandle | None = None
        # Every live trade, for the alerts (set by the app; never the history fill or a repair)
        self.on_live_trade: Callable[[Tick], None] = lambda tick: None

    def on_mount(self) -> None:
        self.set_interval(1 / self.refresh_hz, self._flush)

    # --- what the app's keys call ----------------------------------------------------------------

    def start(self) -> None:
        """Collect into the CSV, or attach when another live process owns it."""
        self.state = "starting"
        self.error = None
        self._start_worker = self.run_worker(self._start(), exit_on_error=False)

    async def _start(self) -> None:
        # The lock's owner record is a file: read it off the loop.
        owner = await asyncio.to_thread(live_owner, self.settings.data)
        if owner is not None:
            self.attach(owner)
            return
        if self.settings.demo and self._simulator is None:
            if self._sim_worker is None or not self._sim_worker.is_running:
                self._sim_worker = self.run_worker(self._run_simulator(), exit_on_error=False)
            return  # the simulator starts the collector once it listens
        previous = self._worker
        self.state = "collecting"
        self._worker = self.run_worker(self._collect(previous), exit_on_error=False)

    def toggle(self) -> None:
        if self.state == "starting":
            for worker in (self._start_worker, self._sim_worker):
                if worker is not None:
                    worker.cancel()
            self.state = "off"
        elif self.state == "collecting":
            self._log("collecting stopped: writing the open minute")
            if self._worker is not None:
                self._worker.cancel()
        elif self.state == "attached":
            self.toggle_ticker()
        else:
            self.start()

    def toggle_ticker(self) -> None:
        if self._ticker_worker is not None and self._ticker_worker.is_running:
            self._ticker_worker.cancel()
            self._log("ticker stopped (the other process keeps collecting)")
        else:
            self._ticker_worker = self.run_worker(self._run_ticker(), exit_on_error=False)

    def take_over(self) -> None:
        if self.state != "attached" or not self.owner_gone:
            return
        self._log("taking over collecting into " + str(self.settings.data))
        for worker in (self._worker, self._ticker_worker):
            if worker is not None:
                worker.cancel()
        self.owner = None
        self.owner_gone = False
        self.state = "off"
        self.start()

    async def stop(self) -> None:
        """Quit: the collector writes the open minute and releases the lock."""
        for worker in (self._start_worker, self._ticker_worker, self._sim_worker):
            if worker is not None:
                worker.cancel()
        worker = self._worker
        if worker is not None and worker.is_running:
            worker.cancel()  # Collector.run writes the open minute when cancelled
            try:
                await asyncio.wait_for(wait_quietly(worker), QUIT_TIMEOUT)
            except TimeoutError:
                self.log.error("collector did not stop within", QUIT_TIMEOUT, "s")

    # --- collecting ------------------------------------------------------------------------------

    async def _run_simulator(self) -> None:
        from btc_tui.market.demo import start_simulator

        simulator = await start_simulator(self.settings, self._log)
        try:
            self._simulator = simulator
            self.start()
            await asyncio.Event().wait()  # serve until cancelled
        finally:
            self._simulator = None
            await simulator.stop()

    def _collector_settings(self) -> Settings:
        """Where trades come from: the demo's simulator, or (attached) what the owner uses."""
        from btc_tui.market.demo import demo_settings
        from btc_tui.market.follow import owner_sources

        if self._simulator is not None:
            return demo_settings(self.settings, self._simulator)
        if self.owner is not None:
            return owner_sources(self.settings, self.owner)
        return self.settings

    async def _collect(self, previous: Worker[None] | None) -> None:
        from btc_tui.market.collector import Collector

        if previous is not None:
            # The previous collector must write its open minute and release the CSV lock first.
            await wait_quietly(previous)
        settings = self._collector_settings()
        self._log(f"collecting from {settings.url} into {settings.data}")
        collector = Collector(
            settings,
            on_tick=self._on_tick,
            on_bar=self._on_bar,
            on_status=self._on_status,
            on_log=self._on_collector_log,
            on_fill=self._on_fill,
            # The app keeps minutes the disk refuses in memory and retries (the Live pane says
            # so); nothing is lost. Headless `collect` stops with exit 3 instead.
            keep_on_disk_error=True,
        )
        self._status_source = lambda: collector.status
        try:
            await collector.run()
        finally:
            self._pending_status = collector.status
            self._flush()

    def _on_tick(self, tick: Tick) -> None:
        self.collector_ticks += 1
        self._pending_tick = tick  # the newest wins; _flush shows it at the refresh rate
        self.on_live_trade(tick)
        if tick.minute_trades:  # 0: its minute is already in the CSV
            live = self.open_candle
            if live is None or live.minute != tick.minute:
                self.open_candle = OpenCandle.first(tick.minute, tick.price)
            else:
                self.open_candle = live.with_price(tick.price)

    def _on_status(self, status: StreamStatus) -> None:
        self._pending_status = status

    def _on_bar(self, event: BarWritten) -> None:
        self.last_minute = event.bar.minute
        self.post_message(m.BarReceived(event))

    def _on_collector_log(self, log: CollectorLog) -> None:
        self._log(log.text)

    def _on_fill(self, progress: FillProgress) -> None:
        self.fill = Fill(
            progress.done_minutes, progress.total_minutes, progress.finished, progress.error
        )
        if progress.finished and progress.done_minutes:
            # Filled minutes go into the CSV, not through on_bar: read its tail again.
            self.post_message(m.CsvReplaced())

    def refresh_now(self) -> None:
        """Show the newest tick and status now (what the refresh timer does)."""
        self._flush()

    def _flush(self) -> None:
        tick, self._pending_tick = self._pending_tick, None
        if tick is not None:
            self.tick = tick
        status, self._pending_status = self._pending_status, None
        if status is not None:
            if status.state == "connected":
                self.ever_connected = True
            self.status_at = self.clock()
            self.status = status

    def _log(self, text: str) -> None:
        self.post_message(m.EventLogged(text))

    # --- attached: another process writes the CSV ------------------------------------------------

    def attach(self, owner: Any) -> None:
        self.owner = owner
        self.owner_gone = False
        self.state = "attached"
        self._log(f"{self.settings.data} is being written by {owner.describe()}: attached")
        self._worker = self.run_worker(self._follow(), exit_on_error=False)
        self.toggle_ticker()

    async def _follow(self) -> None:
        from btc_tui.market.follow import CsvFollower, count_rows

        follower = CsvFollower(self.settings.data, after_minute=self.last_minute)
        await asyncio.to_thread(follower.start_at_end)
        rows = await asyncio.to_thread(count_rows, self.settings.data)
        while True:
            await asyncio.sleep(FOLLOW_INTERVAL)
            update = await asyncio.to_thread(follower.poll)
            if update.replaced:
                rows = await asyncio.to_thread(count_rows, self.settings.data)
                self._log(f"{self.settings.data} was rewritten by its owner: reading it again")
                self.post_message(m.CsvReplaced())
            for bar in update.bars:
                from btc_tui.market.collector import BarWritten

                rows += 0 if update.replaced else 1
                self.last_minute = bar.minute
                self.post_message(m.BarReceived(BarWritten(bar, rows, 0)))
            if not self.owner_gone:
                owner = await asyncio.to_thread(live_owner, self.settings.data)
                if owner is None:
                    self.owner_gone = True
                    self._log(
                        f"{self.owner.describe() if self.owner else 'the collector'} stopped:"
                        " press o to take over collecting"
                    )

    async def _run_ticker(self) -> None:
        from btc_tui.market.ticker import ReadOnlyTicker

        settings = self._collector_settings()
        ticker = ReadOnlyTicker(
            settings.url, settings.symbol, settings.stale_after, self._on_tick, self._ticker_event
        )
        self._status_source = lambda: ticker.status
        self.ticker_on = True
        self._log(f"ticker from {settings.url} (read-only: the CSV is not written here)")
        try:
            status_task = asyncio.create_task(self._ticker_status(ticker))
            try:
                await ticker.run()
            finally:
                status_task.cancel()
        finally:
            self.ticker_on = False
            self._pending_status = ticker.status
            self._flush()

    async def _ticker_status(self, ticker: Any) -> None:
        while True:
            self._pending_status = ticker.status
            await asyncio.sleep(1.0)

    def _ticker_event(self, event: StreamEvent) -> None:
        if event.kind in ("connected", "disconnected", "gap", "error"):
            self._log(event.text)
        self._pending_status = self._status_source() if self._status_source else None

    # --- the end of a worker -----------------------------------------------------------------------

    async def _collector_failed(self, error: str) -> None:
        owner = await asyncio.to_thread(live_owner, self.settings.data)
        if owner is not None:
            # Another process took the lock between our look and our open: attach to it.
            self.attach(owner)
            return
        self.state = "off"
        self.error = error
        self._log(f"collector stopped: {error}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if state not in (WorkerState.SUCCESS, WorkerState.CANCELLED, WorkerState.ERROR):
            return
        event.stop()
        error = describe(worker.error) if state == WorkerState.ERROR else None
        if worker is self._worker and self.state == "collecting":
            if error is None:
                self.state = "off"
            else:
                # The lock's owner record is a file: read it off the loop.
                self.run_worker(self._collector_failed(error), exit_on_error=False)
        elif worker is self._start_worker and error is not None:
            self.state = "off"
            self.error = error
        elif worker is self._sim_worker and self.state == "starting":
            self.state = "off"
            self.error = f"simulator: {error}" if error else None
        elif error is not None:
            self._log(f"{worker.name or 'worker'} failed: {error}")
