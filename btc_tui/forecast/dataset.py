"""Minute series -> sliding windows, per-window scaling, chronological split (numpy only).

Everything the model sees about a window is computed from that window's own input minutes: the
target never enters the scaling range (the seed's leak), and nothing later in time is used to scale
or fit anything earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

MINUTE_MS = 60_000
# The seed's scaling: widen each window's [min, max] by 5% of its range on both sides.
BUFFER = 0.05
# A flat window (max == min) would divide by zero; give every window a range of at least this
# share of its price (0.06 USDT at 60,000) so it scales deterministically instead of being dropped.
MIN_RELATIVE_RANGE = 1e-6
SCALING_SCHEME = "per-window min-max of the input minutes only, 5% buffer, min range 1e-6 of price"

# What the network predicts, in the window's scaled units (see `encode_targets`).
TARGET_KINDS = ("level", "change")
# Input features per minute: the scaled price, its change from the previous minute, and where
# the minute's last trade (close), high and low were relative to its avg_price, in the window's
# scaled units: (close - avg_price) / scale. The close is the latest traded price of the window,
# which says more about the next minute's average than the average itself.
PRICE_FEATURES = ("level", "change")
# feature kind -> the minute CSV column it is built from (offset from that minute's avg_price)
COLUMN_FEATURES = {"close": "close", "high": "high", "low": "low"}
FEATURE_KINDS = (*PRICE_FEATURES, *COLUMN_FEATURES)


def required_columns(features: Sequence[str]) -> tuple[str, ...]:
    """The CSV columns besides avg_price that `features` are built from, in a fixed order."""
    return tuple(COLUMN_FEATURES[f] for f in COLUMN_FEATURES if f in features)


def price_only(features: Sequence[str]) -> tuple[str, ...]:
    """`features` without the ones that need more columns than avg_price (never empty)."""
    kept = tuple(f for f in features if f not in COLUMN_FEATURES)
    return kept or PRICE_FEATURES


@dataclass(frozen=True)
class MinuteSeries:
    """The avg_price series: UTC minute starts (ms, sorted, unique) and prices, plus any other
    columns asked for (close, high, low...), aligned row for row with the prices."""

    minutes: np.ndarray  # int64 ms
    prices: np.ndarray  # float64
    # rows without a usable price (NaN, inf, <= 0) or, when columns were asked for, without a
    # finite value in one of them: treated as missing minutes
    skipped: int = 0
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> float64 (rows,)

    def __len__(self) -> int:
        return len(self.prices)


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


@dataclass(frozen=True)
class Windows:
    """Windows of `window` contiguous input minutes and the price `horizon` minutes later.

    Row i uses series rows starts[i] .. starts[i]+window-1 as inputs and row
    starts[i]+window-1+horizon as the target; every minute in between exists.
    """

    series: MinuteSeries
    window: int
    horizon: int
    starts: np.ndarray  # int64 row index of each window's first input minute
    dropped: int  # candidate windows dropped because they span a missing minute

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def inputs(self) -> np.ndarray:
        """(n, window) raw input prices (read-only; a view when there are no gaps)."""
        return self._gather(self.series.prices)

    def column_inputs(self, name: str) -> np.ndarray:
        """(n, window) of another column (close, high...) over the same input minutes."""
        return self._gather(self.series.columns[name])

    def _gather(self, values: np.ndarray) -> np.ndarray:
        if not len(self.starts):
            return np.zeros((0, self.window))
        views = sliding_window_view(values, self.window)
        first, last = int(self.starts[0]), int(self.starts[-1])
        if last - first + 1 == len(self.starts):  # no gaps: a slice, no gather
            return views[first : last + 1]
        return views[self.starts]

    @property
    def last_index(self) -> np.ndarray:
        return self.starts + (self.window - 1)

    @property
    def last_prices(self) -> np.ndarray:
        return self.series.prices[self.last_index]

    @property
    def last_minutes(self) -> np.ndarray:
        return self.series.minutes[self.last_index]

    @property
    def targets(self) -> np.ndarray:
        return self.series.prices[self.last_index + self.horizon]

    @property
    def target_minutes(self) -> np.ndarray:
        return self.series.minutes[self.last_index + self.horizon]

    def subset(self, rows: slice) -> Windows:
        return Windows(self.series, self.window, self.horizon, self.starts[rows], self.dropped)


def build_windows(series: MinuteSeries, window: int, horizon: int) -> Windows:
    """All windows whose inputs and target lie on consecutive minutes (vectorised, no loop)."""
    if window < 1 or horizon < 1:
        raise ValueError(f"window and horizon must be at least 1, got {window} and {horizon}")
    span = window + horizon  # rows from the first input to the target, both included
    candidates = len(series) - span + 1
    if candidates <= 0:
        return Windows(series, window, horizon, np.zeros(0, dtype=np.int64), 0)
    minutes = series.minutes
    # Rows are sorted and unique, so the span is gap-free exactly when its ends are span-1 apart.
    elapsed = minutes[span - 1 :] - minutes[:candidates]
    contiguous = elapsed == (span - 1) * MINUTE_MS
    starts = np.flatnonzero(contiguous).astype(np.int64)
    return Windows(series, window, horizon, starts, int(candidates - len(starts)))


@dataclass(frozen=True)
class Scaling:
    """Per-window affine scaling: scaled = (price - lo) / scale."""

    lo: np.ndarray  # (n,)
    scale: np.ndarray  # (n,) = hi - lo > 0

    def apply(self, prices: np.ndarray) -> np.ndarray:
        """Scale (n, k) prices (or (n,)) with each row's own window scaling."""
        if prices.ndim == 1:
            return (prices - self.lo) / self.scale
        return (prices - self.lo[:, None]) / self.scale[:, None]

    def subset(self, rows: slice) -> Scaling:
        return Scaling(self.lo[rows], self.scale[rows])

    def invert(self, scaled: np.ndarray) -> np.ndarray:
        if scaled.ndim == 1:
            return scaled * self.scale + self.lo
        return scaled * self.scale[:, None] + self.lo[:, None]


