"""The peers' methods, as the benchmarks' baselines.

- Training: one Keras ``model.fit`` per run with a per-epoch callback that
  calls ``predict`` on every layer (the way deep_bottleneck's LoggingReporter
  and ibsgd record activations).
- Binning: ibsgd's ``get_unique_probs`` (``np.unique`` over a void view of the
  binned rows, with ``return_inverse`` and a Python ``sum``), as in Saxe et
  al.'s code, and a lean variant of the same idea.
"""
from __future__ import annotations

import time

import numpy as np


def keras_run_seconds(X: np.ndarray, Y: np.ndarray, n_train: int, epochs: int, architecture: list[int],
                      batch_size: int = 256, learning_rate: float = 4e-4, keep: bool = True) -> float:
    """Seconds to train one run for ``epochs`` epochs, recording all layers every
    epoch (kept in a list with ``keep``, dropped otherwise)."""
    import keras

    inputs = keras.Input((X.shape[1],))
    h, outputs = inputs, []
    for width in architecture:
        h = keras.layers.Dense(width, activation="tanh")(h)
        outputs.append(h)
    out = keras.layers.Dense(Y.shape[1], activation="softmax")(h)
    outputs.append(out)
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.Adam(learning_rate), "categorical_crossentropy", metrics=["accuracy"])
    recorder = keras.Model(inputs, outputs)
    stored = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            layers = recorder.predict(X, batch_size=len(X), verbose=0)
            if keep:
                stored.append(layers)

    start = time.perf_counter()
    model.fit(X[:n_train], Y[:n_train], batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[Record()])
    return time.perf_counter() - start


def get_unique_probs(x: np.ndarray):
    """ibsgd's (Saxe et al.) pattern counting, verbatim in substance."""
    uniqueids = np.ascontiguousarray(x).view(np.dtype((np.void, x.dtype.itemsize * x.shape[1])))
    _, unique_inverse, unique_counts = np.unique(uniqueids, return_index=False, return_inverse=True,
                                                 return_counts=True)
    return np.asarray(unique_counts / float(sum(unique_counts))), unique_inverse


def peer_binned_entropy(layer: np.ndarray, bin_size: float) -> float:
    """ibsgd's ``get_h``: entropy (nats) of the binned layer."""
    digitized = np.floor(layer / bin_size).astype("int")
    p_ts, _ = get_unique_probs(digitized)
    return -np.sum(p_ts * np.log(p_ts))


def lean_binned_entropy(layer: np.ndarray, bin_size: float) -> float:
    """The same method without ibsgd's overheads (no inverse, vectorised sum)."""
    digitized = np.floor(layer / bin_size).astype(np.int64)
    view = np.ascontiguousarray(digitized).view(np.dtype((np.void, 8 * digitized.shape[1])))
    _, counts = np.unique(view, return_counts=True)
    p = counts / counts.sum()
    return -np.sum(p * np.log2(p))


def peer_binned_information(layer: np.ndarray, labels: np.ndarray, bin_size: float) -> tuple[float, float]:
    """ibsgd's ``bin_calc_information2``: H(T) and I(T;Y) (nats)."""
    h_layer = peer_binned_entropy(layer, bin_size)
    h_given = 0.0
    for label in np.unique(labels):
        ixs = labels == label
        h_given += ixs.mean() * peer_binned_entropy(layer[ixs, :], bin_size)
    return h_layer, h_layer - h_given
