"""The data of an experiment as its units need it, loaded once per process."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ibsim.config.config import Config
from ibsim.config.spec import parse_spec
from ibsim.datasets import DATASETS, DataSplits, Split
from ibsim.estimators import input_groups


@dataclass(frozen=True)
class ExperimentData:
    """Splits, the recorded split and its groups of identical inputs."""

    splits: DataSplits
    recorded: Split
    groups: np.ndarray | None
    n_groups: int

    @property
    def n_classes(self) -> int:
        return self.splits.n_classes


@functools.lru_cache(maxsize=4)
def _load(dataset: str, seed: int, train_fraction: float, split: str, data_dir: str | None) -> ExperimentData:
    name, params = parse_spec(dataset)
    splits = DATASETS.get(name)(**params).splits(seed, train_fraction, Path(data_dir) if data_dir else None)
    recorded = splits.split(split)
    groups, n_groups = input_groups(recorded.X)
    return ExperimentData(splits, recorded, groups, n_groups)


def experiment_data(config: Config, data_dir: str | Path | None = None) -> ExperimentData:
    """Load (or reuse) the data of ``config``."""
    return _load(
        config.dataset, config.seed, config.train_fraction, config.calculate_mi_for,
        str(data_dir) if data_dir else None,
    )
