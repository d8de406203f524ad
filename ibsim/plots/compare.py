"""Figures that compare several experiments or estimators side by side.

The registered plots (:mod:`ibsim.plots`) draw one results file each; these
functions draw many on one figure, for reproductions and papers:
:func:`infoplane_grid` (a grid of information planes, mean over runs) and
:func:`compression_chart` (ΔI(X;T) per layer with confidence intervals, from
:func:`ibsim.analysis.compression.compression`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from ibsim.errors import ConfigError
from ibsim.plots.base import epoch_norm, label, save_figure
from ibsim.plots.infoplane import (BANDS, annotate_layers, choose_band, draw_band, draw_infoplane, finite_mean,
                                   kept_runs)

if TYPE_CHECKING:
    from ibsim.results import Results


def infoplane_grid(
    panels: Sequence[Sequence[tuple[str, "Results", str | int | None]]],
    path: str | Path | None = None,
    *,
    title: str | None = None,
    same_axes: bool = False,
    band: str = "auto",
) -> Figure:
    """A grid of information planes, each the mean over its runs.

    Args:
        panels: Rows of panels; each panel is ``(title, results, estimator)``
            (say in ``title`` how many runs the means are of). Rows may differ
            in length: the grid is as wide as the longest row, and the cells a
            shorter row leaves empty are hidden.
        path: Where to save the figure (PNG), or None.
        title: A title over the whole figure.
        same_axes: Give every panel the same axis limits (to compare values,
            not only shapes).
        band: The band over runs around each mean point, as the ``band``
            option of the ``infoplane`` plot: "auto" (default), "bootstrap",
            "std" or "none".

    Returns:
        The figure (one colour bar for the epochs of all panels).

    Raises:
        ConfigError: ``panels`` has no panel, or ``band`` is not one of the bands.
        NoFiniteRunError: A panel has no finite run (every run diverged, or its
            estimates are all NaN); the message names the panel.
    """
    n_cols = max((len(row) for row in panels), default=0)
    if n_cols == 0:
        raise ConfigError("infoplane_grid needs at least one panel")
    if band not in BANDS:
        raise ConfigError(f"infoplane_grid: band must be one of {', '.join(repr(b) for b in BANDS)}. "
                          f"Got {band!r} instead.")
    epochs = np.unique(np.concatenate([results.dataset["epoch"].values for row in panels for _, results, _ in row]))
    norm, cmap = epoch_norm(epochs), colormaps["viridis"]
    fig = Figure(figsize=(4.2 * n_cols + 0.8, 3.6 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), n_cols, squeeze=False, sharex=same_axes, sharey=same_axes)
    used, anchors = [], []
    for r, row in enumerate(panels):
        for c in range(len(row), n_cols):
            axes[r, c].set_visible(False)  # an empty cell of a short row
        for c, (name, results, estimator) in enumerate(row):
            ax = axes[r, c]
            info = results.information(estimator)
            mean = finite_mean(info[["I_XT", "I_TY"]], results,
                               f"{info['estimator'].values} estimate of the panel '{name}'")
            runs = kept_runs(info[["I_XT", "I_TY"]], results)
            draw_band(ax, runs, choose_band(band, runs), info["epoch"].values, norm, cmap)
            anchors.append((ax, draw_infoplane(ax, mean["I_XT"].values, mean["I_TY"].values, info["epoch"].values,
                                               norm, cmap, info["layer"].values, annotate=False)))
            ax.set_title(name, fontsize=10)
            ax.set_xlabel(label(info["I_XT"]))
            ax.set_ylabel(label(info["I_TY"]))
            ax.grid(alpha=0.3)
            used.append(ax)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=used, label="epoch", fraction=0.03, shrink=0.8)
    for ax, points in anchors:  # once every panel is drawn: the (shared) limits are final
        annotate_layers(ax, points)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def compression_chart(
    groups: Mapping[str, Mapping[str, xr.Dataset]],
    path: str | Path | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """ΔI(X;T) per layer with its confidence interval, one panel per group.

    Args:
        groups: ``{panel title: {series label: compression dataset}}``, e.g.
            ``{"binning": {"tanh": ..., "relu": ...}, "KDE": {...}}``; each
            dataset is what :func:`ibsim.analysis.compression.compression` returns.
        path: Where to save the figure, or None.
        title: A title over the whole figure.

    Returns:
        The figure: per panel, a bar per layer and series (the mean ΔI over
        runs) with the interval as an error bar and each run as a dot.

    Raises:
        ConfigError: ``groups`` is empty.
    """
    if not groups:
        raise ConfigError("compression_chart needs at least one group")
    fig = Figure(figsize=(4.6 * len(groups) + 0.5, 3.8))
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    colours = colormaps["tab10"]
    for ax, (panel, series) in zip(axes, groups.items()):
        n_series = max(len(series), 1)
        width = 0.8 / n_series
        for s, (name, result) in enumerate(series.items()):
            layers = result["layer"].values
            x = np.arange(len(layers)) + (s - (n_series - 1) / 2) * width
            mean = result["mean_delta"].values
            err = np.abs(np.stack([mean - result["ci_low"].values, result["ci_high"].values - mean]))
            ax.bar(x, mean, width, color=colours(s), alpha=0.75, label=name)
            ax.errorbar(x, mean, yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
            runs = result["delta_I_XT"].values  # (run, layer)
            jitter = np.random.default_rng(s).uniform(-width / 4, width / 4, runs.shape)
            ax.scatter((x[None, :] + jitter).ravel(), runs.ravel(), s=3, color="black", alpha=0.25, zorder=3)
            ax.set_xticks(np.arange(len(layers)), [str(layer) for layer in layers])
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xlabel("layer")
        ax.set_ylabel("ΔI(X;T) = peak − final [bits]")
        ax.set_title(panel, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
