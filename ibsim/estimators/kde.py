"""Kernel density bounds (Kolchinsky & Tracey 2017; Saxe et al. 2018's KDE).

The layer is modelled as its activations plus Gaussian noise of variance
``variance`` (the seed's ``discretization_range`` for ``upper`` and ``lower``),
so T is a mixture of N Gaussians centred on the activations t_i. Its entropy is
bounded with pairwise distances between the components:

- upper bound (KL divergence): ``H(T) <= d/2 + d/2 log(2 pi var) + log N - mean_i log S_i``,
- lower bound (Bhattacharyya): the same with the kernel width 4 var,

where ``S_i = sum_j exp(-|t_i - t_j|^2 / (2 var))`` (``8 var`` for the lower).
With ``H(T|X) = d/2 log(2 pi e var)`` (the noise alone) and the class-conditional
mixtures for ``H(T|Y)``, everything but the sums cancels:

    I(X;T) = log N - mean_i log S_i
    I(T;Y) = H(Y) + mean_i log S_i^(y_i) - mean_i log S_i

in nats, reported in bits. ``S_i^(y)`` sums over the samples of class y. These
are exactly the formulas of the peers' ``entropy_estimator_kl`` /
``entropy_estimator_bd`` / ``kde_condentropy`` (ibsgd, deep_bottleneck).
"""
from __future__ import annotations

import math

import numpy as np

from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.discrete import entropy_nats
from ibsim.estimators.kernels import kde_log_sums
from ibsim.params import Interval, Param

NATS_TO_BITS = 1.0 / math.log(2.0)


class _KDEBound(Estimator):
    """Shared arithmetic of the two bounds; subclasses set the kernel width factor."""

    main_parameter = "variance"
    #: the Gaussian kernel's variance, in units of the noise variance
    width_factor = 1.0
    PARAMS = {
        "variance": Param(Interval(float, 0, None, "neither"), 0.001, "variance of the added Gaussian noise"),
    }

    def noise_variances(self, acts: np.ndarray) -> float | np.ndarray:
        """The noise variance: one for all blocks (here ``variance``) or one per block.

        Args:
            acts: (blocks, N, d) activations.
        """
        return self.variance

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        variances = self.noise_variances(blocks.acts)
        if np.ndim(variances) == 0:  # one variance: one kernel call over all blocks
            sums = kde_log_sums(blocks.acts, blocks.labels, blocks.n_classes, self._scale(variances))
        else:
            sums = np.concatenate([
                kde_log_sums(blocks.acts[b : b + 1], blocks.labels, blocks.n_classes, self._scale(variance))
                for b, variance in enumerate(np.asarray(variances, dtype=np.float64))
            ])
        n = blocks.acts.shape[1]
        i_xt = math.log(n) - sums[:, 0]
        i_ty = entropy_nats(blocks.labels) + sums[:, 1] - sums[:, 0]
        return np.stack([i_xt, i_ty], axis=1) * NATS_TO_BITS

    def _scale(self, variance: float) -> float:
        """The kernel's ``1 / (2 w)`` for a noise variance (``w`` the kernel width)."""
        return 1.0 / (2.0 * self.width_factor * float(variance))


@ESTIMATORS.register("kde_upper", "upper", "mi_estimator.upper")
class KDEUpper(_KDEBound):
    """Kolchinsky-Tracey upper bound (pairwise KL distances) of a Gaussian mixture."""

    name = "kde_upper"
    width_factor = 1.0


@ESTIMATORS.register("kde_lower", "lower", "mi_estimator.lower")
class KDELower(_KDEBound):
    """Kolchinsky-Tracey lower bound (pairwise Bhattacharyya distances)."""

    name = "kde_lower"
    width_factor = 4.0
