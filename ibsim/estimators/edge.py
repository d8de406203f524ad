"""EDGE: the ensemble dependence-graph estimator (Noshad, Zeng & Hero 2019, arXiv:1801.09125).

A base estimator hashes the samples with a randomised locality-sensitive hash
and reads mutual information off the bipartite *dependence graph* between the
hash buckets of the two variables:

- H1 (per coordinate): ``floor((t_k + b_k) / eps_k)`` with a random shift
  ``b_k ~ U[0, eps_k)``; H2: the vector of codes into one of ``F = c_H N`` buckets
  (``ib_mix`` of the codes, salted by the seed).
- Vertices are the occupied buckets of each variable (N_i and M_j samples),
  edges the occupied pairs (N_ij samples), with weight
  ``w_ij = N N_ij / (N_i M_j)``; for Shannon information the estimate is
  ``I_eps = sum_ij (N_i / N)(M_j / N) g(w_ij)`` with ``g(x) = x log x``, i.e.
  ``(1/N) sum_ij N_ij log w_ij``.
- The ensemble (their section on EDGE) runs ``T`` base estimators at
  ``eps(t) = t N^(-1/(2d))`` for index values ``t`` in a set ``𝒯`` and
  combines them, ``I_w = sum_t w(t) I_eps(t)``, with the weights of least norm
  that cancel the leading bias terms ``C_i eps^i``:
  ``sum_t w(t) = 1`` and ``sum_t w(t) t^i = 0`` for ``i = 1..q``.

Here ``eps`` is in units of each neuron's standard deviation in the block
(``eps_k(t) = t sigma_k N^(-1/(2d))``, d the dimension hashed), or a given
absolute ``epsilon`` times t. The partner of a layer is discrete: the labels
for I(T;Y), the input identity for I(X;T) (groups of identical inputs, or
every sample its own input). A discrete variable is its own hash (its values
are the buckets), so for I(X;T) with distinct inputs every X vertex holds one
sample, ``w = N / M_j``, and the estimate is the plug-in entropy of T's
buckets, ``H(hashed T)``: exactly what binning measures, on a randomly shifted
grid whose width follows N and d, averaged over the ensemble.

The hashing and counting are the compiled kernel
(:func:`ibsim.estimators.kernels.edge_base_estimates`), held to its NumPy twin.
"""
from __future__ import annotations

import math

import numpy as np

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.discrete import entropy_nats
from ibsim.estimators.kernels import check_finite_blocks, edge_base_estimates
from ibsim.params import Interval, Param

NATS_TO_BITS = 1.0 / math.log(2.0)

#: Fewest samples an EDGE estimate accepts: below it the bin-width rule
#: N^(-1/(2d)) and the plug-in counts of a few buckets say nothing.
MIN_SAMPLES = 16


def ensemble_weights(t: np.ndarray, bias_terms: int) -> np.ndarray:
    """The ensemble weights of least Euclidean norm with ``sum w = 1`` and ``sum w t^i = 0``, i = 1..q.

    Args:
        t: (T,) index values of the base estimators (``eps(t) = t N^(-1/(2d))``).
        bias_terms: q, the number of bias terms ``C_i eps^i`` cancelled (0: the plain mean).

    Raises:
        ConfigError: q >= T (the constraints leave no freedom, or none fits).
    """
    t = np.asarray(t, dtype=np.float64)
    if bias_terms >= len(t):
        raise ConfigError(f"EDGE cancels bias_terms = {bias_terms} terms with {len(t)} members: "
                          "it needs more members than bias terms")
    if len(np.unique(t)) < bias_terms + 1:
        raise ConfigError(f"EDGE needs at least {bias_terms + 1} distinct index values t to cancel "
                          f"{bias_terms} bias terms (t_min < t_max)")
    powers = np.vstack([t**i for i in range(bias_terms + 1)])
    target = np.zeros(bias_terms + 1)
    target[0] = 1.0
    return np.linalg.lstsq(powers, target, rcond=None)[0]


def _require_samples(n: int, what: str) -> None:
    if n < MIN_SAMPLES:
        raise EstimatorError(f"{what} needs at least {MIN_SAMPLES} samples, got N = {n}")


def _base_widths(acts: np.ndarray, epsilon: float, dimension: int) -> np.ndarray:
    """(blocks, d) base bin widths: ``epsilon``, or ``sigma_k N^(-1/(2 dimension))`` (``epsilon`` = 0).

    A neuron constant in its block (sigma 0) gets width 1: any width gives it one code.
    """
    n_blocks, n, d = acts.shape
    if epsilon > 0:
        return np.full((n_blocks, d), float(epsilon))
    sigma = np.asarray(acts, dtype=np.float64).std(axis=1)
    sigma[sigma <= 0] = 1.0
    return sigma * n ** (-1.0 / (2.0 * dimension))


