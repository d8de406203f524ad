"""The matrix-based Rényi α-entropy estimator: closed forms, its paths against
the dense NumPy twin, width rules, refusals and bounds."""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators import ESTIMATORS, LayerBlocks
from ibsim.estimators import reference
from ibsim.estimators.renyi import knn_sigma, matrix_renyi_entropy, silverman_sigma


def _layer(n: int = 200, d: int = 4, blocks: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2), n // 2)
    acts = np.tanh(rng.normal(size=(blocks, n, d)) + labels[None, :, None]).astype(np.float32)
    return acts, labels


def _dense_mi(x: np.ndarray, labels: np.ndarray, sigma: float, alpha: float) -> tuple[float, float]:
    """I(X;T), I(T;Y) written out densely (distinct inputs: the identity kernel for X)."""
    gram = reference.gaussian_gram(x, sigma)
    n = len(x)
    label_gram = (labels[:, None] == labels[None, :]).astype(np.float64)
    s_t = reference.renyi_entropy_dense(gram, alpha)
    s_x = reference.renyi_entropy_dense(np.eye(n), alpha)
    s_tx = reference.renyi_entropy_dense(gram * np.eye(n), alpha)
    s_y = reference.renyi_entropy_dense(label_gram, alpha)
    s_ty = reference.renyi_entropy_dense(gram * label_gram, alpha)
    return s_x + s_t - s_tx, s_y + s_t - s_ty


@pytest.mark.parametrize("alpha", [0.5, 1.01, 2.0, 3.0])
def test_identical_samples_have_zero_entropy(alpha):
    x = np.full((50, 3), 0.7)
    assert matrix_renyi_entropy(x, 1.0, alpha) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.01, 2.0, 3.0])
def test_far_apart_points_have_log2_n(alpha):
    x = np.arange(64, dtype=np.float64)[:, None] * 10.0
    assert matrix_renyi_entropy(x, 0.1, alpha) == pytest.approx(6.0, abs=1e-9)


def test_alpha_two_matches_the_dense_twin():
    rng = np.random.default_rng(1)
    for n, d, sigma in [(300, 5, 0.4), (500, 20, 3.0), (120, 1, 0.05)]:
        x = np.tanh(rng.normal(size=(n, d))).astype(np.float32).astype(np.float64)
        dense = reference.renyi_entropy_dense(reference.gaussian_gram(x, sigma), 2.0)
        assert abs(matrix_renyi_entropy(x, sigma, 2.0) - dense) < 1e-9


@pytest.mark.parametrize("alpha", [0.5, 1.01, 1.5, 3.0])
def test_eigen_path_matches_the_dense_twin(alpha):
    rng = np.random.default_rng(2)
    x = np.tanh(2 * rng.normal(size=(400, 4)))
    x[100:150] = x[0]  # duplicates: the path works on weighted distinct rows
    for sigma in (0.3, 1.0):
        dense = reference.renyi_entropy_dense(reference.gaussian_gram(x, sigma), alpha)
        assert abs(matrix_renyi_entropy(x, sigma, alpha) - dense) < 1e-6


#: The stochastic path's stated error (docs/estimators.md): 0.05 bits.
STOCHASTIC_ERROR = 0.05


@pytest.mark.parametrize("alpha", [0.5, 1.01, 2.5])
def test_stochastic_trace_is_close_to_the_eigen_path_and_deterministic(alpha):
    rng = np.random.default_rng(3)
    x = np.tanh(2 * rng.normal(size=(600, 4)))
    exact = matrix_renyi_entropy(x, 0.7, alpha)
    stochastic = matrix_renyi_entropy(x, 0.7, alpha, exact_limit=100, probes=16, seed=5)
    assert abs(stochastic - exact) < STOCHASTIC_ERROR
    assert matrix_renyi_entropy(x, 0.7, alpha, exact_limit=100, probes=16, seed=5) == stochastic


def test_refusals():
    x = np.random.default_rng(0).normal(size=(30, 2))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(EstimatorError, match="NaN"):
        matrix_renyi_entropy(bad, 1.0)
    with pytest.raises(EstimatorError, match="N >= 2"):
        matrix_renyi_entropy(x[:1], 1.0)
    with pytest.raises(EstimatorError, match="more than k = 10 samples, got N = 10"):
        matrix_renyi_entropy(x[:10], "knn")
    with pytest.raises(EstimatorError, match="α"):
        matrix_renyi_entropy(x, 1.0, alpha=1.0)
    with pytest.raises(EstimatorError, match="sigma"):
        matrix_renyi_entropy(x, -1.0)
    with pytest.raises(ConfigError, match="other than 1"):
        ESTIMATORS.get("renyi")(alpha=1)
    with pytest.raises(ConfigError, match="silverman"):
        ESTIMATORS.get("renyi")(sigma="scott")


