"""Binning with a fixed bin size (the seed's ``binning``; Saxe et al.'s ibsgd).

Each activation t becomes the code ``floor(t / bin_size)``; a row of codes is
the layer's discrete state T. With X the inputs and Y the labels,

    I(X;T) = H(T) - H(T|X)   (H(T|X) = 0 unless inputs repeat),
    I(T;Y) = H(T) - sum_y p(y) H(T | Y = y),

in bits, with plug-in entropies of the empirical distribution over the samples.
Codes are computed in float64; float64 activations are binned exactly as given,
never rounded to float32 first (:func:`~ibsim.estimators.kernels.binned_entropies`).
"""
from __future__ import annotations

import numpy as np

from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.kernels import binned_entropies
from ibsim.params import Interval, Param


def information_from_entropies(entropies: np.ndarray) -> np.ndarray:
    """(blocks, 3) of H(T), H(T|Y), H(T|X) → (blocks, 2) of I(X;T), I(T;Y)."""
    return np.stack([entropies[:, 0] - entropies[:, 2], entropies[:, 0] - entropies[:, 1]], axis=1)


@ESTIMATORS.register("binning", "mi_estimator.binning")
class Binning(Estimator):
    """Fixed-width bins: code = floor(t / bin_size)."""

    name = "binning"
    main_parameter = "bin_size"
    PARAMS = {"bin_size": Param(Interval(float, 0, None, "neither"), 0.07, "bin width")}

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        entropies = binned_entropies(
            blocks.acts, 0.0, self.bin_size, 0, blocks.labels, blocks.n_classes, blocks.groups,
            blocks.n_groups if blocks.groups is not None else 0,
        )
        return information_from_entropies(entropies)
