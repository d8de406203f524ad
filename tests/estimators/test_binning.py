"""The binning estimator against analytic answers."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators import Binning, LayerBlocks, input_groups, make_estimator


def _blocks(acts, labels, n_classes=None, groups=None):
    acts = np.asarray(acts, dtype=np.float32)
    if acts.ndim == 2:
        acts = acts[None]
    n_groups = int(groups.max()) + 1 if groups is not None else acts.shape[1]
    return LayerBlocks(acts, np.asarray(labels), n_classes or int(np.max(labels)) + 1, groups, n_groups)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_uniform_patterns_give_k_bits(k):
    patterns = np.array(list(itertools.product([0.0, 1.0], repeat=k)))
    acts = np.repeat(patterns, 3, axis=0)  # each of the 2**k patterns 3 times
    labels = np.zeros(len(acts), dtype=int)
    ixt, ity = Binning(bin_size=0.5).estimate_blocks(_blocks(acts, labels))[0]
    assert ixt == pytest.approx(k, abs=1e-12)
    assert ity == pytest.approx(0.0, abs=1e-12)


def test_layer_independent_of_label_has_zero_information():
    # every pattern appears once with each label: T and Y are independent
    patterns = np.array(list(itertools.product([0.0, 1.0], repeat=4)))
    acts = np.concatenate([patterns, patterns])
    labels = np.repeat([0, 1], len(patterns))
    ixt, ity = Binning(bin_size=0.5).estimate_blocks(_blocks(acts, labels))[0]
    assert ity == pytest.approx(0.0, abs=1e-12)
    assert ixt == pytest.approx(4.0, abs=1e-12)


def test_layer_equal_to_label_carries_its_entropy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 999)
    acts = labels[:, None].astype(np.float32)  # T = Y
    p = np.bincount(labels) / len(labels)
    h_y = -np.sum(p * np.log2(p))
    ixt, ity = Binning(bin_size=0.5).estimate_blocks(_blocks(acts, labels))[0]
    assert ity == pytest.approx(h_y, abs=1e-12)
    assert ixt == pytest.approx(h_y, abs=1e-12)


def test_injective_layer_gives_log2_n():
    acts = np.arange(1000, dtype=np.float32)[:, None] * 0.1
    ixt, _ = Binning(bin_size=0.07).estimate_blocks(_blocks(acts, np.zeros(1000, int)))[0]
    assert ixt == pytest.approx(np.log2(1000), abs=1e-12)


def test_invariants_on_random_layers():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 2000)
    p = np.bincount(labels) / len(labels)
    h_y = -np.sum(p * np.log2(p))
    acts = np.tanh(2 * rng.normal(size=(20, 2000, 4))).astype(np.float32)
    result = Binning(bin_size=0.3).estimate_blocks(_blocks(acts, labels))
    assert np.all(result[:, 0] <= np.log2(2000) + 1e-12)
    assert np.all(result >= -1e-12)
    assert np.all(result[:, 1] <= h_y + 1e-12)
    assert np.all(result[:, 1] <= result[:, 0] + 1e-12)


def test_repeated_inputs_use_the_conditional_entropy():
    # 4 distinct inputs, each repeated 5 times; within each input group the
    # layer takes 2 equally likely values (a stochastic layer), so H(T|X) = 1.
    x = np.repeat(np.arange(4), 5)[:, None].astype(float)
    groups, n_groups = input_groups(x)
    assert n_groups == 4 and groups is not None
    t = np.stack([x[:, 0], np.tile([0, 1, 0, 1, 1], 4)], axis=1)
    # counts per (x, second bit): 2/3 of one value, ... compute the expected value directly
    h_t_given_x = 0.0
    for g in range(4):
        _, c = np.unique(t[groups == g], axis=0, return_counts=True)
        q = c / c.sum()
        h_t_given_x += 0.25 * -np.sum(q * np.log2(q))
    _, c = np.unique(t, axis=0, return_counts=True)
    q = c / c.sum()
    h_t = -np.sum(q * np.log2(q))
    ixt, _ = Binning(bin_size=0.5).estimate_blocks(_blocks(t, np.zeros(20, int), groups=groups))[0]
    assert ixt == pytest.approx(h_t - h_t_given_x, abs=1e-12)
    assert h_t_given_x > 0.5


def test_deterministic_layer_of_repeated_inputs_loses_nothing():
    x = np.repeat(np.arange(8), 3)[:, None].astype(float)
    groups, _ = input_groups(x)
    acts = 0.1 * x  # identical inputs give identical activations
    with_groups = Binning(bin_size=0.01).estimate_blocks(_blocks(acts, np.zeros(24, int), groups=groups))[0]
    assert with_groups[0] == pytest.approx(3.0, abs=1e-12)  # H(T) = log2 8, H(T|X) = 0


def test_distinct_inputs_have_no_groups():
    groups, n = input_groups(np.eye(5))
    assert groups is None and n == 5


def test_estimate_over_xarray_names_the_block_with_nan():
    acts = np.zeros((2, 3, 10, 2), dtype=np.float32)
    acts[1, 2, 4, 0] = np.nan
    da = xr.DataArray(acts, dims=("run", "epoch", "sample", "neuron"), coords={"run": [0, 1], "epoch": [0, 5, 9]})
    with pytest.raises(EstimatorError, match="NaN"):
        Binning().estimate(da, np.zeros(10, int))


def test_estimate_over_xarray_returns_labelled_bits():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(2, 3, 50, 2)).astype(np.float32)
    da = xr.DataArray(acts, dims=("run", "epoch", "sample", "neuron"), coords={"run": [4, 7], "epoch": [0, 5, 9]})
    out = Binning(bin_size=0.5).estimate(da, rng.integers(0, 2, 50))
    assert out["I_XT"].dims == ("run", "epoch")
    assert out["I_XT"].attrs["units"] == "bits"
    assert list(out["run"].values) == [4, 7]


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), "x", True])
def test_bad_bin_size_is_refused(bad):
    with pytest.raises(ConfigError, match="bin_size"):
        Binning(bin_size=bad)


def test_unknown_estimator_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: .*binning"):
        make_estimator("binnig")
    with pytest.raises(ConfigError, match="Did you mean 'binning'"):
        make_estimator("binnig")


def test_discretization_range_sets_the_main_parameter():
    assert make_estimator("binning", 0.05).bin_size == 0.05
    assert make_estimator("binning(bin_size=0.2)", 0.05).bin_size == 0.2
    assert make_estimator("mi_estimator.binning").spec == "binning(bin_size=0.07)"
