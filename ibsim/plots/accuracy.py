"""Learning curves: training and test accuracy and loss over epochs."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ibsim.errors import ResultsFileError
from ibsim.params import Boolean, Param
from ibsim.plots.base import PLOTS, Plot, label
from ibsim.plots.infoplane import finite_mean

if TYPE_CHECKING:
    from ibsim.results import Results

SPLIT_COLOURS = {"training": "C0", "test": "C1"}
SPLIT_STYLES = {"training": "-", "test": "--"}


def set_epoch_scale(ax, epochs: np.ndarray) -> None:
    """A symmetric-log epoch axis (epoch 0 included) when epochs span decades."""
    positive = epochs[epochs > 0]
    if positive.size and positive.max() / positive.min() >= 100:
        ax.set_xscale("symlog", linthresh=1, linscale=0.5)


@PLOTS.register("accuracy")
class Accuracy(Plot):
    """Training and test accuracy and loss over epochs: mean over runs, each run faintly."""

    name = "accuracy"
    PARAMS = {
        "per_run": Param(Boolean(), True, "also draw every run, faintly"),
    }

    def figure(self, results: "Results") -> Figure:
        ds = results.dataset
        missing = [v for v in ("accuracy", "loss") if v not in ds]
        if missing:
            raise ResultsFileError(f"this file has no {' or '.join(missing)} variable: it is not a complete ibsim "
                                   "results file; run the experiment again to get one")
        epochs = ds["epoch"].values
        curves = ds[["accuracy", "loss"]]
        means = finite_mean(curves, results, "accuracy and loss")
        n_runs = ds.sizes["run"]
        fig = Figure(figsize=(11, 4.4), layout="constrained")
        axes = fig.subplots(1, 2, sharex=True)
        for ax, variable in zip(axes, ("accuracy", "loss")):
            for split in [str(s) for s in ds["split"].values]:
                colour = SPLIT_COLOURS.get(split, None)
                style = SPLIT_STYLES.get(split, "-")
                if self.per_run:
                    for run in range(n_runs):
                        y = curves[variable].isel(run=run).sel(split=split).values
                        ok = np.isfinite(y)
                        ax.plot(epochs[ok], y[ok], color=colour, ls=style, lw=0.8, alpha=0.35)
                y = means[variable].sel(split=split).values
                ok = np.isfinite(y)
                ax.plot(epochs[ok], y[ok], color=colour, ls=style, lw=1.8,
                        label=f"{split} (mean of {n_runs} run{'s' if n_runs > 1 else ''})")
            set_epoch_scale(ax, epochs)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label(ds[variable]))
            ax.grid(alpha=0.3)
        loss = means["loss"].values
        positive = loss[np.isfinite(loss) & (loss > 0)]
        if positive.size and positive.max() / positive.min() >= 10:
            axes[1].set_yscale("log")
        axes[0].legend(fontsize=9, title="faint: single runs" if self.per_run and n_runs > 1 else None,
                       title_fontsize=8)
        axes[0].set_title("accuracy", fontsize=10)
        axes[1].set_title("loss", fontsize=10)
        fig.suptitle(f"{ds.attrs.get('name', '')}: learning curves", fontsize=11)
        return fig
