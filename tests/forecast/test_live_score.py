"""The Live pane's prediction line and live score (btc_tui.forecast.live_score, plain Python)."""

from __future__ import annotations

import math

from btc_tui.forecast.live_score import LiveScore, describe_prediction
from btc_tui.forecast.predictor import Prediction

MINUTE = 1_704_112_440_000  # 2024-01-01 12:34 UTC


def test_a_prediction_reads_as_time_price_and_interval_within_40_columns():
    p = Prediction.one(
        MINUTE, 60_196.4, MINUTE - 60_000, 60_190.0, 60_170.2, 60_220.3, 0.8, 60_191.0
    )
    text = describe_prediction(p)
    assert text == "12:34 → 60,196 (80%: 60,170–60,220)"
    assert len(text) <= 40
    assert LiveScore().describe_prediction(p) == text
    # Without an interval (NaN), just the price; small prices keep their digits.
    assert describe_prediction(Prediction.one(MINUTE, 60_196.4, 0, 60_190.0)) == "12:34 → 60,196"
    assert describe_prediction(Prediction.one(MINUTE, 3_012.54, 0, 3_010.0)) == "12:34 → 3,012.5"


def test_summary_gives_live_mae_beside_both_baselines_and_coverage_since_launch():
    score = LiveScore(keep=2)
    assert score.summary() == "live score: once a predicted minute closes"
    # actual, predicted, lo, hi, last average (persistence), last close (last price)
    cases = [
        (100.0, 101.0, 99.0, 102.0, 97.0, 99.0),  # inside; errors 1, 3, 1
        (100.0, 98.0, 97.0, 99.0, 104.0, 102.0),  # above the band; errors 2, 4, 2
        (100.0, 100.0, 99.0, 101.0, 100.0, 103.0),  # inside; errors 0, 0, 3
    ]
    for i, (actual, price, lo, hi, last_avg, last_close) in enumerate(cases):
        minute = MINUTE + i * 60_000
        score.add(Prediction.one(minute, price, minute - 60_000, last_avg, lo, hi, 0.8, last_close))
        scored = score.resolve(minute, actual)
        assert scored is not None and scored.inside == (lo <= actual <= hi)
    assert score.total == 3 and score.count == 2  # rolling figures keep the last 2
    assert score.mae == 1.0 and score.persistence_mae == 2.0 and score.last_price_mae == 2.5
    assert score.coverage == 2 / 3
    text = score.summary()
    assert text == "live 3 min: MAE 1.00 · last price 2.00 · persistence 2.33 · in 80% band 67%"
    assert len(text) <= 80


def test_predictions_without_close_or_band_leave_those_out():
    score = LiveScore()
    score.add(Prediction.one(MINUTE, 101.0, MINUTE - 60_000, 100.0))
    scored = score.resolve(MINUTE, 100.0)
    assert scored is not None and scored.inside is None and math.isnan(scored.last_price_error)
    assert score.coverage is None and score.last_price_mae is None
    assert score.summary() == "live 1 min: MAE 1.00 · persistence 0.00"


def test_every_horizon_is_scored_when_its_own_minute_closes():
    from btc_tui.forecast.predictor import HorizonForecast

    score = LiveScore()
    made_at = MINUTE - 60_000
    forecasts = (
        HorizonForecast(1, MINUTE, 101.0, 99.0, 103.0),
        HorizonForecast(5, MINUTE + 4 * 60_000, 104.0, 95.0, 105.0),
    )
    score.add(Prediction(made_at, 100.0, 0.8, forecasts, last_close=100.5))
    first = score.resolve_all(MINUTE, 102.0)
    assert [(s.horizon, s.error) for s in first] == [(1, -1.0)]
    # Minutes 2-4 close: nothing was aimed at them.
    for k in (1, 2, 3):
        assert score.resolve_all(MINUTE + k * 60_000, 100.0) == []
    assert 5 not in score.tallies
    fifth = score.resolve_all(MINUTE + 4 * 60_000, 106.0)  # the 5-minute forecast's minute
    assert [(s.horizon, s.error, s.inside) for s in fifth] == [(5, -2.0, False)]
    assert score.tallies[5].total == 1 and score.tallies[5].coverage == 0.0
    assert score.total == 1  # the shortest horizon's figures stay what they were
    assert score.summary() == (
        "live 1 min: MAE 1.00 · last price 1.50 · persistence 2.00 · in 80% band 100% · "
        "5m: MAE 2 (last price 6), in band 0% of 1"
    )


def test_a_skipped_minute_drops_the_forecasts_aimed_at_it():
    score = LiveScore()
    score.add(Prediction.one(MINUTE, 101.0, MINUTE - 60_000, 100.0))
    assert score.resolve(MINUTE + 60_000, 100.0) is None  # MINUTE had no trades: no row
    assert score.resolve(MINUTE, 100.0) is None
    assert score.total == 0
