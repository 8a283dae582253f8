"""Minute series -> windows, inputs computed from each window's own past, four chronological parts
(numpy only).

Nothing the model sees about a window comes from after its last minute (its origin): the prices are
scaled by the window's own range, volume and trade counts by the window's own mean, volatility over
5 to 1,440 minutes is computed from the minutes up to the origin. Windows are never materialised all
at once: `WindowSource.batch(rows)` encodes the few a training step needs, so memory stays flat as
the data grows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from btc_tui.market.store import MINUTE_MS  # the CSV's minute, from the CSV's reader

# The seed's scaling: widen each window's [min, max] by 5% of its range on both sides.
BUFFER = 0.05
# A flat window (max == min) would divide by zero; give every window a range of at least this
# share of its price (0.06 USDT at 60,000) so it scales deterministically instead of being dropped.
MIN_RELATIVE_RANGE = 1e-6
SCALING_SCHEME = "per-window min-max of the input minutes only, 5% buffer, min range 1e-6 of price"

# Recent volatility: the mean absolute minute-to-minute change of avg_price over the last
# `lookback` minutes up to the origin, floored at MIN_VOL_RELATIVE of the price (a flat stretch
# would otherwise divide by zero). VOL_LOOKBACK minutes give the unit of the network's outputs;
# VOL_SCALES are the inputs that tell calm from wild markets, short and long.
VOL_LOOKBACK = 30
VOL_SCALES = (5, 240, 1440)
MIN_VOL_RELATIVE = 1e-5
# The longest window training accepts: the live app keeps the last 1,500 minutes (KEEP in
# market/frames.py), so a longer window could never be filled there and never predict.
MAX_WINDOW = 1440

# Input features per minute. Prices: the scaled level and its change; close/high/low as offsets
# from the minute's avg_price in the window's scaled units; volume and trades as log(1 + x) minus
# its mean over the window; volatility at each scale as log(vol_k / vol_30) at the origin (the same
# on every minute of the window); the time of day and of week as sine and cosine.
PRICE_FEATURES = ("level", "change")
COLUMN_FEATURES = {"close": "close", "high": "high", "low": "low"}
ACTIVITY_FEATURES = {"volume": "volume", "trades": "trades"}
VOL_FEATURES = tuple(f"vol{k}" for k in VOL_SCALES)
TIME_FEATURES = ("day_sin", "day_cos", "week_sin", "week_cos")
FEATURE_KINDS = (
    *PRICE_FEATURES,
    *COLUMN_FEATURES,
    *ACTIVITY_FEATURES,
    *VOL_FEATURES,
    *TIME_FEATURES,
)
_COLUMNS_OF = {**COLUMN_FEATURES, **ACTIVITY_FEATURES}
_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS


def required_columns(features: Sequence[str]) -> tuple[str, ...]:
    """The CSV columns besides avg_price that `features` are built from, in a fixed order."""
    return tuple(_COLUMNS_OF[f] for f in _COLUMNS_OF if f in features)


def without_columns(features: Sequence[str], absent: Sequence[str]) -> tuple[str, ...]:
    """`features` less those built from the `absent` columns (never empty)."""
    kept = tuple(f for f in features if _COLUMNS_OF.get(f) not in absent)
    return kept or PRICE_FEATURES


@dataclass(frozen=True)
class MinuteSeries:
    """The avg_price series: UTC minute starts (ms, sorted, unique) and prices, plus any other
    columns asked for (close, volume...), aligned row for row with the prices."""

    minutes: np.ndarray  # int64 ms
    prices: np.ndarray  # float64
    # rows without a usable price (NaN, inf, <= 0) or, when columns were asked for, without a
    # finite value in one of them: treated as missing minutes
    skipped: int = 0
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> float64 (rows,)

    def __len__(self) -> int:
        return len(self.prices)

    def anchor(self) -> np.ndarray:
        """What the point forecast starts from: each minute's close (the last traded price), or
        its average when the minutes have no close."""
        return self.columns.get("close", self.prices)


def series_from_frame(frame: pd.DataFrame, columns: Sequence[str] = ()) -> MinuteSeries:
    """Take avg_price (and `columns`) by minute from a `LoadedMinutes.frame` (DatetimeIndex in
    UTC). A row lacking a usable price or a finite value in one of `columns` is left out (a
    missing minute); a column absent from the frame is a KeyError (check with `missing_columns`).
    """
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    minutes = index.as_unit("ms").asi8.astype(np.int64)
    prices = frame["avg_price"].to_numpy(dtype=np.float64)
    usable = np.isfinite(prices) & (prices > 0)
    values = {name: frame[name].to_numpy(dtype=np.float64) for name in columns}
    for column in values.values():
        usable &= np.isfinite(column)
    skipped = int(len(prices) - usable.sum())
    return MinuteSeries(
        minutes=minutes[usable],
        prices=prices[usable],
        skipped=skipped,
        columns={name: column[usable] for name, column in values.items()},
    )


def missing_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Those of `columns` the frame lacks or holds no finite value in (a six-column seed file)."""
    return [
        name
        for name in columns
        if name not in frame.columns
        or not np.isfinite(frame[name].to_numpy(dtype=np.float64)).any()
    ]


