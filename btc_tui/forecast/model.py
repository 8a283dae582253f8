"""Build, save and load the Keras LSTM and the JSON that describes it.

TensorFlow/Keras are imported only inside functions (`import_keras`), never at module import, so
the CLI and the UI start fast. The model is saved as `.keras` (no pickle) next to a JSON file with
everything needed to use it again: window, horizons, scaling scheme, inputs, layer sizes,
interval and its calibration per horizon, the epoch losses and the test chart's points... and next
to an `.npz` of the bare weights, which the live predictor runs in NumPy (`lstm_numpy.NumpyLSTM`)
so that an app which only predicts never loads TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from btc_tui.errors import UsageError
from btc_tui.forecast.bands import Calibration
from btc_tui.forecast.dataset import (
    BUFFER,
    FEATURE_KINDS,
    SCALING_SCHEME,
    VOL_LOOKBACK,
    VOL_SCALES,
)

# /3: several horizons, volatility/activity/time inputs, four parts, saved losses and chart.
# /2: quantile heads (interval), the correction target, NumPy weights. /1 had none of these.
METADATA_FORMAT = "btc-tui-lstm/3"
OLDER_FORMATS = ("btc-tui-lstm/1", "btc-tui-lstm/2")


def quantile_levels(interval: float) -> tuple[float, float, float]:
    """The network's three outputs: the band's lower end, the median (the point forecast: it
    minimises the mean absolute error we report), the band's upper end."""
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    return ((1.0 - interval) / 2.0, 0.5, (1.0 + interval) / 2.0)


@dataclass(frozen=True)
class ModelSpec:
    """The network and what it is given.

    The seed's LSTM(64) -> LSTM(32) with Adam, asked for three outputs per horizon (the lower end,
    median and upper end of the interval), fitted with the pinball (quantile) loss, as corrections
    to the last traded price in units of recent volatility × sqrt(horizon)
    (`dataset.WindowSource`), from every input `dataset.FEATURE_KINDS` names, with batch 256,
    learning rate 2e-3 and early stopping after 3 epochs without progress. Minutes lacking a
    column (the seed's six columns; klines without trade counts) train without its features.
    """

    units: tuple[int, ...] = (64, 32)
    features: tuple[str, ...] = FEATURE_KINDS
    learning_rate: float = 2e-3
    patience: int = 3  # epochs without a better early-stopping loss before stopping
    # What counts as better: a loss lower by more than this (absolute, pinball in output units).
    min_delta: float = 0.0
    jit_compile: bool = False  # measured slower for this LSTM on CPU

    def __post_init__(self) -> None:
        if not self.features or any(f not in FEATURE_KINDS for f in self.features):
            raise ValueError(f"features must be taken from {FEATURE_KINDS}, not {self.features!r}")
        if not self.units or any(u < 1 for u in self.units):
            raise ValueError(f"units must be positive, not {self.units!r}")


