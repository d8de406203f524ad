"""The training unit: one group of runs, trained and recorded into the part store."""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ibsim.config.config import Config
from ibsim.networks.network import Network
from ibsim.pipeline.data import ExperimentData
from ibsim.pipeline.parts import COMPLETED, DIVERGED, GroupSummary, PartStore
from ibsim.pipeline.plan import Group

#: Keras' clipping of probabilities in categorical cross-entropy.
PROBABILITY_EPSILON = 1e-7


def loss_and_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy (nats, as Keras reports it) and accuracy per run.

    Args:
        probabilities: (R, n, classes) softmax outputs.
        labels: (n,) class indices.
    """
    picked = np.take_along_axis(probabilities, labels[None, :, None], axis=2)[..., 0]
    loss = -np.mean(np.log(np.clip(picked, PROBABILITY_EPSILON, 1.0)), axis=1)
    accuracy = np.mean(np.argmax(probabilities, axis=2) == labels[None, :], axis=1)
    return loss, accuracy


class _GroupRecorder:
    """Writes one group's recorded epochs into its part arrays and summary."""

    def __init__(self, ensemble, data: ExperimentData, summary: GroupSummary, arrays: list[np.ndarray]):
        self.ensemble, self.data, self.summary, self.arrays = ensemble, data, summary, arrays
        splits = data.splits
        recorded = data.recorded.indices
        # Where each metric split's samples sit inside the recorded split (None: not inside).
        position = {int(i): k for k, i in enumerate(recorded)}
        self.inside = []
        for split in (splits.training, splits.test):
            rows = [position.get(int(i)) for i in split.indices]
            self.inside.append(None if any(r is None for r in rows) else np.asarray(rows))

    def record(self, slot: int, epoch: int) -> None:
        outputs = self.ensemble.record(self.data.recorded.X)
        s = self.summary
        for k, values in enumerate(outputs):
            self.arrays[k][:, slot] = values
            s.act_min[:, slot, k] = values.min(axis=(1, 2))
            s.act_max[:, slot, k] = values.max(axis=(1, 2))
        splits = (self.data.splits.training, self.data.splits.test)
        for j, (split, rows) in enumerate(zip(splits, self.inside)):
            probabilities = outputs[-1][:, rows] if rows is not None else self.ensemble.record(split.X)[-1]
            s.loss[:, slot, j], s.accuracy[:, slot, j] = loss_and_accuracy(probabilities, split.y)
        finite = np.isfinite(s.act_min[:, slot]).all(axis=1) & np.isfinite(s.act_max[:, slot]).all(axis=1)
        for position in np.flatnonzero(~finite & (s.run_status == COMPLETED)):
            s.run_status[position] = DIVERGED
        self.ensemble.deactivate(np.flatnonzero(s.run_status != COMPLETED))
        s.stop_epoch[s.run_status == COMPLETED] = epoch


def train_group(
    config: Config, group: Group, epochs: np.ndarray, data: ExperimentData, store: PartStore,
    threads: int = 1, quiet: bool = True,
) -> GroupSummary:
    """Train and record the runs of ``group``; leave activations and summary in ``store``.

    Args:
        config: The experiment config.
        group: Which runs.
        epochs: Recorded epoch numbers (sorted, from the plan).
        data: The experiment's data.
        store: Where to write.
        threads: Threads this unit may use.
        quiet: Hide the progress bar.
    """
    from ibsim.networks.ensemble import Ensemble

    network = Network(**{k: config[k] for k in Network.PARAMS})
    ensemble = Ensemble(network, data.recorded.X.shape[1], data.n_classes, group.runs, config.seed, threads)
    n = len(data.recorded)
    shapes = [(len(group.runs), len(epochs), n, w) for w in ensemble.widths[1:]]
    arrays = store.create_activations(group.index, shapes)
    summary = GroupSummary.empty(np.asarray(group.runs), len(epochs), ensemble.n_layers)
    recorder = _GroupRecorder(ensemble, data, summary, arrays)

    tf = ensemble._tf
    x_train = tf.constant(data.splits.training.X)
    y_train = tf.constant(data.splits.training.Y)
    slot = 0
    if epochs[0] == 0:
        recorder.record(0, 0)
        slot = 1
    label = f"runs {group.runs[0]}-{group.runs[-1]}" if len(group.runs) > 1 else f"run {group.runs[0]}"
    with tqdm(total=config.epochs, desc=f"train {label}", disable=quiet, leave=False) as bar:
        for epoch in range(1, config.epochs + 1):
            ensemble.train_epoch(x_train, y_train)
            if slot < len(epochs) and epochs[slot] == epoch:
                recorder.record(slot, epoch)
                slot += 1
                if not (summary.run_status == COMPLETED).any():
                    break
            bar.update()
    for array in arrays:
        array.flush()
    store.write_summary(group.index, summary)
    return summary
