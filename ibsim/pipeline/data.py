"""The data of an experiment as its units need it, loaded once per process."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ibsim.config.config import Config
from ibsim.datasets import Dataset, DataSplits, Split
from ibsim.errors import ConfigError
from ibsim.recording.recorder import mi_splits, recorded_split
from ibsim.resultsfile.schema import SAMPLE_SPLIT_CODES
from ibsim.estimators import Estimator, input_groups


@dataclass(frozen=True)
class SplitView:
    """One estimated split as rows of the recorded split: ``rows`` (None: all of
    them), their labels and their groups of identical inputs."""

    name: str
    rows: np.ndarray | None
    labels: np.ndarray
    groups: np.ndarray | None
    n_groups: int


@dataclass(frozen=True)
class ExperimentData:
    """Splits, the recorded split and its groups of identical inputs; and the
    probe inputs of estimators that probe the network (weighted binning):
    ``probe`` stacks them all, ``probe_rows[spec]`` says which rows are whose."""

    splits: DataSplits
    recorded: Split
    groups: np.ndarray | None
    n_groups: int
    probe: np.ndarray | None = None
    probe_rows: dict[str, slice] = field(default_factory=dict)
    views: tuple[SplitView, ...] = ()  # the estimated splits, in the config's order

    def sample_split(self) -> np.ndarray:
        """Per recorded sample: its code in ``SAMPLE_SPLIT_CODES`` (training or test)."""
        test = np.isin(self.recorded.indices, self.splits.test.indices)
        return np.where(test, SAMPLE_SPLIT_CODES["test"], SAMPLE_SPLIT_CODES["training"]).astype(np.int8)

    @property
    def n_classes(self) -> int:
        return self.splits.n_classes


@functools.lru_cache(maxsize=4)
def _load(dataset: Dataset, seed: int, train_fraction: float, split: str, data_dir: str | None) -> ExperimentData:
    splits = dataset.splits(seed, train_fraction, Path(data_dir) if data_dir else None)
    recorded = splits.split(split)
    groups, n_groups = input_groups(recorded.X)
    return ExperimentData(splits, recorded, groups, n_groups)


def probe_points(estimators: Sequence[Estimator], X: np.ndarray) -> tuple[np.ndarray | None, dict[str, slice]]:
    """The probe inputs of the estimators that have them, stacked, and each one's rows."""
    pieces, rows, start = [], {}, 0
    for estimator in estimators:
        if estimator.probes:
            points = np.asarray(estimator.probe_inputs(X), dtype=np.float32)
            rows[estimator.spec] = slice(start, start + len(points))
            pieces.append(points)
            start += len(points)
    return (np.concatenate(pieces) if pieces else None), rows


def split_views(data: ExperimentData, names: tuple[str, ...], recorded: str) -> tuple[SplitView, ...]:
    """Each split of ``names`` as rows of the recorded split (named ``recorded``)."""
    views = []
    for name in names:
        if name == recorded:
            views.append(SplitView(name, None, data.recorded.y, data.groups, data.n_groups))
            continue
        rows = np.flatnonzero(np.isin(data.recorded.indices, data.splits.split(name).indices))
        groups, n_groups = input_groups(data.recorded.X[rows])
        views.append(SplitView(name, rows, data.recorded.y[rows], groups, n_groups))
    return tuple(views)


def experiment_data(config: Config, data_dir: str | Path | None = None) -> ExperimentData:
    """Load (or reuse) the data of ``config``: the recorded split (the union of
    the estimated ones), each estimated split's rows, and the estimators'
    probe inputs."""
    data = _load(
        config.components.dataset, config.seed, config.train_fraction, recorded_split(config.calculate_mi_for),
        str(data_dir) if data_dir else None,
    )
    probe, rows = probe_points(config.components.estimators, data.recorded.X)
    return dataclasses.replace(data, probe=probe, probe_rows=rows,
                               views=split_views(data, mi_splits(config.calculate_mi_for),
                                                 recorded_split(config.calculate_mi_for)))


def check_trainable(config: Config, data: ExperimentData) -> None:
    """Refuse values that validate alone but cannot train on this data (before
    anything is written): an empty split, a batch larger than the training split.

    Raises:
        ConfigError: Naming the keys and the sizes.
    """
    splits = data.splits
    sizes = f"{config.dataset} with train_fraction = {config.train_fraction} gives {len(splits.training)} " \
            f"training and {len(splits.test)} test samples"
    if len(splits.training) == 0 or len(splits.test) == 0:
        raise ConfigError(f"config key 'train_fraction' leaves a split empty: {sizes}")
    if config.batch_size > len(splits.training):
        raise ConfigError(f"config key 'batch_size' = {config.batch_size} is larger than the training split: "
                          f"{sizes}; choose batch_size <= {len(splits.training)}")
