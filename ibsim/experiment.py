"""The experiment: a dataset, a network, a recorder and estimators, run as one."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from ibsim.component import Component
from ibsim.config.config import Config
from ibsim.config.keys import EXPERIMENT_PARAMS, plot_file_label
from ibsim.datasets import Dataset
from ibsim.errors import ConfigError
from ibsim.estimators import Estimator
from ibsim.networks.network import Network
from ibsim.pipeline.options import RunOptions
from ibsim.pipeline.runner import run_experiments
from ibsim.recording.recorder import Recorder
from ibsim.results import Results

__all__ = ["Experiment", "plot_file_label"]


class Experiment:
    """A dataset, a network, a recorder and one or more estimators.

    Build it in Python::

        from ibsim import Experiment, Network, Recorder
        exp = Experiment(
            dataset="harmonics",
            network=Network(architecture=[10, 7, 5, 4, 3], activation_fn="tanh", epochs=300),
            recorder=Recorder(record_schedule="seed"),
            estimators=["binning(bin_size=0.07)"],
            n_runs=4,
            seed=0,
        )
        results = exp.run()

    or from a TOML file with :meth:`from_toml`. Both build the same validated
    :class:`~ibsim.config.Config`, available as ``exp.config``.

    Args:
        dataset: A dataset name or spec (``"harmonics"``) or a Dataset instance.
        network: A :class:`~ibsim.networks.Network` (default: the Tishby net).
        recorder: A :class:`~ibsim.recording.Recorder` (default: seed schedule on the full set).
        estimators: Estimator names/specs or instances (default: ``["binning"]``).
        n_runs: Number of repetitions, each with its own initialisation and batch order.
        seed: The experiment seed; run r depends only on (seed, r).
        **options: Any other experiment key (group_size, train_fraction, name,
            runs, discretization_range, plots).
    """

    PARAMS = EXPERIMENT_PARAMS

    def __init__(
        self,
        dataset: Any = "harmonics",
        network: Component | None = None,
        recorder: Component | None = None,
        estimators: Sequence[Any] | Any | None = None,
        n_runs: int = 1,
        seed: int = 0,
        *,
        config: Config | None = None,
        **options: Any,
    ) -> None:
        if config is None:
            config = Config.from_dict(
                _flat_config(dataset, network, recorder, estimators, n_runs, seed, options),
                where="Experiment(...)",
            )
        self.config = config

    # ----------------------------------------------------------- construction
    @classmethod
    def from_toml(cls, path: str | Path, overrides: Iterable[str] = ()) -> "Experiment":
        """The experiment described by a TOML file, with ``key=value`` overrides."""
        return cls(config=Config.from_toml(path, overrides))

    @classmethod
    def from_config(cls, config: Config) -> "Experiment":
        """The experiment of an existing config."""
        return cls(config=config)

    # ------------------------------------------------------------- components
    @property
    def network(self) -> Network:
        """The :class:`~ibsim.networks.Network` of this experiment."""
        return self.config.components.network

    @property
    def recorder(self) -> Recorder:
        """The :class:`~ibsim.recording.Recorder` of this experiment."""
        return self.config.components.recorder

    @property
    def dataset(self) -> Dataset:
        """The :class:`~ibsim.datasets.Dataset` of this experiment."""
        return self.config.components.dataset

    @property
    def estimators(self) -> list[Estimator]:
        """The estimators of this experiment, in config order."""
        return list(self.config.components.estimators)

    # -------------------------------------------------------------------- run
    def run(self, output: str | Path | None = None, options: RunOptions | None = None, **changes: Any) -> Results | None:
        """Train, record, estimate and write the results.

        Args:
            output: NetCDF file to write. Without one, the results are written to a
                temporary file and returned in memory.
            options: How to run: :class:`~ibsim.pipeline.options.RunOptions`
                (backend, jobs, data_dir, quiet, resume).
            **changes: Single run options over ``options``, e.g.
                ``exp.run("out.nc", jobs=2)``.

        Returns:
            The :class:`~ibsim.results.Results`: opened from ``output``, or
            loaded into memory without one (None on MPI ranks other than 0).
        """
        options = RunOptions.from_kwargs(options, **changes)
        with tempfile.TemporaryDirectory(prefix="ibsim-") as scratch:
            path = Path(output) if output is not None else Path(scratch) / "results.nc"
            written = run_experiments([self.config], [path], options)
            if not written:
                return None
            return Results.load(written[0]) if output is None else Results.open(written[0])

    def __repr__(self) -> str:
        return f"Experiment(name={self.config.name!r}, dataset={self.config.dataset!r}, n_runs={self.config.n_runs})"


def _flat_config(
    dataset: Any,
    network: Component | None,
    recorder: Component | None,
    estimators: Any,
    n_runs: int,
    seed: int,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The flat config dict of the Python constructor's arguments."""
    for value, cls, label in ((network, Network, "network"), (recorder, Recorder, "recorder")):
        if value is not None and not isinstance(value, cls):
            raise ConfigError(f"Experiment's '{label}' must be a {cls.__name__}, got {value!r}")
    flat: dict[str, Any] = {}
    flat.update((network or Network()).get_params())
    flat.update((recorder or Recorder()).get_params())
    overlap = sorted(set(options) & set(flat))
    if overlap:
        raise ConfigError(
            f"Experiment got {overlap} both as its own arguments and through network/recorder; "
            "set them on the Network or Recorder"
        )
    flat["dataset"] = dataset  # a Dataset instance is kept by the config (it may hold its arrays)
    if estimators is not None:
        items = estimators if isinstance(estimators, (list, tuple)) else [estimators]
        flat["estimator"] = [e.spec if isinstance(e, Component) else e for e in items]
    flat["n_runs"] = n_runs
    flat["seed"] = seed
    flat.update(options)
    return flat
