"""Estimator API edges: too few samples for k neighbours, float64 activations
beside bin edges, NaN activations under bins that follow the data.

Each guard here was checked by removing it (or forcing the old float32
rounding) and seeing its test fail; see docs/reliability.md.
"""
from __future__ import annotations

import numpy as np
import pytest

from ibsim.errors import EstimatorError
from ibsim.estimators import KNN, Binning, BinningAdaptive, BinningRange, LayerBlocks, kernels, reference
from ibsim.estimators.binning import information_from_entropies
from ibsim.estimators.kernels import BlockError
from ibsim.estimators.knn import discrete_mutual_information, kl_entropy, ksg_mutual_information

# ---------------------------------------------------------------- k-NN: N <= k


def _knn_entry_points(n: int, k: int) -> dict:
    """Every public k-NN entry point, called on ``n`` distinct samples with ``k`` neighbours."""
    t = np.linspace(0.0, 1.0, 2 * n).reshape(n, 2)
    labels = np.arange(n) % 2
    return {
        "kl_entropy": lambda: kl_entropy(t, k),
        "ksg_mutual_information": lambda: ksg_mutual_information(t[:, 0], t[:, 1] ** 2, k),
        "discrete_mutual_information": lambda: discrete_mutual_information(t, labels, k),
        "KNN.estimate_blocks": lambda: KNN(k=k).estimate_blocks(
            LayerBlocks(t[None].astype(np.float32), labels, 2)),
    }


ENTRY_POINTS = list(_knn_entry_points(1, 1))


