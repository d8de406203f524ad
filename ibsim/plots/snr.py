"""Gradient statistics over training: the norms of the gradient's mean and
standard deviation, their ratio (the signal-to-noise ratio) and the weight norm,
per layer on log-log axes."""
from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ibsim.errors import ResultsFileError
from ibsim.params import Boolean, Param
from ibsim.plots.activations import layer_title
from ibsim.plots.base import PLOTS, Plot, label, mean_over_runs
from ibsim.plots.infoplane import require_a_finite_run

if TYPE_CHECKING:
    from ibsim.results import Results

#: The rows of the grid, top to bottom.
VARIABLES = ("grad_mean", "grad_std", "grad_snr", "weight_norm")


@PLOTS.register("snr", "plotter.snr")
class SNR(Plot):
    """Gradient mean and standard deviation norms, their signal-to-noise ratio and the weight norm per layer."""

    name = "snr"
    PARAMS = {
        "per_run": Param(Boolean(), False, "also draw every run, faintly"),
    }

    def figure(self, results: "Results") -> Figure:
        ds = results.dataset
        missing = [v for v in VARIABLES if v not in ds]
        if missing:
            raise ResultsFileError(
                f"this file has no gradient statistics ({', '.join(missing)} missing): run with "
                "record_gradients = true (files written before ibsim recorded them lack them too)"
            )
        require_a_finite_run(results)  # (without gradient statistics its panels say "no data")
        epochs = ds["epoch"].values
        positive = epochs > 0
        layers = [int(k) for k in ds["layer"].values]
        n_cols = len(layers)
        fig = Figure(figsize=(max(2.7 * n_cols, 6.0), 2.3 * len(VARIABLES) + 0.6), layout="constrained")
        grid = fig.subplots(len(VARIABLES), n_cols, sharex=True, sharey="row", squeeze=False)
        stats = ds[list(VARIABLES)].sel(epoch=epochs[positive])
        means = mean_over_runs(stats, results)  # one warning for diverged runs, not four
        for row, variable in enumerate(VARIABLES):
            var, mean = stats[variable], means[variable]
            for col, layer in enumerate(layers):
                ax = grid[row, col]
                x = epochs[positive]
                if self.per_run:
                    for run in range(var.sizes["run"]):
                        y = var.isel(run=run).sel(layer=layer).values
                        ok = np.isfinite(y) & (y > 0)
                        ax.plot(x[ok], y[ok], color="C0", lw=0.7, alpha=0.25)
                y = mean.sel(layer=layer).values
                ok = np.isfinite(y) & (y > 0)
                if ok.any():
                    ax.plot(x[ok], y[ok], color="C0", lw=1.5)
                    ax.set_xscale("log")
                    ax.set_yscale("log")
                else:
                    ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.5")
                ax.grid(alpha=0.3, which="major")
                if row == 0:
                    ax.set_title(layer_title(results, layer), fontsize=9)
                if col == 0:
                    ax.set_ylabel(textwrap.fill(label(ds[variable]), 24), fontsize=9)
                if row == len(VARIABLES) - 1:
                    ax.set_xlabel("epoch", fontsize=9)
                ax.tick_params(which="both", labelsize=8)
        n_runs = ds.sizes["run"]
        faint = ", faint: single runs" if self.per_run else ""
        fig.suptitle(f"{ds.attrs.get('name', '')}: gradients and weights per layer, mean of {n_runs} run(s){faint}",
                     fontsize=11)
        return fig
