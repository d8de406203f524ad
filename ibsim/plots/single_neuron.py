"""Single neurons over training: the median activation of a few neurons per
layer and the band of the middle 80 % of the samples, epoch by epoch."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ibsim.params import Interval, Param
from ibsim.plots.activations import (
    activation_cubes,
    check_run,
    epoch_ticks,
    layer_title,
    panel_grid,
    quiet_quantiles,
    require_finite_activations,
    run_description,
)
from ibsim.plots.base import PLOTS, Plot, label

if TYPE_CHECKING:
    from ibsim.results import Results

#: Quantiles of the band around the median.
BAND = (0.1, 0.9)


@PLOTS.register("single_neuron", "activations_single_neuron", "plotter.activations_single_neuron")
class SingleNeuron(Plot):
    """Median activation of the first neurons of each layer over epochs, with the 10-90 % band over samples."""

    name = "single_neuron"
    PARAMS = {
        "neurons": Param(Interval(int, 1, None), 3, "neurons shown per layer (the first ones)"),
        "run": Param(Interval(int, 0, None), 0, "index of the run to show"),
    }

    def figure(self, results: "Results") -> Figure:
        cubes = activation_cubes(results)
        check_run(self.run, results, self.owner())
        require_finite_activations(self.run, results)
        ds = results.dataset
        epochs = ds["epoch"].values
        x = np.arange(len(epochs))
        colours = colormaps["tab10"].colors
        cols = min(len(cubes), 3)
        rows = math.ceil(len(cubes) / cols)
        fig = Figure(figsize=(4.6 * cols, 3.3 * rows + 0.9), layout="constrained")
        axes = panel_grid(fig, len(cubes))
        shown = 0
        for ax, (layer, cube) in zip(axes, cubes):
            n = min(self.neurons, cube.shape[-1])
            shown = max(shown, n)
            values = np.asarray(cube.isel(run=self.run).isel({cube.dims[-1]: slice(0, n)}).values, dtype=np.float64)
            low, median, high = quiet_quantiles(values, [BAND[0], 0.5, BAND[1]], axis=1)  # (epoch, neuron) each
            for j in range(n):
                colour = colours[j % len(colours)]
                ok = np.isfinite(median[:, j])
                ax.fill_between(x, low[:, j], high[:, j], where=ok, color=colour, alpha=0.15, lw=0)
                for edge in (low[:, j], high[:, j]):  # band edges: tell overlapping bands apart
                    ax.plot(x[ok], edge[ok], color=colour, lw=0.6, alpha=0.6)
                ax.plot(x[ok], median[ok, j], color=colour, lw=1.4, marker="o", ms=2.5)
            width = cube.shape[-1]
            ax.set_title(layer_title(results, layer) + (f", first {n} shown" if n < width else ""), fontsize=10)
            epoch_ticks(ax, epochs)
            ax.set_xlabel("epoch (recorded epochs, evenly spaced)", fontsize=9)
            ax.set_ylabel(label(cube), fontsize=9)
            ax.grid(alpha=0.3)
        handles = [Line2D([], [], color=colours[j % len(colours)], lw=1.4, marker="o", ms=2.5,
                          label=f"neuron {j}: median over samples") for j in range(shown)]
        handles.append(Patch(color="0.5", alpha=0.3, label=f"{BAND[0]:.0%}-{BAND[1]:.0%} of samples"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=9,
                   frameon=False)
        fig.suptitle(f"{ds.attrs.get('name', '')}: single neurons of {run_description(self.run, results)}",
                     fontsize=11)
        return fig
