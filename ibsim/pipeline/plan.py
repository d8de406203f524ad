"""The work of an experiment, cut into units by the config alone."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ibsim.config.config import Config


@dataclass(frozen=True)
class Group:
    """Runs trained together as one ensemble; ``index`` numbers the group."""

    index: int
    runs: tuple[int, ...]


@dataclass(frozen=True)
class EstimationUnit:
    """One estimator over one group's runs and a slice of the recorded epochs."""

    estimator: int
    group: int
    epoch_start: int
    epoch_stop: int


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


def make_plan(config: Config, epochs_per_unit: int | None = None) -> Plan:
    """Cut a config's work into units.

    Runs (``config.runs`` or all ``n_runs``) are grouped in order, ``group_size``
    at a time. Deferred estimation is cut per estimator, group and slice of
    recorded epochs (``epochs_per_unit``, default: all of them in one unit).
    """
    from ibsim.estimators import make_estimator
    from ibsim.recording.recorder import Recorder

    runs = list(config.runs) if config.runs is not None else list(range(config.n_runs))
    size = config.group_size
    groups = tuple(Group(i, tuple(runs[k : k + size])) for i, k in enumerate(range(0, len(runs), size)))
    recorder = Recorder(**{k: config[k] for k in Recorder.PARAMS})
    epochs = recorder.epochs(config.epochs)
    inline, deferred = [], []
    for index, spec in enumerate(config.estimator):
        can_inline = make_estimator(spec).range_scope in (None, "block")
        (inline if config.inline_estimation and can_inline else deferred).append(index)
    step = epochs_per_unit or len(epochs)
    units = tuple(
        EstimationUnit(e, g.index, start, min(start + step, len(epochs)))
        for e in deferred
        for g in groups
        for start in range(0, len(epochs), step)
    )
    needs_parts = bool(config.save_activations or deferred)
    return Plan(groups, epochs, units, tuple(inline), tuple(deferred), needs_parts)
