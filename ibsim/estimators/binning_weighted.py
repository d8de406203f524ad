"""Weighted binning: bin edges that follow the network (the seed's section 7.5).

Fixed-width binning gives every neuron the same grid, so a layer that merely
rescales or rotates its input (and loses nothing) can appear to lose bits: the
seed's notebook finds 9.85 → 8.03 bits through an invertible 3-3-3 layer.
Weighted binning instead pushes one grid of input edges through the network:
``n_edges`` points ``e_i · (1, …, 1)`` spanning the inputs' range plus
``margin`` (:func:`~ibsim.estimators.edges.probe_inputs`) are run through the
network at every recorded epoch, and each neuron's activations on them are its
bin edges (sorted; :func:`~ibsim.estimators.edges.bin_codes`). The codes go
through the fast binning kernel, and the information formulas are those of
``binning``.

The pipeline records the probe activations during training, so this estimator
works in a config's ``estimator`` list (inline or deferred) but not in
``ibsim estimate`` on a finished file.
"""
from __future__ import annotations

import numpy as np

from ibsim.errors import EstimatorError
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.binning import information_from_entropies
from ibsim.estimators.edges import bin_codes, probe_inputs
from ibsim.estimators.kernels import binned_entropies
from ibsim.params import Interval, Param


@ESTIMATORS.register("binning_weighted", "weighted_binning")
class BinningWeighted(Estimator):
    """Per-neuron bin edges: the layer's activations on a grid of probe inputs."""

    name = "binning_weighted"
    probes = True
    PARAMS = {
        "n_edges": Param(Interval(int, 2, 100_000), 50, "number of probe points (bin edges per neuron)"),
        "margin": Param(Interval(float, 0, None), 1.0, "how far the probe grid reaches beyond the inputs' range"),
    }

    def probe_inputs(self, X: np.ndarray) -> np.ndarray:
        return probe_inputs(X, self.n_edges, self.margin)

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        if blocks.edges is None:
            raise EstimatorError(
                f"estimator '{self.spec}' needs the layer's activations on its probe inputs (its bin edges), "
                "recorded during training: list it in the config's estimator key"
            )
        codes = bin_codes(blocks.acts, blocks.edges)
        entropies = binned_entropies(
            codes, 0.0, 1.0, 0, blocks.labels, blocks.n_classes, blocks.groups,
            blocks.n_groups if blocks.groups is not None else 0,
        )
        return information_from_entropies(entropies)
