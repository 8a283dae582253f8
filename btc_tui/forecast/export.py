"""`train --predictions FILE`: one CSV row per test window, so anyone can check our figures.

Columns: minute (the predicted minute's start, UTC ISO 8601), actual, predicted, lo, hi (the
interval), last_price (the last minute's close: the last-price baseline; empty for files without
a close) and persistence (the last minute's average). Numbers at full precision (repr). Written to
a temp file in the same folder and renamed into place, so a failed run leaves no half file.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from btc_tui.errors import StorageError, UsageError

if TYPE_CHECKING:
    from btc_tui.forecast.training import TrainResult

COLUMNS = ("minute", "actual", "predicted", "lo", "hi", "last_price", "persistence")


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
    n = len(result.actual)
    lo = result.lo if result.lo is not None else [float("nan")] * n
    hi = result.hi if result.hi is not None else [float("nan")] * n
    last = result.last_price
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(COLUMNS)
            for i in range(n):
                minute = datetime.fromtimestamp(int(result.test_times[i]) / 1000, UTC)
                writer.writerow(
                    [
                        minute.isoformat(timespec="minutes"),
                        repr(float(result.actual[i])),
                        repr(float(result.predicted[i])),
                        repr(float(lo[i])),
                        repr(float(hi[i])),
                        "" if last is None else repr(float(last[i])),
                        repr(float(result.baseline[i])),
                    ]
                )
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return n
