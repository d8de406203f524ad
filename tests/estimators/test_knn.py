"""The k-NN estimators against closed forms."""
from __future__ import annotations

import numpy as np
import pytest

from ibsim.errors import EstimatorError
from ibsim.estimators import KNN, LayerBlocks, knn
from ibsim.estimators.knn import discrete_mutual_information, kl_entropy, ksg_mutual_information


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_ksg_matches_correlated_gaussians(rho):
    rng = np.random.default_rng(7)
    x = rng.normal(size=4000)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=4000)
    expected = -0.5 * np.log2(1 - rho**2)
    assert ksg_mutual_information(x, y) / np.log(2) == pytest.approx(expected, abs=0.04)


def test_kozachenko_leonenko_matches_a_gaussian():
    rng = np.random.default_rng(8)
    z = rng.normal(size=(5000, 3)) * 0.5
    assert kl_entropy(z) == pytest.approx(1.5 * np.log(2 * np.pi * np.e * 0.25), abs=0.05)


def test_gaussian_channel():
    # T ~ N(0, I_2) through noise of variance 0.1: I = d/2 log2(1 + 1/0.1)
    rng = np.random.default_rng(9)
    t = rng.normal(size=(1, 3000, 2)).astype(np.float32)
    ixt, _ = KNN(noise_variance=0.1, replicates=1).estimate_blocks(LayerBlocks(t, np.zeros(3000, int), 1))[0]
    assert ixt == pytest.approx(np.log2(11), abs=0.15)


def test_separated_classes_carry_their_entropy():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 4, 2000)
    t = labels[:, None] * 10.0 + rng.normal(size=(2000, 2))
    i_ty = discrete_mutual_information(t, labels)
    p = np.bincount(labels) / len(labels)
    assert i_ty == pytest.approx(-np.sum(p * np.log(p)), abs=0.02)


def test_estimates_stay_within_their_bounds():
    rng = np.random.default_rng(11)
    acts = np.tanh(2 * rng.normal(size=(2, 500, 6))).astype(np.float32)
    labels = rng.integers(0, 2, 500)
    result = KNN().estimate_blocks(LayerBlocks(acts, labels, 2))
    assert np.all(result >= 0) and np.all(result[:, 0] <= np.log2(500) + 1e-12)
    assert np.all(result[:, 1] <= 1.0)


def test_saturated_layer_reads_as_its_patterns():
    rng = np.random.default_rng(12)
    patterns = np.sign(rng.normal(size=(2000, 4))) * 0.99  # 16 patterns
    ixt, _ = KNN().estimate_blocks(LayerBlocks(patterns[None].astype(np.float32), np.zeros(2000, int), 1))[0]
    assert ixt == pytest.approx(4.0, abs=0.25)


def test_duplicates_without_noise_and_nan_are_refused():
    with pytest.raises(EstimatorError, match="noise"):
        kl_entropy(np.zeros((10, 2)))
    with pytest.raises(EstimatorError, match="NaN"):
        ksg_mutual_information(np.array([0.0, np.nan, 1.0, 2.0, 3.0]), np.arange(5.0))


def test_the_noise_is_drawn_once_and_is_the_same_for_every_call(monkeypatch):
    rng = np.random.default_rng(4)
    want_x, want_y = rng.normal(0.0, 0.1, (50 * 3, 2)), rng.normal(0.0, 0.1, (50, 2))
    first = knn.estimator_noise(4, 0.01, 50, 2, 3)
    np.testing.assert_array_equal(first[0], want_x)
    np.testing.assert_array_equal(first[1], want_y)
    assert knn.estimator_noise(4, 0.01, 50, 2, 3)[0] is first[0]  # kept, not drawn again
    assert not first[0].flags.writeable and not first[1].flags.writeable
    assert not np.array_equal(knn.estimator_noise(5, 0.01, 50, 2, 3)[0], first[0])
    monkeypatch.setattr(knn, "NOISE_CACHE_FLOATS", 10)  # too large to keep: drawn afresh, the same values
    again = knn.estimator_noise(4, 0.01, 50, 2, 3)
    assert again[0] is not first[0]
    np.testing.assert_array_equal(again[0], want_x)
    # and the estimates of a block do not depend on whether its noise was kept
    t = np.random.default_rng(0).normal(size=(2, 200, 3))
    blocks = LayerBlocks(t, np.arange(200) % 2, 2)
    drawn = KNN().estimate_blocks(blocks)
    monkeypatch.setattr(knn, "NOISE_CACHE_FLOATS", 2**21)
    np.testing.assert_array_equal(KNN().estimate_blocks(blocks), drawn)
    np.testing.assert_array_equal(KNN().estimate_blocks(blocks), drawn)