def rolling_volatility(prices: np.ndarray, lookback: int) -> np.ndarray:
    """(rows,) -> (rows,): the mean absolute change over the last `lookback` rows up to each row
    (fewer at the start; the first row has no change and gets the floor)."""
    prices = np.asarray(prices, dtype=np.float64)
    changes = np.abs(np.diff(prices, prepend=prices[:1]))
    total = np.concatenate([[0.0], np.cumsum(changes)])
    rows = np.arange(len(prices))
    first = np.maximum(1, rows - lookback + 1)  # row 0's "change" is not one
    count = rows - first + 1
    mean = np.divide(
        total[rows + 1] - total[first], count, out=np.zeros(len(prices)), where=count > 0
    )
    return np.maximum(mean, MIN_VOL_RELATIVE * np.abs(prices))


@dataclass(frozen=True)
class RowFeatures:
    """Per-minute values every window reads from: volatility at each scale, log activity, time.
    O(rows) memory, computed once."""

    vol: Mapping[int, np.ndarray]  # lookback -> (rows,)
    activity: Mapping[str, np.ndarray]  # column -> log(1 + value), (rows,)
    phase: np.ndarray  # (rows, 4): day sin, cos, week sin, cos

    @classmethod
    def of(cls, series: MinuteSeries, vol_lookback: int = VOL_LOOKBACK) -> RowFeatures:
        scales = sorted({vol_lookback, *VOL_SCALES})
        vol = {k: rolling_volatility(series.prices, k) for k in scales}
        return cls(vol=vol, activity=_activity(series), phase=_phase(series.minutes))

    @classmethod
    def at_end(
        cls, series: MinuteSeries, history: np.ndarray, vol_lookback: int = VOL_LOOKBACK
    ) -> RowFeatures:
        """The values `of` gives at the series' last row, for a window ending there (the live
        prediction: no work for rows nobody reads). `history` holds the prices up to and
        including that row, as many as the longest volatility scale needs."""
        vol = {}
        changes = np.abs(np.diff(history[-(max(vol_lookback, *VOL_SCALES) + 1) :]))
        floor = MIN_VOL_RELATIVE * abs(history[-1])
        for k in sorted({vol_lookback, *VOL_SCALES}):
            values = np.full(len(series), np.nan)
            recent = changes[-k:]
            values[-1] = max(recent.mean(), floor) if len(recent) else floor
            vol[k] = values
        return cls(vol=vol, activity=_activity(series), phase=_phase(series.minutes))


def _activity(series: MinuteSeries) -> dict[str, np.ndarray]:
    return {
        name: np.log1p(np.maximum(series.columns[name], 0.0))
        for name in ACTIVITY_FEATURES.values()
        if name in series.columns
    }


def _phase(minutes: np.ndarray) -> np.ndarray:
    day = 2 * np.pi * (minutes % _DAY_MS) / _DAY_MS
    # 1970-01-01 was a Thursday: shift so the week's phase starts on Monday 00:00 UTC.
    week = 2 * np.pi * ((minutes + 3 * _DAY_MS) % _WEEK_MS) / _WEEK_MS
    return np.column_stack([np.sin(day), np.cos(day), np.sin(week), np.cos(week)])


