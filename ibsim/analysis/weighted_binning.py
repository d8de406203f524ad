"""Standard vs weighted binning on an invertible 3-3-3 network (seed docs §7.5).

The seed notebook builds a linear network whose two layers invert each other,
``w1 = ortho / 3`` and ``w2 = 9 w1.T`` (so ``w1 @ w2 = I``), and bins 1000
Gaussian inputs, the hidden layer and the output on 50 edges spanning the data.

- *Standard* binning uses the input's edges in every layer. The hidden layer is
  invertible, yet it is a third of the input's scale, so its values fall into
  fewer bins and its entropy drops by ~1.7 bits, below the output's: binning
  breaks the data processing inequality.
- *Weighted* binning pushes the edges through the network like data (here the
  probe points ``e_i * ones(3)``, see :func:`ibsim.estimators.edges.probe_inputs`),
  so every neuron gets its own edges, ``e_i * sum_j w1[k, j]`` for hidden
  neuron ``k``, and the output's edges are the input's again.

Weighted binning keeps the output exact, but the hidden layer only as far as
the probe direction suits the weights: hidden neuron ``k`` has spread
``|w1[k]| = 1/3`` and edge spacing ``|sum_j w1[k, j]|`` times the input's, so
its resolution relative to the input's is ``3 |sum_j w1[k, j]|`` (``edge_scale``;
the squares sum to 3 over the neurons). Where one of them is small, that
neuron's edges crowd into a narrow range and the hidden entropy drops by up to
~1 bit (over seeds 0-19: from +0.06 to -1.04 bits, see
``docs/figures/weighted_binning.md``).

Conventions: the notebook writes layers as ``w @ data`` with data (features,
samples); :func:`weighted_edges` uses the row-vector convention of the rest of
ibsim, ``acts @ W + b`` with ``W`` of shape (inputs, outputs), so its ``W`` is
the notebook's ``w.T``.

The random draws follow the notebook: one ``RandomState(seed)`` (the state of
``np.random.seed(seed)``; the global state is left alone) draws
``ortho_group.rvs(3)`` first, then ``randn(3, n_samples)``. The orthogonal
matrix depends on SciPy's algorithm: SciPy < 1.10 used Householder reflections
(5 normal draws for 3x3), SciPy >= 1.10 the QR decomposition of a 3x3 Gaussian
matrix (9 draws; scipy/scipy#16560), so hidden-layer numbers differ between
them. The data entropy does not depend on it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators.edges import bin_codes, joint_entropy_bits, probe_inputs
from ibsim.networks.activations import NUMPY_ACTIVATIONS, numpy_activation
from ibsim.plots.base import save_figure

__all__ = [
    "NOTEBOOK_ENTROPIES",
    "plot_weighted_binning",
    "seed_notebook",
    "seed_spread",
    "weighted_edges",
]

LAYERS = ("data", "hidden", "output")
BINNINGS = ("standard", "weighted")

#: The seed notebook's printed entropies in bits, (binning, layer) → value.
NOTEBOOK_ENTROPIES: dict[tuple[str, str], float] = {
    ("standard", "data"): 9.845254959649102,
    ("standard", "hidden"): 8.03183943622959,
    ("standard", "output"): 9.845254959649102,
    ("weighted", "data"): 9.845254959649102,
    ("weighted", "hidden"): 9.854274509657758,
    ("weighted", "output"): 9.845254959649102,
}


def _activation(activation: str | Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation in NUMPY_ACTIVATIONS:
        return numpy_activation(activation)
    raise ConfigError(f"unknown activation {activation!r}; valid: {', '.join(NUMPY_ACTIVATIONS)}")


def weighted_edges(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray] | None,
    activation: str | Callable[[np.ndarray], np.ndarray],
    input_edges: np.ndarray,
) -> list[np.ndarray]:
    """Every layer's weighted bin edges in a plain feedforward network.

    The edges are forwarded like a batch of data, in the row-vector
    convention ``h_k = act(h_{k-1} @ W_k + b_k)``: row ``i`` of layer ``k``'s
    edges is the layer's response to probe point ``i``, and column ``j`` holds
    neuron ``j``'s edges (unsorted; mirrored where the path's weights are
    negative — :func:`ibsim.estimators.edges.bin_codes` sorts them).

    Args:
        weights: Per layer, ``W_k`` of shape (inputs, outputs) (the notebook's
            ``w_k.T``).
        biases: Per layer, ``b_k`` of shape (outputs,), or None for no biases.
        activation: An activation name of :mod:`ibsim.networks.activations`
            (e.g. ``"linear"``, ``"tanh"``) or a NumPy function, applied after
            every layer.
        input_edges: (n_edges, inputs) probe points, usually
            :func:`ibsim.estimators.edges.probe_inputs`.

    Returns:
        One (n_edges, outputs_k) float64 array per layer, the input's edges not
        included.

    Raises:
        ConfigError: Unknown activation name.
        EstimatorError: Shapes that do not chain, or non-finite edges.
    """
    act = _activation(activation)
    if len(weights) == 0:
        raise EstimatorError("weighted_edges needs at least one weight matrix")
    if biases is not None and len(biases) != len(weights):
        raise EstimatorError(f"got {len(biases)} bias vector(s) for {len(weights)} weight matrices")
    h = np.asarray(input_edges, dtype=np.float64)
    if h.ndim != 2:
        raise EstimatorError(f"input edges must be (n_edges, inputs), got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise EstimatorError("input edges contain NaN or infinite values")
    out = []
    for k, w in enumerate(weights):
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 2 or w.shape[0] != h.shape[1]:
            raise EstimatorError(
                f"layer {k}: weights of shape {w.shape} do not take {h.shape[1]} inputs "
                f"(row-vector convention: W has shape (inputs, outputs))"
            )
        b = None
        if biases is not None and biases[k] is not None:
            b = np.asarray(biases[k], dtype=np.float64)
            if b.shape != (w.shape[1],):
                raise EstimatorError(f"layer {k}: bias of shape {b.shape}, expected ({w.shape[1]},)")
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, naming the layer
            z = h @ w if b is None else h @ w + b
            h = np.asarray(act(z), dtype=np.float64)
        if h.shape != z.shape:
            raise EstimatorError(f"layer {k}: the activation changed the shape {z.shape} to {h.shape}")
        if not np.all(np.isfinite(h)):
            raise EstimatorError(f"layer {k}: the propagated edges are not finite (overflow?)")
        out.append(h)
    return out


def _orthogonal(rng: np.random.RandomState, dim: int) -> np.ndarray:
    from scipy.stats import ortho_group

    return ortho_group.rvs(dim=dim, random_state=rng)


def seed_notebook(
    seed: int = 0,
    n_samples: int = 1000,
    n_bins: int = 50,
    margin: float = 1.0,
    *,
    w1: np.ndarray | None = None,
    w2: np.ndarray | None = None,
) -> xr.Dataset:
    """The notebook's 3-3-3 example: entropies under standard and weighted binning.

    Draws, from ``RandomState(seed)``, ``w1 = (1/3) * ortho_group.rvs(3)`` and then
    ``data = randn(3, n_samples)``; ``w2 = 9 w1.T``; a linear network
    ``hidden = w1 @ data``, ``output = w2 @ hidden`` (notebook convention). The
    input edges are ``linspace(data.min() - margin, data.max() + margin,
    n_bins)`` for every neuron; standard binning reuses them in every layer,
    weighted binning propagates them (:func:`weighted_edges` on
    :func:`~ibsim.estimators.edges.probe_inputs`).

    Args:
        seed: Seed of the ``RandomState`` (the notebook: ``np.random.seed(0)``).
        n_samples: Number of data points (notebook: 1000).
        n_bins: Number of bin edges (notebook: ``n = 50``).
        margin: Margin around the data's range (notebook: 1).
        w1: Replace the drawn hidden weights (3x3, notebook convention); the
            orthogonal matrix is still drawn first so the data stay the same.
        w2: Replace the output weights (default ``9 * w1.T``).

    Returns:
        A dataset with

        - ``entropy`` (binning, layer): plug-in entropy of the joint bin codes, bits;
        - ``activations`` (layer, sample, neuron): data, hidden and output values;
        - ``edges`` (binning, layer, edge, neuron): each neuron's edges, unsorted;
        - ``edge_scale`` (neuron): each hidden neuron's weighted edge spacing
          relative to its spread, as a multiple of the input's,
          ``|sum_j w1[k, j]| / |w1[k]|``; near 0 the edges crowd into a narrow
          range and most values fall into the two outer bins;
        - ``w1``, ``w2`` (neuron, neuron_in): the weights (notebook convention);

        and attributes ``seed``, ``n_samples``, ``n_bins``, ``margin`` and ``scipy_version``.
    """
    import scipy

    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ConfigError(f"n_samples must be an int >= 1, got {n_samples!r}")
    rng = np.random.RandomState(seed)
    drawn = (1.0 / 3.0) * _orthogonal(rng, 3)  # the notebook's (1/3) * ortho, bit for bit
    data = rng.randn(3, n_samples)
    w1 = drawn if w1 is None else np.asarray(w1, dtype=np.float64)
    w2 = 9.0 * w1.T if w2 is None else np.asarray(w2, dtype=np.float64)
    if w1.shape != (3, 3) or w2.shape != (3, 3):
        raise ConfigError(f"w1 and w2 must be 3x3, got {w1.shape} and {w2.shape}")

    x = data.T  # (samples, neurons): ibsim's row convention from here on
    hidden = x @ w1.T
    output = hidden @ w2.T
    acts = np.stack([x, hidden, output])
    input_edges = probe_inputs(x, n_bins, margin)
    weighted = [input_edges, *weighted_edges([w1.T, w2.T], None, "linear", input_edges)]
    edges = np.stack([np.stack([input_edges] * 3), np.stack(weighted)])
    codes = bin_codes(np.broadcast_to(acts, (2, *acts.shape)), edges)
    entropy = np.array([[joint_entropy_bits(codes[b, k]) for k in range(3)] for b in range(2)])
    # weighted edge spacing of each hidden neuron relative to its spread, as a multiple of the input's:
    # the edges are e_i * sum_j w1[k, j], the values w1[k] . x have std |w1[k]| (unit-variance inputs)
    edge_scale = np.abs(w1.sum(axis=1)) / np.linalg.norm(w1, axis=1)

    return xr.Dataset(
        {
            "entropy": (("binning", "layer"), entropy,
                        {"long_name": "entropy of the joint bin codes", "units": "bits"}),
            "activations": (("layer", "sample", "neuron"), acts, {"long_name": "activation", "units": "1"}),
            "edges": (("binning", "layer", "edge", "neuron"), edges, {"long_name": "bin edge", "units": "1"}),
            "edge_scale": (("neuron",), edge_scale,
                           {"long_name": "hidden neuron's weighted edge spacing / its spread, relative to the "
                                         "input's (|sum_j w1[k, j]| / |w1[k]|)", "units": "1"}),
            "w1": (("neuron", "neuron_in"), w1, {"long_name": "hidden weights (hidden = w1 @ data)"}),
            "w2": (("neuron", "neuron_in"), w2, {"long_name": "output weights (output = w2 @ hidden)"}),
        },
        coords={"binning": list(BINNINGS), "layer": list(LAYERS)},
        attrs={"seed": int(seed), "n_samples": int(n_samples), "n_bins": int(n_bins), "margin": float(margin),
               "scipy_version": scipy.__version__},
    )


def seed_spread(seeds: Iterable[int], **options) -> xr.Dataset:
    """The entropies of :func:`seed_notebook` over several seeds.

    Args:
        seeds: The seeds.
        **options: Passed to :func:`seed_notebook` (``n_samples``, ``n_bins``, ``margin``).

    Returns:
        A dataset with ``entropy`` (seed, binning, layer) in bits and
        ``edge_scale`` (seed, neuron) of the hidden layer.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seed_spread needs at least one seed")
    runs = [seed_notebook(s, **options)[["entropy", "edge_scale"]] for s in seeds]
    return xr.concat(runs, dim="seed").assign_coords(seed=seeds)


