"""Plain-text training reports: epoch lines, the model beside both baselines, the verdict, chart.

The verdict's words come from here only: the CLI prints `verdict`, the app's forecast pane
`short_verdict`, so the two never disagree.
"""

from __future__ import annotations

import math
import re

import numpy as np

from btc_tui.forecast.bands import MIN_GAIN
from btc_tui.forecast.metrics import LAST_PRICE, PERSISTENCE, Metrics
from btc_tui.forecast.training import BatchProgress, EpochEnd, HorizonResult, TrainResult


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


def model_label(m: Metrics) -> str:
    """The model's row name: says so when its point forecast is a naive rule itself."""
    if m.point_forecast == LAST_PRICE:
        return "model (= last price)"
    if m.point_forecast == PERSISTENCE:
        return "model (= persistence)"
    return "LSTM model"


def metrics_table(m: Metrics) -> str:
    """Model beside both baselines (80 columns at most), the direction and what each baseline
    is."""
    header = ("", "MAE (USDT)", "MAPE (%)", "skill vs persistence", "vs last price")
    rows = [
        header,
        (
            model_label(m),
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
    whose = f" ({_rule_words(m.point_forecast)} itself)" if m.point_is_naive else ""
    lines.append(f"direction right{whose}: {direction} of the moves from the last price")
    if not math.isnan(m.last_price_mae):
        lines.append("(persistence = last minute's average; last price = last minute's close)")
    else:
        lines.append("(persistence = last minute's average; this file has no close column,")
        lines.append(" so there is no last-price baseline)")
    return "\n".join(lines)


def bands_table(result: TrainResult | HorizonResult) -> str:
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


# A Diebold-Mariano p-value under this calls the difference significant.
SIGNIFICANCE = 0.05


def p_text(p: float) -> str:
    """ "p = 0.41", "p = 0.003", "p < 0.001"."""
    if math.isnan(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2f}" if p >= 0.01 else f"p = {p:.3f}"


def significance_words(m: Metrics) -> str:
    """The Diebold-Mariano verdict against the last price: "a tie: the difference is not
    significant (p = 0.41)", "better (p = 0.003)" or "worse (p = 0.003)"."""
    p = m.dm_pvalue
    if math.isnan(p) or p >= SIGNIFICANCE:
        return f"a tie: the difference is not significant ({p_text(p)})"
    return f"{'better' if m.mae < m.last_price_mae else 'worse'} ({p_text(p)})"


def horizon_verdict(horizon: int, m: Metrics) -> str:
    """One horizon in a line: the point forecast against the last price with its significance,
    then the band's coverage and score against the rolling-volatility band's."""
    if math.isnan(m.last_price_mae):
        point = f"{horizon} min: no last-price baseline (no close column)"
    else:
        point = f"{horizon} min: against the last price, {significance_words(m)}"
    if math.isnan(m.coverage):
        return point
    rolling = _band_gain(m, m.rolling_band_score)
    band = f"; its {m.interval:.0%} band held {m.coverage:.1%}"
    if not math.isnan(rolling):
        band += f", interval score {_compared(rolling)} the rolling-volatility band's"
    return point + band


def horizons_table(result: TrainResult) -> str:
    """Every horizon in one table (80 columns): the model's MAE beside the last price's with the
    Diebold-Mariano p-value, its band's coverage and score beside the two reference bands'."""
    rows = [("ahead", "MAE", "last pr.", "skill", "DM p", "cover", "score", "rolling", "static")]
    for h, r in result.horizons.items():
        m = r.metrics
        rows.append(
            (
                f"{h} min",
                _number(m.mae, 2),
                _number(m.last_price_mae, 2),
                _signed(m.skill_vs_last_price),
                "n/a" if math.isnan(m.dm_pvalue) else f"{m.dm_pvalue:.3f}",
                "n/a" if math.isnan(m.coverage) else f"{m.coverage:.1%}",
                _number(m.interval_score, 2),
                _number(m.rolling_band_score, 2),
                _number(m.static_band_score, 2),
            )
        )
    title = "Every horizon on the test minutes (MAE and scores in USDT; lower is better)"
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
# Coverage this far from nominal (3 points) is called off target.
COVERAGE_TOLERANCE = 0.03


def _baseline_words(name: str) -> str:
    if name == LAST_PRICE:
        return "repeating the last price"
    return "repeating the last average price (persistence)"


def _rule_words(name: str) -> str:
    if name == LAST_PRICE:
        return "the last price"
    return "the last average price (persistence)"


def _compared(share: float) -> str:
    if abs(share) < TIE:
        return "equal to"
    return f"{abs(share):.1%} {'better' if share > 0 else 'worse'} than"


def _band_gain(m: Metrics, score: float) -> float:
    return math.nan if not score > 0 else 1.0 - m.interval_score / score


def band_beats_references(m: Metrics) -> bool:
    """The model's interval scores better (by more than a tie) than both reference bands."""
    gains = [_band_gain(m, m.static_band_score), _band_gain(m, m.rolling_band_score)]
    return all(g >= TIE for g in gains)


def interval_verdict(m: Metrics) -> str:
    """The interval in plain words against the two reference bands, e.g. "Its 80% interval held
    79.8% of the test minutes; its interval score is 1.7% worse than the static band's and equal
    to the rolling-volatility band's: the static and the rolling-volatility bands do as well or
    better, so the model adds nothing over them here." ("" without an interval)."""
    if math.isnan(m.coverage):
        return ""
    text = f"Its {m.interval:.0%} interval held {m.coverage:.1%} of the test minutes"
    if abs(m.coverage - m.interval) > COVERAGE_TOLERANCE:
        off = round(100 * COVERAGE_TOLERANCE)
        text += f" (more than {off} points from {m.interval:.0%}: not calibrated here)"
    static = _band_gain(m, m.static_band_score)
    rolling = _band_gain(m, m.rolling_band_score)
    if math.isnan(static) or math.isnan(rolling):
        return text + "."
    text += (
        f"; its interval score is {_compared(static)} the static band's and "
        f"{_compared(rolling)} the rolling-volatility band's"
    )
    if band_beats_references(m):
        return text + " (lower is better)."
    gains = (("static", static), ("rolling-volatility", rolling))
    as_good = [name for name, gain in gains if gain < TIE]
    if len(as_good) == 2:
        return text + (
            ": the static and the rolling-volatility bands do as well or better, so the model "
            "adds nothing over them here."
        )
    return text + (
        f": the {as_good[0]} band does as well or better, so the model adds nothing over it here."
    )


def last_price_unknown(m: Metrics) -> bool:
    """Figures from a record that predates the last-price baseline (e.g. a model JSON read as
    the six original figures): whether the minutes had a close is unknown, so persistence alone
    must not be presented as the best baseline."""
    return m.point_forecast == "" and math.isnan(m.last_price_mae)


def verdict(m: Metrics) -> str:
    """Plain sentences against the best baseline, e.g. "The model is 0.5% worse than repeating
    the last price." When the point forecast is the last price itself, says that, and judges the
    interval instead (the CLI's report and --json; `short_verdict` is the app's)."""
    if last_price_unknown(m):
        return (
            "Only the comparison with persistence is known here; the last price, a much stronger "
            "baseline, was not measured: train again to see the model against it."
        )
    best = m.best_skill
    if math.isnan(best):
        return "Skill is undefined: the test prices never moved, so the baselines are exact."
    words = _baseline_words(m.best_baseline)
    if m.point_is_naive:
        text = (
            f"The point forecast is {_rule_words(m.point_forecast)} itself: the network's "
            f"correction to it did not lower the calibration error by at least "
            f"{MIN_GAIN:.1%} and significantly, so none of it is used"
        )
        if m.point_forecast == m.best_baseline or abs(best) < TIE:
            text += f", and the point forecast has no skill: it ties {words}."
        else:
            text += f", and it is {-best:.1%} worse than {words}."
        band = interval_verdict(m)
        if band:
            text += f" So the model can add value only through its interval. {band}"
    elif abs(best) < TIE:
        text = f"The model ties {words} (MAE within 0.05%): it adds nothing over it yet."
    elif best > 0:
        text = f"The model is {best:.1%} better than {words} (lower MAE on the test minutes)."
    else:
        text = (
            f"The model is {-best:.1%} worse than {words}: that rule is the better forecast. "
            f"Collect more minutes or train longer before trusting its predictions."
        )
    if not math.isnan(m.dm_pvalue) and not m.point_is_naive:
        text += f" Against the last price: {significance_words(m)}."
    if not m.point_is_naive and interval_verdict(m):
        text += f" {interval_verdict(m)}"
    if math.isnan(m.last_price_mae):
        text += " This file has no close column, so persistence is the only baseline."
    return text


def short_verdict(m: Metrics) -> str:
    """The verdict in a few words for a narrow pane: "✓ 1.2% better than the last price"; when
    the point forecast is the last price itself: "= the last price itself; the model adds its
    band" (or that its band is no better than a simple one)."""
    if last_price_unknown(m):
        return "? vs the last price: not measured (train again)"
    best = m.best_skill
    if math.isnan(best):
        return "? skill unknown"
    name = "the last price" if m.best_baseline == LAST_PRICE else "persistence"
    if m.point_is_naive and best > -TIE:
        itself = "the last price" if m.point_forecast == LAST_PRICE else "persistence"
        if not math.isnan(m.coverage) and band_beats_references(m):
            return f"= {itself} itself; the model adds its band"
        return f"= {itself} itself; its band is no better than a simple one"
    if abs(best) < TIE:
        return f"= ties {name}"
    if best > 0:
        return f"✓ {best:.1%} better than {name}"
    return f"✗ {-best:.1%} worse than {name}"


def chart(
    result: TrainResult | HorizonResult, width: int = 100, height: int = 20, color: bool = True
) -> str:
    """Predicted vs actual on the tail of the test set, one point per window."""
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
