"""Sample propagation (SP): Goldfeld et al. (2019), "Estimating information flow in deep neural networks", ICML.

In a *noisy* network every hidden layer's output is ``T = S + Z`` in training,
with S the noise-free output (what is recorded) and ``Z ~ N(0, beta^2 I)``.
With X uniform over the N recorded inputs, T is a Gaussian mixture with the N
centres ``S_i`` and the common covariance ``beta^2 I``, and

    I(X;T) = h(T) - h(T|X) = h(S + Z) - h(Z)
    I(T;Y) = h(T) - sum_y p(y) h(T | Y = y)     (class-conditional mixtures)

SP estimates h(S + Z) by Monte Carlo: ``samples`` draws of the noise per centre,
``T_ik = S_i + Z_ik``, and the mixture's exact log density at each draw,
``log p(t) = log (1/N) sum_j phi_beta(t - S_j)``. The same draws estimate h(Z)
and the class-conditional entropies, so each draw gives one unbiased term of
the mutual information (nats)

    a_ik = log p(T_ik | X = x_i) - log p(T_ik)
         = log(N / N_g) + LSE_{j in g(i)} e_j - LSE_j e_j          e_j = -|T_ik - S_j|^2 / (2 beta^2)
    b_ik = log p(T_ik | Y = y_i) - log p(T_ik)
         = log(N / N_y) + LSE_{j: y_j = y_i} e_j - LSE_j e_j

where g(i) is i's group of identical inputs (X takes the group values; without
groups, N_g = 1 and the group sum is i's own term). Their means are I(X;T) and
I(T;Y); the normalising constants of phi cancel. Pairing h(Z) with the same
draws (rather than its closed form d/2 log(2 pi e beta^2)) is a control variate:
the estimate of N far-apart centres is exactly log N, with no Monte Carlo error.
The standard error reported beside each estimate is ``std(terms) / sqrt(N
samples)`` (an upper bound: the draws are stratified by centre).

The mixture sums are the compiled kernel
:func:`ibsim.estimators.kernels.sp_log_sums` (held to its NumPy twin). The
noise draws come from ``numpy.random.default_rng(seed)``, fresh for each block:
every block sees the same draws, so an estimate does not depend on which
blocks are estimated together (and the curves over epochs share their noise).
"""
from __future__ import annotations

import math

import numpy as np

from ibsim.errors import EstimatorError
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.kernels import check_finite_blocks, sp_log_sums
from ibsim.params import Interval, Param

NATS_TO_BITS = 1.0 / math.log(2.0)

#: Fewest samples SP accepts: one centre carries no information to estimate,
#: and a standard error needs two terms.
MIN_SAMPLES = 2


def _counts(values: np.ndarray) -> np.ndarray:
    """How many samples share each sample's value (label or group)."""
    return np.bincount(values)[values].astype(np.float64)


