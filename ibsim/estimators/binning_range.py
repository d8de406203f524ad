"""Binning with n equal bins over a fixed range (IDNNs, ibsgd's ``binsize`` from a range).

``n_bins`` equal bins over ``[lower, upper]``: code = floor((t - lower) / width)
with width = (upper - lower) / n_bins, clipped into the end bins (so ``upper``
itself and anything beyond fall in the last bin, as ``np.histogram`` counts
them). IDNNs (Shwartz-Ziv & Tishby) use 30 bins over [-1, 1] for tanh layers.
For unbounded activations give the range, or use ``binning_adaptive``.
The information formulas, and the exact float64 binning of float64 activations,
are those of ``binning``.
"""
from __future__ import annotations

import numpy as np

from ibsim.errors import ConfigError
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.binning import information_from_entropies
from ibsim.estimators.kernels import binned_entropies
from ibsim.params import Interval, Param


def binned_information(blocks: LayerBlocks, lower: np.ndarray | float, width: np.ndarray | float,
                       n_bins: int) -> np.ndarray:
    """I(X;T), I(T;Y) of ``n_bins`` clipped bins from ``lower`` with ``width``."""
    entropies = binned_entropies(
        blocks.acts, lower, width, n_bins, blocks.labels, blocks.n_classes, blocks.groups,
        blocks.n_groups if blocks.groups is not None else 0,
    )
    return information_from_entropies(entropies)


@ESTIMATORS.register("binning_range", "binning_fixed_range", "binning_nbins")
class BinningRange(Estimator):
    """n equal bins over a fixed range [lower, upper] (IDNNs: 30 bins over [-1, 1])."""

    name = "binning_range"
    PARAMS = {
        "n_bins": Param(Interval(int, 1, 2**31 - 1), 30, "number of equal bins"),
        "lower": Param(Interval(float, None, None), -1.0, "lower end of the range"),
        "upper": Param(Interval(float, None, None), 1.0, "upper end of the range"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        if not self.upper > self.lower:
            raise ConfigError(
                f"{self.owner()}: 'upper' ({self.upper}) must be greater than 'lower' ({self.lower})"
            )

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        width = (self.upper - self.lower) / self.n_bins
        return binned_information(blocks, self.lower, width, self.n_bins)