@contextlib.contextmanager
def _stderr_fd_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: TensorFlow's C++ side writes its import-time notices
    (CUDA stubs, oneDNN) straight to fd 2, before TF_CPP_MIN_LOG_LEVEL can take effect."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (some embedded hosts): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras() -> Any:
    """Import keras with TensorFlow's C++ and Python log noise kept out of the user's terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" not in sys.modules:
        with _stderr_fd_silenced():
            import tensorflow  # noqa: F401
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return keras


def pinball_loss(levels: tuple[float, ...], horizons: int) -> Any:
    """The quantile (pinball) loss of each output against its level, averaged over the outputs:
    targets (n, horizons), outputs (n, horizons * 3) in the order lower, median, upper per horizon.
    """
    keras = import_keras()
    taus = np.asarray(levels, dtype=np.float32)

    def pinball(y_true: Any, y_pred: Any) -> Any:
        predicted = keras.ops.reshape(y_pred, (-1, horizons, len(levels)))
        error = keras.ops.reshape(y_true, (-1, horizons, 1)) - predicted
        loss = keras.ops.maximum(taus * error, (taus - 1.0) * error)
        return keras.ops.mean(keras.ops.reshape(loss, (-1, horizons * len(levels))), axis=-1)

    return pinball


def build_model(spec: ModelSpec, window: int, horizons: int, interval: float = 0.8) -> Any:
    keras = import_keras()
    layers = [keras.Input(shape=(window, len(spec.features)))]
    for i, units in enumerate(spec.units):
        # Every LSTM but the last passes its whole sequence on to the next one.
        layers.append(keras.layers.LSTM(units, return_sequences=i < len(spec.units) - 1))
    levels = quantile_levels(interval)
    layers.append(keras.layers.Dense(horizons * len(levels)))
    model = keras.Sequential(layers, name="btc_lstm")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=spec.learning_rate),
        loss=pinball_loss(levels, horizons),
        jit_compile=spec.jit_compile,
    )
    return model


def export_weights(model: Any) -> dict[str, np.ndarray]:
    """The bare weights `lstm_numpy.NumpyLSTM` needs: per LSTM layer kernel, recurrent kernel and
    bias (Keras's gate order i, f, c, o), then the dense layer's kernel and bias."""
    keras = import_keras()
    arrays: dict[str, np.ndarray] = {}
    lstm = 0
    for layer in model.layers:
        weights = [np.asarray(w) for w in layer.get_weights()]
        if isinstance(layer, keras.layers.LSTM):
            if layer.activation.__name__ != "tanh" or (
                layer.recurrent_activation.__name__ != "sigmoid"
            ):
                raise ValueError(f"{layer.name}: only tanh/sigmoid LSTMs can be exported")
            for name, value in zip(("kernel", "recurrent", "bias"), weights, strict=True):
                arrays[f"lstm{lstm}_{name}"] = value
            lstm += 1
        elif isinstance(layer, keras.layers.Dense):
            arrays["dense_kernel"], arrays["dense_bias"] = weights
        else:
            raise ValueError(f"cannot export layer {layer.name} ({type(layer).__name__})")
    return arrays


def library_versions() -> dict[str, str]:
    import platform

    import numpy

    keras = import_keras()
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


@dataclass(frozen=True)
class ModelMetadata:
    """What `models/btc_lstm.json` holds. Saved with the model, checked when loading it."""

    window: int
    horizons: list[int]
    features: list[str]
    units: list[int]
    epochs_requested: int
    epochs_run: int
    batch_size: int
    seed: int | None
    data_file: str
    data_first_minute: str  # ISO 8601, UTC
    data_last_minute: str
    rows: int
    windows: dict[str, int]  # fit, stopping, calibration, test, dropped
    metrics: dict[str, float | None]
    versions: dict[str, str]
    created: str  # ISO 8601, UTC
    buffer: float = BUFFER
    scaling: str = SCALING_SCHEME
    format: str = METADATA_FORMAT
    model_sha256: str = ""  # of the .keras file, so a half-replaced pair is detected
    training: dict[str, Any] = field(default_factory=dict)  # loss, optimizer, best epoch...
    # The interval's nominal coverage and the outputs' quantile levels.
    interval: float = 0.8
    quantiles: list[float] = field(default_factory=list)
    # Per horizon ("1", "5"...): bands.Calibration.to_dict(), fitted on the calibration windows.
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    anchor: str = "close"  # what output 0 stands for: "close" (last price) or "avg_price"
    vol_lookback: int = VOL_LOOKBACK  # minutes of the output unit's volatility
    vol_scales: list[int] = field(default_factory=lambda: list(VOL_SCALES))
    weights_file: str = ""  # the .npz beside the model (name only)
    weights_sha256: str = ""
    # Per horizon: the test metrics (Metrics.to_dict) and the two reference bands' figures.
    horizon_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    bands: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The epoch losses ({"loss": [...], "val_loss": [...]}) and the test chart's points per
    # horizon ({"1": {"minutes", "actual", "predicted", "lo", "hi"}}), so a loaded model draws both.
    history: dict[str, list[float]] = field(default_factory=dict)
    test_chart: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(units=tuple(self.units), features=tuple(self.features))

    def calibration_for(self, horizon: int) -> Calibration:
        return Calibration(**self.calibration[str(horizon)])


_REQUIRED = {
    "window": int,
    "horizons": list,
    "features": list,
    "units": list,
    "buffer": float,
    "format": str,
    "interval": float,
    "quantiles": list,
    "calibration": dict,
    "anchor": str,
    "vol_lookback": int,
    "weights_file": str,
    "weights_sha256": str,
}


def parse_metadata(text: str, path: Path) -> ModelMetadata:
    """Validate the JSON; every problem is a UsageError that says what to do."""
    retrain = "train again with `btc-tui train`"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}); {retrain}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path} does not hold a JSON object; {retrain}")
    if raw.get("format") in OLDER_FORMATS:
        raise UsageError(
            f"{path} was saved by an older btc-tui (format {raw['format']!r}: one horizon, "
            f"other inputs and outputs); it cannot be used: {retrain}"
        )
    if raw.get("format") != METADATA_FORMAT:
        raise UsageError(
            f"{path} has format {raw.get('format')!r}, expected {METADATA_FORMAT!r}; {retrain}"
        )
    for name, kind in _REQUIRED.items():
        value = raw.get(name)
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise UsageError(
                f"{path}: field {name!r} is missing or not a {kind.__name__}; {retrain}"
            )
    known = {f for f in ModelMetadata.__dataclass_fields__}
    try:
        metadata = ModelMetadata(**{k: v for k, v in raw.items() if k in known})
        metadata.spec  # noqa: B018 -- validates features and units
        horizons = [int(h) for h in metadata.horizons]
        if not horizons or horizons != sorted(set(horizons)) or horizons[0] < 1:
            raise ValueError(f"horizons {metadata.horizons} are not increasing whole minutes")
        for h in horizons:
            calibration = metadata.calibration_for(h)
            if not 0 <= calibration.point_weight <= 1:
                raise ValueError(f"point_weight {calibration.point_weight} is not in [0, 1]")
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(f"{path} does not describe a usable model ({exc}); {retrain}") from None
    if metadata.buffer != BUFFER:
        raise UsageError(f"{path}: scaling buffer {metadata.buffer} is not {BUFFER}; {retrain}")
    try:
        levels = quantile_levels(metadata.interval)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}; {retrain}") from None
    if len(metadata.quantiles) != 3 or any(
        abs(a - b) > 1e-12 for a, b in zip(metadata.quantiles, levels, strict=False)
    ):
        raise UsageError(f"{path}: quantiles {metadata.quantiles} do not match {levels}; {retrain}")
    if metadata.anchor not in ("close", "avg_price") or metadata.vol_lookback < 1:
        raise UsageError(f"{path}: anchor {metadata.anchor!r} is not understood; {retrain}")
    if not metadata.weights_file or Path(metadata.weights_file).name != metadata.weights_file:
        raise UsageError(f"{path}: field 'weights_file' must name a file beside it; {retrain}")
    return metadata


def _atomic_target(path: Path, suffix: str) -> Path:
    """A fresh temp path in the same folder, so os.replace is an atomic rename."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    return Path(name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_path_for(model_path: Path) -> Path:
    """The NumPy weights live beside the .keras file: models/btc_lstm.npz."""
    return model_path.with_suffix(".npz")


def save_model(model: Any, metadata: ModelMetadata, model_path: Path, metadata_path: Path) -> None:
    """Write the .keras, the .npz weights and the JSON to temp files, then rename them into place
    (the JSON last).

    A failure before the renames leaves an existing model untouched; the checksums in the JSON
    catch the unlikely crash between the renames.
    """
    model_path.parent.mkdir(parents=True, exist_ok=True)
    metadata_path.parent.mkdir(parents=True, exist_ok=True)
    weights_path = weights_path_for(model_path)
    model_tmp = _atomic_target(model_path, ".keras")  # keras insists on the .keras suffix
    weights_tmp = _atomic_target(weights_path, ".npz")
    json_tmp = _atomic_target(metadata_path, ".json")
    try:
        model.save(model_tmp)
        buffer = io.BytesIO()
        np.savez(buffer, **export_weights(model))
        _write_synced(weights_tmp, buffer.getvalue())
        with_sum = ModelMetadata(
            **{
                **asdict(metadata),
                "model_sha256": _sha256(model_tmp),
                "weights_file": weights_path.name,
                "weights_sha256": _sha256(weights_tmp),
            }
        )
        _write_synced(json_tmp, with_sum.to_json().encode("utf-8"))
        os.replace(model_tmp, model_path)
        os.replace(weights_tmp, weights_path)
        os.replace(json_tmp, metadata_path)
    finally:
        for tmp in (model_tmp, weights_tmp, json_tmp):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_metadata(metadata_path: Path, model_path: Path) -> ModelMetadata:
    """Check both files exist and belong together, without importing TensorFlow."""
    retrain = "train one with `btc-tui train`"
    if not metadata_path.exists():
        raise UsageError(f"no saved model description at {metadata_path}; {retrain}")
    if not model_path.exists():
        raise UsageError(f"no saved model at {model_path}; {retrain}")
    try:
        text = metadata_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {metadata_path}: {exc}") from None
    metadata = parse_metadata(text, metadata_path)
    if metadata.model_sha256 and metadata.model_sha256 != _sha256(model_path):
        raise UsageError(
            f"{model_path} does not match {metadata_path} (checksum differs); {retrain}"
        )
    return metadata


def read_weights(
    metadata: ModelMetadata, model_path: Path, metadata_path: Path
) -> dict[str, np.ndarray]:
    """The .npz the JSON names (beside the .keras file), checked against its checksum and the layer sizes it describes.
    Plain arrays only (allow_pickle=False): nothing in the file can run code."""
    retrain = "train again with `btc-tui train`"
    path = model_path.parent / metadata.weights_file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read the model weights {path}: {exc.strerror}; {retrain}"
        ) from None
    if hashlib.sha256(data).hexdigest() != metadata.weights_sha256:
        raise UsageError(f"{path} does not match {metadata_path} (checksum differs); {retrain}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the model weights {path}: {exc}; {retrain}") from None
    inputs = len(metadata.features)
    expected = {}
    for i, units in enumerate(metadata.units):
        expected |= {
            f"lstm{i}_kernel": (inputs, 4 * units),
            f"lstm{i}_recurrent": (units, 4 * units),
            f"lstm{i}_bias": (4 * units,),
        }
        inputs = units
    outputs = 3 * len(metadata.horizons)
    expected |= {"dense_kernel": (inputs, outputs), "dense_bias": (outputs,)}
    shapes = {name: tuple(value.shape) for name, value in arrays.items()}
    if shapes != expected:
        raise UsageError(
            f"{path} holds weights of shapes {shapes}, but {metadata_path} describes {expected}; "
            f"{retrain}"
        )
    return arrays
