"""Interval figures, the conformal margin, the point weight and the verdict's words, by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from btc_tui.forecast import bands
from btc_tui.forecast.metrics import _ORIGINAL, Metrics, evaluate, interval_stats
from btc_tui.forecast.report import short_verdict, verdict


def test_coverage_width_and_interval_score_match_hand_computation():
    lo = np.array([9.0, 9.0, 9.0, 9.0])
    hi = np.array([11.0, 11.0, 11.0, 13.0])
    actual = np.array([10.0, 11.0, 12.0, 8.0])  # inside, on the edge (inside), above, below
    stats = interval_stats(lo, hi, actual, 0.8)
    assert stats.coverage == 0.5
    assert stats.width == 2.5
    # alpha 0.2: misses cost 2 / 0.2 = 10 per unit outside: (2 + 2 + 2+10*1 + 4+10*1) / 4
    assert stats.score == pytest.approx((2 + 2 + 12 + 14) / 4)
    with pytest.raises(ValueError, match="between 0 and 1"):
        interval_stats(lo, hi, actual, 1.0)


def test_last_price_baseline_and_best_baseline():
    actual = np.array([100.0, 102.0, 101.0])
    last_avg = np.array([98.0, 99.0, 104.0])  # persistence errors 2, 3, 3
    last_close = np.array([99.0, 101.0, 102.0])  # last-price errors 1, 1, 1
    predicted = np.array([100.5, 101.0, 101.0])  # errors 0.5, 1, 0
    m = evaluate(predicted, actual, last_avg, last_close)
    assert m.last_price_mae == pytest.approx(1.0)
    assert m.baseline_mae == pytest.approx(8 / 3)
    assert m.skill_vs_last_price == pytest.approx(1 - 0.5)
    assert m.best_baseline == "last price" and m.best_skill == m.skill_vs_last_price
    assert m.to_dict()["best_baseline"] == "last price"
    assert math.isnan(m.coverage) and m.to_dict()["coverage"] is None
    no_close = evaluate(predicted, actual, last_avg)
    assert no_close.best_baseline == "persistence" and no_close.to_dict()["last_price_mae"] is None
    # NaN never equals NaN (Python 3.13 compares dataclass fields one by one): compare the dicts,
    # where NaN is None
    assert Metrics.from_dict(m.to_dict()).to_dict() == m.to_dict()
    # An older saved JSON (six figures) still reads, the new ones NaN.
    old = {k: m.to_dict()[k] for k in ("mae", "mape", "baseline_mae", "baseline_mape", "skill")}
    assert math.isnan(Metrics.from_dict({**old, "direction_accuracy": None}).last_price_mae)


def _metrics(mae: float, persistence: float, last: float = math.nan) -> Metrics:
    return Metrics(
        mae=mae,
        mape=0.0,
        baseline_mae=persistence,
        baseline_mape=0.0,
        skill=1 - mae / persistence,
        direction_accuracy=0.5,
        last_price_mae=last,
        skill_vs_last_price=1 - mae / last,
    )


def test_the_verdict_is_against_the_best_baseline_in_plain_words():
    worse = _metrics(7.652, 10.626, 7.612)
    assert verdict(worse).startswith("The model is 0.5% worse than repeating the last price")
    assert short_verdict(worse) == "✗ 0.5% worse than the last price"
    better = _metrics(7.52, 10.626, 7.612)
    assert verdict(better).startswith("The model is 1.2% better than repeating the last price")
    assert short_verdict(better) == "✓ 1.2% better than the last price"
    tie = _metrics(7.613, 10.626, 7.612)
    assert verdict(tie).startswith("The model ties repeating the last price")
    assert short_verdict(tie) == "= ties the last price"
    seed_file = Metrics(**{**_metrics(9.0, 10.0).__dict__, "point_forecast": "model"})
    assert "10.0% better than repeating the last average price (persistence)" in verdict(seed_file)
    assert "no close column, so persistence is the only baseline" in verdict(seed_file)
    assert short_verdict(seed_file) == "✓ 10.0% better than persistence"


def test_conformal_margin_is_the_corrected_quantile_of_the_calibration_scores():
    y = np.arange(10, dtype=float)  # band [0, 0] for all: scores are y itself, 0..9
    zeros = np.zeros(10)
    # ceil((10 + 1) * 0.8) = 9: the 9th smallest score.
    assert bands.conformal_margin(zeros, zeros, y, 0.8) == 8.0
    # A band already too wide gets a negative margin (it is narrowed).
    wide = bands.conformal_margin(zeros - 100, zeros + 100, y, 0.8)
    assert wide == pytest.approx(-100 + 8)


def test_the_band_holds_the_point_and_the_point_weight_can_fall_back_to_the_naive_rule():
    outputs = np.array([[-1.0, 0.5, 1.0], [0.3, 0.2, 0.1]])  # the second has crossed heads
    fitted = bands.Calibration(
        point_weight=0.5, band_weight=1.0, base_lo=0.0, base_hi=0.0, margin=-0.9
    )
    lo, point, hi = fitted.apply(outputs)
    assert np.all(lo <= point) and np.all(point <= hi)
    np.testing.assert_allclose(point, [0.25, 0.1])
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    # A correction pointing the wrong way: keep none of it, forecast the naive rule itself.
    wrong = -y + rng.normal(size=500)
    assert bands.fit_point_weight(wrong, y, np.ones(500)) == 0.0
    assert bands.fit_point_weight(y, y, np.ones(500)) == 1.0  # a perfect one: keep all
    # One that helps by a hair (0.05% of the MAE): noise, so the naive rule is kept.
    assert bands.fit_point_weight(0.0005 * y, y, np.ones(500)) == 0.0


def test_reference_bands_scale_with_recent_volatility():
    anchor = np.full(4, 100.0)
    train_actual = anchor + np.array([-2.0, -1.0, 1.0, 2.0])
    vol = np.ones(4)
    lo, hi = bands.static_band(train_actual, anchor, np.array([50.0]), 0.5)
    assert (lo[0], hi[0]) == pytest.approx((50 - 1.25, 50 + 1.25))
    lo, hi = bands.rolling_band(train_actual, anchor, vol, np.array([50.0]), np.array([4.0]), 0.5)
    assert (lo[0], hi[0]) == pytest.approx((50 - 5.0, 50 + 5.0))


def _naive_point_case(static_score: float, rolling_score: float) -> Metrics:
    """Test windows whose point forecast is the last price itself (no correction kept), with an
    interval of score 10.0 and the reference bands' scores given."""
    actual = np.array([100.0, 102.0, 101.0, 99.0])
    last_avg = np.array([98.0, 99.0, 104.0, 100.0])
    last_close = np.array([99.0, 101.0, 102.0, 100.5])
    # widths 10, all inside: score 10
    lo, hi = last_close - 5.0, last_close + 5.0
    return evaluate(
        last_close.copy(),
        actual,
        last_avg,
        last_close,
        (lo, hi, 0.8),
        point_weight=0.0,
        reference_scores=(static_score, rolling_score),
    )


