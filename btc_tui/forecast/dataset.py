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

from btc_tui.market.store import MINUTE_MS  # the CSV's minute, from the CSV's reader

# The seed's scaling: widen each window's [min, max] by 5% of its range on both sides.
BUFFER = 0.05
# A flat window (max == min) would divide by zero; give every window a range of at least this
# share of its price (0.06 USDT at 60,000) so it scales deterministically instead of being dropped.
MIN_RELATIVE_RANGE = 1e-6
SCALING_SCHEME = "per-window min-max of the input minutes only, 5% buffer, min range 1e-6 of price"

# What the network predicts (see `target_frame`): "correction" is the default: the next average
# minus the last traded price (the strongest naive rule, so a network that learns nothing ties it
# instead of losing to it), in units of the recent volatility (so the same output means a wider
# move in a wilder market, and the interval heads scale with it). "level" and "change" are the
# older choices, in the window's min-max units.
TARGET_KINDS = ("correction", "level", "change")
# Recent volatility: the mean absolute minute-to-minute change of avg_price over the window's
# last VOL_LOOKBACK minutes, floored at MIN_VOL_RELATIVE of the price (a flat window would
# otherwise divide by zero; 1e-5 is 0.6 USDT at 60,000, far below any real minute's moves).
VOL_LOOKBACK = 30
MIN_VOL_RELATIVE = 1e-5
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


def recent_volatility(inputs: np.ndarray, lookback: int = VOL_LOOKBACK) -> np.ndarray:
    """(n, window) prices -> (n,) mean absolute change over the last `lookback` minutes (floored;
    a one-minute window has no change and gets the floor)."""
    inputs = np.asarray(inputs, dtype=np.float64)
    tail = inputs[:, -(lookback + 1) :]
    floor = MIN_VOL_RELATIVE * np.abs(inputs[:, -1])
    if tail.shape[1] < 2:
        return floor
    return np.maximum(np.mean(np.abs(np.diff(tail, axis=1)), axis=1), floor)


def target_frame(
    kind: str, inputs: np.ndarray, scaling: Scaling, last_close: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each window's (anchor, unit): the network's output y stands for the price anchor + y * unit.

    "correction": anchor = the last close (the last-price baseline), or the last average when the
    minutes have no close (then the zero point is persistence); unit = recent volatility.
    "level": anchor = the window's scaling low, unit = its scale (the seed's choice).
    "change": anchor = the last average, unit = the window's scale.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if kind == "correction":
        anchor = inputs[:, -1] if last_close is None else np.asarray(last_close, np.float64)
        return anchor, recent_volatility(inputs)
    if kind == "level":
        return scaling.lo, scaling.scale
    if kind == "change":
        return inputs[:, -1], scaling.scale
    raise ValueError(f"unknown target kind {kind!r}; expected one of {TARGET_KINDS}")


def encode_targets(
    targets: np.ndarray, last_prices: np.ndarray, scaling: Scaling, kind: str
) -> np.ndarray:
    """Target prices -> what the network learns, in each window's own units, for the two
    min-max kinds (the same as `target_frame`; "correction" needs the whole window: use that).

    "level": the seed's choice, the target scaled like the inputs (it may fall outside [0, 1]).
    "change": the move from the last input price, divided by the window's scale.
    """
    if kind == "level":
        return scaling.apply(targets)
    if kind == "change":
        return (targets - last_prices) / scaling.scale
    raise ValueError(f"encode_targets handles 'level' and 'change', not {kind!r}; see target_frame")


def decode_targets(
    outputs: np.ndarray, last_prices: np.ndarray, scaling: Scaling, kind: str
) -> np.ndarray:
    """The inverse of `encode_targets`: network outputs -> prices."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1)
    if kind == "level":
        return scaling.invert(outputs)
    if kind == "change":
        return last_prices + outputs * scaling.scale
    raise ValueError(
        f"decode_targets handles 'level' and 'change', not {kind!r}; see Encoded.decode"
    )


@dataclass(frozen=True)
class Encoded:
    """Windows turned into network inputs/targets, with what is needed to go back to prices."""

    windows: Windows
    x: np.ndarray  # (n, window, features) float32
    y: np.ndarray  # (n,) float32: (target - anchor) / unit
    scaling: Scaling
    anchor: np.ndarray  # (n,) price the output 0 stands for (see `target_frame`)
    unit: np.ndarray  # (n,) price change one output unit stands for

    def decode(self, outputs: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """Network outputs for `rows` -> prices; (n,) or (n, k) outputs (k quantiles)."""
        outputs = np.asarray(outputs, dtype=np.float64)
        anchor, unit = self.anchor[rows], self.unit[rows]
        if outputs.ndim == 2:
            return anchor[:, None] + outputs * unit[:, None]
        return anchor + outputs * unit

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
    anchor = np.empty(n)
    unit = np.empty(n)
    # The correction target is anchored on the last close when the minutes have one.
    close = "close" if target_kind == "correction" and "close" in windows.series.columns else None
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        part = windows.subset(rows)
        inputs = part.inputs
        scaling = window_scaling(inputs)
        columns = {name: part.column_inputs(name) for name in needed}
        encode_features(inputs, scaling, features, columns, out=x[rows])
        last_close = part.column_inputs(close)[:, -1] if close else None
        anchor[rows], unit[rows] = target_frame(target_kind, inputs, scaling, last_close)
        y[rows] = (part.targets - anchor[rows]) / unit[rows]
        lo[rows], scale[rows] = scaling.lo, scaling.scale
    return Encoded(
        windows=windows,
        x=x,
        y=y,
        scaling=Scaling(lo=lo, scale=scale),
        anchor=anchor,
        unit=unit,
    )


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