def test_estimator_refuses_nan_and_one_sample():
    acts, labels = _layer()
    acts[1, 3, 2] = np.nan
    estimator = ESTIMATORS.get("renyi")()
    with pytest.raises(EstimatorError, match="NaN") as info:
        estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=2))
    assert info.value.block == 1
    with pytest.raises(EstimatorError, match="at least 2 samples"):
        estimator.estimate_blocks(LayerBlocks(acts=acts[:1, :1], labels=labels[:1], n_classes=2))


def test_sigma_rules():
    assert silverman_sigma(1000, 10) == pytest.approx(0.8 * math.sqrt(10) * 1000 ** (-1 / 14))
    grid = np.arange(20, dtype=np.float64)[:, None]  # neighbours at 1, 1 (ends: 1, 2)
    assert knn_sigma(grid, 2) == pytest.approx((18 * 2 + 2 * 3) / 40)
    x = np.random.default_rng(4).normal(size=(300, 3))
    brute = np.sort(np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1)), axis=1)[:, 1:11].mean()
    assert knn_sigma(x, 10) == pytest.approx(brute, rel=1e-9)
    fixed = ESTIMATORS.get("renyi")(sigma=0.5)
    assert fixed.widths(x[None].astype(np.float32)) == pytest.approx([0.5])
    assert ESTIMATORS.get("renyi")(sigma="silverman").widths(x[None]) == pytest.approx([silverman_sigma(300, 3)])


def test_zero_width_from_a_rule_is_the_discrete_limit():
    # every sample has more than k copies: mean k-NN distance 0 -> the kernel [t_i == t_j]
    acts = np.repeat(np.eye(4, dtype=np.float32), 16, axis=0)[None]
    labels = np.repeat([0, 1], 32)
    for alpha in (2.0, 1.01):
        i_xt, i_ty = ESTIMATORS.get("renyi")(alpha=alpha, sigma="knn", k=3).estimate_blocks(
            LayerBlocks(acts=acts, labels=labels, n_classes=2))[0]
        assert i_xt == pytest.approx(2.0) and i_ty == pytest.approx(1.0)


@pytest.mark.parametrize("alpha", [1.01, 2.0])
def test_estimator_matches_the_dense_formulas(alpha):
    acts, labels = _layer(n=160)
    estimator = ESTIMATORS.get("renyi")(alpha=alpha, sigma=0.6)
    got = estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=2, n_groups=160))
    for b in range(len(acts)):
        want = _dense_mi(acts[b].astype(np.float64), labels, 0.6, alpha)
        np.testing.assert_allclose(got[b], want, rtol=0, atol=1e-9 if alpha == 2.0 else 1e-6)


@pytest.mark.parametrize("alpha", [1.01, 2.0, 3.0])
def test_bounds_and_repeated_inputs(alpha):
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(40), 3)
    labels = groups % 2
    acts = np.repeat(np.tanh(rng.normal(size=(2, 40, 3)) + labels[::3, None]), 3, axis=1).astype(np.float32)
    acts[1, ::7] += 0.3  # block 1: a layer that is not a function of the input
    estimator = ESTIMATORS.get("renyi")(alpha=alpha)
    got = estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=2, groups=groups,
                                                n_groups=40))
    s_x = math.log2(40)  # 40 groups of 3: every order gives log2 40
    s_y = 1.0
    assert np.all(got[:, 0] <= s_x + 1e-9) and np.all(got[:, 0] >= -1e-9)
    assert np.all(got[:, 1] <= s_y + 1e-9) and np.all(got[:, 1] >= -1e-9)
    # a deterministic layer: I(X;T) = S(A_T) (the joint with X equals S(A_X))
    s_t = matrix_renyi_entropy(acts[0].astype(np.float64), estimator.widths(acts[:1])[0], alpha)
    assert got[0, 0] == pytest.approx(s_t, abs=1e-9)


def test_conv_sized_layer_alpha_two_without_n_by_n_memory():
    rng = np.random.default_rng(6)
    n, d = 3000, 600
    labels = rng.integers(0, 10, n)
    acts = np.maximum(rng.normal(size=(1, n, d)), 0).astype(np.float32)
    tracemalloc.start()  # NumPy's arrays are traced: an N x N float64 matrix would be 72 MB
    try:
        got = ESTIMATORS.get("renyi")(alpha=2.0, sigma="silverman").estimate_blocks(
            LayerBlocks(acts=acts, labels=labels, n_classes=10, n_groups=n))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(got).all() and 0 <= got[0, 0] <= math.log2(n) + 1e-9
    assert peak < n * n * 8 / 4
