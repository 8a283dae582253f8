"""Windows, per-window scaling, gaps and the chronological split, against plain reference code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btc_tui.forecast import dataset
from btc_tui.forecast.dataset import (
    MINUTE_MS,
    MinuteSeries,
    build_windows,
    chronological_split,
    decode_targets,
    encode,
    encode_targets,
    missing_columns,
    series_from_frame,
    window_scaling,
)
from btc_tui.market.store import load_minutes
from tests.forecast.conftest import (
    START_MS,
    bar_columns,
    random_walk,
    write_minutes,
    write_seed_minutes,
)


def series_of(prices, offsets=None) -> MinuteSeries:
    offsets = np.arange(len(prices)) if offsets is None else np.asarray(offsets)
    return MinuteSeries(START_MS + offsets.astype(np.int64) * MINUTE_MS, np.asarray(prices, float))


def reference_windows(series: MinuteSeries, window: int, horizon: int):
    """One window at a time, the obvious way."""
    inputs, targets, dropped = [], [], 0
    m, p = series.minutes, series.prices
    for i in range(len(p) - window - horizon + 1):
        rows = range(i, i + window + horizon)
        if all(m[r] == m[i] + (r - i) * MINUTE_MS for r in rows):
            inputs.append(p[i : i + window])
            targets.append(p[i + window - 1 + horizon])
        else:
            dropped += 1
    return np.array(inputs).reshape(-1, window), np.array(targets), dropped


def reference_scaled(inputs: np.ndarray) -> np.ndarray:
    """The seed's scaling, from each window's inputs only."""
    out = np.empty_like(inputs)
    for i, row in enumerate(inputs):
        rng = row.max() - row.min()
        lo, hi = row.min() - 0.05 * rng, row.max() + 0.05 * rng
        out[i] = (row - lo) / (hi - lo)
    return out


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 120),
    window=st.integers(1, 15),
    horizon=st.integers(1, 4),
    gap_seed=st.integers(0, 10_000),
)
def test_windows_equal_a_reference_loop(n, window, horizon, gap_seed):
    rng = np.random.default_rng(gap_seed)
    # Random gaps: each step skips 0, 1 or 3 minutes.
    offsets = np.cumsum(rng.choice([1, 1, 1, 1, 2, 4], size=n)) if n else np.zeros(0, int)
    series = series_of(random_walk(n, seed=gap_seed) if n else [], offsets)
    windows = build_windows(series, window, horizon)
    inputs, targets, dropped = reference_windows(series, window, horizon)
    np.testing.assert_array_equal(windows.inputs, inputs)
    np.testing.assert_array_equal(windows.targets, targets)
    assert windows.dropped == dropped
    assert len(windows) == len(targets)
    np.testing.assert_array_equal(
        windows.target_minutes - windows.last_minutes, np.full(len(windows), horizon * MINUTE_MS)
    )


def test_scaled_inputs_match_the_seed_formula():
    series = series_of(random_walk(300, seed=3))
    encoded = encode(build_windows(series, 60, 1), ("level",), "level")
    np.testing.assert_allclose(
        encoded.x[..., 0], reference_scaled(encoded.windows.inputs), rtol=0, atol=1e-6
    )
    assert encoded.x[..., 0].min() == pytest.approx(0.05 / 1.1, abs=1e-6)
    assert encoded.x[..., 0].max() == pytest.approx(1.05 / 1.1, abs=1e-6)


@settings(max_examples=80, deadline=None)
@given(
    prices=st.lists(st.floats(1_000, 100_000), min_size=3, max_size=40),
    window=st.integers(1, 10),
    spike=st.floats(1, 1e7),
    target_kind=st.sampled_from(["level", "change", "correction"]),
)
def test_the_target_never_enters_the_scaling(prices, window, spike, target_kind):
    """The last price is only ever a target: changing it changes no input and no scaling."""
    if len(prices) < window + 1:
        window = len(prices) - 1
    features = ("level", "change")
    before = encode(build_windows(series_of(prices), window, 1), features, target_kind)
    changed = [*prices[:-1], spike]
    after = encode(build_windows(series_of(changed), window, 1), features, target_kind)
    np.testing.assert_array_equal(before.x, after.x)
    np.testing.assert_array_equal(before.scaling.lo, after.scaling.lo)
    np.testing.assert_array_equal(before.scaling.scale, after.scaling.scale)
    np.testing.assert_array_equal(before.anchor, after.anchor)
    np.testing.assert_array_equal(before.unit, after.unit)
    np.testing.assert_array_equal(before.y[:-1], after.y[:-1])


def test_the_correction_target_is_the_move_from_the_last_close_in_recent_volatility():
    """Reference code, window by window: y = (next avg - last close) / mean |change| over the
    last 30 minutes; decoding gives the target back."""
    prices = random_walk(120, seed=2)
    close, high, low = bar_columns(prices, seed=2)
    series = MinuteSeries(
        START_MS + np.arange(120, dtype=np.int64) * MINUTE_MS,
        prices,
        columns={"close": close, "high": high, "low": low},
    )
    encoded = encode(build_windows(series, 40, 1), dataset.FEATURE_KINDS, "correction")
    for i in (0, 37, len(encoded) - 1):
        window = prices[i : i + 40]
        vol = np.mean(np.abs(np.diff(window[-31:])))
        assert encoded.anchor[i] == close[i + 39]
        assert encoded.unit[i] == pytest.approx(vol, rel=1e-12)
        assert encoded.y[i] == pytest.approx((prices[i + 40] - close[i + 39]) / vol, rel=1e-6)
    np.testing.assert_allclose(encoded.decode(encoded.y), encoded.windows.targets, rtol=1e-9)
    # Without a close (a six-column file), the zero point is the last average: persistence.
    plain = encode(build_windows(series_of(prices), 40, 1), ("level", "change"), "correction")
    np.testing.assert_array_equal(plain.anchor, plain.windows.last_prices)


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.floats(1_000, 100_000), min_size=2, max_size=30),
    target=st.floats(1_000, 100_000),
    kind=st.sampled_from(["level", "change"]),
)
def test_scaling_round_trips(prices, target, kind):
    inputs = np.array([prices])
    scaling = window_scaling(inputs)
    np.testing.assert_allclose(scaling.invert(scaling.apply(inputs)), inputs, rtol=1e-12)
    last = inputs[:, -1]
    encoded = encode_targets(np.array([target]), last, scaling, kind)
    np.testing.assert_allclose(decode_targets(encoded, last, scaling, kind), [target], rtol=1e-12)


def test_a_flat_window_scales_deterministically_instead_of_being_dropped():
    series = series_of([50_000.0] * 12 + [50_001.0])
    encoded = encode(build_windows(series, 10, 1), ("level", "change"), "change")
    assert len(encoded) == 3
    assert np.all(np.isfinite(encoded.x)) and np.all(np.isfinite(encoded.y))
    np.testing.assert_array_equal(encoded.x[0, :, 0], np.full(10, 0.5, dtype=np.float32))
    np.testing.assert_array_equal(encoded.x[0, :, 1], np.zeros(10, dtype=np.float32))
    # The move to 50,001 is exactly recovered from the scaled target.
    last = encoded.windows.last_prices
    back = decode_targets(encoded.y.astype(float), last, encoded.scaling, "change")
    np.testing.assert_allclose(back, encoded.windows.targets, atol=1e-6)


def test_gap_drops_the_windows_that_span_it(tmp_path):
    """100 minutes with minute 50 missing: of the 89 candidate windows of 10+1 rows, the 10 whose
    minutes would cross the gap (starting at rows 40-49) are dropped and counted."""
    offsets = [m for m in range(100) if m != 50]
    path = write_minutes(tmp_path / "gap.csv", random_walk(99, seed=1), offsets)
    windows = build_windows(series_from_frame(load_minutes(path).frame), 10, 1)
    assert windows.dropped == 10
    assert len(windows) == 79
    gap = START_MS + 50 * MINUTE_MS
    first_minutes = windows.last_minutes - 9 * MINUTE_MS
    assert not ((first_minutes < gap) & (windows.target_minutes > gap)).any()


def test_series_from_a_loaded_csv_is_avg_price_by_utc_minute(tmp_path):
    prices = random_walk(5, seed=2)
    path = write_minutes(tmp_path / "m.csv", prices)
    series = series_from_frame(load_minutes(path).frame)
    # (the loader parses with pandas, which may be 1 ulp off the written shortest repr)
    np.testing.assert_allclose(series.prices, prices, rtol=1e-15)
    np.testing.assert_array_equal(series.minutes, START_MS + np.arange(5) * MINUTE_MS)


def test_split_is_chronological_with_the_reference_sizes():
    split = chronological_split(29_940, 0.2)
    assert split.sizes == (21_557, 2_395, 5_988)  # the fixture README's 5,988 test windows
    assert split.train.stop == split.validation.start
    assert split.validation.stop == split.test.start == 29_940 - 5_988
    assert chronological_split(30, 0.2).sizes == (22, 2, 6)


def test_windows_for_500k_minutes_use_no_per_window_loop():
    """Correct at scale (the speed is measured in benchmarks/windows_speed.py)."""
    series = series_of(40_000 + np.cumsum(np.random.default_rng(5).normal(0, 10, 500_000)))
    windows = build_windows(series, 60, 1)
    assert len(windows) == 500_000 - 60
    assert windows.dropped == 0
    np.testing.assert_array_equal(windows.targets[[0, -1]], series.prices[[60, -1]])


# --- features from the minute's close/high/low -------------------------------------------------

CHL = ("level", "change", "close", "high", "low")


def series_with_bars(prices, close, high, low, offsets=None) -> MinuteSeries:
    base = series_of(prices, offsets)
    columns = {"close": np.asarray(close, float), "high": np.asarray(high, float)}
    columns["low"] = np.asarray(low, float)
    return MinuteSeries(base.minutes, base.prices, columns=columns)


def reference_bar_features(series: MinuteSeries, window: int, horizon: int) -> np.ndarray:
    """(close|high|low - avg_price) / the window's buffered input range, one minute at a time."""
    out = []
    inputs, _targets, _dropped = reference_windows(series, window, horizon)
    starts = build_windows(series, window, horizon).starts
    for row, start in zip(inputs, starts, strict=True):
        span = max(row.max() - row.min(), 1e-6 * abs((row.max() + row.min()) / 2))
        scale = 1.1 * span
        minutes = []
        for j in range(window):
            avg = series.prices[start + j]
            minutes.append(
                [
                    (series.columns[name][start + j] - avg) / scale
                    for name in ("close", "high", "low")
                ]
            )
        out.append(minutes)
    return np.array(out, dtype=float).reshape(-1, window, 3)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 80),
    window=st.integers(1, 12),
    horizon=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_bar_features_equal_a_reference_loop(n, window, horizon, seed):
    rng = np.random.default_rng(seed)
    offsets = np.cumsum(rng.choice([1, 1, 1, 2, 3], size=n)) if n else np.zeros(0, int)
    prices = random_walk(n, seed=seed) if n else np.zeros(0)
    close, high, low = bar_columns(prices, seed=seed)
    series = series_with_bars(prices, close, high, low, offsets)
    encoded = encode(build_windows(series, window, horizon), CHL, "change")
    expected = reference_bar_features(series, window, horizon)
    assert encoded.x.shape == (len(expected), window, 5)
    np.testing.assert_allclose(encoded.x[..., 2:], expected, rtol=1e-5, atol=1e-6)
    if len(expected):  # and the price features are the same as without the bars
        plain = encode(
            build_windows(series_of(prices, offsets), window, horizon), CHL[:2], "change"
        )
        np.testing.assert_array_equal(encoded.x[..., :2], plain.x)


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.floats(1_000, 100_000), min_size=3, max_size=30),
    window=st.integers(1, 10),
    spikes=st.lists(st.floats(1, 1e7), min_size=4, max_size=4),
    seed=st.integers(0, 1000),
)
def test_bar_features_never_see_the_target_minute(prices, window, spikes, seed):
    """Changing everything about the last minute (only ever a target) changes no input."""
    window = min(window, len(prices) - 1)
    bars = [list(c) for c in bar_columns(np.array(prices), seed=seed)]
    before = encode(build_windows(series_with_bars(prices, *bars), window, 1), CHL, "change")
    changed_prices = [*prices[:-1], spikes[0]]
    changed_bars = [[*column[:-1], spike] for column, spike in zip(bars, spikes[1:], strict=True)]
    after = encode(
        build_windows(series_with_bars(changed_prices, *changed_bars), window, 1), CHL, "change"
    )
    np.testing.assert_array_equal(before.x, after.x)
    np.testing.assert_array_equal(before.scaling.scale, after.scaling.scale)
    np.testing.assert_array_equal(before.y[:-1], after.y[:-1])