def test_a_point_forecast_that_is_the_last_price_is_called_so_and_judged_by_its_band():
    good = _naive_point_case(12.5, 10.2)
    assert good.interval_score == 10.0
    assert good.point_forecast == "last price" and good.point_is_naive
    assert good.skill_vs_last_price == 0.0
    text = verdict(good)
    assert text.startswith("The point forecast is the last price itself")
    assert "none of it is used" in text and "has no skill" in text
    assert "interval held 100.0% of the test minutes (more than 3 points from 80%" in text
    assert "20.0% better than the static band's and 2.0% better than the rolling" in text
    assert "as well or better" not in text
    assert short_verdict(good) == "= the last price itself; the model adds its band"
    # A band worse than the reference bands: no claim of value at all.
    poor = _naive_point_case(12.5, 10.002)  # a tie with the rolling band is no gain
    assert verdict(poor).endswith(
        "20.0% better than the static band's and equal to the rolling-volatility band's: the "
        "rolling-volatility band does as well or better, so the model adds nothing over it here."
    )
    assert short_verdict(poor) == "= the last price itself; its band is no better than a simple one"
    both = _naive_point_case(9.0, 10.0)
    assert "the static and the rolling-volatility bands do as well or better" in verdict(both)
    # Saved and read back (the app's pane reads the model's JSON).
    again = Metrics.from_dict(json.loads(json.dumps(good.to_dict())))
    assert again.point_forecast == "last price" and again.point_weight == 0.0
    assert again.static_band_score == good.static_band_score


def test_only_exact_equality_with_a_rule_counts_as_that_rule():
    actual = np.array([100.0, 102.0, 101.0])
    last_avg = np.array([98.0, 99.0, 104.0])
    last_close = np.array([99.0, 101.0, 102.0])
    assert evaluate(last_close + 0.001, actual, last_avg, last_close).point_forecast == "model"
    assert evaluate(last_avg, actual, last_avg, last_close).point_forecast == "persistence"
    assert evaluate(last_avg, actual, last_avg).point_forecast == "persistence"
    persisting = _metrics(8 / 3, 8 / 3, 1.0)
    persisting = Metrics(**{**persisting.__dict__, "point_forecast": "persistence"})
    # The point forecast is persistence but the last price is better: that is a loss, said so.
    assert short_verdict(persisting).startswith("✗")
    assert "is the last average price (persistence) itself" in verdict(persisting)
    assert "worse than repeating the last price" in verdict(persisting)
    # Figures saved by an older btc-tui (the six original ones): whether a close existed is
    # unknown, so beating persistence is not presented as skill.
    older = Metrics.from_dict({**{k: 1.0 for k in _ORIGINAL}, "mae": 0.5, "skill": 0.5})
    assert older.point_forecast == "" and older.best_skill == 0.5
    assert short_verdict(older) == "? vs the last price: not measured (train again)"
    assert "better" not in verdict(older) and "last price, a much stronger" in verdict(older)


def test_calibration_blends_in_constant_quantiles_when_the_heads_are_noise():
    """Heads that carry no information score worse than the calibration targets' own quantiles:
    the band weight goes to 0 and the band is those quantiles (about 80% coverage); heads that
    know each window's spread are kept whole."""
    rng = np.random.default_rng(3)
    n = 4000
    spread = rng.uniform(0.2, 3.0, n)
    y = rng.normal(size=n) * spread
    noise = np.column_stack([rng.normal(-1, 1, n), np.zeros(n), rng.normal(1, 1, n)])
    fitted = bands.calibrate(noise, y, np.ones(n), 0.8)
    assert fitted.band_weight == 0.0
    assert (fitted.base_lo, fitted.base_hi) == pytest.approx(np.quantile(y, [0.1, 0.9]))
    lo, _, hi = fitted.apply(noise)
    assert np.mean((lo <= y) & (y <= hi)) == pytest.approx(0.8, abs=0.01)
    knowing = np.column_stack([-1.2816 * spread, np.zeros(n), 1.2816 * spread])
    assert bands.calibrate(knowing, y, np.ones(n), 0.8).band_weight == 1.0
