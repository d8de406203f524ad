"""The experiment: a dataset, a network, a recorder and estimators, run as one."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from ibsim.component import Component
from ibsim.config.config import Config
from ibsim.errors import ConfigError
from ibsim.paths import name_problem
from ibsim.params import AnyOf, Boolean, Constant, Interval, ListOf, Options, Param, Predicate, String


def plot_file_label(entry: str) -> str:
    """The part of a plot's file name that an entry of ``plots`` stands for: the
    plot's canonical name, then the options the entry spells out, in a form safe
    in file names (``"plotter.informationplane"`` → ``"infoplane"``,
    ``"infoplane(per_run=true)"`` → ``"infoplane__per_run=true"``).

    Raises:
        ConfigError: The entry is not a plot name or spec.
    """
    from ibsim.config.spec import parse_spec
    from ibsim.config.sweep import point_name
    from ibsim.plots import make_plot

    _, options = parse_spec(entry)
    return point_name(make_plot(entry).name, options)


def _plot_names(value: Any) -> list[str]:
    """``plots``: plot names or specs (``"infoplane(per_run=true)"``), each
    parsed and built now, so that an unknown plot or option is refused with the
    config; two entries may not draw to the same file."""
    from ibsim.config.spec import parse_spec
    from ibsim.plots import PLOTS
    from ibsim.registry import did_you_mean

    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError
    labels: dict[str, str] = {}
    for entry in value:
        if not isinstance(entry, str):
            raise ValueError(f" Entry {entry!r} is not a string.")
        try:
            name, _ = parse_spec(entry)
            if name not in PLOTS:
                raise ValueError(f" Unknown plot {name!r}; valid: {', '.join(PLOTS.names())}."
                                 + did_you_mean(name, PLOTS.names()))
            label = plot_file_label(entry)
        except ConfigError as error:  # names the option and its valid values
            raise ValueError(f" Plot {entry!r}: {error}") from None
        if label in labels:
            raise ValueError(f" {labels[label]!r} and {entry!r} draw the same plot; list it once.")
        labels[label] = entry
    return list(value)


def _file_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    problem = name_problem(value)
    if problem:
        raise ValueError(f" It cannot name files: {problem}.")
    return value


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

    PARAMS = {
        "name": Param(
            AnyOf(Constant(None), Predicate(_file_name, "a file name")), None,
            "experiment name (default: the config file's name): one file name of at most 200 bytes, without "
            "'/', '\\', control characters or a leading '.'",
        ),
        "dataset": Param(String(), "harmonics", "dataset name or spec, e.g. harmonics or harmonics_generated(seed=1)"),
        "train_fraction": Param(
            Interval(float, 0, 1, "neither"), 0.8,
            "share of samples in the training split (datasets without a fixed split)",
        ),
        "n_runs": Param(Interval(int, 1, None), 1, "number of runs (repetitions)"),
        "seed": Param(Interval(int, 0, 2**63 - 1), 0, "experiment seed"),
        "group_size": Param(
            Interval(int, 1, None), 32,
            "runs trained together as one ensemble; fixed by the config, never by the hardware",
        ),
        "runs": Param(
            AnyOf(Constant(None), ListOf(Interval(int, 0, None), min_len=1, unique=True)), None,
            "train only these run indices (default: all n_runs)",
        ),
        "estimator": Param(
            AnyOf(String(), ListOf(String(), min_len=1)), "binning",
            "estimator name or spec, or a list of them",
        ),
        "discretization_range": Param(
            AnyOf(Constant(None), Interval(float, 0, None, "neither")), None,
            "the seed's estimator parameter, for the estimators that do not set their own: the bin size of "
            "binning, the noise variance of kde_upper, kde_lower and knn (the other estimators take none); refused "
            "when it would reach both kinds: then give each its own, e.g. [\"binning(bin_size=0.07)\", "
            "\"kde_upper(variance=0.001)\"]",
        ),
        "early_stopping": Param(
            AnyOf(Constant(False), Interval(float, 0, 1, "right")), False,
            "false, or a target accuracy: a run stops (and stops being recorded) at the end of the first "
            "epoch where its early_stopping_monitor reaches it (the seed's earlystopping_manual)",
        ),
        "early_stopping_monitor": Param(
            Options(["test_accuracy", "training_accuracy"],
                    aliases={"val_acc": "test_accuracy", "val_accuracy": "test_accuracy", "acc": "training_accuracy",
                             "accuracy": "training_accuracy"}),
            "test_accuracy", "the accuracy early_stopping watches (the seed's monitor 'val_acc' is test_accuracy)",
        ),
        "checkpoint_every": Param(
            Interval(int, 0, None), 500,
            "epochs between checkpoints of each group's training (0: none); `ibsim run --resume` "
            "continues an interrupted run from them",
        ),
        "inline_estimation": Param(
            Boolean(), True,
            "estimate each recorded epoch during training (estimators whose bins follow the whole "
            "trajectory always run afterwards); false: all estimation in separate units after training",
        ),
        "plots": Param(
            Predicate(_plot_names, "a list of plot names or specs"), ["infoplane"],
            "plots written next to the results file by `ibsim run`: names or specs with the plot's "
            "parameters (below), e.g. [\"infoplane(per_run=true)\", \"snr\"]; an unknown plot or "
            "parameter is refused with the config",
        ),
    }

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
    def network(self):
        """The :class:`~ibsim.networks.Network` of this experiment."""
        from ibsim.networks.network import Network

        return Network(**{k: self.config[k] for k in Network.PARAMS})

    @property
    def recorder(self):
        """The :class:`~ibsim.recording.Recorder` of this experiment."""
        from ibsim.recording.recorder import Recorder

        return Recorder(**{k: self.config[k] for k in Recorder.PARAMS})

    @property
    def dataset(self):
        """The :class:`~ibsim.datasets.Dataset` of this experiment."""
        from ibsim.config.spec import parse_spec
        from ibsim.datasets import DATASETS

        name, params = parse_spec(self.config.dataset)
        return DATASETS.get(name)(**params)

    @property
    def estimators(self) -> list:
        """The estimators of this experiment, in config order."""
        from ibsim.estimators import make_estimator

        return [make_estimator(spec) for spec in self.config.estimator]

    # -------------------------------------------------------------------- run
    def run(
        self,
        output: str | Path | None = None,
        *,
        data_dir: str | Path | None = None,
        backend: str = "auto",
        jobs: int | None = None,
        quiet: bool = True,
        resume: bool = False,
    ):
        """Train, record, estimate and write the results.

        Args:
            output: NetCDF file to write. Without one, the results are written to a
                temporary file and returned in memory.
            data_dir: Folder of downloaded datasets (default: ``IBSIM_DATA_DIR`` or
                the user cache).
            backend: "auto" (MPI under an MPI launcher, joblib with ``jobs`` > 1,
                else serial), "serial", "joblib" or "mpi".
            jobs: Workers of the joblib backend (default: all cores).
            quiet: Hide progress bars.
            resume: Continue an interrupted run of the same config and output.

        Returns:
            The :class:`~ibsim.results.Results`.
        """
        from ibsim.pipeline.runner import run_experiment

        return run_experiment(
            self.config, output, data_dir=data_dir, backend=backend, jobs=jobs, quiet=quiet, resume=resume
        )

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
    from ibsim.networks.network import Network
    from ibsim.recording.recorder import Recorder

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
    flat["dataset"] = dataset.spec if isinstance(dataset, Component) else dataset
    if estimators is not None:
        items = estimators if isinstance(estimators, (list, tuple)) else [estimators]
        flat["estimator"] = [e.spec if isinstance(e, Component) else e for e in items]
    flat["n_runs"] = n_runs
    flat["seed"] = seed
    flat.update(options)
    return flat