@pytest.mark.parametrize("name", ENTRY_POINTS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_knn_entry_points_refuse_n_at_most_k_naming_n_and_k(name, n):
    with pytest.raises(EstimatorError, match=rf"more than k = 3 samples, got N = {n}$"):
        _knn_entry_points(n, 3)[name]()


def test_knn_estimator_refuses_too_few_samples_itself():
    # its own message (naming the estimator), before any noise is drawn
    with pytest.raises(EstimatorError, match=r"^estimator 'knn\(k=5.*more than k = 5 samples, got N = 4$"):
        _knn_entry_points(4, 5)["KNN.estimate_blocks"]()


@pytest.mark.parametrize("name", ["kl_entropy", "ksg_mutual_information", "discrete_mutual_information"])
@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_knn_functions_refuse_a_bad_k(name, k):
    with pytest.raises(EstimatorError, match=rf"k >= 1, got k = {k}"):
        _knn_entry_points(10, k)[name]()


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_knn_entry_points_accept_k_plus_one_samples(name):
    assert np.all(np.isfinite(_knn_entry_points(4, 3)[name]()))


def test_discrete_knn_refuses_labels_of_another_length():
    with pytest.raises(EstimatorError, match=r"one entry per sample \(10\), got shape \(9,\)"):
        discrete_mutual_information(np.linspace(0, 1, 10), np.zeros(9, int))


# ----------------------------------------------- float64 binned in float64


def _beside_edges(lo: float, width: float, ks: np.ndarray) -> np.ndarray:
    """float64 values one ulp either side of, and on, the bin edges ``lo + k width``."""
    edges = lo + ks * width
    return np.concatenate([np.nextafter(edges, -np.inf), edges, np.nextafter(edges, np.inf)])


def _reference(acts: np.ndarray, lo, width, n_bins: int, labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    blocks = len(acts)
    return reference.binned_entropies(acts, np.broadcast_to(np.asarray(lo, float), (blocks,)),
                                      np.broadcast_to(np.asarray(width, float), (blocks,)), n_bins,
                                      labels, 3, groups, int(groups.max()) + 1)


@pytest.mark.parametrize("lo,width,n_bins", [(0.0, 0.07, 0), (0.1, 0.07, 0), (-1.0, 2 / 30, 30), (-3000.3, 0.9, 0)])
def test_float64_values_beside_bin_edges_are_binned_in_float64(lo, width, n_bins):
    rng = np.random.default_rng(0)
    values = _beside_edges(lo, width, np.arange(-12, 13) if n_bins == 0 else np.arange(1, n_bins))
    acts = rng.permutation(np.resize(values, 2 * 3 * 150)).reshape(2, 150, 3)  # float64
    labels = rng.integers(0, 3, 150)
    groups = np.minimum(np.arange(150), 120)  # the last 30 samples repeat one input
    # the codes the float64 definition gives differ from those of float32-rounded values
    codes = reference.bin_codes(acts, lo, width, n_bins)
    assert np.any(codes != reference.bin_codes(acts.astype(np.float32), lo, width, n_bins))
    expected = _reference(acts, lo, width, n_bins, labels, groups)
    rounded = _reference(acts.astype(np.float32), lo, width, n_bins, labels, groups)
    assert np.abs(expected - rounded).max() > 1e-3  # the test tells the two apart
    got = kernels.binned_entropies(acts, lo, width, n_bins, labels, 3, groups, int(groups.max()) + 1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_float64_codes_equal_the_float64_definition_one_by_one():
    # each value beside a bin edge in a block of its own with the centre of its
    # float64 bin: H(T) = 0 exactly when the kernel gives both the same code
    lo, width = 0.1, 0.07
    values = _beside_edges(lo, width, np.arange(-20, 21))
    codes = reference.bin_codes(values, lo, width, 0)
    centres = lo + (codes + 0.5) * width
    np.testing.assert_array_equal(reference.bin_codes(centres, lo, width, 0), codes)
    assert np.any(reference.bin_codes(values.astype(np.float32), lo, width, 0) != codes)  # float32 moves some
    acts = np.stack([values, centres], axis=1)[:, :, None]  # (blocks, 2 samples, 1 neuron), float64
    np.testing.assert_array_equal(kernels.binned_entropies(acts, lo, width)[:, 0], 0.0)


ESTIMATORS = {
    "binning": (Binning(bin_size=0.07), lambda acts: (0.0, 0.07, 0)),
    "binning_range": (BinningRange(n_bins=30), lambda acts: (-1.0, 2 / 30, 30)),
    "binning_adaptive": (BinningAdaptive(n_bins=30, scope="block"),
                         lambda acts: (acts.min(axis=(1, 2)), (acts.max(axis=(1, 2)) - acts.min(axis=(1, 2))) / 30,
                                       30)),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_binning_estimators_bin_float64_activations_in_float64(name):
    estimator, bins = ESTIMATORS[name]
    rng = np.random.default_rng(1)
    lo, width, _ = bins(np.array([[[-1.0], [1.0]]]))
    values = np.concatenate([[-1.0, 1.0], _beside_edges(float(np.ravel(lo)[0]), float(np.ravel(width)[0]),
                                                         np.arange(1, 30))])
    acts = np.stack([np.resize(rng.permutation(values), (200, 2)) for _ in range(2)])
    acts[:, :2, 0] = [-1.0, 1.0]  # the adaptive range is [-1, 1] in every block
    labels = rng.integers(0, 3, 200)
    groups = np.arange(200)
    lo, width, n_bins = bins(acts)
    expected = information_from_entropies(_reference(acts, lo, width, n_bins, labels, groups))
    got = estimator.estimate_blocks(LayerBlocks(acts, labels, 3, groups=groups, n_groups=200))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    rounded = estimator.estimate_blocks(LayerBlocks(acts.astype(np.float32), labels, 3, groups=groups, n_groups=200))
    assert np.abs(rounded - expected).max() > 1e-3  # float32 rounding would have moved codes


def test_float64_holding_only_float32_values_goes_to_the_kernel_as_is(monkeypatch):
    rng = np.random.default_rng(2)
    acts32 = np.tanh(2 * rng.normal(size=(3, 300, 5))).astype(np.float32)
    labels = rng.integers(0, 2, 300)
    expected = kernels.binned_entropies(acts32, 0.0, 0.07, 0, labels, 2)

    def refuse(*args, **kwargs):
        raise AssertionError("float32 values took the float64 path")

    monkeypatch.setattr(kernels, "_float64_entropies", refuse)
    np.testing.assert_array_equal(kernels.binned_entropies(acts32.astype(np.float64), 0.0, 0.07, 0, labels, 2),
                                  expected)


def test_float64_codes_spanning_more_than_float32_integers_stay_exact():
    # block 0: one value in bin 0 and 199 in consecutive bins near 5e7, which
    # float32 cannot tell apart (the NumPy twin counts them); block 1: the same
    # 199 alone, a span of 199 bins (the kernel counts them)
    width = 1e-8
    near = 0.5 + np.arange(199) * width
    acts = np.zeros((2, 200, 2))
    acts[0, 1:, 0] = near
    acts[1, :, 0] = np.concatenate([[near[0]], near])
    codes = reference.bin_codes(acts[0, :, 0], 0.0, width, 0)
    assert codes.max() - codes.min() > 2**23 and len(np.unique(codes.astype(np.float32))) < len(np.unique(codes))
    labels = np.arange(200) % 2
    got = kernels.binned_entropies(acts, 0.0, width, 0, labels, 2)
    expected = reference.binned_entropies(acts, np.zeros(2), np.full(2, width), 0, labels, 2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float64_nan_is_refused_naming_the_block(bad):
    acts = np.random.default_rng(4).normal(size=(3, 10, 2))
    acts[1, 4, 1] = bad
    with pytest.raises(BlockError, match=r"^NaN or infinite activations \(1 of 20 values, in neuron\(s\) 1\)$") as info:
        kernels.binned_entropies(acts, 0.0, 0.1)
    assert info.value.block == 1


def test_float64_code_overflow_is_refused_naming_the_block():
    acts = np.zeros((2, 5, 1))
    acts[1, 0, 0] = 1e300
    with pytest.raises(BlockError, match="overflow") as info:
        kernels.binned_entropies(acts, 0.0, 1e-10)
    assert info.value.block == 1


# ------------------------------------- NaN under bins that follow the data


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_adaptive_block_scope_names_nan_activations(bad):
    acts = np.tanh(np.random.default_rng(5).normal(size=(3, 20, 4))).astype(np.float32)
    acts[2, 5, 1] = acts[2, 7, 3] = bad
    message = r"^NaN or infinite activations \(2 of 80 values, in neuron\(s\) 1, 3\)$"
    with pytest.raises(EstimatorError, match=message) as info:
        BinningAdaptive(scope="block").estimate_blocks(LayerBlocks(acts, np.zeros(20, int), 1))
    assert info.value.block == 2


def test_adaptive_nan_names_run_epoch_and_layer_in_the_pipeline():
    from ibsim.pipeline.estimation import Samples, estimate_layer

    acts = np.tanh(np.random.default_rng(6).normal(size=(2, 20, 4))).astype(np.float32)
    acts[1, 3, 0] = np.nan
    with pytest.raises(EstimatorError, match=r"NaN or infinite activations \(1 of 80 values, in neuron\(s\) 0\) "
                                             r"at run 7, epoch 30, layer 2$"):
        estimate_layer(BinningAdaptive(scope="block"), acts, Samples(np.zeros(20, int), 1, None, 20), None,
                       [(7, 10), (7, 30)], 1)


def test_adaptive_refuses_a_range_that_is_not_finite():
    # a "layer" range spoilt by another epoch's NaN: this block's activations are finite
    acts = np.zeros((2, 10, 3), dtype=np.float32)
    ranges = np.array([[-1.0, 1.0], [np.nan, 1.0]])
    with pytest.raises(EstimatorError, match=r"activation range \[nan, 1.0\] is not finite") as info:
        BinningAdaptive(scope="layer").estimate_blocks(LayerBlocks(acts, np.zeros(10, int), 1, ranges=ranges))
    assert info.value.block == 1
