"""Metrics against values worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from btc_tui.forecast.metrics import direction_accuracy, evaluate

PREDICTED = [101.0, 99.0, 100.0, 103.0]
ACTUAL = [102.0, 98.0, 101.0, 100.0]
LAST = [100.0, 100.0, 100.0, 104.0]


def test_model_and_persistence_figures_match_hand_computation():
    m = evaluate(np.array(PREDICTED), np.array(ACTUAL), np.array(LAST))
    # model errors 1, 1, 1, 3; persistence errors 2, 2, 1, 4
    assert m.mae == pytest.approx(6 / 4)
    assert m.mape == pytest.approx((1 / 102 + 1 / 98 + 1 / 101 + 3 / 100) / 4 * 100)
    assert m.baseline_mae == pytest.approx(9 / 4)
    assert m.baseline_mape == pytest.approx((2 / 102 + 2 / 98 + 1 / 101 + 4 / 100) / 4 * 100)
    assert m.skill == pytest.approx(1 - 1.5 / 2.25)
    # predicted changes +1, -1, 0, -1 against actual +2, -2, +1, -4: the zero call is wrong
    assert m.direction_accuracy == pytest.approx(3 / 4)
    assert m.beats_persistence


def test_a_model_worse_than_persistence_has_negative_skill():
    m = evaluate(np.array([110.0, 90.0]), np.array([101.0, 99.0]), np.array([100.0, 100.0]))
    assert m.mae == pytest.approx(9.0)
    assert m.baseline_mae == pytest.approx(1.0)
    assert m.skill == pytest.approx(-8.0)
    assert not m.beats_persistence


def test_windows_where_the_price_did_not_move_are_left_out_of_direction_accuracy():
    # actual changes 0 (left out) and +3; predicted change +2 matches the only real move
    assert (
        direction_accuracy(
            np.array([101.0, 102.0]), np.array([100.0, 103.0]), np.array([100.0, 100.0])
        )
        == 1.0
    )
    # persistence predicts no change, so it calls no direction at all
    assert (
        direction_accuracy(
            np.array([100.0, 100.0]), np.array([99.0, 103.0]), np.array([100.0, 100.0])
        )
        == 0.0
    )
    assert math.isnan(direction_accuracy(np.array([101.0]), np.array([100.0]), np.array([100.0])))


def test_undefined_figures_become_json_null():
    flat = evaluate(np.array([100.0, 101.0]), np.array([100.0, 100.0]), np.array([100.0, 100.0]))
    assert flat.baseline_mae == 0.0
    d = flat.to_dict()
    assert d["skill"] is None and d["direction_accuracy"] is None
    assert json.loads(json.dumps(d))["mae"] == pytest.approx(0.5)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="3 predictions for 2"):
        evaluate(np.ones(3), np.ones(2), np.ones(2))


def hand_dm_pvalue(model_errors, reference_errors, horizon):
    """Diebold-Mariano written out by hand: d_t = |e1| - |e2|; the long-run variance with
    Bartlett weights over L = max(h - 1, floor(4 (T/100)^(2/9))) lags; a normal two-sided p."""
    import math

    d = [abs(a) - abs(b) for a, b in zip(model_errors, reference_errors, strict=True)]
    t = len(d)
    mean = sum(d) / t
    lags = max(horizon - 1, math.floor(4 * (t / 100) ** (2 / 9)))
    gamma = [
        sum((d[i] - mean) * (d[i - k] - mean) for i in range(k, t)) / t for k in range(lags + 1)
    ]
    variance = gamma[0] + 2 * sum((1 - k / (lags + 1)) * gamma[k] for k in range(1, lags + 1))
    stat = mean / math.sqrt(variance / t)
    phi = 0.5 * (1 + math.erf(abs(stat) / math.sqrt(2)))
    return 2 * (1 - phi)


@pytest.mark.parametrize("horizon", [1, 5, 15, 60])
def test_diebold_mariano_matches_a_hand_computation(horizon):
    from btc_tui.forecast.metrics import diebold_mariano, newey_west_lags

    rng = np.random.default_rng(horizon)
    actual = np.cumsum(rng.normal(size=600))
    # Overlapping h-step errors: a moving sum of shocks, like real h-minute forecasts.
    shocks = rng.normal(size=600 + horizon)
    reference = np.convolve(shocks, np.ones(horizon), "valid")[:600]
    model = reference * 0.97 + rng.normal(0, 0.3, 600)
    p = diebold_mariano(model, reference, horizon)
    assert p == pytest.approx(hand_dm_pvalue(model, reference, horizon), rel=1e-9)
    assert 0 < p < 1
    assert newey_west_lags(600, horizon) == max(horizon - 1, 5)
    del actual


def test_diebold_mariano_calls_identical_forecasts_a_tie_and_a_clear_win_significant():
    from btc_tui.forecast.metrics import diebold_mariano
    from btc_tui.forecast.report import significance_words

    rng = np.random.default_rng(0)
    errors = rng.normal(size=2000)
    assert diebold_mariano(errors, errors, 1) == 1.0
    assert diebold_mariano(errors * 0.5, errors, 1) < 1e-6
    actual = 100 + rng.normal(size=2000)
    close = actual + rng.normal(size=2000)
    last = np.full(2000, 100.0)
    tie = evaluate(close, actual, last, close, horizon=5)
    assert significance_words(tie) == "a tie: the difference is not significant (p = 1.00)"
    better = evaluate(actual + 0.5 * (close - actual), actual, last, close)
    assert significance_words(better) == "better (p < 0.001)"
    worse = evaluate(actual + 2 * (close - actual), actual, last, close)
    assert significance_words(worse).startswith("worse (p ")


def test_best_baseline_is_the_last_price_on_a_tie_and_persistence_only_when_strictly_better():
    from btc_tui.forecast.metrics import LAST_PRICE, PERSISTENCE

    actual = [100.0, 102.0]
    # persistence errors 1, 1; last price errors 1, 1: a tie goes to the last price
    tie = evaluate([100.0, 102.0], actual, [99.0, 103.0], [101.0, 101.0])
    assert tie.baseline_mae == tie.last_price_mae == 1.0
    assert tie.best_baseline == LAST_PRICE
    # last price a hair worse: persistence is the better rule
    worse = evaluate([100.0, 102.0], actual, [99.0, 103.0], [101.0, 100.999])
    assert worse.last_price_mae > worse.baseline_mae
    assert worse.best_baseline == PERSISTENCE
    no_close = evaluate([100.0, 102.0], actual, [99.0, 103.0])
    assert no_close.best_baseline == PERSISTENCE
