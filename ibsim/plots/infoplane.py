"""The information plane: I(X;T) against I(T;Y), one trajectory per layer."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Sequence, TypeVar

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from ibsim.errors import NoFiniteRunError
from ibsim.params import AnyOf, Boolean, Constant, Interval, Options, Param, String
from ibsim.resultsfile.schema import DIVERGED
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


def kept_runs(values: Values, results: "Results") -> Values:
    """``values`` of the runs that did not diverge (all of them without ``run_status``), without a warning."""
    if "run_status" not in results.dataset:
        return values
    return values.sel(run=results.dataset["run_status"].values != DIVERGED)


# ------------------------------------------------------------------ bands
#: Values of the ``band`` option: "auto" is "bootstrap" with MIN_BOOTSTRAP_RUNS finite runs or more, else "none".
BANDS = ("auto", "bootstrap", "std", "none")
#: Finite runs a point needs for a bootstrap band (and a file for ``band="auto"`` to draw one).
MIN_BOOTSTRAP_RUNS = 3
#: Confidence level, resamples and seed of the bootstrap band (fixed: the figure is reproducible).
CONFIDENCE = 0.95
N_RESAMPLES = 2000
SEED = 0
#: Bootstrap means computed at once (resamples x runs x points), to bound memory.
_CHUNK = 4_000_000
BAND_TITLES = {"bootstrap": f"band: {CONFIDENCE:.0%} bootstrap interval of the mean", "std": "band: mean ± 1 std"}


def band_limits(values: np.ndarray, band: str, *, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES,
                seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The band around the mean over runs, point by point.

    Args:
        values: (run, ...) values; NaN (a run that stopped early) is left out
            of the point where it occurs.
        band: "std": mean ± the standard deviation over runs (ddof=1; needs 2
            finite runs at a point); "bootstrap": the percentile bootstrap
            interval of the mean over runs at ``confidence`` (resampling the
            finite runs of each point, ``n_resamples`` times, with a generator
            seeded with ``seed``; needs MIN_BOOTSTRAP_RUNS finite runs at a point).
        confidence: Confidence level of the bootstrap interval.
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        (low, high), each of shape ``values.shape[1:]``; NaN where a point has
        too few finite runs.
    """
    values = np.asarray(values, dtype=float)
    n_runs, shape = values.shape[0], values.shape[1:]
    flat = values.reshape(n_runs, -1)
    n = np.isfinite(flat).sum(axis=0)
    low, high = np.full(flat.shape[1], np.nan), np.full(flat.shape[1], np.nan)
    if band == "std":
        ok = n >= 2
        if ok.any():
            mean = np.nanmean(flat[:, ok], axis=0)
            std = np.nanstd(flat[:, ok], axis=0, ddof=1)
            low[ok], high[ok] = mean - std, mean + std
    elif band == "bootstrap":
        points = np.flatnonzero(n >= MIN_BOOTSTRAP_RUNS)
        ordered = np.sort(flat[:, points], axis=0)  # each point's finite runs first (NaN sorts last)
        counts = n[points]
        rng = np.random.default_rng(seed)
        step = max(1, _CHUNK // (n_resamples * n_runs))
        q = [(1 - confidence) / 2, (1 + confidence) / 2]
        for start in range(0, points.size, step):
            block, m = ordered[:, start:start + step], counts[start:start + step]  # (run, points), (points,)
            picks = (rng.random((n_resamples, n_runs, m.size)) * m).astype(np.intp)  # < m: finite runs only
            drawn = block[picks, np.arange(m.size)]  # (resample, run, point)
            used = np.arange(n_runs)[:, None] < m[None, :]  # a point resamples as many runs as it has
            means = np.where(used, drawn, 0.0).sum(axis=1) / m
            low[points[start:start + step]], high[points[start:start + step]] = np.quantile(means, q, axis=0)
    elif band != "none":
        raise ValueError(f"unknown band {band!r}; one of {', '.join(BANDS)}")
    return low.reshape(shape), high.reshape(shape)


def choose_band(band: str, runs: xr.Dataset) -> str:
    """The band to draw for the option ``band`` and the (non-diverged) ``runs``
    ((run, epoch, layer) I_XT and I_TY): "auto" is "bootstrap" with at least
    MIN_BOOTSTRAP_RUNS runs that have a finite point, else "none"; an explicit
    band the runs are too few for warns and gives "none"."""
    finite = np.isfinite(runs["I_XT"].values) & np.isfinite(runs["I_TY"].values)
    n_finite = int(finite.reshape(finite.shape[0], -1).any(axis=1).sum())
    if band == "auto":
        return "bootstrap" if n_finite >= MIN_BOOTSTRAP_RUNS else "none"
    needed = {"bootstrap": MIN_BOOTSTRAP_RUNS, "std": 2}.get(band, 0)
    if n_finite < needed:
        warnings.warn(f"band={band!r} needs at least {needed} finite runs, these results have {n_finite}: "
                      "no band drawn", stacklevel=3)
        return "none"
    return band


def draw_band(ax, runs: xr.Dataset, band: str, epochs: np.ndarray, norm, cmap, alpha: float = 0.18):
    """Draw the band of each point of the mean trajectories: a translucent
    ellipse (in the point's epoch colour) whose horizontal extent is the
    interval in I(X;T) and vertical extent the interval in I(T;Y).

    Args:
        runs: I_XT and I_TY (run, epoch, layer) of the runs to take the band over.
        band: "bootstrap", "std" or "none" (nothing drawn).

    Returns:
        The PatchCollection of ellipses (one per epoch and layer where both
        intervals exist, epoch by epoch within each layer), or None.
    """
    if band == "none":
        return None
    x_low, x_high = band_limits(runs["I_XT"].transpose("run", "epoch", "layer").values, band)
    y_low, y_high = band_limits(runs["I_TY"].transpose("run", "epoch", "layer").values, band)
    ok = np.isfinite(x_low) & np.isfinite(x_high) & np.isfinite(y_low) & np.isfinite(y_high)  # (epoch, layer)
    k, e = np.nonzero(ok.T)  # layer by layer, epochs in order
    if not e.size:
        return None
    ellipses = [Ellipse(((x_low[i, j] + x_high[i, j]) / 2, (y_low[i, j] + y_high[i, j]) / 2),
                        x_high[i, j] - x_low[i, j], y_high[i, j] - y_low[i, j]) for i, j in zip(e, k)]
    colours = cmap(norm(np.maximum(epochs[e], norm.vmin)))
    colours[:, 3] = alpha
    collection = PatchCollection(ellipses, facecolors=colours, edgecolors="none", zorder=0.5)
    collection.set_label(f"_band ({band})")
    ax.add_collection(collection)
    ax.update_datalim(np.column_stack([np.r_[x_low[ok], x_high[ok]], np.r_[y_low[ok], y_high[ok]]]))
    return collection


# ------------------------------------------------------------ layer labels
#: Font size of the layer labels, and their offset from the label's point (points).
LABEL_SIZE = 9
LABEL_OFFSET = (4, 4)


def layer_names(layers: Sequence[int]) -> str:
    """Layer numbers as one label: runs of consecutive layers as "1–3", others joined by ", "."""
    layers = sorted(int(layer) for layer in layers)
    parts, start = [], 0
    for i in range(1, len(layers) + 1):
        if i == len(layers) or layers[i] != layers[i - 1] + 1:
            first, last = layers[start], layers[i - 1]
            parts.append(str(first) if first == last else f"{first}–{last}" if last > first + 1
                         else f"{first}, {last}")
            start = i
    return ", ".join(parts)


def _text_size(text: str, fontsize: float) -> tuple[float, float]:
    """Width and height of ``text`` in points (generous: digits and dashes are about 0.6 em wide)."""
    return 0.62 * fontsize * len(text) + 2, 1.3 * fontsize


def place_labels(anchors: Sequence[tuple[int, float, float]], xlim: tuple[float, float],
                 ylim: tuple[float, float], size: tuple[float, float],
                 fontsize: float = LABEL_SIZE) -> list[tuple[str, float, float, list[int]]]:
    """Layer labels that do not collide: labels whose boxes would overlap become one.

    Each label sits at ``LABEL_OFFSET`` from its anchor (the layer's last
    point). Two labels collide when their text boxes, placed at the anchors in
    an axes of ``size`` points showing ``xlim`` x ``ylim``, overlap; colliding
    labels are merged into one label naming all their layers ("1–3") at the
    mean of their anchors, again until nothing collides. Deterministic: the
    result depends on the anchors alone.

    Args:
        anchors: (layer, x, y) in data coordinates.
        xlim, ylim: The axis limits.
        size: The axes' width and height in points.
        fontsize: Font size of the labels.

    Returns:
        (text, x, y, layers) per label, in the order of their first layer.
    """
    sx = size[0] / ((xlim[1] - xlim[0]) or 1.0)
    sy = size[1] / ((ylim[1] - ylim[0]) or 1.0)
    groups = [([int(layer)], float(x), float(y)) for layer, x, y in sorted(anchors)]

    def collide(a, b) -> bool:
        (wa, ha), (wb, hb) = _text_size(layer_names(a[0]), fontsize), _text_size(layer_names(b[0]), fontsize)
        dx, dy = (b[1] - a[1]) * sx, (b[2] - a[2]) * sy  # display distance of the anchors, in points
        return -wb < dx < wa and abs(dy) < max(ha, hb)

    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if collide(groups[i], groups[j]):
                    members = groups[i][0] + groups[j][0]
                    n_i, n_j = len(groups[i][0]), len(groups[j][0])
                    x = (groups[i][1] * n_i + groups[j][1] * n_j) / (n_i + n_j)
                    y = (groups[i][2] * n_i + groups[j][2] * n_j) / (n_i + n_j)
                    groups[i] = (sorted(members), x, y)
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return [(layer_names(members), x, y, members) for members, x, y in groups]


def axes_size(ax) -> tuple[float, float]:
    """The axes' width and height in points (from its current position in the figure)."""
    width, height = ax.get_figure().get_size_inches()
    box = ax.get_position()
    return box.width * width * 72, box.height * height * 72


def annotate_layers(ax, anchors: Sequence[tuple[int, float, float]]) -> list:
    """Label the layers at their anchors (see :func:`place_labels`), with the
    axes' current limits; returns the annotations."""
    return [ax.annotate(text, (x, y), xytext=LABEL_OFFSET, textcoords="offset points", fontsize=LABEL_SIZE)
            for text, x, y, _ in place_labels(anchors, ax.get_xlim(), ax.get_ylim(), axes_size(ax))]


def draw_infoplane(ax, ixt: np.ndarray, ity: np.ndarray, epochs: np.ndarray, norm, cmap, layers, alpha=1.0,
                   annotate=True) -> list[tuple[int, float, float]]:
    """Draw trajectories (epochs x layers) on ``ax``, points coloured by epoch.

    Returns:
        The anchors of the layer labels, (layer, x, y) at each layer's last
        finite point; with ``annotate`` they are drawn (see :func:`annotate_layers`),
        otherwise draw them once the axes' limits are final.
    """
    anchors = []
    for k, layer in enumerate(layers):
        x, y = ixt[:, k], ity[:, k]
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        ax.plot(x[ok], y[ok], color="0.6", lw=0.8, alpha=alpha, zorder=1)
        ax.scatter(x[ok], y[ok], c=np.maximum(epochs[ok], norm.vmin), cmap=cmap, norm=norm, s=14,
                   alpha=alpha, edgecolors="none", zorder=2)
        last = np.flatnonzero(ok)[-1]
        anchors.append((int(layer), float(x[last]), float(y[last])))
    if annotate:
        annotate_layers(ax, anchors)
    return anchors


@PLOTS.register("infoplane", "informationplane", "plotter.informationplane")
class InfoPlane(Plot):
    """I(X;T) against I(T;Y): one line per layer (labelled at its last epoch),
    points coloured by epoch, mean over runs (diverged runs left out), with a
    band over runs around each point."""

    name = "infoplane"
    PARAMS = {
        "estimator": Param(AnyOf(Constant(None), String(), Interval(int, 0, None)), None,
                           "which estimate (default: the first)"),
        "per_run": Param(Boolean(), False, "also draw every run's trajectory, faintly"),
        "split": Param(AnyOf(Constant(None), String()), None,
                       "which estimated split (files of several: calculate_mi_for = [...]; default: the first)"),
        "band": Param(Options(BANDS), "auto",
                      "band over runs around the mean: 'bootstrap' (95 % interval of the mean), 'std' "
                      "(mean ± 1 std), 'none', or 'auto' (bootstrap with 3 finite runs or more, else none)"),
    }

    def figure(self, results: "Results") -> Figure:
        info = results.information(self.estimator, self.split)
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
        runs = kept_runs(info[["I_XT", "I_TY"]], results)
        band = choose_band(self.band, runs)
        draw_band(ax, runs, band, epochs, norm, cmap)
        anchors = draw_infoplane(ax, mean["I_XT"].values, mean["I_TY"].values, epochs, norm, cmap, layers,
                                 annotate=False)
        ax.set_xlabel(label(info["I_XT"]))
        ax.set_ylabel(label(info["I_TY"]))
        n_runs = info.sizes["run"]
        title = f"{results.dataset.attrs.get('name', '')}: {estimator}, mean of {n_runs} run(s)"
        if len(results.splits) > 1:
            title += f", {self.split or results.splits[0]} split"
        if band != "none":
            title += f"\n{BAND_TITLES[band]}"
        ax.set_title(title, fontsize=10)
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="epoch")
        ax.grid(alpha=0.3)
        annotate_layers(ax, anchors)  # after the colour bar: the axes' final size
        return fig
