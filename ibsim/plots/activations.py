"""Activation histograms over training: one image per layer, epochs on x,
activation value on y, colour = number of activations in each bin.

Also holds the helpers the activation plots share (finding the cubes, choosing
the run, the recorded-epoch axis).
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from ibsim.errors import ConfigError, NoFiniteRunError, ResultsFileError
from ibsim.params import AnyOf, Constant, Interval, Param
from ibsim.plots.base import PLOTS, Plot, label

if TYPE_CHECKING:
    from ibsim.results import Results

#: Bins of each column of the histogram image (the seed's plotter uses 30).
BINS = 30
STATUS = {0: "completed", 1: "early stopped", 2: "diverged"}


def activation_cubes(results: "Results") -> list[tuple[int, xr.DataArray]]:
    """``(layer, activations_<layer>)`` for every layer of the file.

    Raises:
        ResultsFileError: The file kept no activations (or not every layer's).
    """
    ds = results.dataset
    layers = [int(k) for k in ds["layer"].values]
    missing = [f"activations_{k}" for k in layers if f"activations_{k}" not in ds]
    if len(missing) == len(layers):
        raise ResultsFileError(
            f"this file has no activation cubes ({', '.join(missing)} missing): "
            "run with save_activations = true to keep them"
        )
    if missing:
        raise ResultsFileError(
            f"this file lacks the activation cube(s) {', '.join(missing)}: "
            "run with save_activations = true to keep every layer's activations"
        )
    return [(k, ds[f"activations_{k}"]) for k in layers]


def check_run(run: int | str, results: "Results", owner: str) -> None:
    """Refuse a run index that is not in the file."""
    n_runs = results.dataset.sizes["run"]
    if run != "all" and run >= n_runs:
        raise ConfigError(
            f"The 'run' parameter of {owner} is {run}, but this file has {n_runs} run(s) "
            f"(indices 0..{n_runs - 1}, or \"all\")"
        )


def require_finite_activations(run: int | str, results: "Results") -> None:
    """Refuse a run (or ``"all"``) without a single finite recorded activation
    (from the recorded ranges, without reading the cubes).

    Raises:
        NoFiniteRunError: Nothing finite to draw (the run diverged at its first recorded epoch).
    """
    ds = results.dataset
    if "activation_min" not in ds:
        return
    runs = slice(None) if run == "all" else [run]
    if not np.isfinite(ds["activation_min"].isel(run=runs).values).any():
        raise NoFiniteRunError(f"no finite run to plot: {run_description(run, results)} of experiment "
                               f"'{ds.attrs.get('name', '?')}' has no finite activation")


def run_description(run: int | str, results: "Results") -> str:
    """"run 3 (early stopped at epoch 40)" or "all 8 runs pooled"."""
    ds = results.dataset
    if run == "all":
        return f"all {ds.sizes['run']} runs pooled"
    label_ = int(ds["run"].values[run])
    text = f"run {label_}" + (f" (position {run} in the file)" if label_ != run else "")
    status = int(ds["run_status"].values[run]) if "run_status" in ds else 0
    if status:
        text += f" ({STATUS.get(status, 'status ' + str(status))}"
        if "stop_epoch" in ds:
            text += f" at epoch {int(ds['stop_epoch'].values[run])}"
        text += ")"
    return text


def layer_title(results: "Results", layer: int) -> str:
    """"layer 2 (5 neurons)" or "layer 6: read-out (2 neurons)"."""
    ds = results.dataset
    layers = [int(k) for k in ds["layer"].values]
    width = int(ds["layer_width"].sel(layer=layer)) if "layer_width" in ds else None
    readout = ": read-out" if layer == layers[-1] else ""
    neurons = f" ({width} neurons)" if width is not None else ""
    return f"layer {layer}{readout}{neurons}"


def epoch_ticks(ax, epochs: np.ndarray, max_ticks: int = 8) -> None:
    """Label the x axis of recorded-epoch columns (0..E-1) with epoch numbers."""
    n = len(epochs)
    step = max(1, math.ceil(n / max_ticks))
    ticks = np.arange(0, n, step)
    if n - 1 - ticks[-1] >= step / 2:  # show the last epoch when there is room
        ticks = np.append(ticks, n - 1)
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(int(epochs[i])) for i in ticks], rotation=45, ha="right", fontsize=8)
    ax.set_xlim(-0.5, n - 0.5)


def panel_grid(fig: Figure, n: int, max_cols: int = 3) -> list:
    """Exactly ``n`` axes on a grid of at most ``max_cols`` columns."""
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    return [fig.add_subplot(rows, cols, i + 1) for i in range(n)]


def value_range(results: "Results", layer: int, cube: xr.DataArray, runs) -> tuple[float, float]:
    """Smallest and largest activation of ``layer`` in ``runs`` over all epochs."""
    ds = results.dataset
    if "activation_min" in ds and "activation_max" in ds:
        lo = float(np.nanmin(ds["activation_min"].sel(layer=layer).isel(run=runs).values, initial=np.inf))
        hi = float(np.nanmax(ds["activation_max"].sel(layer=layer).isel(run=runs).values, initial=-np.inf))
    else:
        lo, hi = np.inf, -np.inf
        for e in range(cube.sizes["epoch"]):
            values = cube.isel(run=runs, epoch=e).values
            if np.isfinite(values).any():
                lo, hi = min(lo, float(np.nanmin(values))), max(hi, float(np.nanmax(values)))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-9:
        return lo - 0.5, hi + 0.5
    return lo, hi


def histogram_image(cube: xr.DataArray, runs, edges: np.ndarray) -> np.ndarray:
    """Counts (bins, epochs): one non-normalized histogram per recorded epoch,
    pooled over samples, neurons and ``runs``; NaN (runs that stopped) skipped."""
    counts = np.zeros((len(edges) - 1, cube.sizes["epoch"]), dtype=np.int64)
    for e in range(cube.sizes["epoch"]):
        values = np.asarray(cube.isel(run=runs, epoch=e).values, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        counts[:, e] = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
    return counts


@PLOTS.register("activations", "plotter.activations")
class Activations(Plot):
    """Histograms of each layer's activations over epochs (30 bins a column), of one run or all runs."""

    name = "activations"
    PARAMS = {
        "run": Param(AnyOf(Constant("all"), Interval(int, 0, None)), 0,
                     'index of the run to show, or "all" to pool every run'),
    }

    def figure(self, results: "Results") -> Figure:
        cubes = activation_cubes(results)
        check_run(self.run, results, self.owner())
        require_finite_activations(self.run, results)
        ds = results.dataset
        runs = list(range(ds.sizes["run"])) if self.run == "all" else [self.run]
        epochs = ds["epoch"].values
        cols = min(len(cubes), 3)
        rows = math.ceil(len(cubes) / cols)
        fig = Figure(figsize=(4.6 * cols, 3.4 * rows + 0.6), layout="constrained")
        axes = panel_grid(fig, len(cubes))
        cmap = colormaps["viridis"].with_extremes(bad="white", under="white")
        for ax, (layer, cube) in zip(axes, cubes):
            lo, hi = value_range(results, layer, cube, runs)
            edges = np.linspace(lo, hi, BINS + 1)
            counts = histogram_image(cube, runs, edges)
            positive = counts[counts > 0]
            if positive.size and positive.max() / positive.min() >= 100:
                norm = LogNorm(vmin=positive.min(), vmax=positive.max())
                shown = np.ma.masked_equal(counts, 0)
            else:
                norm = Normalize(vmin=0, vmax=max(int(counts.max()), 1))
                shown = np.ma.masked_equal(counts, 0)
            mesh = ax.pcolormesh(np.arange(len(epochs) + 1) - 0.5, edges, shown, cmap=cmap, norm=norm,
                                 shading="flat")
            fig.colorbar(mesh, ax=ax, label="number of activations", pad=0.02)
            epoch_ticks(ax, epochs)
            ax.set_xlabel("epoch (recorded epochs, evenly spaced)", fontsize=9)
            ax.set_ylabel(label(cube), fontsize=9)
            ax.set_title(layer_title(results, layer), fontsize=10)
            reached = np.flatnonzero(counts.sum(axis=0) > 0)
            if reached.size and reached[-1] < len(epochs) - 1:  # the run(s) stopped: mark where
                ax.axvline(reached[-1] + 0.5, color="0.3", lw=1, ls="--")
                ax.text(reached[-1] + 0.6, 0.98, "stopped", transform=ax.get_xaxis_transform(), ha="left",
                        va="top", fontsize=8, color="0.3")
        fig.suptitle(
            f"{ds.attrs.get('name', '')}: activations of {run_description(self.run, results)}, "
            f"{BINS} bins a column", fontsize=11,
        )
        return fig


def quiet_quantiles(values: np.ndarray, q, axis: int) -> np.ndarray:
    """``np.nanquantile`` without the warnings of all-NaN slices (stopped runs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(values, q, axis=axis)
