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
    """Groups, recorded epochs and estimation units of one config."""

    groups: tuple[Group, ...]
    epochs: np.ndarray
    estimation_units: tuple[EstimationUnit, ...]

    @property
    def runs(self) -> list[int]:
        """All trained run indices, in order."""
        return [r for g in self.groups for r in g.runs]


def make_plan(config: Config, epochs_per_unit: int | None = None) -> Plan:
    """Cut a config's work into units.

    Runs (``config.runs`` or all ``n_runs``) are grouped in order, ``group_size``
    at a time. Estimation is cut per estimator, group and slice of recorded
    epochs (``epochs_per_unit``, default: all of them in one unit).
    """
    from ibsim.recording.recorder import Recorder

    runs = list(config.runs) if config.runs is not None else list(range(config.n_runs))
    size = config.group_size
    groups = tuple(Group(i, tuple(runs[k : k + size])) for i, k in enumerate(range(0, len(runs), size)))
    recorder = Recorder(**{k: config[k] for k in Recorder.PARAMS})
    epochs = recorder.epochs(config.epochs)
    step = epochs_per_unit or len(epochs)
    units = tuple(
        EstimationUnit(e, g.index, start, min(start + step, len(epochs)))
        for e in range(len(config.estimator))
        for g in groups
        for start in range(0, len(epochs), step)
    )
    return Plan(groups, epochs, units)
