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
