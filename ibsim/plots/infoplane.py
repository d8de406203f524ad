"""The information plane: I(X;T) against I(T;Y), one trajectory per layer."""
from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from ibsim.errors import NoFiniteRunError
from ibsim.params import AnyOf, Boolean, Constant, Interval, Param, String
from ibsim.pipeline.parts import DIVERGED
from ibsim.plots.base import PLOTS, Plot, epoch_norm, label, mean_over_runs

if TYPE_CHECKING:
    from ibsim.results import Results

Values = TypeVar("Values", xr.DataArray, xr.Dataset)


def _experiment(results: "Results") -> str:
    """"experiment 'name'" for messages."""
    return f"experiment '{results.dataset.attrs.get('name', '?')}'"


def require_a_finite_run(results: "Results") -> None:
    """Refuse a file in which every run diverged: a mean over the runs that did
    not diverge would be an empty plot.

    Raises:
        NoFiniteRunError: Every run has run_status 2 (diverged).
    """
    if "run_status" not in results.dataset:
        return  # the mean over runs names the missing variable
    status = results.dataset["run_status"].values
    if status.size and (status == DIVERGED).all():
        raise NoFiniteRunError(f"no finite run to plot: all {status.size} run(s) of {_experiment(results)} "
                               "diverged (run_status = 2)")


def finite_mean(values: Values, results: "Results", what: str) -> Values:
    """The mean over the runs that did not diverge (:func:`~ibsim.plots.base.mean_over_runs`,
    which warns naming the runs left out), refusing when nothing finite is left to draw.

    Args:
        values: Variables with a ``run`` dimension (all of a Dataset's must be
            finite at a point for it to count).
        results: Their results file.
        what: What they are, for the message (e.g. "binning estimate").

    Raises:
        NoFiniteRunError: Every run diverged, or the mean has no finite point.
    """
    require_a_finite_run(results)
    mean = mean_over_runs(values, results)
    variables = list(mean.data_vars.values()) if isinstance(mean, xr.Dataset) else [mean]
    if not np.logical_and.reduce([np.isfinite(np.asarray(v.values)) for v in variables]).any():
        raise NoFiniteRunError(f"no finite run to plot: every {what} of {_experiment(results)} is NaN")
    return mean


def draw_infoplane(ax, ixt: np.ndarray, ity: np.ndarray, epochs: np.ndarray, norm, cmap, layers, alpha=1.0,
                   annotate=True) -> None:
    """Draw trajectories (layers x epochs) on ``ax``, points coloured by epoch."""
    for k, layer in enumerate(layers):
        x, y = ixt[:, k], ity[:, k]
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        ax.plot(x[ok], y[ok], color="0.6", lw=0.8, alpha=alpha, zorder=1)
        ax.scatter(x[ok], y[ok], c=np.maximum(epochs[ok], norm.vmin), cmap=cmap, norm=norm, s=14,
                   alpha=alpha, edgecolors="none", zorder=2)
        if annotate:
            last = np.flatnonzero(ok)[-1]
            ax.annotate(f"{layer}", (x[last], y[last]), xytext=(4, 4), textcoords="offset points", fontsize=9)


@PLOTS.register("infoplane", "informationplane", "plotter.informationplane")
class InfoPlane(Plot):
    """I(X;T) against I(T;Y): one line per layer (labelled at its last epoch),
    points coloured by epoch, mean over runs (diverged runs left out)."""

    name = "infoplane"
    PARAMS = {
        "estimator": Param(AnyOf(Constant(None), String(), Interval(int, 0, None)), None,
                           "which estimate (default: the first)"),
        "per_run": Param(Boolean(), False, "also draw every run's trajectory, faintly"),
    }

    def figure(self, results: "Results") -> Figure:
        info = results.information(self.estimator)
        estimator = str(info["estimator"].values)
        mean = finite_mean(info[["I_XT", "I_TY"]], results, f"{estimator} estimate")
        epochs = info["epoch"].values
        layers = info["layer"].values
        norm = epoch_norm(epochs)
        cmap = colormaps["viridis"]
        fig = Figure(figsize=(7, 5.2))
        ax = fig.add_subplot()
        if self.per_run:
            for run in info["run"].values:
                draw_infoplane(ax, info["I_XT"].sel(run=run).values, info["I_TY"].sel(run=run).values,
                               epochs, norm, cmap, layers, alpha=0.15, annotate=False)
        draw_infoplane(ax, mean["I_XT"].values, mean["I_TY"].values, epochs, norm, cmap, layers)
        ax.set_xlabel(label(info["I_XT"]))
        ax.set_ylabel(label(info["I_TY"]))
        n_runs = info.sizes["run"]
        ax.set_title(f"{results.dataset.attrs.get('name', '')}: {estimator}, mean of {n_runs} run(s)", fontsize=10)
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="epoch")
        ax.grid(alpha=0.3)
        return fig
