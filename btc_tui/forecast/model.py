"""Build, save and load the Keras LSTM and the JSON that describes it.

TensorFlow/Keras are imported only inside functions (`import_keras`), never at module import, so
the CLI and the UI start fast. The model is saved as `.keras` (no pickle) next to a JSON file with
everything needed to use it again: window, horizon, scaling scheme, target kind, layer sizes,
interval and its calibration... and next to an `.npz` of the bare weights, which the live
predictor runs in NumPy (`lstm_numpy`) so that an app which only predicts never loads TensorFlow.
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
from btc_tui.forecast.dataset import (
    BUFFER,
    FEATURE_KINDS,
    SCALING_SCHEME,
    TARGET_KINDS,
    VOL_LOOKBACK,
)

# /2: quantile heads (interval), the correction target, NumPy weights. /1 files had none of these.
METADATA_FORMAT = "btc-tui-lstm/2"
OLDER_FORMATS = ("btc-tui-lstm/1",)


def quantile_levels(interval: float) -> tuple[float, float, float]:
    """The network's three outputs: the band's lower end, the median (the point forecast: it
    minimises the mean absolute error we report), the band's upper end."""
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    return ((1.0 - interval) / 2.0, 0.5, (1.0 + interval) / 2.0)


@dataclass(frozen=True)
class ModelSpec:
    """The network and how its inputs/outputs relate to prices.

    The defaults keep the seed's network, LSTM(64) -> LSTM(32), with Adam, and change what it is
    asked (benchmarks/train_quality.py, 20 days of real minutes): three outputs, the lower end,
    median and upper end of the next average's interval, fitted with the pinball (quantile) loss,
    as a correction to the last traded price in units of recent volatility (`dataset.target_frame`),
    from scaled levels, minute-to-minute changes and each minute's close/high/low relative to its
    avg_price, with batch 256, learning rate 2e-3 and early stopping after 3 epochs without
    progress. Files without close/high/low (the seed's six columns) train on ("level", "change"),
    anchored on the last average (no close).
    """

    units: tuple[int, ...] = (64, 32)
    target_kind: str = "correction"
    features: tuple[str, ...] = ("level", "change", "close", "high", "low")
    learning_rate: float = 2e-3
    patience: int = 3  # epochs without a better validation loss before stopping
    # What counts as better: a validation loss lower by more than this (absolute, in the pinball
    # loss's volatility units).
    min_delta: float = 0.0
    jit_compile: bool = False  # measured slower for this LSTM on CPU

    def __post_init__(self) -> None:
        if self.target_kind not in TARGET_KINDS:
            raise ValueError(f"target_kind must be one of {TARGET_KINDS}, not {self.target_kind!r}")
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


def pinball_loss(levels: tuple[float, ...]) -> Any:
    """The quantile (pinball) loss of each output against its level, averaged over the outputs."""
    keras = import_keras()
    taus = np.asarray(levels, dtype=np.float32)

    def pinball(y_true: Any, y_pred: Any) -> Any:
        error = keras.ops.reshape(y_true, (-1, 1)) - y_pred
        return keras.ops.mean(keras.ops.maximum(taus * error, (taus - 1.0) * error), axis=-1)

    return pinball


def build_model(spec: ModelSpec, window: int, interval: float = 0.8) -> Any:
    keras = import_keras()
    layers = [keras.Input(shape=(window, len(spec.features)))]
    for i, units in enumerate(spec.units):
        # Every LSTM but the last passes its whole sequence on to the next one.
        layers.append(keras.layers.LSTM(units, return_sequences=i < len(spec.units) - 1))
    levels = quantile_levels(interval)
    layers.append(keras.layers.Dense(len(levels)))
    model = keras.Sequential(layers, name="btc_lstm")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=spec.learning_rate),
        loss=pinball_loss(levels),
        jit_compile=spec.jit_compile,
    )
    return model


def export_weights(model: Any) -> dict[str, np.ndarray]:
    """The bare weights `lstm_numpy.forward` needs: per LSTM layer kernel, recurrent kernel and
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
    horizon: int
    target_kind: str
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
    windows: dict[str, int]  # train, validation, test, dropped
    metrics: dict[str, float | None]
    versions: dict[str, str]
    created: str  # ISO 8601, UTC
    buffer: float = BUFFER
    scaling: str = SCALING_SCHEME
    format: str = METADATA_FORMAT
    model_sha256: str = ""  # of the .keras file, so a half-replaced pair is detected
    training: dict[str, Any] = field(default_factory=dict)  # loss, optimizer, best epoch...
    # The interval: nominal coverage, the outputs' quantile levels, and the conformal margin
    # (in output units) added on both sides, fitted on the validation windows.
    interval: float = 0.8
    quantiles: list[float] = field(default_factory=list)
    calibration: float = 0.0
    # The share of the network's median correction the point forecast keeps (0..1, validation).
    point_weight: float = 1.0
    anchor: str = "close"  # what output 0 stands for: "close" (last price) or "avg_price"
    vol_lookback: int = VOL_LOOKBACK
    weights_file: str = ""  # the .npz beside the model (name only)
    weights_sha256: str = ""
    # Test figures of the two reference bands (static, rolling volatility): name -> stats.
    bands: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(
            units=tuple(self.units), target_kind=self.target_kind, features=tuple(self.features)
        )


_REQUIRED = {
    "window": int,
    "horizon": int,
    "target_kind": str,
    "features": list,
    "units": list,
    "buffer": float,
    "format": str,
    "interval": float,
    "quantiles": list,
    "calibration": float,
    "point_weight": float,
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
            f"{path} was saved by an older btc-tui (format {raw['format']!r}: no interval head, "
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
        metadata.spec  # noqa: B018 -- validates target kind, features and units
    except (TypeError, ValueError) as exc:
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
    if not 0 <= metadata.point_weight <= 1:
        raise UsageError(
            f"{path}: point_weight {metadata.point_weight} is not in [0, 1]; {retrain}"
        )
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
    expected |= {"dense_kernel": (inputs, 3), "dense_bias": (3,)}
    shapes = {name: tuple(value.shape) for name, value in arrays.items()}
    if shapes != expected:
        raise UsageError(
            f"{path} holds weights of shapes {shapes}, but {metadata_path} describes {expected}; "
            f"{retrain}"
        )
    return arrays


def load_model(model_path: Path) -> Any:
    keras = import_keras()
    try:
        return keras.models.load_model(model_path, compile=False, safe_mode=True)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load {model_path}: {exc}") from None