@dataclass(frozen=True)
class Windows:
    """Windows of `window` contiguous input minutes ending at row `origins[i]`, each with every
    horizon's target minute (origin + h) present and every minute in between."""

    series: MinuteSeries
    window: int
    horizons: tuple[int, ...]
    origins: np.ndarray  # int64 row index of each window's last input minute
    dropped: int  # candidate windows dropped because they span a missing minute

    def __len__(self) -> int:
        return len(self.origins)

    def subset(self, rows: slice | np.ndarray) -> Windows:
        return Windows(self.series, self.window, self.horizons, self.origins[rows], self.dropped)

    def inputs(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """(n, window) avg prices of the windows `rows`."""
        return self.gather(self.series.prices, rows)

    def gather(self, values: np.ndarray, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        origins = self.origins[rows]
        return values[origins[:, None] + np.arange(1 - self.window, 1)]

    def targets(self, horizon: int) -> np.ndarray:
        return self.series.prices[self.origins + horizon]

    def target_minutes(self, horizon: int) -> np.ndarray:
        return self.series.minutes[self.origins + horizon]

    @property
    def origin_minutes(self) -> np.ndarray:
        return self.series.minutes[self.origins]

    @property
    def last_prices(self) -> np.ndarray:
        """Each window's last average: the persistence baseline."""
        return self.series.prices[self.origins]

    @property
    def last_close(self) -> np.ndarray | None:
        """Each window's last close: the last-price baseline (None without a close column)."""
        close = self.series.columns.get("close")
        return None if close is None else close[self.origins]

    @property
    def anchors(self) -> np.ndarray:
        return self.series.anchor()[self.origins]


def build_windows(series: MinuteSeries, window: int, horizons: Sequence[int]) -> Windows:
    """All windows whose inputs and targets lie on consecutive minutes (vectorised, no loop)."""
    horizons = tuple(sorted(set(int(h) for h in horizons)))
    if window < 1 or not horizons or horizons[0] < 1:
        raise ValueError(f"window and horizons must be at least 1, got {window} and {horizons}")
    span = window + horizons[-1]  # rows from the first input to the last target, both included
    candidates = len(series) - span + 1
    if candidates <= 0:
        return Windows(series, window, horizons, np.zeros(0, dtype=np.int64), 0)
    minutes = series.minutes
    # Rows are sorted and unique, so the span is gap-free exactly when its ends are span-1 apart.
    elapsed = minutes[span - 1 :] - minutes[:candidates]
    starts = np.flatnonzero(elapsed == (span - 1) * MINUTE_MS).astype(np.int64)
    return Windows(series, window, horizons, starts + (window - 1), int(candidates - len(starts)))


@dataclass(frozen=True)
class Scaling:
    """Per-window affine scaling: scaled = (price - lo) / scale."""

    lo: np.ndarray  # (n,)
    scale: np.ndarray  # (n,) = hi - lo > 0

    def apply(self, prices: np.ndarray) -> np.ndarray:
        return (prices - self.lo[:, None]) / self.scale[:, None]


def window_scaling(inputs: np.ndarray) -> Scaling:
    """The seed's min-max scaling with a 5% buffer, from the (n, window) INPUT prices only."""
    low = inputs.min(axis=1)
    high = inputs.max(axis=1)
    middle = (low + high) / 2
    price_range = np.maximum(high - low, MIN_RELATIVE_RANGE * np.maximum(np.abs(middle), 1.0))
    lo = middle - (0.5 + BUFFER) * price_range
    hi = middle + (0.5 + BUFFER) * price_range
    return Scaling(lo=lo, scale=hi - lo)


@dataclass(frozen=True)
class Batch:
    x: np.ndarray  # (n, window, features) float32
    y: np.ndarray  # (n, horizons) float32: (target - anchor) / unit
    anchor: np.ndarray  # (n,) the price output 0 stands for (last close, or last average)
    unit: np.ndarray  # (n, horizons) the price change one output unit stands for


class WindowSource:
    """Encodes any rows of `windows` on demand: network inputs, targets in units of recent
    volatility × sqrt(horizon), and what turns outputs back into prices."""

    def __init__(
        self,
        windows: Windows,
        features: Sequence[str],
        vol_lookback: int = VOL_LOOKBACK,
        rows: RowFeatures | None = None,
    ) -> None:
        needed = required_columns(features)
        lacking = [name for name in needed if name not in windows.series.columns]
        if lacking:
            raise ValueError(f"features {tuple(features)} need the column(s) {lacking}")
        unknown = [f for f in features if f not in FEATURE_KINDS]
        if unknown:
            raise ValueError(f"unknown features {unknown}; expected some of {FEATURE_KINDS}")
        self.windows = windows
        self.features = tuple(features)
        self.vol_lookback = vol_lookback
        self.rows = rows or RowFeatures.of(windows.series, vol_lookback)
        self.horizons = np.asarray(windows.horizons, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.windows)

    def units(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """(n, horizons): recent volatility at the origin × sqrt(horizon)."""
        vol = self.rows.vol[self.vol_lookback][self.windows.origins[rows]]
        return vol[:, None] * np.sqrt(self.horizons)[None, :]

    def batch(self, rows: slice | np.ndarray) -> Batch:
        y, anchor, unit = self.targets(rows)
        return Batch(x=self.inputs(rows), y=y, anchor=anchor, unit=unit)

    def targets(self, rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y (n, horizons) float32, anchor (n,), unit (n, horizons)) of the windows `rows`."""
        origins = self.windows.origins[rows]
        anchor = self.windows.series.anchor()[origins]
        unit = self.units(rows)
        targets = self.windows.series.prices[origins[:, None] + self.horizons[None, :]]
        return ((targets - anchor[:, None]) / unit).astype(np.float32), anchor, unit

    def inputs(self, rows: slice | np.ndarray) -> np.ndarray:
        """(n, window, features) float32 network inputs of the windows `rows`."""
        windows = self.windows
        origins = windows.origins[rows]
        index = origins[:, None] + np.arange(1 - windows.window, 1)
        prices = windows.series.prices[index]
        scaling = window_scaling(prices)
        scaled = scaling.apply(prices)
        out = np.empty((*prices.shape, len(self.features)), dtype=np.float32)
        vol_unit = self.rows.vol[self.vol_lookback][origins]
        for column, kind in enumerate(self.features):
            if kind == "level":
                out[:, :, column] = scaled
            elif kind == "change":
                out[:, 0, column] = 0.0
                out[:, 1:, column] = np.diff(scaled, axis=1)
            elif kind in COLUMN_FEATURES:
                values = windows.series.columns[COLUMN_FEATURES[kind]][index]
                out[:, :, column] = (values - prices) / scaling.scale[:, None]
            elif kind in ACTIVITY_FEATURES:
                values = self.rows.activity[ACTIVITY_FEATURES[kind]][index]
                out[:, :, column] = values - values.mean(axis=1, keepdims=True)
            elif kind in VOL_FEATURES:
                vol = self.rows.vol[int(kind[3:])][origins]
                out[:, :, column] = np.log(vol / vol_unit)[:, None]
            else:  # a time feature
                out[:, :, column] = self.rows.phase[index, TIME_FEATURES.index(kind)]
        return out


@dataclass(frozen=True)
class Parts:
    """Four chronological parts of the windows: fit (the network's weights), stopping (early
    stopping), calibration (the margin, the point weight and the reference bands), test (touched
    once, for the figures). Consecutive parts are `gap` windows apart, so no window's target lies
    in the next part's inputs."""

    fit: slice
    stopping: slice
    calibration: slice
    test: slice

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        return tuple(  # type: ignore[return-value]
            s.stop - s.start for s in (self.fit, self.stopping, self.calibration, self.test)
        )


STOPPING_FRACTION = 0.1
CALIBRATION_FRACTION = 0.15


def chronological_parts(count: int, test_fraction: float, gap: int = 0) -> Parts:
    """The last `test_fraction` of the windows is the test part; of the windows before it (less
    the gaps), the last 15% calibrate and the 10% before those stop the fitting early."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    test = max(1, round(count * test_fraction)) if count else 0
    rest = max(0, count - test - 3 * gap)
    calibration = max(1, round(rest * CALIBRATION_FRACTION)) if rest else 0
    stopping = max(1, round(rest * STOPPING_FRACTION)) if rest else 0
    fit = max(0, rest - calibration - stopping)
    s_start = fit + gap
    c_start = s_start + stopping + gap
    t_start = c_start + calibration + gap
    return Parts(
        fit=slice(0, fit),
        stopping=slice(s_start, s_start + stopping),
        calibration=slice(c_start, c_start + calibration),
        test=slice(t_start, min(count, t_start + test)),
    )