def window_scaling(inputs: np.ndarray) -> Scaling:
    """The seed's min-max scaling with a 5% buffer, from the (n, window) INPUT prices only."""
    low = inputs.min(axis=1)
    high = inputs.max(axis=1)
    middle = (low + high) / 2
    # Centred on the window's middle, (0.5 + BUFFER) * range either side is exactly the seed's
    # [min - 5% range, max + 5% range]; a (nearly) flat window gets its minimum range instead.
    price_range = np.maximum(high - low, MIN_RELATIVE_RANGE * np.maximum(np.abs(middle), 1.0))
    lo = middle - (0.5 + BUFFER) * price_range
    hi = middle + (0.5 + BUFFER) * price_range
    return Scaling(lo=lo, scale=hi - lo)


def encode_features(
    inputs: np.ndarray,
    scaling: Scaling,
    features: tuple[str, ...],
    columns: Mapping[str, np.ndarray] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(n, window) prices -> (n, window, len(features)) float32 network inputs (into `out`).

    `columns` holds the (n, window) values of the other CSV columns the features need (close,
    high, low), over the same input minutes; each becomes its offset from the minute's avg_price
    divided by the window's scale (the scaling of the input prices: nothing from the target).
    """
    scaled = scaling.apply(inputs)
    if out is None:
        out = np.empty((*scaled.shape, len(features)), dtype=np.float32)
    for column, kind in enumerate(features):
        if kind == "level":
            out[:, :, column] = scaled
        elif kind == "change":
            # Minute-to-minute change in the window's units; the first minute has no previous one.
            out[:, 0, column] = 0.0
            np.subtract(scaled[:, 1:], scaled[:, :-1], out=out[:, 1:, column], casting="same_kind")
        elif kind in COLUMN_FEATURES:
            name = COLUMN_FEATURES[kind]
            if columns is None or name not in columns:
                raise ValueError(f"feature {kind!r} needs the {name!r} column of the minutes")
            values = np.asarray(columns[name], dtype=np.float64)
            if values.shape != inputs.shape:
                raise ValueError(f"{name!r} has shape {values.shape}, prices {inputs.shape}")
            offset = values - inputs
            offset /= scaling.scale[:, None]
            out[:, :, column] = offset
        else:
            raise ValueError(f"unknown feature {kind!r}; expected one of {FEATURE_KINDS}")
    return out


def encode_targets(
    targets: np.ndarray, last_prices: np.ndarray, scaling: Scaling, kind: str
) -> np.ndarray:
    """Target prices -> what the network learns, in each window's own units.

    "level": the seed's choice, the target scaled like the inputs (it may fall outside [0, 1]).
    "change": the move from the last input price, divided by the window's scale.
    """
    if kind == "level":
        return scaling.apply(targets)
    if kind == "change":
        return (targets - last_prices) / scaling.scale
    raise ValueError(f"unknown target kind {kind!r}; expected one of {TARGET_KINDS}")


def decode_targets(
    outputs: np.ndarray, last_prices: np.ndarray, scaling: Scaling, kind: str
) -> np.ndarray:
    """The inverse of `encode_targets`: network outputs -> prices."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1)
    if kind == "level":
        return scaling.invert(outputs)
    if kind == "change":
        return last_prices + outputs * scaling.scale
    raise ValueError(f"unknown target kind {kind!r}; expected one of {TARGET_KINDS}")


@dataclass(frozen=True)
class Encoded:
    """Windows turned into network inputs/targets, with what is needed to go back to prices."""

    windows: Windows
    x: np.ndarray  # (n, window, features) float32
    y: np.ndarray  # (n,) float32
    scaling: Scaling

    def __len__(self) -> int:
        return len(self.y)


# Windows encoded per block: a block's float64 temporaries and its slice of the output stay in
# the CPU cache. For 500,000 windows x 5 features, measured ~0.47 s with blocks of 512-1024
# against ~0.9 s in whole-array steps (4096: 0.74 s) (benchmarks/windows_speed.py).
ENCODE_BLOCK = 1024


def encode(
    windows: Windows, features: tuple[str, ...], target_kind: str, block: int = ENCODE_BLOCK
) -> Encoded:
    """All windows -> network inputs and targets, one block of windows at a time (the result is
    the same as encoding them at once: every window is scaled by its own inputs only)."""
    needed = required_columns(features)
    lacking = [name for name in needed if name not in windows.series.columns]
    if lacking:
        raise ValueError(
            f"features {features} need the {', '.join(map(repr, lacking))} column of the minutes"
        )
    n = len(windows)
    x = np.empty((n, windows.window, len(features)), dtype=np.float32)
    y = np.empty(n, dtype=np.float32)
    lo = np.empty(n)
    scale = np.empty(n)
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        part = windows.subset(rows)
        inputs = part.inputs
        scaling = window_scaling(inputs)
        columns = {name: part.column_inputs(name) for name in needed}
        encode_features(inputs, scaling, features, columns, out=x[rows])
        y[rows] = encode_targets(part.targets, inputs[:, -1], scaling, target_kind)
        lo[rows], scale[rows] = scaling.lo, scaling.scale
    return Encoded(windows=windows, x=x, y=y, scaling=Scaling(lo=lo, scale=scale))


@dataclass(frozen=True)
class Split:
    """Chronological split: train, then validation (early stopping), then test (evaluation)."""

    train: slice
    validation: slice
    test: slice

    @property
    def sizes(self) -> tuple[int, int, int]:
        return tuple(s.stop - s.start for s in (self.train, self.validation, self.test))  # type: ignore[return-value]


VALIDATION_FRACTION = 0.1


def chronological_split(
    count: int, test_fraction: float, validation_fraction: float = VALIDATION_FRACTION
) -> Split:
    """The last `test_fraction` of windows is the test set; validation is the last 10% of the rest.

    Windows are in time order, so every window used for fitting ends before any validation window,
    and every validation window before any test window.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    test = max(1, round(count * test_fraction)) if count else 0
    rest = count - test
    validation = max(1, round(rest * validation_fraction)) if rest else 0
    train = rest - validation
    return Split(
        train=slice(0, train),
        validation=slice(train, train + validation),
        test=slice(train + validation, count),
    )
