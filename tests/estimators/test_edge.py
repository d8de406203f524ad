"""EDGE (Noshad, Zeng & Hero 2019): analytic values, discrete cases, refusals, the kernel's twin."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators import ESTIMATORS, LayerBlocks
from ibsim.estimators.edge import MIN_SAMPLES, EDGE, edge_mutual_information, ensemble_weights
from ibsim.estimators.kernels import KERNELS

#: Measured errors of the defaults at N = 4000 are 0.11-0.15 bits (docs/estimators.md).
GAUSSIAN_TOLERANCE = 0.25


def _gaussian_pair(rho: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    z = np.random.default_rng(seed).normal(size=(n, 2))
    return z[:, 0], rho * z[:, 0] + math.sqrt(1 - rho**2) * z[:, 1]


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_gaussian_pairs_match_the_closed_form(rho):
    x, y = _gaussian_pair(rho, 4000, seed=1)
    truth = -0.5 * math.log2(1 - rho**2)
    assert abs(edge_mutual_information(x, y) - truth) < GAUSSIAN_TOLERANCE


def test_gaussian_estimates_grow_with_the_correlation():
    values = [edge_mutual_information(*_gaussian_pair(rho, 3000, seed=2)) for rho in (0.0, 0.5, 0.9, 0.99)]
    assert values == sorted(values)


def _layer(acts, labels, classes, groups=None):
    n_groups = int(groups.max()) + 1 if groups is not None else acts.shape[1]
    return LayerBlocks(acts=np.asarray(acts, dtype=np.float32), labels=labels, n_classes=classes, groups=groups,
                       n_groups=n_groups)


def test_a_layer_of_equally_likely_patterns_carries_their_entropy():
    """T a deterministic function of X taking 2^k far-apart patterns: I(X;T) = k bits (and H(Y) for T = Y)."""
    rng = np.random.default_rng(3)
    n, k = 4096, 3
    pattern = rng.integers(0, 2**k, n)
    bits = (pattern[:, None] >> np.arange(k)) & 1
    acts = (10.0 * bits)[None]
    labels = pattern  # Y = the pattern: I(T;Y) = H(Y) = k bits
    out = EDGE().estimate_blocks(_layer(acts, labels, 2**k))
    h = -np.sum(np.bincount(pattern) / n * np.log2(np.bincount(pattern) / n))
    np.testing.assert_allclose(out[0], [h, h], atol=1e-9)


def test_repeated_inputs_bound_i_xt_by_h_x():
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 16, 2000)
    acts = rng.normal(size=(16, 5))[groups][None]  # T a function of the input group
    out = EDGE().estimate_blocks(_layer(acts, rng.integers(0, 2, 2000), 2, groups))
    h_x = -np.sum(np.bincount(groups) / 2000 * np.log2(np.bincount(groups) / 2000))
    assert out[0, 0] <= h_x + 1e-12
    assert out[0, 0] > h_x - 0.5


def test_independent_layer_and_labels_give_near_zero():
    rng = np.random.default_rng(5)
    acts = np.tanh(rng.normal(size=(3, 4000, 2)))
    out = EDGE().estimate_blocks(_layer(acts, rng.integers(0, 2, 4000), 2))
    assert (out[:, 1] < 0.05).all()


def test_a_layer_equal_to_the_label_has_i_ty_h_y():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 3000)
    acts = (labels[:, None] * 5.0 + 0.01 * rng.normal(size=(3000, 2)))[None]
    out = EDGE().estimate_blocks(_layer(acts, labels, 2))
    h_y = -np.sum(np.bincount(labels) / 3000 * np.log2(np.bincount(labels) / 3000))
    assert abs(out[0, 1] - h_y) < 0.02


def test_results_are_within_bounds_and_deterministic_per_seed():
    rng = np.random.default_rng(7)
    acts = np.tanh(2 * rng.normal(size=(4, 500, 6)))
    labels = rng.integers(0, 3, 500)
    one = EDGE(seed=3).estimate_blocks(_layer(acts, labels, 3))
    again = EDGE(seed=3).estimate_blocks(_layer(acts, labels, 3))
    other = EDGE(seed=4).estimate_blocks(_layer(acts, labels, 3))
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other)
    assert (one >= 0).all() and (one[:, 0] <= math.log2(500) + 1e-9).all()
    assert (one[:, 1] <= math.log2(3) + 1e-9).all()


def test_nan_is_refused():
    acts = np.zeros((2, 50, 3), dtype=np.float32)
    acts[1, 3, 2] = np.nan
    with pytest.raises(EstimatorError, match="NaN"):
        EDGE().estimate_blocks(_layer(acts, np.zeros(50, dtype=np.int64), 1))
    with pytest.raises(EstimatorError, match="NaN"):
        edge_mutual_information(np.r_[np.nan, np.zeros(40)], np.zeros(41))


def test_too_few_samples_are_refused():
    n = MIN_SAMPLES - 1
    with pytest.raises(EstimatorError, match=f"at least {MIN_SAMPLES} samples, got N = {n}"):
        EDGE().estimate_blocks(_layer(np.zeros((1, n, 2)), np.zeros(n, dtype=np.int64), 1))
    with pytest.raises(EstimatorError, match=f"at least {MIN_SAMPLES} samples"):
        edge_mutual_information(np.arange(n, dtype=float), np.arange(n, dtype=float))
    EDGE().estimate_blocks(_layer(np.zeros((1, MIN_SAMPLES, 2)), np.zeros(MIN_SAMPLES, dtype=np.int64), 1))


def test_ensemble_weights_cancel_the_bias_terms():
    t = np.linspace(2, 6, 8)
    for q in range(4):
        w = ensemble_weights(t, q)
        assert w.sum() == pytest.approx(1.0)
        for i in range(1, q + 1):
            assert np.dot(w, t**i) == pytest.approx(0.0, abs=1e-8)
    np.testing.assert_allclose(ensemble_weights(t, 0), np.full(8, 1 / 8))
    with pytest.raises(ConfigError, match="more members than bias terms"):
        EDGE(members=2, bias_terms=2).estimate_blocks(_layer(np.zeros((1, 20, 1)), np.zeros(20, dtype=np.int64), 1))


def test_registered_with_its_parameters():
    assert ESTIMATORS.get("edge") is EDGE
    assert EDGE().spec.startswith("edge(")


def test_kernel_matches_its_twin_on_a_layer():
    fast, reference = KERNELS["edge_base_estimates"]
    rng = np.random.default_rng(8)
    acts = np.tanh(rng.normal(size=(3, 300, 5))).astype(np.float32)
    kwargs = dict(acts=acts, width=np.full((3, 5), 0.4), factor=np.linspace(1, 2, 4), shift=rng.random((4, 5)),
                  hash_seed=99, n_buckets=300 * 1024, labels=rng.integers(0, 3, 300), n_labels=3)
    np.testing.assert_allclose(fast(**kwargs), reference(**kwargs), rtol=0, atol=1e-10)
    threads = [fast(**kwargs, num_threads=k) for k in (1, 2)]
    np.testing.assert_array_equal(*threads)
