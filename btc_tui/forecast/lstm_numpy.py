"""The saved LSTM's forward pass in NumPy, so live prediction needs no TensorFlow in memory.

Keras's LSTM (tanh activation, sigmoid recurrent activation, gates in the order input, forget,
cell, output) computed in float64 from the weights `model.export_weights` saved. It equals Keras
run in float64 on the same weights to 1e-6 relative, and the saved float32 model to float32
precision (tests/forecast/test_training.py::test_numpy_forward_pass_equals_keras).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class NumpyLSTM:
    """Stacked LSTMs then a dense layer, from the arrays of an exported model.

    sigmoid(z) = (tanh(z / 2) + 1) / 2, so the input, forget and output gates' weights are halved
    once here and every step takes a single tanh over all four gates (the cell gate's weights
    are kept as they are): fewer NumPy calls per step, the same values."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        i = 0
        while f"lstm{i}_kernel" in weights:
            kernel, recurrent, bias = (
                np.asarray(weights[f"lstm{i}_{name}"], dtype=np.float64)
                for name in ("kernel", "recurrent", "bias")
            )
            units = recurrent.shape[0]
            scale = np.full(4 * units, 0.5)
            scale[2 * units : 3 * units] = 1.0  # the cell gate: tanh itself
            self.layers.append((kernel * scale, recurrent * scale, bias * scale))
            i += 1
        if not self.layers:
            raise ValueError("the weights hold no LSTM layer")
        self.dense_kernel = np.asarray(weights["dense_kernel"], dtype=np.float64)
        self.dense_bias = np.asarray(weights["dense_bias"], dtype=np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n, window, features) inputs -> (n, outputs)."""
        sequence = np.asarray(x, dtype=np.float64)
        last = len(self.layers) - 1
        for index, (kernel, recurrent, bias) in enumerate(self.layers):
            sequence = self._layer(sequence, kernel, recurrent, bias, whole=index < last)
        return sequence[:, -1, :] @ self.dense_kernel + self.dense_bias

    @staticmethod
    def _layer(
        sequence: np.ndarray,
        kernel: np.ndarray,
        recurrent: np.ndarray,
        bias: np.ndarray,
        whole: bool,
    ) -> np.ndarray:
        """One LSTM over the sequence; every step's output when `whole`, else the last one."""
        n, steps, _ = sequence.shape
        units = recurrent.shape[0]
        # The input side of every step at once; only the recurrent side must loop.
        projected = sequence @ kernel + bias  # (n, steps, 4 units)
        h = np.zeros((n, units))
        c = np.zeros((n, units))
        out = np.empty((n, steps if whole else 1, units))
        for t in range(steps):
            z = np.tanh(projected[:, t, :] + h @ recurrent)
            gates = 0.5 * z + 0.5  # sigmoid of the (halved) i, f, o pre-activations
            c = gates[:, units : 2 * units] * c + gates[:, :units] * z[:, 2 * units : 3 * units]
            h = gates[:, 3 * units :] * np.tanh(c)
            if whole:
                out[:, t, :] = h
        if not whole:
            out[:, 0, :] = h
        return out
