"""The minimal model: one input neuron, one hidden neuron, growing weights.

A reproduction of section 7.2 of the seed's documentation ("Comparing
activation functions for a minimal model"), which tests the claim of Saxe et
al. (2018) that compression in the information plane is an artefact of
double-saturating activation functions. One input ``x ~ N(0, 1)`` feeds one
hidden neuron ``T = act(w x)``; since ``T`` is a deterministic function of
``x``, ``I(X;T) = H(T)``, estimated by binning ``T`` for each weight ``w``.

Two binnings are compared, both exactly as the seed's notebook computes them:

- ``"fixed"``: ``np.linspace(lo, hi, n_bins)`` edges, where ``lo``/``hi`` are
  the smallest and largest activation over *all* weights of that activation
  function, so ``n_bins`` edges and ``n_bins - 1`` bins (49 for the default 50);
- ``"adaptive"``: ``np.histogram(t, bins=n_bins)``, i.e. ``n_bins`` equal bins
  between the smallest and largest activation of *that* weight.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

from ibsim.errors import ConfigError
from ibsim.networks.activations import ACTIVATIONS, SATURATION, numpy_activation
from ibsim.plots.base import save_figure

#: Panel-title wording of each ``SATURATION`` kind.
SATURATION_WORDS = {"double": "double-saturating", "single": "single-saturating", "none": "non-saturating"}

#: The binnings compared, in the order of the ``binning`` dimension.
BINNINGS = ("fixed", "adaptive")

FIXED_DEFINITION = ("np.linspace(lo, hi, n_bins) edges (n_bins - 1 bins), lo/hi the activation's "
                    "smallest/largest value over all weights")
ADAPTIVE_DEFINITION = ("np.histogram(t, bins=n_bins): n_bins equal bins between the smallest and "
                       "largest value of t at that weight")


def default_weights() -> np.ndarray:
    """The seed's weights ``0.1, 0.2, ..., 7.9`` (79 values, rounded to one decimal)."""
    return np.round(np.arange(0.1, 8.0, 0.1), 1)


