"""The training unit: one group of runs, trained, recorded and (inline) estimated."""
from __future__ import annotations

import dataclasses
import sys
from typing import Protocol

import numpy as np

from ibsim.config.config import Config
from ibsim.networks.ensemble import PROBABILITY_EPSILON, Ensemble, GradientStats
from ibsim.networks.keras_group import KerasGroup
from ibsim.pipeline.data import ExperimentData
from ibsim.pipeline.estimation import InlineEstimation
from ibsim.pipeline.parts import Checkpoint, GroupSummary, PartStore
from ibsim.resultsfile.schema import COMPLETED, DIVERGED, EARLY_STOPPED
from ibsim.pipeline.plan import Group, Plan
from ibsim.progress import progress


#: Activations beyond this magnitude mean the run has diverged (as NaN and inf
#: do): no trained network gets there, float32 sums are meaningless by then, and
#: bins of any sensible width would overflow.
DIVERGENCE_LIMIT = 1e15


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


class Sink(Protocol):
    """Somewhere recorded epochs go: the part files, inline estimation, a test."""

    def write(self, slot: int, outputs: list[np.ndarray], valid: np.ndarray) -> None:
        """Take recorded epoch ``slot``: every layer's (runs, samples, width)
        activations, and which runs are still going (finite, not stopped)."""

    def close(self) -> None:
        """No more epochs."""


