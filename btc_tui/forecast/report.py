"""Plain-text training reports: epoch lines, the model beside both baselines, the verdict, chart.

The verdict's words come from here only: the CLI prints `verdict`, the app's forecast pane
`short_verdict`, so the two never disagree.
"""

from __future__ import annotations

import math
import re

import numpy as np

from btc_tui.forecast.metrics import LAST_PRICE, Metrics
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


def _signed(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.3f}"


def metrics_table(m: Metrics) -> str:
    """Model beside both baselines, then its interval's coverage, width and score."""
    header = ("", "MAE (USDT)", "MAPE (%)", "skill vs persistence", "skill vs last price")
    rows = [
        header,
        (
            "LSTM model",
            _number(m.mae, 3),
            _number(m.mape, 4),
            _signed(m.skill),
            _signed(m.skill_vs_last_price),
        ),
        ("persistence", _number(m.baseline_mae, 3), _number(m.baseline_mape, 4), "+0.000", ""),
    ]
    if not math.isnan(m.last_price_mae):
        rows.append(
            (
                "last price",
                _number(m.last_price_mae, 3),
                _number(m.last_price_mape, 4),
                "",
                "+0.000",
            )
        )
    lines = _columns(rows)
    direction = "n/a" if math.isnan(m.direction_accuracy) else f"{m.direction_accuracy:.1%}"
    lines.append(f"direction right: {direction} of the test minutes that moved")
    if not math.isnan(m.last_price_mae):
        lines.append("(persistence = last minute's average; last price = last minute's close)")
    else:
        lines.append(
            "(persistence = last minute's average; no close in this file, so no last-price "
            "baseline)"
        )
    if not math.isnan(m.coverage):
        lines.append(
            f"{m.interval:.0%} interval: covers {m.coverage:.1%} of the test minutes, mean width "
            f"{m.width:,.2f}, interval score {m.interval_score:,.2f} (lower is better)"
        )
    return "\n".join(lines)


def bands_table(result: TrainResult) -> str:
    """The model's interval beside the two reference bands, on the same test windows."""
    m = result.metrics
    if math.isnan(m.coverage):
        return ""
    rows = [("", "coverage", "mean width", "interval score")]
    stats = {"LSTM model": (m.coverage, m.width, m.interval_score)}
    stats |= {name: (b.coverage, b.width, b.score) for name, b in result.bands.items()}
    for name, (coverage, width, score) in stats.items():
        rows.append((name, f"{coverage:.1%}", f"{width:,.2f}", f"{score:,.2f}"))
    title = f"{m.interval:.0%} intervals on the test minutes (score: lower is better)"
    return "\n".join([title, *_columns(rows)])


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return lines


# Skill whose size rounds to 0.0% is called a tie: the figures can't tell the two apart.
TIE = 0.0005


def _baseline_words(m: Metrics) -> str:
    if m.best_baseline == LAST_PRICE:
        return "repeating the last price"
    return "repeating the last average price (persistence)"


def verdict(m: Metrics) -> str:
    """One plain sentence against the best baseline, e.g. "The model is 0.5% worse than repeating
    the last price." (the CLI's report and, shortened by `short_verdict`, the app's)."""
    best = m.best_skill
    if math.isnan(best):
        return "Skill is undefined: the test prices never moved, so the baselines are exact."
    words = _baseline_words(m)
    if abs(best) < TIE:
        text = f"The model ties {words} (MAE within 0.05%): it adds nothing over it yet."
    elif best > 0:
        text = f"The model is {best:.1%} better than {words} (lower MAE on the test minutes)."
    else:
        text = (
            f"The model is {-best:.1%} worse than {words}: that rule is the better forecast. "
            f"Collect more minutes or train longer before trusting its predictions."
        )
    if math.isnan(m.last_price_mae):
        text += " This file has no close column, so persistence is the only baseline."
    return text


def short_verdict(m: Metrics) -> str:
    """The verdict in a few words for a narrow pane: "✓ 1.2% better than the last price"."""
    best = m.best_skill
    if math.isnan(best):
        return "? skill unknown"
    name = "the last price" if m.best_baseline == LAST_PRICE else "persistence"
    if abs(best) < TIE:
        return f"= ties {name}"
    if best > 0:
        return f"✓ {best:.1%} better than {name}"
    return f"✗ {-best:.1%} worse than {name}"


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
    if result.lo is not None and result.hi is not None:
        band = f"{result.interval:.0%} interval"
        plt.plot(x, np.asarray(result.lo[-points:], float).tolist(), label=band, marker="·")
        plt.plot(x, np.asarray(result.hi[-points:], float).tolist(), marker="·")
    plt.plot(x, actual.tolist(), label="actual", marker="braille")
    # A different marker, so the two series stay apart without colour (pipes, NO_COLOR).
    plt.plot(x, predicted.tolist(), label="predicted", marker="•" if not color else "braille")
    plt.title(f"Test set, last {len(actual)} minutes: predicted, interval and actual avg price")
    plt.xlabel("minutes before the last test minute")
    text = plt.build()
    # The clear theme still emits colour resets; a log file or a pipe should get plain text.
    return text if color else _ANSI.sub("", text)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