def entropy_bits(counts: np.ndarray) -> float:
    """Entropy in bits of the distribution given by histogram ``counts``
    (what ``scipy.stats.entropy(counts, base=2)`` computes)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    h = float(-np.sum(p * np.log2(p)))
    return h if h > 0.0 else 0.0  # no -0.0 (or rounding below zero) for a single occupied bin


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(f"minimal_model: '{name}' must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_activations(activations: Sequence[str] | None) -> list[str]:
    if activations is None:
        return list(ACTIVATIONS)
    if isinstance(activations, str):
        activations = [activations]
    names = list(activations)
    if not names:
        raise ConfigError("minimal_model: 'activations' is empty; give at least one of: " + ", ".join(ACTIVATIONS))
    unknown = [name for name in names if name not in SATURATION]
    if unknown:
        raise ConfigError(f"minimal_model: unknown activation(s) {unknown!r} in 'activations'; "
                          f"valid: {', '.join(ACTIVATIONS)}")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ConfigError(f"minimal_model: 'activations' names {duplicated!r} more than once")
    return names


def _check_weights(weights: ArrayLike | None) -> np.ndarray:
    if weights is None:
        return default_weights()
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"minimal_model: 'weights' must be an array of numbers; got {weights!r}") from exc
    if w.ndim == 0:
        w = w.reshape(1)
    if w.ndim != 1 or w.size == 0:
        raise ConfigError(f"minimal_model: 'weights' must be a non-empty 1-D array; got shape {w.shape}")
    bad = w[~np.isfinite(w) | (w <= 0)]
    if bad.size:
        raise ConfigError(f"minimal_model: 'weights' must be finite and positive; got {bad.tolist()!r}")
    if np.unique(w).size != w.size:
        raise ConfigError("minimal_model: 'weights' has repeated values, which would make the weight "
                          "coordinate ambiguous")
    return w


def _fixed_entropies(outputs: np.ndarray, n_bins: int) -> np.ndarray:
    """Entropy of each row of ``outputs`` (weight, sample) over edges spanning all rows."""
    lo, hi = float(outputs.min()), float(outputs.max())
    if not hi > lo:  # every activation equal: one occupied bin (np.histogram would reject the edges)
        return np.zeros(outputs.shape[0])
    edges = np.linspace(lo, hi, n_bins)
    return np.array([entropy_bits(np.histogram(row, bins=edges)[0]) for row in outputs])


def _adaptive_entropies(outputs: np.ndarray, n_bins: int) -> np.ndarray:
    """Entropy of each row of ``outputs`` over ``n_bins`` bins spanning that row."""
    return np.array([entropy_bits(np.histogram(row, bins=n_bins)[0]) for row in outputs])


def minimal_model(activations: Sequence[str] | None = None, weights: ArrayLike | None = None,
                  n_samples: int = 1000, n_bins: int = 50, seed: int = 0) -> xr.Dataset:
    """I(X;T) of a one-neuron model ``T = act(w x)``, ``x ~ N(0, 1)``, for each weight.

    Reproduces section 7.2 of the seed's documentation. The input is
    ``np.random.RandomState(seed).standard_normal(n_samples)``, which for
    ``seed=0`` is exactly the seed's ``np.random.seed(0); scipy.stats.norm().rvs(1000)``.
    Because ``T`` is deterministic, ``I(X;T) = H(T)``, the entropy in bits of
    the histogram of ``T``. The seed's binning conventions are kept exactly:

    - ``"fixed"``: edges ``np.linspace(lo, hi, n_bins)`` with ``lo``/``hi`` the
      smallest/largest activation over *all* weights of that activation
      function: ``n_bins`` edges, hence ``n_bins - 1`` bins (49 by default).
      The values therefore depend on the set of weights given.
    - ``"adaptive"``: ``np.histogram(T, bins=n_bins)``, ``n_bins`` bins (50 by
      default) between that weight's own smallest and largest activation.

    ``input_entropy`` is the entropy of ``np.histogram(x, n_bins)`` (the seed
    reports 5.11 bits).

    Args:
        activations: Activation names (see ``ibsim.networks.activations.ACTIVATIONS``);
            all of them by default.
        weights: Positive, finite, distinct weights; by default the seed's
            ``0.1, 0.2, ..., 7.9``.
        n_samples: Number of input samples (at least 2).
        n_bins: Number of bins (adaptive) or edges (fixed); at least 2.
        seed: Seed of the ``RandomState`` drawing the input.

    Returns:
        A dataset with ``I_XT`` (activation, binning, weight) in bits,
        ``binning`` coordinates ``["fixed", "adaptive"]``, a ``saturation``
        coordinate on ``activation`` and the scalar ``input_entropy``.

    Raises:
        ConfigError: An unknown activation name, a non-positive or non-finite
            weight, ``n_samples < 2``, ``n_bins < 2`` or a bad seed.
    """
    names = _check_activations(activations)
    w = _check_weights(weights)
    n_samples = _check_count("n_samples", n_samples, 2)
    n_bins = _check_count("n_bins", n_bins, 2)
    seed = _check_count("seed", seed, 0)
    if seed >= 2**32:
        raise ConfigError(f"minimal_model: 'seed' must be below 2**32; got {seed}")

    x = np.random.RandomState(seed).standard_normal(n_samples)
    net_input = np.outer(w, x)  # (weight, sample), as the seed
    ixt = np.empty((len(names), len(BINNINGS), w.size))
    for a, name in enumerate(names):
        outputs = np.asarray(numpy_activation(name)(net_input), dtype=np.float64)
        ixt[a, 0] = _fixed_entropies(outputs, n_bins)
        ixt[a, 1] = _adaptive_entropies(outputs, n_bins)

    return xr.Dataset(
        {
            "I_XT": (("activation", "binning", "weight"), ixt,
                     {"long_name": "I(X;T)", "units": "bits",
                      "description": "entropy of the binned hidden activation T = act(w x), equal to I(X;T)"}),
            "input_entropy": ((), entropy_bits(np.histogram(x, bins=n_bins)[0]),
                              {"long_name": "H(X)", "units": "bits",
                               "description": f"entropy of the input binned into {n_bins} equal bins"}),
        },
        coords={
            "activation": ("activation", names),
            "saturation": ("activation", [SATURATION[name] for name in names],
                           {"long_name": "saturation kind (Saxe et al. 2018)"}),
            "binning": ("binning", list(BINNINGS)),
            "weight": ("weight", w, {"long_name": "weight w", "units": "1"}),
        },
        attrs={
            "title": "minimal model: one input neuron, one hidden neuron T = act(w x)",
            "source": "seed documentation section 7.2",
            "n_samples": n_samples,
            "n_bins": n_bins,
            "seed": seed,
            "input": f"np.random.RandomState({seed}).standard_normal({n_samples})",
            "binning_fixed": FIXED_DEFINITION,
            "binning_adaptive": ADAPTIVE_DEFINITION,
        },
    )


def plot_minimal_model(ds: xr.Dataset, path: str | Path | None = None) -> Figure:
    """One panel per activation: I(X;T) against the weight for both binnings,
    with the input entropy dashed.

    Args:
        ds: A dataset from :func:`minimal_model`.
        path: Where to save the figure (PNG); the folder is created. Not saved if None.

    Returns:
        The figure (not attached to pyplot, so any backend works).
    """
    for var in ("I_XT", "input_entropy"):
        if var not in ds:
            raise ConfigError(f"plot_minimal_model: the dataset has no '{var}'; expected a minimal_model() result")
    ixt = ds["I_XT"]
    weights = ds["weight"].values
    h_x = float(ds["input_entropy"])
    names = [str(name) for name in ds["activation"].values]
    cols = min(len(names), 4)
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.5 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    styles = {"fixed": dict(color="tab:blue", lw=1.6), "adaptive": dict(color="tab:orange", lw=1.6)}
    units = ixt.attrs.get("units", "bits")
    for i, (ax, name) in enumerate(zip(axes, names)):
        for binning in [str(b) for b in ds["binning"].values]:
            ax.plot(weights, ixt.sel(activation=name, binning=binning).values, **styles.get(binning, {}))
        ax.axhline(h_x, color="0.3", ls="--", lw=1.0)
        saturation = SATURATION.get(name, "unknown")
        ax.set_title(f"{name} ({SATURATION_WORDS.get(saturation, saturation)})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_xlabel("weight w", fontsize=9)
        ax.xaxis.set_tick_params(labelbottom=True)
        if i % cols == 0:
            ax.set_ylabel(f"{ixt.attrs.get('long_name', 'I(X;T)')} [{units}]", fontsize=9)
    for ax in axes[len(names):]:
        ax.axis("off")
    fixed_bins = int(ds.attrs.get("n_bins", 50)) - 1
    handles = [
        Line2D([], [], **styles["fixed"], label=f"fixed range: {fixed_bins} bins over all weights"),
        Line2D([], [], **styles["adaptive"], label=f"adaptive range: {fixed_bins + 1} bins per weight"),
        Line2D([], [], color="0.3", ls="--", lw=1.0, label=f"input entropy H(X) = {h_x:.2f} {units}"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=9, frameon=False)
    fig.suptitle(f"Minimal model T = act(w x), x ~ N(0,1), {ds.attrs.get('n_samples', '?')} samples: "
                 "I(X;T) by binning", fontsize=11)
    return save_figure(fig, path)