class Recording:
    """Records a group's scheduled epochs: metrics, activation ranges and run
    status into the summary, the activations into the sinks."""

    def __init__(self, ensemble, data: ExperimentData, summary: GroupSummary, sinks: list[Sink],
                 record_weights: bool = True):
        self.ensemble, self.data, self.summary, self.sinks = ensemble, data, summary, sinks
        self.record_weights = record_weights
        splits = data.splits
        # Where each metric split's samples sit inside the recorded split (None: not inside).
        position = {int(i): k for k, i in enumerate(data.recorded.indices)}
        self.inside = []
        for split in (splits.training, splits.test):
            rows = [position.get(int(i)) for i in split.indices]
            self.inside.append(None if any(r is None for r in rows) else np.asarray(rows))
        # where each metric split's samples sit in the full dataset (every epoch's metrics)
        full = {int(i): k for k, i in enumerate(splits.full_dataset.indices)}
        self.metric_rows = [(np.asarray([full[int(i)] for i in split.indices]), split.y)
                            for split in (splits.training, splits.test)]
        ensemble.set_held_out(splits.test.X, splits.test.Y)

    def record(self, slot: int, epoch: int, gradients: GradientStats | None = None) -> None:
        """Record epoch ``epoch`` into slot ``slot``. Runs that stopped earlier get
        NaN; a run whose activations are no longer finite (or beyond
        :data:`DIVERGENCE_LIMIT`) is marked diverged, frozen and NaN from here."""
        outputs = self.ensemble.record(self.data.recorded.X)
        s = self.summary
        if self.data.probe is not None:
            s.probe[:, slot] = np.concatenate(self.ensemble.record(self.data.probe), axis=-1)
        for k, values in enumerate(outputs):
            s.act_min[:, slot, k] = values.min(axis=(1, 2))
            s.act_max[:, slot, k] = values.max(axis=(1, 2))
            for j, view in enumerate(self.data.views):
                if view.rows is None:
                    s.split_min[:, slot, k, j], s.split_max[:, slot, k, j] = s.act_min[:, slot, k], s.act_max[:, slot, k]
                else:
                    s.split_min[:, slot, k, j] = values[:, view.rows].min(axis=(1, 2))
                    s.split_max[:, slot, k, j] = values[:, view.rows].max(axis=(1, 2))
        splits = (self.data.splits.training, self.data.splits.test)
        for j, (split, rows) in enumerate(zip(splits, self.inside)):
            probabilities = outputs[-1][:, rows] if rows is not None else self.ensemble.predict(split.X)
            s.loss[:, slot, j], s.accuracy[:, slot, j] = loss_and_accuracy(probabilities, split.y)
        if gradients is not None:
            s.grad_mean[:, slot] = gradients.mean.T
            s.grad_std[:, slot] = gradients.std.T
        if self.record_weights:
            s.weight_norm[:, slot] = self.ensemble.weight_norms().T
        with np.errstate(invalid="ignore"):
            bounded = (np.abs(s.act_min[:, slot]) <= DIVERGENCE_LIMIT) & (np.abs(s.act_max[:, slot]) <= DIVERGENCE_LIMIT)
        s.run_status[~bounded.all(axis=1) & (s.run_status == COMPLETED)] = DIVERGED
        going = s.run_status == COMPLETED
        if not going.all():
            self.ensemble.deactivate(np.flatnonzero(~going))
            for field in (s.loss, s.accuracy, s.act_min, s.act_max, s.grad_mean, s.grad_std, s.weight_norm,
                          s.split_min, s.split_max):
                field[~going, slot] = np.nan
            if s.probe.shape[1]:
                s.probe[~going, slot] = np.nan
            outputs = [np.where(going[:, None, None], o, np.float32(np.nan)) for o in outputs]
        s.stop_epoch[going] = epoch
        for sink in self.sinks:
            sink.write(slot, outputs, going)

    def epoch_metrics(self, epoch: int, metrics: np.ndarray | None = None) -> None:
        """Keep the loss and accuracy of the runs still going after ``epoch``
        (every epoch, recorded or not), as Keras' history has them: on the
        training split the means over the epoch's mini-batches, on the test
        split after the epoch; computed by the compiled epoch itself (float32)
        and given as ``metrics`` (2 kinds, 2 splits, R), and for epoch 0 (no
        mini-batches yet) by a read-out of both splits."""
        s = self.summary
        going = s.run_status == COMPLETED
        if epoch == 0:
            probabilities = self.ensemble.predict(self.data.splits.full_dataset.X)
            metrics = np.array([loss_and_accuracy(probabilities[:, rows], labels) for rows, labels
                                in self.metric_rows]).transpose(1, 0, 2)  # (2 kinds, splits, R)
        elif metrics is None:
            raise ValueError(f"the metrics of epoch {epoch} are needed")
        s.epoch_loss[:, epoch] = np.where(going[:, None], metrics[0].T, np.nan)
        s.epoch_accuracy[:, epoch] = np.where(going[:, None], metrics[1].T, np.nan)

    def stop_early(self, epoch: int, target: float, split: str) -> None:
        """Stop the runs whose accuracy on ``split`` reached ``target`` (after this
        epoch was recorded, if it was)."""
        s = self.summary
        going = s.run_status == COMPLETED
        data = self.data.splits.split(split)
        _, accuracy = loss_and_accuracy(self.ensemble.predict(data.X), data.y)
        reached = going & (accuracy >= target)
        if reached.any():
            s.run_status[reached] = EARLY_STOPPED
            s.stop_epoch[reached] = epoch
            self.ensemble.deactivate(np.flatnonzero(reached))

    def record_missing(self, slots: range) -> None:
        """Tell the sinks that no run is going any more at the recorded epochs
        ``slots`` (every run stopped before them): NaN activations, as for any
        run after its stop, so nothing reads as a recorded 0.

        Args:
            slots: The recorded epochs (slots) the group's training did not reach.
        """
        if not len(slots):
            return
        runs, samples = len(self.summary.runs), len(self.data.recorded)
        missing = [np.full((runs, samples, width), np.nan, np.float32) for width in self.ensemble.widths[1:]]
        none_going = np.zeros(runs, dtype=bool)
        for slot in slots:
            for sink in self.sinks:
                sink.write(slot, missing, none_going)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def divergence_note(experiment: str, summary: GroupSummary, epochs: np.ndarray) -> str | None:
    """One line naming the runs of a group that diverged and the recorded
    epochs at which that was seen, or None when none did.

    Args:
        experiment: The experiment's name.
        summary: The group's summary (``run_status``, ``stop_epoch``: the last
            recorded epoch at which each run was still finite).
        epochs: The recorded epoch numbers.
    """
    diverged = np.flatnonzero(summary.run_status == DIVERGED)
    if diverged.size == 0:
        return None
    runs = [int(r) for r in summary.runs[diverged]]
    seen = np.searchsorted(epochs, summary.stop_epoch[diverged], side="right")
    at = [int(epochs[min(i, len(epochs) - 1)]) for i in seen]
    return (f"ibsim: runs {runs} of experiment '{experiment}' diverged at epochs {at} (NaN, inf or "
            f"|activation| > {DIVERGENCE_LIMIT:.0e}); they are stopped, flagged in run_status and left out of means")


