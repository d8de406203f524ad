"""Convolutional benchmark: the conv ensemble against one Keras fit per run.

The LeNet-like net of configs/mnist_cnn.toml (conv 6@5x5, max pool 2, conv
16@5x5, max pool 2, flatten, 120, 84, tanh, Adam, batch 128) on the 10 000
MNIST test images (8 000 training), every layer recorded on the 2 000 test
images at every epoch as one mean per channel for the conv and pooling layers
(``conv_recording = "channel_mean"``; Keras records the same, a global average
pooling of those layers inside its recording model). Both sides are timed per
additional epoch (:func:`benchmarks.timing.marginal`), so tracing and XLA
compilation count on neither side; estimation is excluded on both.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import marginal

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mnist_cnn.toml"


class DropSink:
    """Receives every recorded epoch and keeps nothing."""

    def write(self, slot, outputs, valid) -> None:
        self.last = outputs

    def close(self) -> None:
        """Nothing to release."""


def _config(n_runs: int, epochs: int):
    from ibsim import Config

    return Config.from_toml(CONFIG, [f"n_runs={n_runs}", f"group_size={n_runs}", f"epochs={epochs}"])


def ibsim_seconds(n_runs: int, epochs: int, data_dir: str | None) -> float:
    """Seconds of ``epochs`` epochs of one group of ``n_runs`` runs (recording
    every epoch), after the first epoch (which compiles)."""
    from ibsim.pipeline.data import experiment_data
    from ibsim.pipeline.parts import PartStore
    from ibsim.pipeline.plan import make_plan
    from ibsim.pipeline.training import GroupTraining
    from ibsim.threads import worker_threads

    config = _config(n_runs, epochs + 1)
    plan = dataclasses.replace(make_plan(config), inline_estimators=(), needs_parts=False)
    with tempfile.TemporaryDirectory() as folder:
        training = GroupTraining(config, plan, plan.groups[0], experiment_data(config, data_dir), PartStore(folder),
                                 worker_threads(), [DropSink()])
        training.run_epochs(1)  # compile
        start = time.perf_counter()
        training.run_epochs(epochs)
        return time.perf_counter() - start


def keras_run_seconds(X: np.ndarray, Y: np.ndarray, n_train: int, epochs: int) -> float:
    """Seconds to train one Keras LeNet for ``epochs`` epochs with a per-epoch
    callback recording every layer on the held-out images (channel means of
    the conv and pooling layers, as ibsim records them here)."""
    import keras

    inputs = keras.Input((784,))
    h = keras.layers.Reshape((28, 28, 1))(inputs)
    recorded = []
    for filters in (6, 16):
        h = keras.layers.Conv2D(filters, 5, activation="tanh")(h)
        recorded.append(keras.layers.GlobalAveragePooling2D()(h))
        h = keras.layers.MaxPooling2D(2)(h)
        recorded.append(keras.layers.GlobalAveragePooling2D()(h))
    h = keras.layers.Flatten()(h)
    for width in (120, 84):
        h = keras.layers.Dense(width, activation="tanh")(h)
        recorded.append(h)
    out = keras.layers.Dense(Y.shape[1], activation="softmax")(h)
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.Adam(0.001), "categorical_crossentropy", metrics=["accuracy"])
    recorder = keras.Model(inputs, recorded + [out])
    held_out = X[n_train:]

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            recorder.predict(held_out, batch_size=len(held_out), verbose=0)

    start = time.perf_counter()
    model.fit(X[:n_train], Y[:n_train], batch_size=128, epochs=epochs, verbose=0, callbacks=[Record()],
              validation_data=(held_out, Y[n_train:]))
    return time.perf_counter() - start


def rows(n_runs: int = 2, data_dir: str | None = None, short: int = 1, long: int = 3) -> list[tuple]:
    """Rows of (what, runs, seconds per run-epoch, speed-up over Keras): Keras
    timed by the difference of a ``long`` and a ``short`` fit, ibsim by
    ``long - short`` epochs after a first (compiling) one."""
    from ibsim.pipeline.data import experiment_data

    config = _config(n_runs, 2)
    data = experiment_data(config, data_dir)
    splits = data.splits
    X = np.concatenate([splits.training.X, splits.test.X])
    Y = np.concatenate([splits.training.Y, splits.test.Y])
    keras_s = marginal(lambda e: keras_run_seconds(X, Y, len(splits.training), e), short, long)
    ours = ibsim_seconds(n_runs, long - short, data_dir) / (long - short) / n_runs
    return [
        ("Keras, one model.fit per run", 1, f"{keras_s:.2f}", "1.0x"),
        ("ibsim conv ensemble", n_runs, f"{ours:.2f}", f"{keras_s / ours:.1f}x"),
    ]