def sp_terms(
    s: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    beta: float,
    samples: int,
    seed: int,
    groups: np.ndarray | None = None,
    n_groups: int = 0,
    num_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The Monte Carlo terms of one block (nats): ``(a, b)``, each (samples, N).

    ``a.mean()`` estimates I(X;T) and ``b.mean()`` I(T;Y) (see the module docstring).

    Args:
        s: (N, d) noise-free activations S (the mixture's centres).
        labels: (N,) class of each sample, in [0, n_classes).
        n_classes: Number of classes.
        beta: Standard deviation of the noise (the network's training noise), > 0.
        samples: Draws of the noise per centre, >= 1.
        seed: Seed of the draws (``numpy.random.default_rng``).
        groups: (N,) groups of identical inputs, or None when all are distinct.
        n_groups: Number of groups (0 or N: all distinct).
        num_threads: Kernel threads (default: this worker's share).

    Raises:
        EstimatorError: N < 2, NaN or infinite activations, a bad beta.
    """
    s = np.asarray(s)
    if s.ndim != 2 or s.shape[1] == 0:
        raise EstimatorError(f"activations must be (samples, neurons) with a neuron at least, got {s.shape}")
    n, d = s.shape
    if n < MIN_SAMPLES:
        raise EstimatorError(f"the SP estimate needs at least {MIN_SAMPLES} samples, got N = {n}")
    if not (math.isfinite(beta) and beta > 0):
        raise EstimatorError(f"noise_std (beta) must be finite and > 0, got {beta!r}")
    variance = 2.0 * beta * beta
    scale = 1.0 / variance if variance > 0 else math.inf
    if not math.isfinite(scale):
        raise EstimatorError(f"noise_std (beta) too small: 1 / (2 beta^2) overflows, got {beta!r}")
    centres = np.ascontiguousarray(s, dtype=np.float32)
    if not np.all(np.isfinite(centres)):
        raise EstimatorError("NaN or infinite activations")
    labels = np.asarray(labels, dtype=np.int64)
    distinct = groups is None or n_groups == 0 or n_groups >= n
    log_x = math.log(n) - (0.0 if distinct else np.log(_counts(np.asarray(groups, dtype=np.int64))))
    log_y = math.log(n) - np.log(_counts(labels))
    rng = np.random.default_rng(seed)
    owner = np.arange(n, dtype=np.int64)
    centres64 = centres.astype(np.float64)
    a = np.empty((samples, n))
    b = np.empty((samples, n))
    for k in range(samples):
        queries = centres64 + beta * rng.standard_normal((n, d))
        sums = sp_log_sums(queries, owner, centres, labels, n_classes, scale,
                           None if distinct else groups, 0 if distinct else n_groups, num_threads)
        a[k] = log_x + sums[:, 2] - sums[:, 0]
        b[k] = log_y + sums[:, 1] - sums[:, 0]
    return a, b


def _mean_and_error(terms: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error ``std / sqrt(count)``, in bits."""
    count = terms.size
    return (float(terms.mean()) * NATS_TO_BITS, float(terms.std(ddof=1) / math.sqrt(count)) * NATS_TO_BITS)


def sp_mutual_information(
    s: np.ndarray,
    labels: np.ndarray,
    beta: float,
    samples: int = 10,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> tuple[float, float, float, float]:
    """SP estimates of one layer with their standard errors, in bits.

    Args:
        s: (N, d) noise-free activations S of the N inputs (X uniform over them).
        labels: (N,) class index of each sample.
        beta: Standard deviation of the network's noise Z ~ N(0, beta^2 I).
        samples: Monte Carlo draws of the noise per sample.
        seed: Seed of the draws.
        groups: (N,) index of each sample's group of identical inputs, or None.

    Returns:
        ``(I_XT, I_TY, se_XT, se_TY)``: the estimates and their standard errors.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_groups = 0 if groups is None else int(np.max(groups)) + 1
    a, b = sp_terms(s, labels, int(labels.max()) + 1, beta, samples, seed, groups, n_groups)
    (i_xt, se_xt), (i_ty, se_ty) = _mean_and_error(a), _mean_and_error(b)
    return i_xt, i_ty, se_xt, se_ty


@ESTIMATORS.register("sp", "sample_propagation")
class SamplePropagation(Estimator):
    """Sample propagation (Goldfeld et al. 2019) for networks trained with Gaussian noise.

    ``noise_std`` must equal the noise the network was trained with: the
    estimator sees only the recorded, noise-free activations S, not the
    config. It is not the estimator's ``main_parameter``
    on purpose: the seed's ``discretization_range`` (a bin size or a variance
    for the other estimators) must not silently set it.
    """

    name = "sp"
    PARAMS = {
        "noise_std": Param(Interval(float, 0, None, "neither"), 0.1,
                           "beta, the std of the Gaussian noise on the layer: must equal the network's training noise"),
        "samples": Param(Interval(int, 1, None), 10, "Monte Carlo draws of the noise per sample"),
        "seed": Param(Interval(int, 0, None), 0, "seed of the draws (the same draws for every block)"),
    }

    reports_error = True

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        return self.estimate_blocks_with_error(blocks)[:, :2]

    def estimate_blocks_with_error(self, blocks: LayerBlocks) -> np.ndarray:
        """I(X;T), I(T;Y) and their standard errors in bits per block: (blocks, 4).

        Columns (:data:`~ibsim.estimators.base.ESTIMATE_COLUMNS`): ``I_XT``,
        ``I_TY``, ``I_XT_se``, ``I_TY_se``; each standard error is the Monte
        Carlo terms' ``std / sqrt(N samples)``. The pipeline stores the errors
        in the results file beside the estimates.

        Raises:
            EstimatorError: N < 2; a block holding NaN or infinite values
                (a :class:`~ibsim.estimators.kernels.BlockError` naming it).
        """
        acts = np.asarray(blocks.acts)
        if acts.ndim != 3 or acts.shape[1] < MIN_SAMPLES:
            raise EstimatorError(f"estimator '{self.spec}' needs at least {MIN_SAMPLES} samples, "
                                 f"got activations of shape {acts.shape}")
        check_finite_blocks(acts)
        out = np.empty((len(acts), 4))
        for index, block in enumerate(acts):
            a, b = sp_terms(block, blocks.labels, blocks.n_classes, self.noise_std, self.samples, self.seed,
                            blocks.groups, blocks.n_groups)
            (out[index, 0], out[index, 2]), (out[index, 1], out[index, 3]) = _mean_and_error(a), _mean_and_error(b)
        return out
