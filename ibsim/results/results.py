"""The results of an experiment: a labelled xarray Dataset, saved as NetCDF."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ibsim.errors import ConfigError
from ibsim.results.reader import open_dataset
from ibsim.results.writer import write_dataset


class Results:
    """Wraps the :class:`xarray.Dataset` of a results file.

    The dataset holds ``I_XT`` and ``I_TY`` (estimator, run, epoch, layer) in
    bits, loss and accuracy (run, epoch, split), the activation cubes
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
        """Open a results file lazily (activations are read when used)."""
        return cls(open_dataset(path), path)

    @classmethod
    def load(cls, path: str | Path) -> "Results":
        """Read a results file completely into memory."""
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

    # ---------------------------------------------------------------- access
    @property
    def config(self):
        """The :class:`~ibsim.config.Config` that produced these results."""
        from ibsim.config.config import Config

        text = self.dataset.attrs.get("config", "")
        try:
            return Config.from_dict(tomllib.loads(text), where="results file config")
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"the stored config cannot be read: {error}") from None

    @property
    def estimators(self) -> list[str]:
        """Labels of the estimates in the file."""
        return [str(e) for e in self.dataset["estimator"].values]

    def information(self, estimator: str | int | None = None) -> xr.Dataset:
        """``I_XT`` and ``I_TY`` (run, epoch, layer) of one estimator (default: the first)."""
        ds = self.dataset[["I_XT", "I_TY"]]
        labels = self.estimators
        if estimator is None:
            index = 0
        elif isinstance(estimator, (int, np.integer)):
            index = int(estimator)
        else:
            matches = [i for i, label in enumerate(labels) if label == estimator or label.split("(")[0] == estimator]
            if not matches:
                raise ConfigError(f"no estimate '{estimator}' in these results; available: {', '.join(labels)}")
            index = matches[0]
        return ds.isel(estimator=index)

    def completed_runs(self) -> xr.DataArray:
        """Boolean per run: True unless the run diverged."""
        return self.dataset["run_status"] != 2

    # ----------------------------------------------------------------- plots
    def plot(self, kind: str = "infoplane", path: str | Path | None = None, **options: Any):
        """Draw a registered plot (see ``ibsim.plots.PLOTS``); save it if ``path`` is given.

        Returns:
            The matplotlib Figure.
        """
        from ibsim.plots import make_plot

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
