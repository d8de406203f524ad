"""The experiment's own config keys (those of no component): dataset, runs,
seeds, estimators, plots and how the run is organised.

The network's and the recorder's keys are declared by
:class:`~ibsim.networks.Network` and :class:`~ibsim.recording.Recorder`;
:func:`ibsim.config.config.schema` puts the three together.
"""
from __future__ import annotations

from typing import Any

from ibsim.datasets import Dataset
from ibsim.errors import ConfigError
from ibsim.params import AnyOf, Boolean, Constant, Interval, ListOf, Options, Param, Predicate, String
from ibsim.paths import name_problem, point_name
from ibsim.plots import PLOTS, make_plot
from ibsim.registry import did_you_mean
from ibsim.spec import parse_spec


def plot_file_label(entry: str) -> str:
    """The part of a plot's file name that an entry of ``plots`` stands for: the
    plot's canonical name, then the options the entry spells out, in a form safe
    in file names (``"plotter.informationplane"`` → ``"infoplane"``,
    ``"infoplane(per_run=true)"`` → ``"infoplane__per_run=true"``).

    Raises:
        ConfigError: The entry is not a plot name or spec.
    """
    _, options = parse_spec(entry)
    return point_name(make_plot(entry).name, options)


def _plot_names(value: Any) -> list[str]:
    """``plots``: plot names or specs (``"infoplane(per_run=true)"``), each
    parsed and built now, so that an unknown plot or option is refused with the
    config; two entries may not draw to the same file."""
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


def _dataset(value: Any) -> Any:
    """``dataset``: a name or spec, or a :class:`~ibsim.datasets.Dataset` instance
    (kept as it is: ``Dataset.from_arrays`` holds its arrays)."""
    if isinstance(value, Dataset) or (isinstance(value, str) and value):
        return value
    raise ValueError


def _module_name(value: Any) -> str:
    if not isinstance(value, str) or not all(part.isidentifier() for part in value.split(".")):
        raise ValueError(f" {value!r} is not a module name (e.g. my_plugin or mypackage.datasets).")
    return value


def _file_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    problem = name_problem(value)
    if problem:
        raise ValueError(f" It cannot name files: {problem}.")
    return value



EXPERIMENT_PARAMS: dict[str, Param] = {
    "name": Param(
        AnyOf(Constant(None), Predicate(_file_name, "a file name")), None,
        "experiment name (default: the config file's name): one file name of at most 200 bytes, without "
        "'/', '\\', control characters or a leading '.'",
    ),
    "plugins": Param(
        AnyOf(Constant(None), ListOf(Predicate(_module_name, "a module name"), unique=True)), None,
        "modules to import before the rest of the config is read (in every worker and rank), e.g. "
        "[\"my_plugin\"]: their @DATASETS/@ESTIMATORS/@PLOTS.register lines make their names usable; "
        "they must be importable (installed or on PYTHONPATH); a config read back from a results file "
        "does not import them by itself",
    ),
    "dataset": Param(
        Predicate(_dataset, "a dataset name or spec, or a Dataset"), "harmonics",
        "dataset name or spec, e.g. harmonics, harmonics_generated(seed=1) or file(path=\"data.npz\") "
        "(your own .npz or .csv; docs/extending.md); in Python also a Dataset, e.g. Dataset.from_arrays(X, y)",
    ),
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
