"""Whole jobs, end to end: ibsim against the peers' way (issue 14).

The same work on both sides: the Tishby net (12-10-7-5-4-3-2, tanh, Adam
4e-4, batch 256) on the harmonics data (80 % training), ``runs`` runs of
``epochs`` epochs, the seed's recording schedule, every layer's activations on
all 4096 samples kept, and binning at bin size 0.07 of every kept (run, epoch,
layer), I(X;T) and I(T;Y).

- ibsim: ``Experiment.run`` from the config to the finished results file
  (serial backend, no plots), every start-up cost included.
- Peers: per run, one Keras ``model.fit`` with a callback that predicts every
  layer at the scheduled epochs and keeps them (deep_bottleneck's
  LoggingReporter, ibsgd), then ibsgd's binning of each kept layer
  (:func:`benchmarks.baselines.peer_binned_information`; the inputs are
  distinct, so I(X;T) = H(T)). Keras' import and first compilation count once.

``python -m benchmarks jobs`` prints one row per job size; both sides of a row
run one after the other in this process.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.baselines import peer_binned_information
from ibsim import Experiment
from ibsim.datasets import Harmonics
from ibsim.recording.schedules import seed_schedule

ARCHITECTURE = [10, 7, 5, 4, 3]
BIN_SIZE = 0.07
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tishby_tanh.toml"


def ibsim_seconds(runs: int, epochs: int) -> float:
    """Seconds of the whole ibsim job (training, recording, estimation, the results file)."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        Experiment.from_toml(CONFIG, [f"n_runs={runs}", f"epochs={epochs}", "plots=[]"]).run(
            Path(folder) / "job.nc", backend="serial", quiet=True).close()
        return time.perf_counter() - start


def peer_seconds(runs: int, epochs: int) -> float:
    """Seconds of the same job done the peers' way (see the module docstring)."""
    start = time.perf_counter()
    import keras

    data = Harmonics().splits(0, 0.8)
    X, labels = data.full_dataset.X, data.full_dataset.y
    x_train, y_train = data.training.X, data.training.Y
    recorded = set(int(e) for e in seed_schedule(epochs))
    for run in range(runs):
        keras.utils.set_random_seed(run)
        inputs = keras.Input((X.shape[1],))
        h, outputs = inputs, []
        for width in ARCHITECTURE:
            h = keras.layers.Dense(width, activation="tanh")(h)
            outputs.append(h)
        out = keras.layers.Dense(data.n_classes, activation="softmax")(h)
        outputs.append(out)
        model = keras.Model(inputs, out)
        model.compile(keras.optimizers.Adam(4e-4), "categorical_crossentropy", metrics=["accuracy"])
        probe = keras.Model(inputs, outputs)
        kept: list[list[np.ndarray]] = [probe.predict(X, batch_size=len(X), verbose=0)] if 0 in recorded else []

        class Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):  # noqa: ANN001 - Keras' signature
                if epoch + 1 in recorded:
                    kept.append(probe.predict(X, batch_size=len(X), verbose=0))

        model.fit(x_train, y_train, batch_size=256, epochs=epochs, verbose=0, callbacks=[Record()])
        for layers in kept:
            for layer in layers:
                peer_binned_information(layer, labels, BIN_SIZE)
    return time.perf_counter() - start


def rows(sizes: list[tuple[int, int]], progress: bool = True) -> list[tuple]:
    """(runs, epochs, recorded epochs, ibsim s, peers s, speed) per job size
    (each row also printed as it is measured with ``progress``: the peers' side
    of a 50-run job takes a quarter of an hour)."""
    out = []
    for runs, epochs in sizes:
        ours = ibsim_seconds(runs, epochs)
        theirs = peer_seconds(runs, epochs)
        out.append((runs, epochs, len(seed_schedule(epochs)), f"{ours:.1f}", f"{theirs:.1f}", f"{theirs / ours:.1f}x"))
        if progress:
            print("measured:", *out[-1], flush=True)
    return out


if __name__ == "__main__":
    from benchmarks.timing import table

    print(table(rows([(5, 500), (50, 500)]),
                ("runs", "epochs", "recorded", "ibsim s", "peers s", "speed")))
