"""The plot interface and registry."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from ibsim.component import Component
from ibsim.spec import parse_spec
from ibsim.errors import ResultsFileError
from ibsim.paths import check_output_file
from ibsim.registry import Registry
from ibsim.resultsfile.reader import missing_variable

if TYPE_CHECKING:
    from ibsim.results import Results


class Plot(Component):
    """A figure drawn from a results file. Subclasses implement :meth:`figure`."""

    kind = "plot"
    #: File suffix of the saved figure.
    suffix = ".png"

    def figure(self, results: "Results") -> Figure:
        raise NotImplementedError

    def draw(self, results: "Results", path: str | Path | None = None) -> Figure:
        """Draw the figure and, given a path, save it there.

        Raises:
            ResultsFileError: The results lack a variable the plot needs; one
                line naming the file and the variable (nothing is saved).
        """
        try:
            fig = self.figure(results)
        except ResultsFileError as error:
            raise results.file_error(str(error)) from None
        except KeyError as error:
            name = missing_variable(error, results.dataset)
            if name is None:
                raise
            results.require(name, needed_by=f"the {self.owner()}")  # raises: the results lack it
            raise
        return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path | None) -> Figure:
    """Save ``fig`` at ``path`` if one is given (making its folder) and return it.

    Raises:
        OutputError: ``path`` is a folder, device, socket or FIFO.
    """
    if path is not None:
        check_output_file(path, "plot")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


PLOTS: Registry[type[Plot]] = Registry("plot", "ibsim.plots")


def make_plot(kind: str, **options: Any) -> Plot:
    """The plot ``kind`` (a name or spec) with ``options``."""
    name, params = parse_spec(kind)
    params.update(options)
    return PLOTS.get(name)(**params)


def label(var: xr.DataArray) -> str:
    """An axis label from CF attributes: "long_name [units]"."""
    name = var.attrs.get("long_name", var.name)
    units = var.attrs.get("units")
    return f"{name} [{units}]" if units and units != "1" else str(name)


def mean_over_runs(var: xr.DataArray, results: "Results") -> xr.DataArray:
    """Mean over the runs that did not diverge; warns naming the excluded runs."""
    results.require("run_status", needed_by="the mean over runs")
    status = results.dataset["run_status"]
    diverged = [int(r) for r in results.dataset["run"].values[(status == 2).values]]
    if diverged:
        warnings.warn(f"runs {diverged} diverged and are left out of the mean", stacklevel=3)
    kept = var.sel(run=results.dataset["run"][(status != 2).values])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices after early stops
        return kept.mean("run", skipna=True, keep_attrs=True)


def epoch_norm(epochs: np.ndarray):
    """A colour norm for epochs: logarithmic when they span decades."""

    positive = epochs[epochs > 0]
    if positive.size and positive.max() / positive.min() >= 100:
        return LogNorm(vmin=positive.min(), vmax=positive.max())
    return Normalize(vmin=epochs.min(), vmax=max(epochs.max(), epochs.min() + 1))
