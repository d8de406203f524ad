"""Entropy-based adaptive binning (Chelombiev, Houghton & O'Donnell 2019, "EBAB").

Bins that hold (about) equal numbers of the layer's *distinct* activation
values, taken per block (one run, epoch and layer), so that the bins follow the
distribution of the activations and not only their range. With ``u_0 < u_1 <
... < u_{U-1}`` the sorted distinct values of the block (all samples and
neurons pooled) and ``n = n_bins``, bin ``k`` opens at the edge

    e_k = u[floor(k U / n)],    k = 0, ..., n - 1,

and holds ``[e_k, e_{k+1})`` (the last bin ``[e_{n-1}, u_{U-1}]``): the value of
rank ``r`` (its index among the ``u``) gets the code

    code(r) = floor(((r + 1) n - 1) / U)   (the number of edges <= u_r, less one),

so each bin holds floor(U / n) or ceil(U / n) distinct values and, with
``U <= n``, every distinct value is its own bin. The codes go through the binning
kernel (:func:`~ibsim.estimators.binning_range.binned_information`) and the
information formulas are those of ``binning``.

Where this differs from the authors' code (``set_up_bins`` with
``maxentropy=True`` and ``calc_information_sampling`` in their
``idnns/information/information_process.py``): they prepend a constant low edge
(-1.000001 for tanh, 0 otherwise) and remove that constant from the list of
distinct values, take ``int(k * (U / n))`` in floating point, append ``u_{U-1}``
as a last edge and digitise with ``np.digitize``, so (1) the block's maximum
gets a bin of its own, and (2) for a ReLU layer the exact zeros get a bin of
their own below the n bins. Here the block's own minimum opens the first bin
(no constant tied to the activation function), the maximum closes the last
bin, and the index is exact integer arithmetic. For a layer without values on
the low constant (tanh) the partitions are the same but for the maximum's own
bin (tested).

NaN or infinite activations are refused, naming the block.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.binning_range import binned_information
from ibsim.estimators.kernels import check_finite_blocks
from ibsim.params import Interval, Param


def entropy_bin_codes(block: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-count bin codes of one block's activations (rank-based, exact).

    Args:
        block: (N, d) finite activations of one (run, epoch, layer) block.
        n_bins: Number of bins (>= 1).

    Returns:
        (N, d) float64 codes in ``[0, n_bins - 1]``: ``floor(((r + 1) n_bins - 1) / U)``
        for the value of rank ``r`` among the block's ``U`` distinct values.
    """
    values = np.asarray(block)
    distinct, rank = np.unique(values.ravel(), return_inverse=True)
    codes = ((rank.astype(np.int64) + 1) * n_bins - 1) // len(distinct)
    return codes.reshape(values.shape).astype(np.float64)


@ESTIMATORS.register("binning_entropy", "ebab", "binning_equal_count")
class BinningEntropy(Estimator):
    """Entropy-based adaptive bins: n bins of equally many distinct values, per block."""

    name = "binning_entropy"
    PARAMS = {
        "n_bins": Param(Interval(int, 1, 2**24), 30, "number of bins, each holding equally many distinct values"),
    }

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        check_finite_blocks(blocks.acts)
        codes = np.stack([entropy_bin_codes(block, self.n_bins) for block in blocks.acts])
        # integer codes, mid-bin at lo = -0.5 with width 1: the kernel counts them exactly
        return binned_information(replace(blocks, acts=codes), -0.5, 1.0, 0)
