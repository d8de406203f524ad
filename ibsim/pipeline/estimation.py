"""Estimation in the pipeline: inline (per recorded epoch, inside training) and
deferred units (one estimator over one group's runs and a slice of epochs)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ibsim.config.config import Config
from ibsim.errors import EstimatorError
from ibsim.estimators import Estimator, LayerBlocks
from ibsim.estimators.base import ESTIMATE_COLUMNS
from ibsim.estimators.kernels import BlockError
from ibsim.pipeline.data import ExperimentData, SplitView
from ibsim.pipeline.parts import GroupSummary, PartStore
from ibsim.pipeline.plan import EstimationUnit
from ibsim.threads import limit_kernel_threads


@dataclass(frozen=True)
class Samples:
    """What estimators need to know about the recorded samples."""

    labels: np.ndarray
    n_classes: int
    groups: np.ndarray | None
    n_groups: int
    inputs: np.ndarray | None = None  # (N, features), for estimators that need them

    @classmethod
    def of(cls, view: SplitView, n_classes: int, X: np.ndarray | None = None) -> "Samples":
        """The samples of one estimated split; with the recorded split's inputs
        ``X`` (given only when an estimator :attr:`~ibsim.estimators.Estimator.needs_inputs`)
        the split's inputs, flattened."""
        inputs = None if X is None else (X if view.rows is None else X[view.rows]).reshape(len(view.labels), -1)
        return cls(view.labels, n_classes, view.groups, view.n_groups, inputs)


def split_block(acts: np.ndarray, view: SplitView) -> np.ndarray:
    """The split's samples of blocks (..., samples, width) of the recorded split."""
    return acts if view.rows is None else acts[..., view.rows, :]


def probe_edges(probe: np.ndarray, index: tuple, rows: slice | None, widths: list[int],
                layer: int) -> np.ndarray | None:
    """One layer's bin edges from recorded probe activations.

    Args:
        probe: A summary's ``probe`` (runs, epochs, probe points, all layers' neurons).
        index: Which (runs, epochs) blocks, e.g. ``(runs, slot)``.
        rows: The estimator's probe points (None: it probes nothing).
        widths: Width of every layer, in order (the neuron axis is their concatenation).
        layer: Which layer.

    Returns:
        (blocks..., points, width of the layer), or None when ``rows`` is None.
    """
    if rows is None:
        return None
    start = sum(widths[:layer])
    return probe[index][..., rows, start : start + widths[layer]]


def estimate_layer(
    estimator: Estimator, acts: np.ndarray, samples: Samples, ranges: np.ndarray | None,
    where: list[tuple[int, int]], layer: int, edges: np.ndarray | None = None,
) -> np.ndarray:
    """I(X;T), I(T;Y) and their standard errors (B, 4) of blocks (B, N, width)
    of one layer (columns :data:`~ibsim.estimators.base.ESTIMATE_COLUMNS`; NaN
    errors for estimators that report none); errors name the (run, epoch) of
    the failing block from ``where``. ``edges`` (B, points, width) are the
    layer's probe activations for estimators that probe."""
    blocks = LayerBlocks(
        acts=acts, labels=samples.labels, n_classes=samples.n_classes, groups=samples.groups,
        n_groups=samples.n_groups, ranges=ranges, edges=edges,
        inputs=samples.inputs if estimator.needs_inputs else None,
    )
    try:
        return estimator.estimate_blocks_with_error(blocks)
    except BlockError as error:
        run, epoch = where[error.block]
        raise EstimatorError(
            f"estimator '{estimator.spec}': {error} at run {run}, epoch {epoch}, layer {layer + 1}"
        ) from None