def _check_ensemble(members: int, t_min: float, t_max: float) -> np.ndarray:
    if t_max < t_min:
        raise ConfigError(f"EDGE needs t_min <= t_max, got t_min = {t_min}, t_max = {t_max}")
    return np.linspace(t_min, t_max, members)


def edge_mutual_information(
    x: np.ndarray,
    y: np.ndarray,
    epsilon: float = 0.0,
    members: int = 8,
    t_min: float = 2.0,
    t_max: float = 6.0,
    bias_terms: int = 1,
    c_h: float = 1024.0,
    seed: int = 0,
) -> float:
    """EDGE estimate (bits, >= 0) of I(X;Y) for two continuous variables.

    Both are hashed with H1 (random shifts from ``seed``, widths
    ``t sigma_k N^(-1/(2d))`` with d = d_x + d_y, or ``t epsilon``); x's codes
    then go through H2 into ``c_h N`` buckets (the kernel), y's codes are
    counted exactly. Parameters as :class:`EDGE`. x and y are read as float32
    (as activations are).

    Raises:
        EstimatorError: NaN/inf values, x and y of different lengths, fewer than
            :data:`MIN_SAMPLES` samples.
        ConfigError: An ensemble that cannot be weighted (bias_terms >= members).
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if len(x) != len(y):
        raise EstimatorError(f"x and y need the same number of samples, got {len(x)} and {len(y)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise EstimatorError("x or y contain NaN or infinite values")
    n = len(x)
    _require_samples(n, "the EDGE estimate")
    t = _check_ensemble(members, t_min, t_max)
    weights = ensemble_weights(t, bias_terms)
    dimension = x.shape[1] + y.shape[1]
    width_x = _base_widths(x[None], epsilon, dimension)
    width_y = _base_widths(y[None], epsilon, dimension)[0]
    rng = np.random.default_rng(seed)
    shift_x = rng.random((members, x.shape[1]))
    shift_y = rng.random((members, y.shape[1]))
    hash_seed = int(rng.integers(0, 2**63))
    n_buckets = max(1, math.ceil(c_h * n))
    y64 = y.astype(np.float64)
    base = np.empty(members)
    for l, factor in enumerate(t):
        codes = np.floor(y64 / (factor * width_y) + shift_y[l])
        _, y_ids = np.unique(codes, axis=0, return_inverse=True)
        y_ids = y_ids.ravel().astype(np.int64)
        base[l] = edge_base_estimates(x[None], width_x, t[l : l + 1], shift_x[l : l + 1], hash_seed + l, n_buckets,
                                      y_ids, int(y_ids.max()) + 1)[0, 0, 1]
    return max(0.0, float(base @ weights) * NATS_TO_BITS)


@ESTIMATORS.register("edge")
class EDGE(Estimator):
    """EDGE: hashed dependence-graph estimates with an ensemble bias correction (Noshad, Zeng & Hero 2019)."""

    name = "edge"
    PARAMS = {
        "epsilon": Param(Interval(float, 0, None), 0.0,
                         "base hash bin width (eps); 0: per neuron sigma_k N^(-1/(2d)), the paper's rule "
                         "in units of the neuron's spread in the block"),
        "members": Param(Interval(int, 1, None), 8, "number of base estimators T in the ensemble"),
        "t_min": Param(Interval(float, 0, None, "neither"), 2.0,
                       "smallest index value t (member widths are t * eps, t evenly spaced)"),
        "t_max": Param(Interval(float, 0, None, "neither"), 6.0, "largest index value t"),
        "bias_terms": Param(Interval(int, 0, None), 1,
                            "q: bias terms C_i eps^i (i = 1..q) the ensemble weights cancel; 0 averages"),
        "c_h": Param(Interval(float, 0, None, "neither"), 1024.0,
                     "c_H: the second hash has F = c_H N buckets"),
        "seed": Param(Interval(int, 0, None), 0, "seed of the random shifts and of the second hash"),
    }

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        acts = np.asarray(blocks.acts)
        n_blocks, n, d = acts.shape
        _require_samples(n, f"estimator '{self.spec}'")
        check_finite_blocks(acts)
        t = _check_ensemble(self.members, self.t_min, self.t_max)
        weights = ensemble_weights(t, self.bias_terms)
        rng = np.random.default_rng(self.seed)
        shift = rng.random((self.members, d))
        hash_seed = int(rng.integers(0, 2**63))
        width = _base_widths(acts, self.epsilon, d)
        base = edge_base_estimates(acts, width, t, shift, hash_seed, max(1, math.ceil(self.c_h * n)),
                                   blocks.labels, blocks.n_classes, blocks.groups, blocks.n_groups)
        h_x = entropy_nats(blocks.groups) if blocks.groups is not None else math.log(n)
        h_y = entropy_nats(blocks.labels)
        out = np.empty((n_blocks, 2))
        out[:, 0] = np.clip(base[:, :, 0] @ weights, 0.0, h_x)
        out[:, 1] = np.clip(base[:, :, 1] @ weights, 0.0, h_y)
        return out * NATS_TO_BITS
