"""The work of an experiment, cut into units by the config alone."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ibsim.config.config import Config
from ibsim.networks.layers import input_shape, multiply_adds, recorded_widths
from ibsim.recording.schedules import count_recorded


@dataclass(frozen=True)
class Group:
    """Runs trained together as one ensemble; ``index`` numbers the group."""

    index: int
    runs: tuple[int, ...]
    cost: float = 1.0

    def __str__(self) -> str:
        runs = f"runs {self.runs[0]}-{self.runs[-1]}" if len(self.runs) > 1 else f"run {self.runs[0]}"
        return f"training group {self.index} ({runs})"


@dataclass(frozen=True)
class EstimationUnit:
    """One estimator over one group's runs and a slice of the recorded epochs;
    ``index`` numbers the unit within its experiment."""

    estimator: int
    group: int
    epoch_start: int
    epoch_stop: int
    cost: float = 1.0
    index: int = 0

    def __str__(self) -> str:
        return (f"estimation unit (estimator {self.estimator}, group {self.group}, "
                f"recorded epochs {self.epoch_start}-{self.epoch_stop - 1})")


@dataclass(frozen=True)
class AssemblyUnit:
    """Writing one experiment's results file."""

    cost: float = 1.0

    def __str__(self) -> str:
        return "writing the results file"


@dataclass(frozen=True)
class Plan:
    """Groups, recorded epochs and estimation work of one config.

    Estimators listed in ``inline_estimators`` run inside the training units, on
    each recorded epoch as it comes (no disk traffic); the others need all epochs
    of a run (their bins follow the whole trajectory) or were asked to run
    afterwards, and get ``estimation_units`` over the part files.
    """

    groups: tuple[Group, ...]
    epochs: np.ndarray
    estimation_units: tuple[EstimationUnit, ...]
    inline_estimators: tuple[int, ...]
    deferred_estimators: tuple[int, ...]
    needs_parts: bool

    @property
    def runs(self) -> list[int]:
        """All trained run indices, in order."""
        return [r for g in self.groups for r in g.runs]


#: Recorded epochs per deferred estimation unit: small enough that estimation
#: spreads over many ranks (a block's estimate does not depend on the slicing).
EPOCHS_PER_ESTIMATION_UNIT = 32


@dataclass(frozen=True)
class PlanShape:
    """The sizes of a config's plan, by arithmetic alone: what the resource
    check needs, known before any list or array of the plan is built (so a
    config of a billion runs is refused, not allocated)."""

    n_runs: int
    n_groups: int
    largest_group: int
    n_recorded: int  # recorded epochs (an upper bound for the log schedule)
    n_inline: int
    n_deferred: int
    n_estimation_units: int
    needs_parts: bool


def estimator_placement(config: Config) -> tuple[list[int], list[int]]:
    """Which of the config's estimators run inline and which afterwards."""
    inline, deferred = [], []
    for index, estimator in enumerate(config.components.estimators):
        (inline if config.inline_estimation and estimator.runs_inline else deferred).append(index)
    return inline, deferred


def plan_shape(config: Config, epochs_per_unit: int = EPOCHS_PER_ESTIMATION_UNIT) -> PlanShape:
    """The sizes :func:`make_plan` would produce, computed without building it."""
    n_runs = len(config.runs) if config.runs is not None else config.n_runs
    size = config.group_size
    n_groups = -(-n_runs // size)
    recorded = count_recorded(config.record_schedule, config.epochs, config.record_points)
    inline, deferred = estimator_placement(config)
    units = len(deferred) * n_groups * -(-recorded // max(1, epochs_per_unit))
    return PlanShape(n_runs, n_groups, min(size, n_runs), recorded, len(inline), len(deferred), units,
                     bool(config.save_activations or deferred))


def layer_sizes(config: Config) -> tuple[int, int]:
    """Per sample, as far as the config alone tells: the multiply-adds of one
    forward pass (the cost of training) and the recorded neurons of the hidden
    layers (the cost of recording and estimation). The dataset's feature and
    class counts are known only once it is loaded, so the first dense layer's
    inputs and the read-out are left out; conv layers start from the dataset's
    image shape. Relative costs: enough to order and balance units."""
    architecture = config.architecture
    shape = input_shape(architecture, 0, config.components.dataset.image_shape)
    return (multiply_adds(architecture, shape, 1),
            sum(recorded_widths(architecture, shape, 1, config.conv_recording)[:-1]))


def make_plan(config: Config, epochs_per_unit: int = EPOCHS_PER_ESTIMATION_UNIT) -> Plan:
    """Cut a config's work into units.

    Runs (``config.runs`` or all ``n_runs``) are grouped in order, ``group_size``
    at a time. Deferred estimation is cut per estimator, group and slice of
    ``epochs_per_unit`` recorded epochs.
    """
    runs = list(config.runs) if config.runs is not None else list(range(config.n_runs))
    size = config.group_size
    weights, neurons = layer_sizes(config)
    groups = tuple(
        Group(i, tuple(runs[k : k + size]), cost=min(size, len(runs) - k) * config.epochs * weights)
        for i, k in enumerate(range(0, len(runs), size))
    )
    recorder = config.components.recorder
    epochs = recorder.epochs(config.epochs)
    inline, deferred = estimator_placement(config)
    step = max(1, epochs_per_unit)
    spans = [(e, g, start) for e in deferred for g in groups for start in range(0, len(epochs), step)]
    units = tuple(
        EstimationUnit(e, g.index, start, min(start + step, len(epochs)),
                       cost=len(g.runs) * (min(start + step, len(epochs)) - start) * neurons,
                       index=k)
        for k, (e, g, start) in enumerate(spans)
    )
    needs_parts = bool(config.save_activations or deferred)
    return Plan(groups, epochs, units, tuple(inline), tuple(deferred), needs_parts)
