"""The saved LSTM's forward pass in NumPy, so live prediction needs no TensorFlow in memory.

Keras's LSTM (tanh activation, sigmoid recurrent activation, gates in the order input, forget,
cell, output) computed in float64 from the weights `model.export_weights` saved. It equals Keras
run in float64 on the same weights to 1e-6 relative, and the saved float32 model to float32
precision (tests/forecast/test_training.py::test_numpy_forward_pass_equals_keras).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-z)) written with tanh: no overflow warning for large |z|, same value.
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


class NumpyLSTM:
    """Stacked LSTMs then a dense layer, from the arrays of an exported model."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        i = 0
        while f"lstm{i}_kernel" in weights:
            self.layers.append(
                tuple(
                    np.asarray(weights[f"lstm{i}_{name}"], dtype=np.float64)
                    for name in ("kernel", "recurrent", "bias")
                )  # type: ignore[arg-type]
            )
            i += 1
        if not self.layers:
            raise ValueError("the weights hold no LSTM layer")
        self.dense_kernel = np.asarray(weights["dense_kernel"], dtype=np.float64)
        self.dense_bias = np.asarray(weights["dense_bias"], dtype=np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n, window, features) inputs -> (n, outputs)."""
        sequence = np.asarray(x, dtype=np.float64)
        for kernel, recurrent, bias in self.layers:
            sequence = self._layer(sequence, kernel, recurrent, bias)
        return sequence[:, -1, :] @ self.dense_kernel + self.dense_bias

    @staticmethod
    def _layer(
        sequence: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
    ) -> np.ndarray:
        n, steps, _ = sequence.shape
        units = recurrent.shape[0]
        # The input side of every step at once; only the recurrent side must loop.
        projected = sequence @ kernel + bias  # (n, steps, 4 units)
        h = np.zeros((n, units))
        c = np.zeros((n, units))
        out = np.empty((n, steps, units))
        for t in range(steps):
            z = projected[:, t, :] + h @ recurrent
            gates = _sigmoid(z)
            i, f, o = gates[:, :units], gates[:, units : 2 * units], gates[:, 3 * units :]
            c = f * c + i * np.tanh(z[:, 2 * units : 3 * units])
            h = o * np.tanh(c)
            out[:, t, :] = h
        return out
