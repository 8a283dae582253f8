"""What the app reads at launch, in plain Python (no textual): only the end of the CSV (the
minutes live prediction needs), so a year of minutes opens as fast as a day; and the test metrics
saved beside a model."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from btc_tui.config import DEMO_DATA, Settings
from btc_tui.errors import UsageError
from btc_tui.market.bars import MINUTE_MS
from btc_tui.ui.frames import KEEP

if TYPE_CHECKING:
    import pandas as pd

    from btc_tui.forecast.metrics import Metrics
    from btc_tui.forecast.predictor import Predictor

DEMO_HISTORY_MINUTES = 3 * 24 * 60
DEMO_SPARE_MINUTES = 300  # beyond window + horizon, so training has windows to learn from


@dataclass(frozen=True)
class StartupMinutes:
    rows: int
    last_price: float | None
    simulated_minutes: int  # written now (only without a history-serving simulator), 0 otherwise
    frame: pd.DataFrame | None  # the most recent minutes


def simulator_serves_history() -> bool:
    """The demo fills its history through the real backfill path when the simulator serves REST."""
    from btc_tui.market.simulator import Simulator

    return "history_minutes" in inspect.signature(Simulator).parameters


def read_startup_minutes(
    settings: Settings, clock: Callable[[], float], log: Callable[[str], None]
) -> StartupMinutes:
    """Blocking (file IO, pandas): call it from a thread. Reads only the CSV's tail."""
    from btc_tui.market.follow import count_rows
    from btc_tui.market.store import load_tail

    frame = None
    problem = None  # why the existing file cannot be used, if it cannot
    if settings.data.exists():
        try:
            frame = load_tail(settings.data, KEEP).frame
        except UsageError as exc:
            problem = str(exc)
            log(f"cannot read {settings.data}: {exc}")
    simulated = 0
    have = 0 if frame is None else len(frame)
    if (
        settings.demo
        and not simulator_serves_history()
        and have < settings.window + settings.horizon + DEMO_SPARE_MINUTES
    ):
        simulated = fill_demo_history(settings, have, problem, clock, log)
        if simulated:
            frame = load_tail(settings.data, KEEP).frame
    rows = 0
    if frame is not None:
        rows = len(frame) if len(frame) < KEEP else count_rows(settings.data)
    last = None if frame is None or frame.empty else float(frame["avg_price"].iloc[-1])
    return StartupMinutes(rows=rows, last_price=last, simulated_minutes=simulated, frame=frame)


def fill_demo_history(
    settings: Settings,
    have: int,
    problem: str | None,
    clock: Callable[[], float],
    log: Callable[[str], None],
) -> int:
    """Fallback while the simulator serves no REST history: simulated minutes up to the previous
    one, through MinuteStore so the file is valid. Returns how many were written; 0 when the file
    is not the demo default and holds minutes (someone's own data is never moved)."""
    from btc_tui.market.simulator import simulated_history
    from btc_tui.market.store import MinuteStore

    path = settings.data
    if path.exists() and (have or problem):
        why = problem or f"only {have} minutes"
        if path.resolve() != DEMO_DATA.resolve():
            log(f"{path}: {why}; too few to train, left as is")
            return 0
        backup = path.with_name(f"{path.stem}.{int(clock())}.bak{path.suffix}")
        path.rename(backup)
        log(f"{path}: {why}; moved it to {backup}")
    now_minute = int(clock() // 60) * MINUTE_MS
    bars = simulated_history(DEMO_HISTORY_MINUTES, end_minute=now_minute - MINUTE_MS)
    log(f"writing {len(bars):,} SIMULATED minutes to {path}…")
    written = 0
    with MinuteStore(path) as store:
        for bar in bars:
            written += bool(store.append(bar))
    log(f"{path}: {written:,} simulated minutes written (demo data, not real)")
    return written


def saved_metrics(predictor: Predictor) -> Metrics | None:
    """The test metrics saved beside the model (NaN stored as null), if all are there."""
    from btc_tui.forecast.metrics import Metrics

    saved = getattr(getattr(predictor, "metadata", None), "metrics", None)
    if not isinstance(saved, dict):
        return None
    try:
        values = {
            name: math.nan if saved[name] is None else float(saved[name])
            for name in ("mae", "mape", "baseline_mae", "baseline_mape", "skill")
        }
    except (KeyError, TypeError, ValueError):
        return None  # an older or hand-edited JSON: show nothing rather than guess
    direction = saved.get("direction_accuracy")
    return Metrics(**values, direction_accuracy=math.nan if direction is None else direction)
