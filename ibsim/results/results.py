"""The results of an experiment: a labelled xarray Dataset, saved as NetCDF."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ibsim.errors import ConfigError, ResultsFileError
from ibsim.resultsfile.schema import MI_SPLIT_DIM, STANDARD_ERRORS, VARIABLE_ATTRS
from ibsim.resultsfile.reader import file_of, naming_file, open_dataset, require
from ibsim.resultsfile.writer import write_dataset
from ibsim.config.config import Config
from ibsim.plots import make_plot


class Results:
    """Wraps the :class:`xarray.Dataset` of a results file.

    The dataset holds ``I_XT`` and ``I_TY`` (estimator, run, epoch, layer) in
    bits, their standard errors ``I_XT_se`` and ``I_TY_se`` when an estimator
    of the file reports one (:meth:`standard_error`), loss and accuracy (run, epoch, split), the activation cubes
    ``activations_<k>`` (run, epoch, sample, neuron_<k>), the labels and the full
    config; ``docs/results-format.md`` lists everything. Files open with plain
    xarray too: ``xr.open_dataset("results.nc")``.

    Args:
        dataset: The dataset.
        path: The file it was read from, if any.
    """

    def __init__(self, dataset: xr.Dataset, path: str | Path | None = None) -> None:
        self.dataset = dataset
        self.path = Path(path) if path is not None else None

    # ------------------------------------------------------------------- I/O
    @classmethod
    def open(cls, path: str | Path) -> "Results":
        """Open a results file lazily (activations are read when used).

        Raises:
            ResultsFileError: The file is not a readable, complete results file
                of a format this ibsim reads, or its layout is damaged (see
                :func:`~ibsim.resultsfile.reader.open_dataset`).
        """
        return cls(open_dataset(path), path)

    @classmethod
    def load(cls, path: str | Path) -> "Results":
        """Read a results file completely into memory (refused as :meth:`open` refuses)."""
        return cls(open_dataset(path, load=True), None)

    def save(self, path: str | Path) -> Path:
        """Write the results to ``path`` (atomically) and return the path."""
        path = Path(path)
        write_dataset(self.dataset.load(), path)
        return path

    def close(self) -> None:
        """Close the underlying file."""
        self.dataset.close()

    def __enter__(self) -> "Results":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- checks
    @property
    def source(self) -> str:
        """The file to name in messages (``"the results"`` for results built in memory)."""
        return file_of(self.dataset, self.path) or "the results"

    def require(self, *names: str, needed_by: str, hint: str = "") -> None:
        """Raise unless the results hold every variable of ``names``.

        Args:
            *names: The variables needed.
            needed_by: Who needs them, for the message (e.g. ``"the snr plot"``).
            hint: What to do about it, appended to the message.

        Raises:
            ResultsFileError: One line naming the file and the missing variables.
        """
        require(self.dataset, names, needed_by, self.path, hint)

    def file_error(self, message: str) -> ResultsFileError:
        """A :class:`~ibsim.errors.ResultsFileError` with ``message``, naming the file if it does not yet."""
        return ResultsFileError(naming_file(message, self.dataset, self.path))

    # ---------------------------------------------------------------- access
    @property
    def config(self):
        """The :class:`~ibsim.config.Config` that produced these results."""
        text = self.dataset.attrs.get("config", "")
        try:
            # a file must not make ibsim run code: its plug-in modules are not imported
            return Config.from_dict(tomllib.loads(text), where="results file config", import_plugins=False)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"the stored config cannot be read: {error}") from None

    @property
    def estimators(self) -> list[str]:
        """Labels of the estimates in the file."""
        return [str(e) for e in self.dataset["estimator"].values]

    @property
    def splits(self) -> list[str]:
        """The splits the mutual information was estimated on, in the config's order."""
        if MI_SPLIT_DIM in self.dataset.dims:
            return [str(s) for s in self.dataset[MI_SPLIT_DIM].values]
        return [str(self.dataset.attrs.get("recorded_split", "full_dataset"))]

    def information(self, estimator: str | int | None = None, split: str | None = None) -> xr.Dataset:
        """``I_XT`` and ``I_TY`` (run, epoch, layer) of one estimator (default:
        the first) on one split (default: the first estimated)."""
        self.require("I_XT", "I_TY", needed_by="the information plane")
        return self.select_split(self.dataset[["I_XT", "I_TY"]].isel(estimator=self._estimator_index(estimator)),
                                 split)

    def standard_error(self, estimator: str | int | None = None, split: str | None = None) -> xr.Dataset:
        """The standard errors ``I_XT_se`` and ``I_TY_se`` (run, epoch, layer) of
        one estimator's estimates, chosen as :meth:`information` chooses them.

        Estimators that report no error (all but Monte Carlo ones such as
        ``sp``) have NaN, and so has every estimate of a file written before
        ibsim stored errors (format 1.1 and older) or without an estimator that
        reports one.

        Args:
            estimator: The estimate's label, name or position (default: the first).
            split: The estimated split (default: the first).

        Returns:
            A Dataset with ``I_XT_se`` and ``I_TY_se`` in bits, dims as :meth:`information`'s.
        """
        index = self._estimator_index(estimator)
        information = self.information(index, split)
        errors = {}
        for name, error in STANDARD_ERRORS.items():
            if error in self.dataset.variables:
                errors[error] = self.select_split(self.dataset[error].isel(estimator=index), split)
            else:
                errors[error] = xr.full_like(information[name], np.nan, dtype=np.float64)
                errors[error].attrs = dict(VARIABLE_ATTRS[error])
        return xr.Dataset(errors)

    def _estimator_index(self, estimator: str | int | None) -> int:
        """The position on the ``estimator`` dimension of an estimate's label,
        name or position (None: the first).

        Raises:
            ConfigError: No such estimate; names those there are.
        """
        labels = self.estimators
        if estimator is None:
            index = 0
        elif isinstance(estimator, (int, np.integer)):
            index = int(estimator)
            if not 0 <= index < len(labels):
                raise ConfigError(
                    f"estimate position {index} is outside 0..{len(labels) - 1}; available: {', '.join(labels)}"
                )
        else:
            matches = [i for i, label in enumerate(labels) if label == estimator or label.split("(")[0] == estimator]
            if not matches:
                raise ConfigError(f"no estimate '{estimator}' in these results; available: {', '.join(labels)}")
            index = matches[0]
        return index

    def select_split(self, values: xr.Dataset | xr.DataArray, split: str | None = None):
        """``values`` on one estimated split (default: the first); unchanged when
        the results estimate a single split (which ``split``, if given, must be).

        Raises:
            ConfigError: The split was not estimated; names those that were.
        """
        splits = self.splits
        if split is not None and split not in splits:
            raise ConfigError(f"{self.source} has no estimates on the {split!r} split; estimated: "
                              f"{', '.join(splits)} (ibsim estimate --split estimates on another)")
        if MI_SPLIT_DIM not in values.dims:
            return values
        return values.sel({MI_SPLIT_DIM: split or splits[0]})

    def completed_runs(self) -> xr.DataArray:
        """Boolean per run: True unless the run diverged."""
        self.require("run_status", needed_by="the runs' status")
        return self.dataset["run_status"] != 2

    # ----------------------------------------------------------------- plots
    def plot(self, kind: str = "infoplane", path: str | Path | None = None, **options: Any):
        """Draw a registered plot (see ``ibsim.plots.PLOTS``); save it if ``path`` is given.

        Returns:
            The matplotlib Figure.
        """
        return make_plot(kind, **options).draw(self, path)

    def plot_infoplane(self, path: str | Path | None = None, **options: Any):
        """The information plane: I(X;T) against I(T;Y), a line per layer,
        coloured by epoch, mean over runs."""
        return self.plot("infoplane", path, **options)

    def __repr__(self) -> str:
        ds = self.dataset
        where = f" from {self.path}" if self.path else ""
        return (
            f"<Results{where}: {ds.attrs.get('name', '?')}, {ds.sizes.get('run', 0)} runs, "
            f"{ds.sizes.get('epoch', 0)} epochs, {ds.sizes.get('layer', 0)} layers, "
            f"estimators {self.estimators}>"
        )