class GroupTraining:
    """The training of one group, advanced a number of epochs at a time.

    Args:
        config: The experiment config.
        group: Which runs.
        plan: The plan (recorded epochs, inline estimators, part files).
        data: The experiment's data.
        store: Where recorded activations and the summary go.
        threads: Threads this unit may use.
        sinks: Extra receivers of the recorded epochs.
    """

    def __init__(self, config: Config, plan: Plan, group: Group, data: ExperimentData, store: PartStore,
                 threads: int = 1, sinks: list[Sink] | None = None, resume: bool = False) -> None:
        self.config, self.group, self.epochs, self.store = config, group, plan.epochs, store
        network = config.components.network
        if network.keras is not None:  # one model per run
            self.ensemble = KerasGroup(network, data.recorded.X.shape[1], data.n_classes, group.runs, config.seed,
                                       threads)
        else:  # one ensemble
            self.ensemble = Ensemble(network, data.recorded.X.shape[1], data.n_classes, group.runs, config.seed,
                                     threads, data.splits.image_shape, config.conv_recording)
        n_epochs, n_layers = len(plan.epochs), self.ensemble.n_layers
        n_probe = 0 if data.probe is None else len(data.probe)
        self.summary = GroupSummary.empty(np.asarray(group.runs), n_epochs, n_layers, n_probe,
                                          sum(self.ensemble.widths[1:]), len(data.views), config.epochs)
        self.inline = InlineEstimation(config, plan.inline_estimators, data, self.summary, plan.epochs)
        self.epoch = 0
        self.slot = 0
        checkpoint = store.read_checkpoint(group.index, config.fingerprint(), self._checkpoint(), config.epochs) \
            if resume else None
        sinks = list(sinks or [])
        self.writer = None
        if plan.needs_parts:
            n = len(data.recorded)
            shapes = [(n_epochs, len(group.runs), n, w) for w in self.ensemble.widths[1:]]
            self.writer = store.create_activations(group.index, shapes, reopen=checkpoint is not None)
            sinks.append(self.writer)
        if plan.inline_estimators:
            sinks.append(self.inline)
        self.recorder = Recording(self.ensemble, data, self.summary, sinks, config.record_gradients)
        self.x_train = self.ensemble.as_inputs(data.splits.training.X)
        self.y_train = self.ensemble.as_inputs(data.splits.training.Y)
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            if self.epochs[0] == 0:
                self.recorder.record(0, 0)
                self.slot = 1
            self.recorder.epoch_metrics(0)

    def _checkpoint(self) -> Checkpoint:
        """The group's training state now (what a checkpoint stores)."""
        return Checkpoint(epoch=self.epoch, slot=self.slot, ensemble=self.ensemble.state(), summary=self.summary,
                          inline=self.inline.values)

    def _restore(self, checkpoint: Checkpoint) -> None:
        """Continue from a checkpoint of this group (bit for bit where it left off)."""
        self.ensemble.load_state(checkpoint.ensemble)
        for field in dataclasses.fields(GroupSummary):
            if field.name != "estimates":
                setattr(self.summary, field.name, getattr(checkpoint.summary, field.name))
        self.inline.values = checkpoint.inline
        self.epoch, self.slot = checkpoint.epoch, checkpoint.slot

    def checkpoint(self) -> None:
        """Store everything needed to continue from here (after the recorded
        epochs so far are safely on disk)."""
        if self.writer is not None:
            self.writer.sync()
        self.store.write_checkpoint(self.group.index, self._checkpoint(), self.config.fingerprint())

    @property
    def finished(self) -> bool:
        """All epochs trained, or every run stopped."""
        return self.epoch >= self.config.epochs or not (self.summary.run_status == COMPLETED).any()

    def next_span(self) -> int:
        """Epochs that can be trained in one call from here: up to the next
        recorded epoch, the next checkpoint or the last epoch; 1 with early
        stopping (its check follows every epoch); 0 when finished."""
        if self.finished:
            return 0
        config = self.config
        span = config.epochs - self.epoch
        if config.early_stopping:
            span = 1
        if self.slot < len(self.epochs):
            span = min(span, int(self.epochs[self.slot]) - self.epoch)
        if config.checkpoint_every:
            span = min(span, config.checkpoint_every - self.epoch % config.checkpoint_every)
        return max(1, span)

    def run_epochs(self, count: int) -> int:
        """Train up to ``count`` more epochs, recording as scheduled and stopping
        runs early if configured; returns how many epochs ran. Epochs between
        recorded ones are trained in one call of the ensemble (:meth:`next_span`):
        the same numbers as one call per epoch."""
        done = 0
        config = self.config
        monitor = "test" if config.early_stopping_monitor == "test_accuracy" else "training"
        while done < count and not self.finished:
            span = min(self.next_span(), count - done)
            recorded = self.slot < len(self.epochs) and self.epochs[self.slot] == self.epoch + span
            gradients = self.ensemble.train_epochs(self.x_train, self.y_train, span,
                                                   with_stats=recorded and config.record_gradients)
            metrics = np.asarray(self.ensemble.epochs_metrics)
            for k in range(span - 1):  # the epochs before the last: no run stopped in them
                self.recorder.epoch_metrics(self.epoch + 1 + k, metrics[k])
            self.epoch += span
            done += span
            if recorded:
                self.recorder.record(self.slot, self.epoch, gradients)
                self.slot += 1
            self.recorder.epoch_metrics(self.epoch, metrics[-1])
            if config.early_stopping:
                self.recorder.stop_early(self.epoch, config.early_stopping, monitor)
            if config.checkpoint_every and self.epoch % config.checkpoint_every == 0 and not self.finished:
                self.checkpoint()
        return done

    def finish(self) -> GroupSummary:
        """Record the epochs that every run stopped before as missing, close the
        sinks, store the summary (the group is then done) and say which runs
        diverged, if any (one line on stderr, from whichever process trained)."""
        self.recorder.record_missing(range(self.slot, len(self.epochs)))
        self.recorder.close()
        self.summary.estimates = self.inline.values
        self.store.write_summary(self.group.index, self.summary)
        note = divergence_note(self.config.name, self.summary, self.epochs)
        if note is not None:
            print(note, file=sys.stderr, flush=True)
        return self.summary


def train_group(
    config: Config, plan: Plan, group: Group, data: ExperimentData, store: PartStore,
    threads: int = 1, quiet: bool = True, resume: bool = False,
) -> GroupSummary:
    """Train and record the runs of ``group``; leave the summary (and, if the
    plan needs them, the activations) in ``store``.

    Args:
        config: The experiment config.
        plan: Its plan (recorded epochs, which estimators run inline).
        group: Which runs.
        data: The experiment's data.
        store: Where to write.
        threads: Threads this unit may use.
        quiet: Hide the progress bar.
        resume: Skip a group that is done; continue one from its checkpoint.
    """
    if resume and store.is_done(group.index):
        return store.read_summary(group.index, group.runs, len(plan.epochs))
    training = GroupTraining(config, plan, group, data, store, threads, resume=resume)
    runs = group.runs
    label = f"runs {runs[0]}-{runs[-1]}" if len(runs) > 1 else f"run {runs[0]}"
    with progress(total=config.epochs, initial=training.epoch, desc=f"train {label}", disable=quiet,
                  unit="epochs") as bar:
        while not training.finished:
            bar.update(training.run_epochs(training.next_span()))
    return training.finish()
