"""What the app reads at launch, in plain Python (no textual): the CSV's recent minutes for live
prediction and, in demo mode, a few days of simulated history so `t` works at once; and the
test metrics saved beside a model."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from btc_tui.config import DEMO_DATA, Settings
from btc_tui.errors import UsageError
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
    simulated_minutes: int  # written now (demo mode), 0 otherwise
    frame: pd.DataFrame | None  # the most recent minutes


def read_startup_minutes(
    settings: Settings, clock: Callable[[], float], log: Callable[[str], None]
) -> StartupMinutes:
    """Blocking (file IO, pandas): call it from a thread."""
    from btc_tui.market.store import load_minutes

    frame = None
    problem = None  # why the existing file cannot be used, if it cannot
    if settings.data.exists():
        try:
            frame = load_minutes(settings.data).frame
        except UsageError as exc:
            problem = str(exc)
            log(f"cannot read {settings.data}: {exc}")
    simulated = 0
    have = 0 if frame is None else len(frame)
    if settings.demo and have < settings.window + settings.horizon + DEMO_SPARE_MINUTES:
        simulated = fill_demo_history(settings, have, problem, clock, log)
        if simulated:
            frame = load_minutes(settings.data).frame
    rows = 0 if frame is None else len(frame)
    last = None if frame is None or frame.empty else float(frame["avg_price"].iloc[-1])
    tail = None if frame is None else frame.iloc[-KEEP:]
    return StartupMinutes(rows=rows, last_price=last, simulated_minutes=simulated, frame=tail)


def fill_demo_history(
    settings: Settings,
    have: int,
    problem: str | None,
    clock: Callable[[], float],
    log: Callable[[str], None],
) -> int:
    """Simulated minutes up to the previous one, through MinuteStore so the file is valid.

    Returns how many were written; 0 when the file is not the demo default and holds minutes
    (someone's own data is never moved).
    """
    from btc_tui.market.simulator import simulated_history
    from btc_tui.market.store import MinuteStore

    path = settings.data
    if path.exists() and (have or problem):
        why = problem or f"only {have} minutes"
        if path.resolve() != DEMO_DATA.resolve():
            log(f"{path}: {why}; too few to train, left as is")
            return 0
        # History can only go before the minutes it has, and appends only go after them:
        # start the demo file afresh, keeping the old one beside it.
        backup = path.with_name(f"{path.stem}.{int(clock())}.bak{path.suffix}")
        path.rename(backup)
        log(f"{path}: {why}; moved it to {backup}")
    now_minute = int(clock() // 60) * 60_000
    bars = simulated_history(DEMO_HISTORY_MINUTES, end_minute=now_minute - 60_000)
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

    # Predictor.metadata (ModelMetadata: .metrics, .created) is beyond INTERFACES.md: tolerate
    # its absence rather than fail the model load over a display nicety.
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
