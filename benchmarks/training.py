"""Training benchmark: the ensemble against one Keras fit per run.

The Tishby net (12-10-7-5-4-3-2, tanh, Adam, batch 256) on the harmonics data,
all layers recorded on all 4096 samples at every epoch. Both sides are timed
per additional epoch, so graph building and compilation (which a long
experiment amortises) count on neither side.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time

from benchmarks.baselines import keras_run_seconds
from benchmarks.timing import marginal

ARCHITECTURE = [10, 7, 5, 4, 3]


class DropSink:
    """Receives every recorded epoch (host arrays of all layers) and keeps nothing."""

    def write(self, slot, outputs, valid) -> None:
        self.last = outputs

    def close(self) -> None:
        """Nothing to release."""


def ibsim_seconds_per_epoch(n_runs: int, epochs: int = 60, threads: int | None = None,
                            keep: bool = False) -> float:
    """Seconds per epoch of one group of ``n_runs`` runs, recording every epoch.

    With ``keep`` the activations stream into the part files, as a run with
    ``save_activations = true`` does; otherwise each epoch's arrays reach a sink
    that drops them. Estimation is excluded on both sides.
    """
    from ibsim import Config
    from ibsim.pipeline.data import experiment_data
    from ibsim.pipeline.parts import PartStore
    from ibsim.pipeline.plan import make_plan
    from ibsim.pipeline.training import GroupTraining
    from ibsim.threads import worker_threads

    config = Config.from_dict(
        {"architecture": ARCHITECTURE, "epochs": epochs + 10, "n_runs": n_runs, "group_size": n_runs,
         "record_schedule": "every", "save_activations": keep, "inline_estimation": False}
    )
    plan = make_plan(config)
    # the activations go to the part files (keep) or to the drop sink; estimation is not timed
    plan = dataclasses.replace(plan, inline_estimators=(), needs_parts=keep)
    with tempfile.TemporaryDirectory() as folder:
        sinks = [] if keep else [DropSink()]
        training = GroupTraining(config, plan, plan.groups[0], experiment_data(config), PartStore(folder),
                                 threads or worker_threads(), sinks)
        training.run_epochs(10)  # compile and warm up
        start = time.perf_counter()
        training.run_epochs(epochs)
        return (time.perf_counter() - start) / epochs


def keras_seconds_per_epoch(keep: bool, short: int = 10, long: int = 40) -> float:
    """Seconds per epoch of one Keras run with per-epoch recording (marginal)."""
    from ibsim.datasets import Harmonics

    data = Harmonics().splits(0, 0.8)
    X = data.full_dataset.X
    order = list(data.training.indices) + list(data.test.indices)
    X, Y = X[order], data.full_dataset.Y[order]
    return marginal(lambda e: keras_run_seconds(X, Y, len(data.training), e, ARCHITECTURE, keep=keep), short, long)


def run(run_counts: list[int]) -> list[tuple]:
    """Rows of (runs, what is kept, ibsim ms/run-epoch, Keras ms/run-epoch, speed-up)."""
    rows = []
    for keep in (False, True):
        keras_ms = 1000 * keras_seconds_per_epoch(keep)
        for n_runs in run_counts:
            ours = 1000 * ibsim_seconds_per_epoch(n_runs, keep=keep) / n_runs
            what = "kept (ibsim: part files; Keras: list)" if keep else "recorded, not kept"
            rows.append((n_runs, what, f"{ours:.3f}", f"{keras_ms:.1f}", f"{keras_ms / ours:.0f}x"))
    return rows
