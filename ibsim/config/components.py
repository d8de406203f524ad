"""The components of a validated config, built once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ibsim.datasets import DATASETS, Dataset
from ibsim.errors import ConfigError
from ibsim.estimators import Estimator, make_estimator
from ibsim.networks.network import Network
from ibsim.recording.recorder import Recorder
from ibsim.spec import parse_spec


@dataclass(frozen=True)
class Components:
    """The dataset, network, recorder and estimators a config describes, as
    instances: built once when the config is validated, then shared by every
    part of a run (and sent with the config to workers)."""

    dataset: Dataset
    network: Network
    recorder: Recorder
    estimators: tuple[Estimator, ...]

    @classmethod
    def of(cls, values: Mapping[str, Any], dataset: Dataset | None = None,
           estimators: tuple[Estimator, ...] | None = None) -> "Components":
        """The components of complete config values (specs already canonical).

        Args:
            values: The config's values.
            dataset: The dataset instance whose spec ``values["dataset"]`` is
                (kept: it may hold its data), or None to build it from the spec.
            estimators: The estimators whose specs ``values["estimator"]`` lists (built
                while the config was checked), or None to build them from the specs.

        Raises:
            ConfigError: A spec names an unknown component or a bad parameter,
                or ``dataset`` or ``estimators`` are not the ones the values name.
        """
        if dataset is None:
            name, params = parse_spec(values["dataset"])
            dataset = DATASETS.get(name)(**params)
        elif dataset.spec != values["dataset"]:
            raise ConfigError(f"dataset {dataset.spec} is not the config's {values['dataset']}")
        specs = values["estimator"] if isinstance(values["estimator"], (list, tuple)) else [values["estimator"]]
        if estimators is None:
            estimators = tuple(make_estimator(spec) for spec in specs)
        elif [estimator.spec for estimator in estimators] != list(specs):
            raise ConfigError(f"estimators {[e.spec for e in estimators]} are not the config's {list(specs)}")
        return cls(
            dataset=dataset,
            network=Network(**{key: values[key] for key in Network.PARAMS}),
            recorder=Recorder(**{key: values[key] for key in Recorder.PARAMS}),
            estimators=tuple(estimators),
        )
