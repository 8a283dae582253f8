"""Plain-text training reports for a terminal: epoch lines, model-vs-persistence table, chart."""

from __future__ import annotations

import math
import re

import numpy as np

from btc_tui.forecast.metrics import Metrics
from btc_tui.forecast.training import BatchProgress, EpochEnd, TrainResult


def epoch_line(event: EpochEnd) -> str:
    val = "   n/a   " if event.val_loss is None else f"{event.val_loss:.3e}"
    width = len(str(event.total))
    return (
        f"epoch {event.epoch:>{width}}/{event.total}  loss {event.loss:.3e}  "
        f"val_loss {val}  {event.elapsed:6.1f}s"
    )


def batch_line(event: BatchProgress) -> str:
    return f"epoch {event.epoch}/{event.total_epochs}  batch {event.batch}/{event.batches}"


def _number(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def metrics_table(m: Metrics) -> str:
    """Model beside the persistence baseline ("next price = last price")."""
    rows = [
        ("", "MAE (USDT)", "MAPE (%)", "skill", "direction"),
        (
            "LSTM model",
            _number(m.mae, 3),
            _number(m.mape, 4),
            "n/a" if math.isnan(m.skill) else f"{m.skill:+.3f}",
            "n/a" if math.isnan(m.direction_accuracy) else f"{m.direction_accuracy:.1%}",
        ),
        ("persistence", _number(m.baseline_mae, 3), _number(m.baseline_mape, 4), "+0.000", "—"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def verdict(m: Metrics) -> str:
    if math.isnan(m.skill):
        return "Skill is undefined: the test prices never moved, so persistence is exact."
    if m.skill > 0:
        return (
            f"The model beats persistence: its MAE is {m.skill:.1%} lower than "
            f"repeating the last price."
        )
    return (
        f"The model does NOT beat persistence (skill {m.skill:+.3f}): simply repeating the last "
        f"price is {'as good' if m.skill == 0 else 'better'}. Collect more minutes or train longer "
        f"before trusting its predictions."
    )


def chart(result: TrainResult, width: int = 100, height: int = 20, color: bool = True) -> str:
    """Predicted vs actual on the tail of the test set, one point per minute."""
    import plotext as plt

    points = max(10, min(len(result.actual), width - 12))
    actual = np.asarray(result.actual[-points:], dtype=float)
    predicted = np.asarray(result.predicted[-points:], dtype=float)
    x = list(range(-len(actual) + 1, 1))
    plt.clear_figure()
    plt.plotsize(width, height)
    if not color:
        plt.theme("clear")
    plt.plot(x, actual.tolist(), label="actual", marker="braille")
    # A different marker, so the two series stay apart without colour (pipes, NO_COLOR).
    plt.plot(x, predicted.tolist(), label="predicted", marker="•" if not color else "braille")
    plt.title(f"Test set, last {len(actual)} minutes: predicted vs actual avg price")
    plt.xlabel("minutes before the last test minute")
    text = plt.build()
    # The clear theme still emits colour resets; a log file or a pipe should get plain text.
    return text if color else _ANSI.sub("", text)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