def test_bar_features_need_their_columns():
    with pytest.raises(ValueError, match="need the 'close', 'high', 'low' column"):
        encode(build_windows(series_of(random_walk(30)), 10, 1), CHL, "change")


def test_rows_lacking_a_needed_column_are_missing_minutes(tmp_path):
    prices = random_walk(40, seed=4)
    path = write_minutes(tmp_path / "m.csv", prices, bars=bar_columns(prices))
    frame = load_minutes(path).frame
    frame.loc[frame.index[[5, 6]], "close"] = np.nan
    frame.loc[frame.index[20], "low"] = np.inf
    assert len(series_from_frame(frame)) == 40  # avg_price alone: every minute
    series = series_from_frame(frame, ("close", "high", "low"))
    assert len(series) == 37 and series.skipped == 3
    assert START_MS + 5 * MINUTE_MS not in series.minutes
    np.testing.assert_array_equal(series.columns["high"], frame["high"].to_numpy()[series_rows(37)])
    assert missing_columns(frame, ("close", "high", "low")) == []
    seed = load_minutes(write_seed_minutes(tmp_path / "seed.csv", prices)).frame
    assert missing_columns(seed, ("close", "high", "low")) == ["close", "high", "low"]
    assert missing_columns(seed.drop(columns=["close"]), ("close",)) == ["close"]


def series_rows(count: int) -> np.ndarray:
    """The rows kept in the test above: all but 5, 6 and 20."""
    rows = np.array([r for r in range(40) if r not in (5, 6, 20)])
    assert len(rows) == count
    return rows


def test_encoding_in_blocks_equals_encoding_at_once():
    """Blocks are an implementation detail: any block size gives the same arrays."""
    prices = random_walk(400, seed=8)
    offsets = np.array([m for m in range(410) if m not in (50, 51, 200, 333, 334, 335)][:400])
    series = series_with_bars(prices, *bar_columns(prices, seed=8), offsets)
    windows = build_windows(series, 20, 1)
    whole = encode(windows, CHL, "change", block=len(windows))
    for block in (1, 7, 64, dataset.ENCODE_BLOCK):
        blocked = encode(windows, CHL, "change", block=block)
        np.testing.assert_array_equal(blocked.x, whole.x)
        np.testing.assert_array_equal(blocked.y, whole.y)
        np.testing.assert_array_equal(blocked.scaling.scale, whole.scaling.scale)