class InlineEstimation:
    """A recording sink that estimates each recorded epoch as it comes.

    Args:
        config: The experiment config.
        indices: Which of ``config.estimator`` to compute.
        data: The experiment's data.
        summary: The group's summary (its runs; the probe activations of the
            epoch being recorded, for estimators that probe).
        epochs: The recorded epoch numbers.
    """

    def __init__(self, config: Config, indices: tuple[int, ...], data: ExperimentData, summary: GroupSummary,
                 epochs: np.ndarray):
        self.estimators = [config.components.estimators[i] for i in indices]
        self.probe_rows = [data.probe_rows.get(e.spec) for e in self.estimators]
        self.views = data.views
        X = data.recorded.X if any(e.needs_inputs for e in self.estimators) else None
        self.samples = [Samples.of(view, data.n_classes, X) for view in data.views]
        self.summary = summary
        n_layers = summary.act_min.shape[2]
        self.values = np.full((len(indices), len(summary.runs), len(epochs), n_layers, len(data.views),
                               len(ESTIMATE_COLUMNS)), np.nan)
        self.runs, self.epochs = summary.runs, epochs

    def write(self, slot: int, outputs: list[np.ndarray], valid: np.ndarray) -> None:
        going = np.flatnonzero(valid)
        if going.size == 0:
            return
        with limit_kernel_threads(1):  # beside TensorFlow's spinning pool, one thread is fastest
            self._estimate(slot, outputs, going)

    def _estimate(self, slot: int, outputs: list[np.ndarray], going: np.ndarray) -> None:
        where = [(int(self.runs[r]), int(self.epochs[slot])) for r in going]
        widths = [acts.shape[-1] for acts in outputs]
        for i, estimator in enumerate(self.estimators):
            for k, acts in enumerate(outputs):
                edges = probe_edges(self.summary.probe, (going, slot), self.probe_rows[i], widths, k)
                going_acts = acts[going]
                for s, (view, samples) in enumerate(zip(self.views, self.samples)):
                    block = split_block(going_acts, view)
                    ranges = estimator.own_ranges(block)
                    self.values[i, going, slot, k, s] = estimate_layer(estimator, block, samples, ranges, where, k,
                                                                       edges)

    def close(self) -> None:
        """Nothing to release."""


def estimate_unit(
    config: Config, unit: EstimationUnit, epochs: np.ndarray, data: ExperimentData, store: PartStore
) -> np.ndarray:
    """I(X;T), I(T;Y) and their standard errors for a deferred unit: an array
    (runs, epochs in slice, layers, splits, 4) (columns
    :data:`~ibsim.estimators.base.ESTIMATE_COLUMNS`). Ranges that follow the
    data are each split's own.

    Blocks after a run stopped (diverged or early-stopped) are NaN.
    """
    estimator = config.components.estimators[unit.estimator]
    summary = store.read_summary(unit.group)
    n_layers = summary.act_min.shape[2]
    arrays = store.open_activations(unit.group, n_layers)
    e0, e1 = unit.epoch_start, unit.epoch_stop
    views = data.views
    result = np.full((len(summary.runs), e1 - e0, n_layers, len(views), len(ESTIMATE_COLUMNS)), np.nan)
    ranges = [estimator.block_ranges(summary.split_min[..., s], summary.split_max[..., s]) for s in range(len(views))]
    valid = epochs[None, e0:e1] <= summary.stop_epoch[:, None]
    widths = [array.shape[-1] for array in arrays]
    rows = data.probe_rows.get(estimator.spec)
    samples = [Samples.of(view, data.n_classes, data.recorded.X if estimator.needs_inputs else None)
               for view in views]
    for position, run in enumerate(summary.runs):
        slots = np.flatnonzero(valid[position])
        if slots.size == 0:
            continue
        where = [(int(run), int(epochs[e0 + s])) for s in slots]
        for layer in range(n_layers):
            acts = np.asarray(arrays[layer][e0 + slots, position])
            edges = probe_edges(summary.probe, (position, e0 + slots), rows, widths, layer)
            for s, view in enumerate(views):
                block_range = None if ranges[s] is None else ranges[s][position, e0 + slots, layer]
                result[position, slots, layer, s] = estimate_layer(
                    estimator, split_block(acts, view), samples[s], block_range, where, layer, edges)
    return result
