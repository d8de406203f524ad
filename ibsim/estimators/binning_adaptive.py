"""Binning with n equal bins over the activations' own range (seed section 7.2).

The bins follow the data: ``n_bins`` equal bins between the smallest and the
largest activation, taken per block (each run, epoch and layer: ``scope =
"block"``), per layer over all epochs of a run (``"layer"``), or over all layers
and epochs of a run (``"global"``). Saxe et al. (2018) and the seed's minimal-
model notebook show that the choice decides whether a double-saturating layer
appears to compress: with a range fixed over training, saturation merges
patterns; with a range per epoch, bins stretch with the activations.

NaN or infinite activations are refused (:class:`~ibsim.estimators.kernels.BlockError`
naming the block, how many values and which neurons), never turned into a range.
"""
from __future__ import annotations

import numpy as np

from ibsim.errors import EstimatorError
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.binning_range import binned_information
from ibsim.estimators.kernels import BlockError, check_finite_blocks
from ibsim.params import Interval, Options, Param


def range_bins(ranges: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower edges and widths of ``n_bins`` bins over each (min, max) range.

    A range of zero width (all activations equal) gets width 1: every value then
    falls into one bin.
    """
    lower, upper = ranges[:, 0], ranges[:, 1]
    width = (upper - lower) / n_bins
    width = np.where(width > 0, width, 1.0)
    return lower, width


@ESTIMATORS.register("binning_adaptive", "adaptive_binning")
class BinningAdaptive(Estimator):
    """n equal bins over the activations' range: per block, per layer over all epochs, or global."""

    name = "binning_adaptive"
    PARAMS = {
        "n_bins": Param(Interval(int, 1, 2**31 - 1), 30, "number of equal bins"),
        "scope": Param(Options(["block", "layer", "global"]), "layer",
                       "range per block (run, epoch, layer), per layer over all epochs, or over all layers"),
    }

    @property
    def range_scope(self) -> str:  # type: ignore[override]
        return self.scope

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        ranges = blocks.ranges
        if ranges is None:
            if self.scope != "block":
                raise EstimatorError(
                    f"estimator '{self.spec}' needs the activation range over "
                    f"{'all epochs' if self.scope == 'layer' else 'all layers and epochs'} of each run; "
                    "give it through LayerBlocks.ranges (the pipeline does)"
                )
            ranges = np.stack([blocks.acts.min(axis=(1, 2)), blocks.acts.max(axis=(1, 2))], axis=1)
        ranges = np.asarray(ranges, dtype=np.float64)
        if not np.all(np.isfinite(ranges)):
            check_finite_blocks(blocks.acts)  # the block's own NaN or inf: name them
            bad = int(np.flatnonzero(~np.isfinite(ranges).all(axis=1))[0])
            raise BlockError(
                f"activation range {ranges[bad].tolist()} is not finite "
                f"(NaN or infinite activations elsewhere in its scope, {self.scope!r})", bad
            )
        lower, width = range_bins(ranges, self.n_bins)
        return binned_information(blocks, lower, width, self.n_bins)
