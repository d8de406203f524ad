"""The sample-propagation estimator (``sp``) against closed forms and the KDE bounds."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from ibsim.errors import EstimatorError
from ibsim.estimators import ESTIMATORS, LayerBlocks, make_estimator
from ibsim.estimators.sp import sp_mutual_information, sp_terms


def _layer(acts: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None) -> LayerBlocks:
    acts = np.asarray(acts, dtype=np.float32)
    if acts.ndim == 2:
        acts = acts[None]
    n_groups = acts.shape[1] if groups is None else int(groups.max()) + 1
    return LayerBlocks(acts=acts, labels=np.asarray(labels), n_classes=int(np.max(labels)) + 1, groups=groups,
                       n_groups=n_groups)


def test_registered_with_its_parameters():
    estimator = make_estimator("sp(noise_std=0.05, samples=4, seed=3)")
    assert ESTIMATORS.get("sp") is type(estimator)
    assert estimator.spec == "sp(noise_std=0.05, samples=4, seed=3)"
    assert type(estimator).main_parameter is None  # discretization_range must not set beta
    assert make_estimator("sp", discretization_range=0.3).noise_std == 0.1


def test_well_separated_centres_give_log_n():
    n = 64
    s = np.arange(n, dtype=np.float32)[:, None] * np.float32(10.0)
    labels = np.arange(n) % 2
    i_xt, i_ty, se_xt, se_ty = sp_mutual_information(s, labels, beta=0.1, samples=4, seed=0)
    assert i_xt == pytest.approx(math.log2(n), abs=1e-9)
    assert i_ty == pytest.approx(1.0, abs=1e-9)
    assert se_xt < 1e-9 and se_ty < 1e-9


def test_one_centre_gives_zero():
    s = np.full((50, 3), 0.25, dtype=np.float32)
    i_xt, i_ty, _, _ = sp_mutual_information(s, np.arange(50) % 3, beta=0.1, samples=4, seed=0)
    assert abs(i_xt) < 1e-9 and abs(i_ty) < 1e-9


def _two_point_bits(delta: float, beta: float) -> float:
    """I(X;T) of two equally likely centres at distance delta through N(0, beta^2): quadrature."""
    def integrand(t: float) -> float:
        p = 0.5 * norm.pdf(t, 0.0, beta) + 0.5 * norm.pdf(t, delta, beta)
        return -p * math.log(p) if p > 0 else 0.0

    h_mix, _ = integrate.quad(integrand, -12 * beta, delta + 12 * beta, limit=200, points=[0.0, delta])
    h_noise = 0.5 * math.log(2 * math.pi * math.e * beta * beta)
    return (h_mix - h_noise) / math.log(2)


@pytest.mark.parametrize("delta", [0.05, 0.2, 0.4])
def test_two_points_match_numerical_integration(delta):
    beta = 0.1
    s = np.array([[0.0], [delta]], dtype=np.float32)
    i_xt, i_ty, se_xt, _ = sp_mutual_information(s, np.array([0, 1]), beta=beta, samples=5000, seed=1)
    exact = _two_point_bits(float(s[1, 0]), beta)
    assert 0 < exact < 1
    assert abs(i_xt - exact) <= 3 * se_xt + 1e-12, (i_xt, exact, se_xt)
    assert i_ty == pytest.approx(i_xt)  # each class is one input
    assert se_xt < 0.01


def test_gaussian_input_matches_the_gaussian_channel():
    rng = np.random.default_rng(5)
    sigma, beta = 1.0, 0.5
    s = (sigma * rng.normal(size=(4000, 1))).astype(np.float32)
    i_xt, _, se_xt, _ = sp_mutual_information(s, np.zeros(4000, dtype=int), beta=beta, samples=4, seed=0)
    exact = 0.5 * math.log2(1 + sigma**2 / beta**2)
    # 4000 centres are an empirical S: a few hundredths of a bit from the Gaussian's value
    assert abs(i_xt - exact) <= 3 * se_xt + 0.03, (i_xt, exact, se_xt)


def test_between_the_kde_bounds():
    rng = np.random.default_rng(2)
    labels = np.arange(400) % 2
    acts = np.tanh(rng.normal(size=(2, 400, 3)) + labels[None, :, None]).astype(np.float32)
    beta = 0.15
    layer = _layer(acts, labels)
    sp = make_estimator(f"sp(noise_std={beta}, samples=20)").estimate_blocks_with_error(layer)
    lower = make_estimator(f"kde_lower(variance={beta**2})").estimate_blocks(layer)
    upper = make_estimator(f"kde_upper(variance={beta**2})").estimate_blocks(layer)
    assert (lower[:, 0] < upper[:, 0] - 0.1).all()  # a layer where the bounds differ
    assert (lower[:, 0] <= sp[:, 0] + 3 * sp[:, 2]).all(), (lower, sp)
    assert (sp[:, 0] - 3 * sp[:, 2] <= upper[:, 0]).all(), (upper, sp)


def test_groups_of_identical_inputs():
    rng = np.random.default_rng(3)
    base = 10 * rng.normal(size=(8, 2))
    groups = np.repeat(np.arange(8), 12)
    labels = groups % 2
    out = make_estimator("sp").estimate_blocks_with_error(_layer(base[groups], labels, groups))
    assert out[0, 0] == pytest.approx(3.0, abs=1e-9)  # log2 of 8 groups, not of 96 samples
    assert out[0, 1] == pytest.approx(1.0, abs=1e-9)


def test_deterministic_per_seed_and_independent_of_blocks_and_threads():
    rng = np.random.default_rng(4)
    labels = np.arange(120) % 3
    acts = np.tanh(rng.normal(size=(3, 120, 4))).astype(np.float32)
    estimator = make_estimator("sp(noise_std=0.2, samples=3, seed=9)")
    together = estimator.estimate_blocks_with_error(_layer(acts, labels))
    alone = np.vstack([estimator.estimate_blocks_with_error(_layer(acts[b], labels)) for b in range(3)])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together[:, :2], estimator.estimate_blocks(_layer(acts, labels)))
    other = make_estimator("sp(noise_std=0.2, samples=3, seed=10)").estimate_blocks(_layer(acts, labels))
    assert not np.array_equal(together[:, :2], other)
    one = sp_terms(acts[0], labels, 3, 0.2, 3, 9, num_threads=1)
    two = sp_terms(acts[0], labels, 3, 0.2, 3, 9, num_threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_nan_is_refused_naming_the_block():
    acts = np.zeros((3, 20, 2), dtype=np.float32)
    acts[2, 4, 1] = np.nan
    with pytest.raises(EstimatorError, match="NaN") as info:
        make_estimator("sp").estimate_blocks(_layer(acts, np.arange(20) % 2))
    assert info.value.block == 2
    with pytest.raises(EstimatorError, match="NaN"):
        sp_mutual_information(acts[2], np.arange(20) % 2, beta=0.1)


def test_too_few_samples_are_refused():
    with pytest.raises(EstimatorError, match="at least 2 samples"):
        make_estimator("sp").estimate_blocks(_layer(np.zeros((1, 3)), np.array([0])))
    with pytest.raises(EstimatorError, match="at least 2 samples"):
        sp_mutual_information(np.zeros((1, 3)), np.array([0]), beta=0.1)


def test_bad_beta_is_refused():
    with pytest.raises(EstimatorError, match="noise_std"):
        sp_mutual_information(np.zeros((4, 1)), np.arange(4) % 2, beta=0.0)
    with pytest.raises(EstimatorError, match="too small"):
        sp_mutual_information(np.zeros((4, 1)), np.arange(4) % 2, beta=1e-200)