def plot_weighted_binning(
    result: xr.Dataset | None = None,
    path: str | Path | None = None,
    *,
    layer: str = "hidden",
    max_points: int = 400,
    spread: xr.Dataset | None = None,
) -> Figure:
    """Data points on standard vs weighted edges, and the entropies per layer.

    Left: for every neuron of ``layer``, one strip with the values and the
    standard edges (blue) above one with the weighted edges (red), as in the
    notebook's figures. Right: bar chart of the entropy of each layer under
    both binnings and, given ``spread``, the hidden layer's entropy change
    per seed under both binnings.

    Args:
        result: A :func:`seed_notebook` dataset (default: ``seed_notebook()``).
        path: Where to save the figure (PNG), if given.
        layer: Which layer's neurons to show (``"data"``, ``"hidden"``, ``"output"``).
        max_points: Show at most this many points per strip (the first ones).
        spread: A :func:`seed_spread` result to add the per-seed panel.

    Returns:
        The figure.
    """
    if result is None:
        result = seed_notebook()
    if layer not in LAYERS:
        raise ConfigError(f"unknown layer {layer!r}; valid: {', '.join(LAYERS)}")
    acts = result["activations"].sel(layer=layer).values[:max_points]
    edges = result["edges"].sel(layer=layer).values
    n_neurons = acts.shape[1]
    colours = {"standard": "tab:blue", "weighted": "tab:red"}

    fig = Figure(figsize=(12, 1.15 * 2 * n_neurons + 0.6))
    outer = fig.add_gridspec(1, 2, width_ratios=(2.4, 1), wspace=0.25)
    strips = outer[0].subgridspec(2 * n_neurons, 1, hspace=0.15)
    panels = outer[1].subgridspec(2 if spread is not None else 1, 1, hspace=0.4)
    lo = min(acts.min(), -abs(acts).max()) * 1.15
    hi = -lo
    jitter = np.random.RandomState(0).uniform(0.1, 0.9, acts.shape[0])
    first = None
    for j in range(n_neurons):
        for r, binning in enumerate(BINNINGS):
            ax = fig.add_subplot(strips[2 * j + r], sharex=first)
            first = first or ax
            for e in edges[r, :, j]:
                if lo <= e <= hi:
                    ax.axvline(e, color=colours[binning], lw=0.7, alpha=0.8)
            ax.scatter(acts[:, j], jitter, s=4, color="0.15", alpha=0.5, lw=0)
            ax.set_xlim(lo, hi)
            ax.set_ylim(0, 1)
            ax.set_yticks([])
            ax.set_ylabel(f"{layer} {j}\n{binning}", fontsize=8, rotation=0, ha="right", va="center")
            if 2 * j + r < 2 * n_neurons - 1:
                ax.tick_params(labelbottom=False)
    first.set_title(f"{layer} layer: {acts.shape[0]} of {result.sizes['sample']} points, "
                    f"standard edges (blue) vs weighted edges (red)", fontsize=10)

    bars = fig.add_subplot(panels[0])
    entropy = result["entropy"]
    x = np.arange(entropy.sizes["layer"])
    for r, binning in enumerate(BINNINGS):
        values = entropy.sel(binning=binning).values
        offset = (r - 0.5) * 0.38
        bars.bar(x + offset, values, width=0.38, color=colours[binning], label=binning)
        for xi, v in zip(x, values):
            bars.text(xi + offset, v - 0.15, f"{v:.3f}", rotation=90, ha="center", va="top", fontsize=8,
                      color="white")
    bars.set_ylim(0.0, float(entropy.max()) * 1.2)
    bars.set_xticks(x, entropy["layer"].values)
    bars.set_ylabel("entropy of the bin codes [bits]", fontsize=9)
    bars.set_title(f"seed {result.attrs.get('seed')}, N = {result.sizes['sample']}, "
                   f"{result.sizes['edge']} edges", fontsize=10)
    bars.legend(loc="upper center", ncols=2, fontsize=8)
    bars.grid(axis="y", alpha=0.3)

    if spread is not None:
        seeds = fig.add_subplot(panels[1])
        loss = spread["entropy"].sel(layer="hidden") - spread["entropy"].sel(layer="data")
        for r, binning in enumerate(BINNINGS):
            seeds.scatter(spread["seed"].values, loss.sel(binning=binning).values, s=14,
                          color=colours[binning], label=binning)
        seeds.axhline(0.0, color="0.3", lw=0.8)
        seeds.set_xlabel("seed")
        seeds.set_ylabel("H(hidden) - H(data) [bits]", fontsize=9)
        seeds.set_title(f"hidden layer over {spread.sizes['seed']} seeds", fontsize=10)
        seeds.grid(alpha=0.3)

    return save_figure(fig, path)
