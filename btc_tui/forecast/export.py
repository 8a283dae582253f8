"""`train --predictions FILE`: one CSV row per test window, so anyone can check our figures.

One row per test window and horizon, horizon by horizon. Columns: origin (the window's last
minute), horizon (minutes), minute (origin + horizon: the predicted minute), both UTC ISO 8601;
actual, predicted, lo, hi (the interval), last_price (the origin's close: the last-price baseline;
empty for files without a close) and persistence (the origin's average). Numbers at full precision (repr). Written to
a temp file in the same folder and renamed into place, so a failed run leaves no half file.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from btc_tui.errors import StorageError, UsageError

if TYPE_CHECKING:
    from btc_tui.forecast.training import HorizonResult, TrainResult

COLUMNS = (
    "origin",
    "horizon",
    "minute",
    "actual",
    "predicted",
    "lo",
    "hi",
    "last_price",
    "persistence",
)


def check_predictions_path(path: Path) -> None:
    """UsageError now, before training, when `path` can't be the predictions file."""
    if path.is_dir():
        raise UsageError(f"--predictions {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"--predictions {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"--predictions {path}: the folder {path.parent} is not writable")


def write_predictions(result: TrainResult, path: Path) -> int:
    """Write the rows atomically; returns how many. StorageError when the disk refuses."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    rows = 0
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(COLUMNS)
            for horizon in result.horizons.values():
                rows += _write_horizon(writer, horizon)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return rows


def _write_horizon(writer: Any, r: HorizonResult) -> int:
    last = r.last_price
    for i, (origin, minute) in enumerate(zip(r.origins, r.minutes, strict=True)):
        writer.writerow(
            [
                _iso(origin),
                r.horizon,
                _iso(minute),
                *(repr(float(v[i])) for v in (r.actual, r.predicted, r.lo, r.hi)),
                "" if last is None else repr(float(last[i])),
                repr(float(r.persistence[i])),
            ]
        )
    return len(r.origins)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="minutes")
