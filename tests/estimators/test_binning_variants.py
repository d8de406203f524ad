"""n bins over a fixed range, and bins that follow the data."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators import BinningAdaptive, BinningRange, LayerBlocks, make_estimator


def _blocks(acts, labels=None, ranges=None):
    acts = np.asarray(acts, dtype=np.float32)
    acts = acts[None] if acts.ndim == 2 else acts
    labels = np.zeros(acts.shape[1], int) if labels is None else labels
    return LayerBlocks(acts, labels, int(np.max(labels)) + 1, ranges=ranges)


def test_thirty_bins_over_minus_one_one():
    # one value in the middle of each of the 30 bins of [-1, 1]: log2(30) bits
    centres = -1 + (np.arange(30) + 0.5) * (2 / 30)
    ixt, _ = BinningRange().estimate_blocks(_blocks(centres[:, None]))[0]
    assert ixt == pytest.approx(np.log2(30), abs=1e-12)


def test_values_beyond_the_range_fall_in_the_end_bins():
    values = np.array([-5.0, -1.0, -0.99, 0.99, 1.0, 7.0])[:, None]
    ixt, _ = BinningRange(n_bins=2).estimate_blocks(_blocks(values))[0]
    assert ixt == pytest.approx(1.0, abs=1e-12)  # three values per half


def test_upper_must_exceed_lower():
    with pytest.raises(ConfigError, match="'upper'"):
        BinningRange(lower=1.0, upper=1.0)
    with pytest.raises(ConfigError, match="n_bins"):
        BinningRange(n_bins=0)


def test_block_scope_ignores_the_scale_of_the_activations():
    rng = np.random.default_rng(0)
    acts = np.tanh(rng.normal(size=(500, 3)))
    adaptive = BinningAdaptive(n_bins=10, scope="block")
    fixed = make_estimator("binning(bin_size=0.5)")
    small = adaptive.estimate_blocks(_blocks(acts))[0, 0]
    large = adaptive.estimate_blocks(_blocks(8 * acts))[0, 0]
    assert small == pytest.approx(large, abs=1e-9)
    assert fixed.estimate_blocks(_blocks(8 * acts))[0, 0] > fixed.estimate_blocks(_blocks(acts))[0, 0] + 0.5


def test_layer_scope_uses_the_range_over_all_epochs():
    # epoch 0 spans [-0.1, 0.1], epoch 1 spans [-1, 1]: with the range of all
    # epochs, epoch 0 falls into few of the bins; per block, it fills them all.
    rng = np.random.default_rng(1)
    base = rng.uniform(-1, 1, size=(400, 2))
    cube = xr.DataArray(np.stack([0.1 * base, base])[None].astype(np.float32),
                        dims=("run", "epoch", "sample", "neuron"))
    labels = np.zeros(400, int)
    per_block = BinningAdaptive(n_bins=10, scope="block").estimate(cube, labels)["I_XT"].values[0]
    per_layer = BinningAdaptive(n_bins=10, scope="layer").estimate(cube, labels)["I_XT"].values[0]
    assert per_block[0] == pytest.approx(per_block[1], abs=0.2)
    assert per_layer[0] < per_layer[1] - 2.0


def test_global_scope_needs_ranges():
    cube = xr.DataArray(np.zeros((1, 2, 5, 2), np.float32), dims=("run", "epoch", "sample", "neuron"))
    with pytest.raises(EstimatorError, match="all layers"):
        BinningAdaptive(scope="global").estimate(cube, np.zeros(5, int))
    with pytest.raises(EstimatorError, match="range"):
        BinningAdaptive(scope="layer").estimate_blocks(_blocks(np.zeros((5, 2))))


def test_constant_layer_has_zero_information():
    result = BinningAdaptive(scope="block").estimate_blocks(_blocks(np.full((50, 3), 0.4)))
    assert np.all(result == 0.0)
