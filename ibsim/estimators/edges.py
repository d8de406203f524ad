"""Binning on explicit, per-neuron bin edges (the seed's "weighted binning", §7.5).

Fixed-width binning (:mod:`ibsim.estimators.binning`) gives every neuron of
every layer the same grid. Weighted binning instead propagates one set of input
edges through the network like data, so that each neuron of each layer gets its
own, generally unevenly spaced and possibly mirrored, set of edges. The three
functions here are the building blocks:

- :func:`probe_inputs` makes the input points whose forward pass gives every
  layer's edges (the seed notebook's input edges, one edge value repeated on
  every input feature, i.e. points on the diagonal of input space);
- :func:`bin_codes` turns activations into interval indices on such edges;
- :func:`joint_entropy_bits` is the plug-in entropy of the rows of codes.

The codes are small non-negative integers stored as float32, so they can be fed
to the fast binning kernel (:func:`ibsim.estimators.kernels.binned_entropies`)
with ``lo = 0`` and ``width = 1``, whose code ``floor((code - 0) / 1)`` is the
code itself.

Code convention. With a neuron's edges sorted, ``e_0 <= e_1 <= ... <= e_{n-1}``,
the code of a value ``x`` is the index of its interval among

    (-inf, e_0), [e_0, e_1), ..., [e_{n-2}, e_{n-1}), [e_{n-1}, +inf),

that is ``np.searchsorted(sorted_edges, x, side="right")``, the number of edges
``<= x``: a value exactly on an edge belongs to the interval that edge opens.
This is ``np.digitize(x, [-inf, *sorted_edges, +inf]) - 1``, the seed
notebook's ``compute_entropy`` shifted by one, so entropies agree exactly.
"""
from __future__ import annotations

import numpy as np

from ibsim.errors import ConfigError, EstimatorError

__all__ = ["bin_codes", "joint_entropy_bits", "probe_inputs"]


def _finite(name: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise EstimatorError(f"{name} contain {bad} NaN or infinite value(s); bin codes need finite values")


def bin_codes(acts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Interval index of every activation on its neuron's own bin edges.

    Args:
        acts: (..., N, d) activations: N samples of d neurons, with any number of
            leading block dimensions (runs, epochs, ...).
        edges: (..., n_edges, d) bin edges, the same leading dimensions as
            ``acts``: column ``j`` of a block holds the edges of neuron ``j``.
            They need not be sorted (each neuron's edges are sorted here) and
            may repeat.

    Returns:
        (..., N, d) float32 codes in ``[0, n_edges]``: the number of the
        neuron's edges ``<= x``, i.e. ``np.searchsorted(sorted_edges, x,
        side="right")`` (see the module docstring for the convention).

    Raises:
        EstimatorError: A NaN or infinite activation or edge, fewer than one
            edge, or shapes that do not match.
    """
    acts = np.asarray(acts)
    edges = np.asarray(edges)
    if acts.ndim < 2:
        raise EstimatorError(f"activations must be (..., samples, neurons), got shape {acts.shape}")
    if edges.ndim != acts.ndim:
        raise EstimatorError(
            f"edges must be (..., n_edges, neurons) with the leading dimensions of the activations "
            f"{acts.shape[:-2]}, got edges of shape {edges.shape} for activations of shape {acts.shape}"
        )
    if edges.shape[:-2] != acts.shape[:-2] or edges.shape[-1] != acts.shape[-1]:
        raise EstimatorError(
            f"edges of shape {edges.shape} do not match activations of shape {acts.shape}: need the same "
            f"leading dimensions and one column of edges per neuron (..., n_edges, {acts.shape[-1]})"
        )
    if edges.shape[-2] < 1:
        raise EstimatorError("at least one bin edge per neuron is needed, got 0")
    for kind in (acts, edges):
        if not (np.issubdtype(kind.dtype, np.floating) or np.issubdtype(kind.dtype, np.integer)):
            raise EstimatorError(f"activations and edges must be real numbers, got dtype {kind.dtype}")
    _finite("activations", acts)
    _finite("edges", edges)

    n, d = acts.shape[-2:]
    values = acts.reshape(-1, n, d).astype(np.float64, copy=False)  # float32 -> float64 is exact
    sorted_edges = np.sort(edges.reshape(-1, edges.shape[-2], d).astype(np.float64, copy=False), axis=1)
    codes = np.empty(values.shape, dtype=np.float32)
    for block in range(values.shape[0]):
        for neuron in range(d):
            codes[block, :, neuron] = np.searchsorted(
                sorted_edges[block, :, neuron], values[block, :, neuron], side="right"
            )
    return codes.reshape(acts.shape)


def probe_inputs(X: np.ndarray, n_edges: int, margin: float) -> np.ndarray:
    """The input points whose forward pass gives every layer's weighted edges.

    Point ``i`` is ``e_i * ones(features)`` with
    ``e = np.linspace(X.min() - margin, X.max() + margin, n_edges)``: the seed
    notebook's input edges (one grid for all input features, spanning all of
    the data plus a margin), as points on the diagonal of input space.

    Args:
        X: (N, features) inputs.
        n_edges: Number of edges (>= 2), the notebook's ``n = 50``.
        margin: Distance (>= 0) added below the minimum and above the maximum.

    Returns:
        (n_edges, features) float64.

    Raises:
        ConfigError: ``n_edges`` < 2 or ``margin`` negative or not finite.
        EstimatorError: ``X`` is not 2-D, is empty or holds NaN/inf.
    """
    if isinstance(n_edges, bool) or not isinstance(n_edges, (int, np.integer)) or n_edges < 2:
        raise ConfigError(f"n_edges must be an int >= 2, got {n_edges!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.number)) or not (
        np.isfinite(margin) and margin >= 0
    ):
        raise ConfigError(f"margin must be a finite number >= 0, got {margin!r}")
    X = np.asarray(X)
    if X.ndim != 2 or X.size == 0:
        raise EstimatorError(f"inputs must be a non-empty (samples, features) array, got shape {X.shape}")
    _finite("inputs", X)
    grid = np.linspace(float(X.min()) - margin, float(X.max()) + margin, int(n_edges))
    return grid[:, None] * np.ones(X.shape[1])


def joint_entropy_bits(codes: np.ndarray) -> float:
    """Plug-in entropy, in bits, of the rows of a code array.

    Each row is one sample's joint state; the entropy is
    ``-sum_c p(c) log2 p(c)`` over the distinct rows ``c`` with their
    empirical frequencies ``p(c)``.

    Args:
        codes: (N, d) codes (any real dtype; rows are compared exactly).

    Returns:
        The entropy in bits, in ``[0, log2 N]``.

    Raises:
        EstimatorError: ``codes`` is not 2-D, has no rows or holds NaN/inf.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] == 0:
        raise EstimatorError(f"codes must be a (samples, neurons) array with samples > 0, got shape {codes.shape}")
    if np.issubdtype(codes.dtype, np.floating):
        _finite("codes", codes)
    if codes.shape[1] == 0:
        return 0.0
    _, counts = np.unique(codes, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log2(p)))
