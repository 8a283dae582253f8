"""Windows over several horizons, inputs from each window's own past, four chronological parts,
against plain reference code written window by window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btc_tui.forecast.dataset import (
    MINUTE_MS,
    MinuteSeries,
    WindowSource,
    build_windows,
    chronological_parts,
    missing_columns,
    rolling_volatility,
    series_from_frame,
    without_columns,
)
from btc_tui.market.store import load_minutes
from tests.forecast.conftest import (
    START_MS,
    bar_columns,
    random_walk,
    write_minutes,
    write_seed_minutes,
)

CHL = ("level", "change", "close", "high", "low")


def series_of(prices, offsets=None, columns=None) -> MinuteSeries:
    offsets = np.arange(len(prices)) if offsets is None else np.asarray(offsets)
    minutes = START_MS + offsets.astype(np.int64) * MINUTE_MS
    return MinuteSeries(minutes, np.asarray(prices, float), columns=columns or {})


def rich_series(n: int, seed: int = 0, offsets=None) -> MinuteSeries:
    prices = random_walk(n, seed=seed)
    close, high, low = bar_columns(prices, seed=seed)
    rng = np.random.default_rng(seed)
    columns = {
        "close": close,
        "high": high,
        "low": low,
        "volume": rng.exponential(3.0, n),
        "trades": rng.integers(1, 500, n).astype(float),
    }
    return series_of(prices, offsets, columns)


def reference_windows(series: MinuteSeries, window: int, horizons: tuple[int, ...]):
    """One window at a time, the obvious way: (origins, dropped)."""
    origins, dropped = [], 0
    m = series.minutes
    span = window + max(horizons)
    for i in range(len(m) - span + 1):
        if all(m[r] == m[i] + (r - i) * MINUTE_MS for r in range(i, i + span)):
            origins.append(i + window - 1)
        else:
            dropped += 1
    return np.array(origins, dtype=np.int64), dropped


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 120),
    window=st.integers(1, 15),
    horizons=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    gap_seed=st.integers(0, 10_000),
)
def test_windows_equal_a_reference_loop(n, window, horizons, gap_seed):
    rng = np.random.default_rng(gap_seed)
    offsets = np.cumsum(rng.choice([1, 1, 1, 1, 2, 4], size=n)) if n else np.zeros(0, int)
    series = series_of(random_walk(n, seed=gap_seed) if n else [], offsets)
    windows = build_windows(series, window, horizons)
    origins, dropped = reference_windows(series, window, tuple(horizons))
    np.testing.assert_array_equal(windows.origins, origins)
    assert windows.dropped == dropped
    for h in set(horizons):
        np.testing.assert_array_equal(windows.targets(h), series.prices[origins + h])
        np.testing.assert_array_equal(
            windows.target_minutes(h) - windows.origin_minutes, np.full(len(origins), h * MINUTE_MS)
        )


def test_scaled_inputs_match_the_seed_formula():
    series = series_of(random_walk(300, seed=3))
    source = WindowSource(build_windows(series, 60, (1,)), ("level",))
    x = source.inputs(slice(None))[..., 0]
    inputs = source.windows.inputs()
    for row, scaled in zip(inputs, x, strict=True):
        spread = row.max() - row.min()
        low, high = row.min() - 0.05 * spread, row.max() + 0.05 * spread
        np.testing.assert_allclose(scaled, (row - low) / (high - low), atol=1e-6)


def test_rolling_volatility_is_the_mean_absolute_change_over_the_lookback():
    prices = random_walk(200, seed=5)
    for lookback in (1, 5, 30):
        vol = rolling_volatility(prices, lookback)
        for i in range(1, 200):
            changes = np.abs(np.diff(prices[max(0, i - lookback) : i + 1]))
            assert vol[i] == pytest.approx(max(changes.mean(), 1e-5 * prices[i]), rel=1e-9)


def test_targets_are_moves_from_the_last_close_in_volatility_times_sqrt_horizon():
    """Reference, window by window: y_h = (avg[o + h] - close[o]) / (vol30[o] * sqrt(h))."""
    series = rich_series(400, seed=2)
    source = WindowSource(build_windows(series, 20, (1, 5, 15)), CHL)
    y, anchor, unit = source.targets(slice(None))
    prices, close = series.prices, series.columns["close"]
    for i, o in enumerate(source.windows.origins):
        changes = np.abs(np.diff(prices[max(0, o - 30) : o + 1]))
        vol = max(changes.mean(), 1e-5 * prices[o])
        assert anchor[i] == close[o]
        for j, h in enumerate((1, 5, 15)):
            assert unit[i, j] == pytest.approx(vol * np.sqrt(h), rel=1e-9)
            assert y[i, j] == pytest.approx((prices[o + h] - close[o]) / unit[i, j], rel=1e-5)


def test_activity_and_volatility_inputs_are_scaled_from_the_window_itself():
    series = rich_series(1600, seed=4)
    features = ("volume", "trades", "vol5", "vol240", "vol1440", "day_sin", "week_cos")
    source = WindowSource(build_windows(series, 30, (1,)), features)
    x = source.inputs(slice(None))
    vol30 = rolling_volatility(series.prices, 30)
    for i in (0, 700, len(source) - 1):
        o = source.windows.origins[i]
        rows = slice(o - 29, o + 1)
        for name, column in (("volume", 0), ("trades", 1)):
            logs = np.log1p(series.columns[name][rows])
            np.testing.assert_allclose(x[i, :, column], logs - logs.mean(), atol=1e-5)
        for column, scale in ((2, 5), (3, 240), (4, 1440)):
            expected = np.log(rolling_volatility(series.prices, scale)[o] / vol30[o])
            np.testing.assert_allclose(x[i, :, column], expected, atol=1e-5)
        day = (series.minutes[rows] % 86_400_000) / 86_400_000
        np.testing.assert_allclose(x[i, :, 5], np.sin(2 * np.pi * day), atol=1e-6)
        # 2024-01-01 was a Monday: the week's phase starts there.
        week = ((series.minutes[rows] - START_MS) % (7 * 86_400_000)) / (7 * 86_400_000)
        np.testing.assert_allclose(x[i, :, 6], np.cos(2 * np.pi * week), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(later=st.integers(1, 60), factor=st.floats(0.5, 2.0), seed=st.integers(0, 1000))
def test_nothing_after_the_origin_enters_the_inputs(later, factor, seed):
    """Changing any minute after a window's last one (prices, columns) changes none of its
    inputs, its anchor or its unit: only its targets."""
    series = rich_series(300, seed=seed)
    windows = build_windows(series, 20, (1, 5))
    row = 100
    origin = int(windows.origins[row])
    changed = {k: v.copy() for k, v in series.columns.items()}
    prices = series.prices.copy()
    prices[origin + later :] *= factor
    for values in changed.values():
        values[origin + later :] *= factor
    other = series_of(prices, (series.minutes - START_MS) // MINUTE_MS, changed)
    features = ("level", "change", "close", "high", "low", "volume", "trades", "vol5", "vol240")
    before = WindowSource(windows, features).batch(np.array([row]))
    after = WindowSource(build_windows(other, 20, (1, 5)), features).batch(np.array([row]))
    np.testing.assert_array_equal(before.x, after.x)
    np.testing.assert_array_equal(before.anchor, after.anchor)
    np.testing.assert_array_equal(before.unit, after.unit)


def test_a_flat_window_scales_deterministically_instead_of_being_dropped():
    series = series_of([50_000.0] * 12 + [50_001.0])
    source = WindowSource(build_windows(series, 10, (1,)), ("level", "change"))
    batch = source.batch(slice(None))
    assert len(source) == 3
    assert np.all(np.isfinite(batch.x)) and np.all(np.isfinite(batch.y))
    np.testing.assert_array_equal(batch.x[0, :, 0], np.full(10, 0.5, dtype=np.float32))


def test_gap_drops_the_windows_that_span_it(tmp_path):
    """100 minutes with minute 50 missing: of the 89 candidate windows of 10+1 rows, the 10 whose
    minutes would cross the gap are dropped and counted."""
    offsets = [m for m in range(100) if m != 50]
    path = write_minutes(tmp_path / "gap.csv", random_walk(99, seed=1), offsets)
    windows = build_windows(series_from_frame(load_minutes(path).frame), 10, (1,))
    assert windows.dropped == 10
    assert len(windows) == 79


def test_four_parts_are_chronological_and_apart_by_the_longest_horizon():
    parts = chronological_parts(29_880, 0.2, gap=60)
    fit, stopping, calibration, test = parts.sizes
    assert test == 5_976
    assert (fit, stopping, calibration) == (17_793, 2_372, 3_559)
    assert fit + stopping + calibration + test + 3 * 60 == 29_880
    assert parts.stopping.start - parts.fit.stop == 60
    assert parts.calibration.start - parts.stopping.stop == 60
    assert parts.test.start - parts.calibration.stop == 60
    assert parts.test.stop == 29_880


def test_features_drop_only_those_of_absent_columns():
    assert without_columns(("level", "close", "volume", "trades"), ["trades"]) == (
        "level",
        "close",
        "volume",
    )
    assert without_columns(("close",), ["close"]) == ("level", "change")
    with pytest.raises(ValueError, match="need the column"):
        WindowSource(build_windows(series_of(random_walk(30)), 10, (1,)), CHL)


def test_rows_lacking_a_needed_column_are_missing_minutes(tmp_path):
    prices = random_walk(40, seed=4)
    path = write_minutes(tmp_path / "m.csv", prices, bars=bar_columns(prices))
    frame = load_minutes(path).frame
    frame.loc[frame.index[[5, 6]], "close"] = np.nan
    frame.loc[frame.index[20], "low"] = np.inf
    assert len(series_from_frame(frame)) == 40
    series = series_from_frame(frame, ("close", "high", "low"))
    assert len(series) == 37 and series.skipped == 3
    assert START_MS + 5 * MINUTE_MS not in series.minutes
    seed = load_minutes(write_seed_minutes(tmp_path / "seed.csv", prices)).frame
    assert missing_columns(seed, ("close", "high", "low")) == ["close", "high", "low"]


def test_any_batch_of_windows_encodes_as_when_encoded_at_once():
    """Training reads shuffled batches: any rows give the same arrays as the whole set's rows."""
    offsets = np.array([m for m in range(410) if m not in (50, 51, 200, 333, 334, 335)][:400])
    source = WindowSource(build_windows(rich_series(400, 8, offsets), 20, (1, 3)), CHL)
    whole = source.batch(slice(None))
    rows = np.random.default_rng(1).permutation(len(source))[:37]
    part = source.batch(rows)
    np.testing.assert_array_equal(part.x, whole.x[rows])
    np.testing.assert_array_equal(part.y, whole.y[rows])
    np.testing.assert_array_equal(part.unit, whole.unit[rows])


def test_the_live_features_at_the_last_row_equal_the_training_ones():
    """RowFeatures.at_end (the live predictor's shortcut) gives the same values at the last row
    as RowFeatures.of over the whole series (training), for short and long histories."""
    from btc_tui.forecast.dataset import RowFeatures

    for n in (2, 31, 300, 1600):
        series = rich_series(n, seed=n)
        whole = RowFeatures.of(series)
        tail = MinuteSeries(
            series.minutes[-20:],
            series.prices[-20:],
            columns={k: v[-20:] for k, v in series.columns.items()},
        )
        end = RowFeatures.at_end(tail, series.prices)
        for k, values in whole.vol.items():
            assert end.vol[k][-1] == pytest.approx(values[-1], rel=1e-12), (n, k)
        for name, values in whole.activity.items():
            np.testing.assert_array_equal(end.activity[name], values[-20:])
        np.testing.assert_array_equal(end.phase, whole.phase[-20:])
